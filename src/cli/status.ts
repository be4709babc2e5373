/**
 * `redis-kafka-sync status [--json]`: the state of the sync read straight from the Redis servers,
 * so it works while the daemon is down: the backlog (SCARD of the unsynced set), dead letters
 * (XLEN), the last successful sync (recorded in the target by the pipeline), and per source
 * stream (SOURCE_STREAMS, or those discovered with STREAM_DISCOVERY_PATTERNS over
 * SOURCE_REDIS_DB_SEARCH_RANGE) the consumer group's pending entries, oldest pending age and lag.
 * Only reads; exit 0 when both servers answered, 1 (naming the server) when one did not.
 */
import type { Command } from 'commander';
import { keyFormatFor } from '../buffer/cluster-store.js';
import { streamsByDb, type Config } from '../config/config.js';
import { errorMessage } from '../errors.js';
import type { StreamGroupState } from '../observability/metrics.js';
import { readGroupStates, readTargetState, type TargetState } from '../observability/sync-status.js';
import { connectRedis, type RedisConnection } from '../redis/client.js';
import { SourceDb } from '../source/streams.js';
import { configOrExit, withConfigOptions, type ConfigFlags } from './common.js';

const CONNECT_TIMEOUT_MS = 5_000;

export interface StatusReport {
  readonly target: TargetState & { readonly prefix: string };
  readonly group: string;
  readonly streams: readonly StreamGroupState[];
  readonly totalPending: number;
}

export function registerStatusCommand(program: Command): void {
  withConfigOptions(
    program
      .command('status')
      .description('backlog, pending entries per stream, dead letters and last sync, read from Redis directly')
      .option('--json', 'print one JSON object'),
  ).action(async (flags: ConfigFlags & { json?: boolean }) => {
    const cfg = configOrExit(flags);
    let report: StatusReport;
    try {
      report = await readStatus(cfg);
    } catch (err) {
      process.stderr.write(`redis-kafka-sync status: ${errorMessage(err)}\n`);
      process.exit(1);
    }
    process.stdout.write(
      flags.json
        ? `${JSON.stringify(report, (_k, v: unknown) => (v === undefined ? null : v))}\n`
        : formatStatus(report, Date.now()),
    );
  });
}

export async function readStatus(cfg: Config): Promise<StatusReport> {
  const keys = keyFormatFor(cfg.target);
  const target = await withConnection(cfg, 'target', cfg.target.db, (c) => readTargetState(c, keys));
  const streams: StreamGroupState[] = [];
  for (const [db, names] of streamsToRead(cfg)) {
    if (names === undefined) {
      streams.push(
        ...(await withConnection(cfg, 'source', db, async (c) => {
          const found = await new SourceDb(db, c, c, cfg.source).discover(cfg.stream.discoveryPatterns);
          return readGroupStates(c, found.sort(), cfg.source.consumerGroup);
        })),
      );
    } else {
      streams.push(
        ...(await withConnection(cfg, 'source', db, (c) => readGroupStates(c, names, cfg.source.consumerGroup))),
      );
    }
  }
  return {
    target: { ...target, prefix: cfg.target.keyPrefix },
    group: cfg.source.consumerGroup,
    streams,
    totalPending: streams.reduce((n, s) => n + (s.pending ?? 0), 0),
  };
}

export function formatStatus(r: StatusReport, nowMs: number): string {
  const lines: string[] = [];
  const last =
    r.target.lastSyncMs === undefined
      ? 'never recorded'
      : `${new Date(r.target.lastSyncMs).toISOString()} (${ago(nowMs - r.target.lastSyncMs)} ago)`;
  lines.push(`backlog (unsynced in target):  ${r.target.backlog}`);
  lines.push(`dead letters:                  ${r.target.deadLetters}`);
  lines.push(`last successful sync:          ${last}`);
  lines.push(`pending entries (group ${r.group}): ${r.totalPending} in ${r.streams.length} stream(s)`);
  for (const s of r.streams) {
    const pending = s.pending === undefined ? 'no consumer group' : `pending ${s.pending}`;
    const age = s.oldestPendingAgeMs === undefined ? '' : `, oldest ${ago(s.oldestPendingAgeMs)}`;
    const lag = s.lag === undefined ? '' : `, lag ${s.lag}`;
    lines.push(`  db ${s.db}  ${s.stream}  ${pending}${age}${lag}`);
  }
  return `${lines.join('\n')}\n`;
}

/** SOURCE_STREAMS grouped by DB ("name@db"), or every DB of the range to discover (undefined). */
function streamsToRead(cfg: Config): Map<number, string[] | undefined> {
  const out = new Map<number, string[] | undefined>();
  if (cfg.stream.autoDiscovery || cfg.stream.streams.length === 0) {
    for (const db of cfg.source.dbSearchRange) out.set(db, undefined);
    return out;
  }
  return streamsByDb(cfg.stream.streams);
}

async function withConnection<T>(
  cfg: Config,
  role: 'source' | 'target',
  db: number,
  fn: (c: RedisConnection) => Promise<T>,
): Promise<T> {
  const c = await connectRedis(role === 'source' ? cfg.source : cfg.target, {
    role,
    db,
    connectTimeoutMs: CONNECT_TIMEOUT_MS,
    name: 'redis-kafka-sync-status',
  });
  try {
    return await fn(c);
  } finally {
    await c.close();
  }
}

function ago(ms: number): string {
  const s = Math.max(0, Math.round(ms / 1000));
  if (s < 120) return `${s} s`;
  if (s < 7200) return `${Math.round(s / 60)} min`;
  if (s < 172800) return `${Math.round(s / 3600)} h`;
  return `${Math.round(s / 86400)} d`;
}
