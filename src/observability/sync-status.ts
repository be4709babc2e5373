/**
 * Reading the state of a sync straight from the Redis servers, so that it can be shown while the
 * daemon runs (dashboard, metrics) and while it is down (`redis-kafka-sync status`):
 *
 *   target  SCARD {prefix}unsynced_keys_set      backlog: buffered, not yet confirmed by Kafka
 *           XLEN / XREVRANGE {prefix}dead_letters dead letters: count, most recent
 *           GET {prefix}rks:last_sync_ms          last successful sync (written by the pipeline,
 *                                                 at most once per second, after marking)
 *   source  XINFO GROUPS + XPENDING <stream> <group> (summary), per stream: lag, pending count,
 *           oldest pending id (its time part gives the age)
 *
 * Only reads; every function takes the connection it uses and pipelines its commands. A stream
 * without the consumer group (or deleted meanwhile) reports `pending: undefined`.
 */
import type { KeyFormat } from '../buffer/key-format.js';
import { asArray, asBuffer, type RedisConnection, type Reply } from '../redis/client.js';
import type { StreamGroupState } from './metrics.js';

/** The key holding the time of the last marking; named in key-format.ts with every other own key. */
export function lastSyncKey(keys: KeyFormat): string {
  return keys.lastSync;
}

export interface DeadLetter {
  readonly id: string;
  readonly key: string;
  readonly topic: string;
  readonly reason: string;
  readonly failedAtMs: number;
  readonly payloadBytes: number;
}

export interface TargetState {
  readonly backlog: number;
  readonly deadLetters: number;
  /** undefined: no sync recorded yet (or the daemon predates the record). */
  readonly lastSyncMs: number | undefined;
}

export async function readTargetState(conn: RedisConnection, keys: KeyFormat): Promise<TargetState> {
  const [backlog, dead, last] = await Promise.all([
    // Every unsynced set: one standalone, one per shard in a cluster (pipelined).
    Promise.all(keys.unsyncedSets.map((s) => conn.send(['SCARD', s]))).then((ns) =>
      ns.reduce<number>((a, b) => a + Number(b), 0),
    ),
    conn.send(['XLEN', keys.deadLetters]),
    conn.send(['GET', lastSyncKey(keys)]),
  ]);
  const lastMs = last === null ? undefined : Number(asBuffer(last).toString());
  return {
    backlog: Number(backlog),
    deadLetters: Number(dead),
    lastSyncMs: lastMs !== undefined && Number.isFinite(lastMs) ? lastMs : undefined,
  };
}

/** The most recent dead letters, newest first (payload left out, only its size). */
export async function recentDeadLetters(conn: RedisConnection, keys: KeyFormat, count: number): Promise<DeadLetter[]> {
  const reply = asArray(await conn.send(['XREVRANGE', keys.deadLetters, '+', '-', 'COUNT', String(count)]));
  return reply.map((e) => {
    const [id, flat] = asArray(e);
    const f = fieldMap(asArray(flat));
    return {
      id: asBuffer(id).toString(),
      key: f.get('key')?.toString('utf8') ?? '',
      topic: f.get('topic')?.toString('utf8') ?? '',
      reason: f.get('reason')?.toString('utf8') ?? '',
      failedAtMs: Number(f.get('failed_at')?.toString() ?? 0),
      payloadBytes: f.get('payload')?.length ?? 0,
    };
  });
}

/**
 * Lag, pending count and oldest pending age of `group` on each stream of one DB; all commands
 * sent in one pipeline. `nowMs` is the clock the ages are measured against.
 */
export async function readGroupStates(
  conn: RedisConnection,
  streams: readonly string[],
  group: string,
  nowMs: number = Date.now(),
): Promise<StreamGroupState[]> {
  const settle = (p: Promise<Reply>): Promise<Reply | Error> =>
    p.catch((err: unknown) => (err instanceof Error ? err : new Error(String(err))));
  const infos = streams.map((s) => settle(conn.send(['XINFO', 'GROUPS', s])));
  const pendings = streams.map((s) => settle(conn.send(['XPENDING', s, group])));
  const [infoReplies, pendingReplies] = await Promise.all([Promise.all(infos), Promise.all(pendings)]);
  return streams.map((stream, i) => {
    const info = infoReplies[i];
    const pend = pendingReplies[i];
    let lag: number | undefined;
    if (info !== undefined && !(info instanceof Error)) {
      for (const g of asArray(info)) {
        const f = fieldMap(asArray(g));
        if (f.get('name')?.toString('utf8') !== group) continue;
        const raw = f.get('lag');
        lag = raw === undefined ? undefined : Number(raw.toString());
      }
    }
    let pending: number | undefined;
    let oldestPendingAgeMs: number | undefined;
    if (pend !== undefined && !(pend instanceof Error)) {
      const [count, minId] = asArray(pend);
      pending = Number(count);
      if (pending > 0 && minId !== null && minId !== undefined) {
        const ms = Number(asBuffer(minId).toString().split('-')[0]);
        if (Number.isFinite(ms)) oldestPendingAgeMs = Math.max(0, nowMs - ms);
      }
    }
    return { db: conn.db, stream, lag: Number.isFinite(lag) ? lag : undefined, pending, oldestPendingAgeMs };
  });
}

/** A flat [name, value, ...] reply as a map; integer values become their decimal text. */
function fieldMap(flat: Reply[]): Map<string, Buffer> {
  const m = new Map<string, Buffer>();
  for (let i = 0; i + 1 < flat.length; i += 2) {
    const v = flat[i + 1];
    if (v === null || v === undefined || Array.isArray(v)) continue;
    m.set(asBuffer(flat[i]).toString('utf8'), asBuffer(v));
  }
  return m;
}
