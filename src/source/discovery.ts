/**
 * Stream discovery: which streams each source DB reads.
 *
 *   SOURCE_STREAMS set, STREAM_AUTO_DISCOVERY=false  those streams ("name" or "name@db"), their
 *                                                    groups created with MKSTREAM, once
 *   otherwise                                        SCAN ... TYPE stream over every DB of
 *                                                    SOURCE_REDIS_DB_SEARCH_RANGE, keeping keys that
 *                                                    match STREAM_DISCOVERY_PATTERNS; repeated every
 *                                                    STREAM_DISCOVERY_INTERVAL seconds with
 *                                                    auto-discovery (new streams picked up, deleted
 *                                                    ones dropped), else once
 * A DB that has streams gets its reader (`onStreams`) the first time. A failed cycle is logged
 * and tried again at the next interval. Streams the service writes itself (its dead-letter stream,
 * when the source is the target's server and DB: `isOwn`) are never discovered as data.
 */
import { streamsByDb, type Config } from '../config/config.js';
import { errorMessage } from '../errors.js';
import type { Logger } from '../observability/logger.js';
import { sleep } from '../util/retry.js';
import type { SourceDbs } from './source-dbs.js';
import type { SourceDb } from './streams.js';

export async function runDiscovery(
  cfg: Config,
  log: Logger,
  dbs: SourceDbs,
  onStreams: (src: SourceDb) => void,
  signal: AbortSignal,
  isOwn: (src: SourceDb, name: string) => Promise<boolean> = async () => false,
): Promise<void> {
  const configured = configuredStreams(cfg);
  const use = async (db: number, names: readonly string[], create: boolean): Promise<void> => {
    const src = await dbs.get(db);
    if (create) for (const n of names) await src.ensureGroup(n, true);
    const { added, removed } = await src.setStreams(names);
    if (added.length > 0 || removed.length > 0) {
      log.info(
        { db, added: added.length, removed: removed.length, streams: src.streamNames.length },
        'streams changed',
      );
    }
    if (src.streamNames.length > 0) onStreams(src);
  };
  for (let first = true; !signal.aborted; first = false) {
    try {
      if (configured) {
        if (first) for (const [db, names] of configured) await use(db, names, true);
      } else if (first || cfg.stream.autoDiscovery) {
        const t0 = Date.now();
        // All DBs at once (each has its own connections): connecting 16 DBs and creating their
        // groups overlaps instead of adding up. The first failure is reported.
        const perDb = await Promise.allSettled(
          cfg.source.dbSearchRange.map(async (db) => {
            const src = await dbs.get(db);
            const found = await src.discover(cfg.stream.discoveryPatterns);
            const own = await Promise.all(found.map((n) => isOwn(src, n)));
            const names = found.filter((_, i) => !own[i]);
            await use(db, names, false);
            return names.length;
          }),
        );
        let total = 0;
        for (const r of perDb) {
          if (r.status === 'rejected') throw r.reason;
          total += r.value;
        }
        log.debug({ streams: total, ms: Date.now() - t0 }, 'discovery cycle');
      }
    } catch (err) {
      log.warn({ err: errorMessage(err) }, 'stream discovery failed; retrying next interval');
    }
    await sleep(cfg.stream.discoveryIntervalSeconds * 1000, signal);
  }
}

/** SOURCE_STREAMS grouped by DB, or undefined when discovery is used. */
export function configuredStreams(cfg: Config): Map<number, string[]> | undefined {
  if (cfg.stream.autoDiscovery || cfg.stream.streams.length === 0) return undefined;
  return streamsByDb(cfg.stream.streams);
}
