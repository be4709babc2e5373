/**
 * The target-Redis buffer: the durable place a message lives from the moment it is read until
 * Kafka confirmed it. Key names: see key-format.ts; the value of a message key (versioned):
 * see message-layout.ts.
 *
 * Invariants
 *  - A message key without a sync marker has no TTL and is in the unsynced set: it never expires,
 *    whatever TARGET_REDIS_TIME_TO_LIVE says, however long Kafka is down.
 *  - Only `markSynced` (after Kafka's ack) gives a message its TTL, writes its marker (its id in a
 *    marker set, key-format.ts) and removes it from the set, all in one script call, so a crash
 *    leaves either the old or the new state.
 *  - Writes are one script call, or for fresh messages one MULTI/EXEC, per chunk of messages
 *    (not one round trip per message); a maxmemory refusal fails the whole chunk with
 *    BufferFullError (retryable, never a drop). A chunk written again (retry, re-read) writes
 *    the same keys with the same content.
 *  - Failures are classified by reply (redis/errors.ts): a buffer key of the wrong type or a script
 *    error is a TargetRefusedError (not retryable, naming the key or script and what to do); only
 *    the rest is a retryable ConnectionError.
 *  - `recover` rebuilds the set from the keys themselves, so losing the set loses nothing.
 *  - With TARGET_REDIS_MIN_REPLICAS_ACKED=N > 0, `put` returns only after `WAIT N timeout` on
 *    the same connection confirmed N replicas hold the writes; fewer is a retryable failure (the
 *    caller writes the batch again, idempotently), so nothing is produced or acknowledged on the
 *    strength of a write a failover could still take back. Markers are not waited for: losing
 *    one only means a message is sent again (a duplicate, never a loss).
 */
import type { Config } from '../config/config.js';
import { BufferFullError, ConnectionError, errorMessage, ReplicationError, TargetRefusedError } from '../errors.js';
import { asArray, asBuffer, asText, type RedisConnection, type Reply } from '../redis/client.js';
import { isRetryableRedisError, redisErrorKind } from '../redis/errors.js';
import type { BufferStore, BufferWriter } from './buffer.js';
import { DeadLetters } from './dead-letters.js';
import { EvictionGuard } from './eviction.js';
import { KeyFormat, type MessageKeyParts } from './key-format.js';
import { decodeMessage, valueOf } from './message-layout.js';
import { markCall, putBatchCall, runScript, type ScriptName } from './scripts.js';

export interface OutgoingMessage {
  /** Message key in the target (KeyFormat.messageKey). */
  readonly key: string;
  readonly topic: string;
  readonly kafkaKey: Buffer;
  readonly payload: Buffer;
  /** Its buffer value, built with it (Message.value): written as is, with its created time set. */
  readonly value?: Buffer;
}

export interface StoredMessage extends OutgoingMessage {
  readonly createdMs: number;
  /** The key's parts per the key format; undefined for a key that is not one of ours. */
  readonly parts: MessageKeyParts | undefined;
}

export interface PutOptions {
  /**
   * The messages were never delivered before: entries read as new (XREADGROUP `>`), new direct
   * messages and key changes. None can have a sync marker, so none is checked. Not for re-reads
   * of pending entries, claimed entries or resync: a message already in Kafka would be written
   * again, put back in the unsynced set and sent twice (a duplicate, never a loss).
   */
  readonly fresh?: boolean;
}

/** 0: buffered (new, or written again by a re-read); 2: already synced (in Kafka): not written. */
export type PutStatus = 0 | 2;

const CHUNK_MESSAGES = 1000;
/** SCAN COUNT of recovery, and how many of its script calls may be outstanding. */
const RECOVER_PAGE = 5000;
const RECOVER_IN_FLIGHT = 2;
const CHUNK_BYTES = 8 * 1024 * 1024;
/** Recovery reads a page's markers only when its keys share sets, at least this many per set on average. */
const RECOVER_KEYS_PER_SET = 8;

export class TargetBuffer implements BufferStore {
  readonly keys: KeyFormat;
  private next = 0;
  private readonly eviction: EvictionGuard;

  constructor(
    private readonly pool: readonly RedisConnection[],
    protected readonly cfg: Config['target'],
    /** The key layout; the cluster buffer (cluster-store.ts) passes its own. */
    keys: KeyFormat = new KeyFormat(cfg.keyPrefix),
  ) {
    if (pool.length === 0) throw new Error('TargetBuffer needs at least one connection');
    this.keys = keys;
    this.eviction = new EvictionGuard(this.primary, cfg.evictionCheckIntervalMs);
  }

  /** A connection for one writer; a writer keeps using the same one so its writes stay ordered. */
  connection(): RedisConnection {
    const c = this.pool[this.next % this.pool.length] as RedisConnection;
    this.next += 1;
    return c;
  }

  get primary(): RedisConnection {
    return this.pool[0] as RedisConnection;
  }

  /** A writer on one connection of the pool (round robin): its puts are applied in order. */
  writer(): BufferWriter {
    const conn = this.connection();
    return { put: (messages, opts) => this.put(messages, conn, opts) };
  }

  async deadLetter(items: readonly { readonly m: OutgoingMessage; readonly reason: string }[]): Promise<void> {
    await new DeadLetters(this.primary, this.keys).add(items);
  }

  async serverRunId(): Promise<string | undefined> {
    return runIdOf(this.primary);
  }

  /** The eviction-policy check of the target (eviction.ts): at start (the engine) and before writes. */
  checkEviction(): Promise<'safe' | 'unknown'> {
    return this.eviction.check();
  }

  /** Before a buffer write: the eviction policy again when it is due (eviction.ts). */
  protected guardEviction(): Promise<void> {
    return this.eviction.beforeWrite();
  }

  async noteLastSync(ms: number): Promise<void> {
    await this.primary.send(['SET', this.keys.lastSync, String(ms)]);
  }

  /**
   * Buffers messages (atomic per chunk) and returns each one's status, in order.
   *
   * With `fresh` (messages never delivered before, see PutOptions) a chunk is one MULTI + MSET +
   * SADD + EXEC: no marker is checked and every status is 0. Otherwise put_batch.lua checks each
   * message's marker and leaves the ones already synced alone (status 2).
   * Both are atomic per chunk: under maxmemory Redis refuses the EXEC (EXECABORT after the OOM
   * of the queued MSET) or the script as a whole, so nothing of the chunk is written.
   */
  async put(
    messages: readonly OutgoingMessage[],
    conn: RedisConnection = this.primary,
    opts: PutOptions = {},
  ): Promise<PutStatus[]> {
    await this.guardEviction();
    const out: PutStatus[] = [];
    for (const chunk of chunks(messages)) {
      const now = Date.now();
      if (opts.fresh) {
        await this.call(conn, () => this.putFresh(conn, chunk, now));
        for (let i = 0; i < chunk.length; i += 1) out.push(0);
        continue;
      }
      const { keys, args } = putBatchCall(this.keys, this.keys.unsyncedSet, chunk, now);
      const reply = await this.call(conn, () => runScript(conn, 'put_batch', keys, args), 'put_batch', keys);
      for (const s of asArray(reply)) out.push(Number(s) as PutStatus);
    }
    if (this.cfg.minReplicasAcked > 0 && messages.length > 0) await this.awaitReplicas(conn);
    return out;
  }

  /** WAIT for TARGET_REDIS_MIN_REPLICAS_ACKED replicas; fewer within the timeout throws (retryable). */
  private async awaitReplicas(conn: RedisConnection): Promise<void> {
    const want = this.cfg.minReplicasAcked;
    const timeout = this.cfg.replicaAckTimeoutMs;
    const acked = Number(await this.call(conn, () => conn.send(['WAIT', String(want), String(timeout)])));
    if (acked < want)
      throw new ReplicationError(
        `${conn.endpoint}: only ${acked} of ${want} replicas confirmed the buffer write within ${timeout} ms (TARGET_REDIS_MIN_REPLICAS_ACKED / TARGET_REDIS_REPLICA_ACK_TIMEOUT_MS); the batch is written again`,
      );
  }

  /**
   * One chunk of fresh messages as a transaction. The four commands are queued in the same tick,
   * so no other command of this connection can come between MULTI and EXEC.
   */
  private async putFresh(conn: RedisConnection, chunk: readonly OutgoingMessage[], now: number): Promise<void> {
    const mset: (string | Buffer)[] = ['MSET'];
    const sadd: string[] = ['SADD', this.keys.unsyncedSet];
    for (const m of chunk) {
      mset.push(m.key, valueOf(m, now));
      sadd.push(m.key);
    }
    const replies = await Promise.all([conn.send(['MULTI']), conn.send(mset), conn.send(sadd), conn.send(['EXEC'])]);
    const exec = replies[3] as unknown;
    if (!Array.isArray(exec)) throw new Error(`EXEC of the buffer write replied ${String(exec)}`);
    for (const r of exec) if (r instanceof Error) throw r;
  }

  /**
   * Marks messages synced: the message's TTL starts, its id joins its marker set (whose TTL is
   * renewed: SYNC_TTL), it leaves the unsynced set. One script call per chunk of CHUNK_MESSAGES,
   * all sent at once on one connection (pipelined).
   */
  async markSynced(messageKeys: readonly string[], conn: RedisConnection = this.connection()): Promise<void> {
    const calls: Promise<unknown>[] = [];
    for (let i = 0; i < messageKeys.length; i += CHUNK_MESSAGES) {
      const { keys, args } = markCall(
        this.keys,
        this.keys.unsyncedSet,
        messageKeys.slice(i, i + CHUNK_MESSAGES),
        this.cfg,
      );
      calls.push(this.call(conn, () => runScript(conn, 'mark_synced', keys, args), 'mark_synced', keys));
    }
    await Promise.all(calls);
  }

  /**
   * Of `messageKeys`, those without a marker in their marker set (layout 2): one SMISMEMBER per
   * marker set, sent together on `conn`. A prefilter for recovery (which then reads the TTLs) and
   * the claim check (which also reads layout-1 markers): a key it keeps may still be synced.
   * With more than `maxSets` marker sets (keys of many streams and windows: a command per few keys
   * would cost more than it saves), nothing is read and every key is kept.
   */
  protected async withoutMarker(
    conn: RedisConnection,
    messageKeys: readonly string[],
    maxSets = Infinity,
  ): Promise<string[]> {
    const groups = this.keys.markerSets(messageKeys);
    if (groups.size > maxSets) return [...messageKeys];
    const replies = await Promise.all([...groups].map(([set, g]) => conn.send(['SMISMEMBER', set, ...g.members])));
    const out: string[] = [];
    [...groups.values()].forEach((g, n) => {
      const flags = asArray(replies[n] as Reply);
      g.keys.forEach((k, i) => {
        if (Number(flags[i]) !== 1) out.push(k);
      });
    });
    return out;
  }

  /** Recovery's prefilter of a SCAN page: `withoutMarker`, read only when the page's keys share sets. */
  protected unmarkedCandidates(conn: RedisConnection, candidates: readonly string[]): Promise<string[]> {
    return this.withoutMarker(conn, candidates, candidates.length / RECOVER_KEYS_PER_SET);
  }

  /**
   * Rebuilds the unsynced set by scanning message keys without marker or TTL: per SCAN page, the
   * page's markers (one SMISMEMBER per marker set, `withoutMarker`), then recover.lua with the keys
   * that have none (it adds those without a TTL to the set: the TTL decides, so a layout-1 marker
   * needs no lookup). A message marked synced between the two has its TTL by then (marking is
   * atomic), so it is not added. Pipelined: the next SCAN is sent as soon as a page arrives, with
   * the page's marker reads behind it (at most RECOVER_IN_FLIGHT pages outstanding), so the client
   * and the server work at the same time.
   */
  async recover(pageSize = RECOVER_PAGE): Promise<number> {
    const conn = this.primary;
    const scan = (cursor: string): Promise<Reply> => {
      const p = conn.send(['SCAN', cursor, 'MATCH', this.keys.messagePattern, 'COUNT', String(pageSize)]);
      p.catch(() => undefined); // awaited in the loop; must not go unhandled if a script call fails first
      return p;
    };
    const calls: Promise<number>[] = [];
    let found = 0;
    let next: Promise<Reply> | undefined = scan('0');
    while (next) {
      const reply = asArray(await next);
      const cursor = asBuffer(reply[0]).toString();
      next = cursor === '0' ? undefined : scan(cursor);
      const page = asArray(reply[1]);
      if (page.length === 0) continue;
      const candidates = page.map((k) => asBuffer(k).toString('utf8'));
      // Sent now, pipelined behind the next SCAN: the page's markers, in plain commands.
      const call = this.unmarkedCandidates(conn, candidates).then((unmarked) => {
        const keys: string[] = [this.keys.unsyncedSet, ...unmarked];
        return keys.length === 1
          ? 0
          : this.call(conn, () => runScript(conn, 'recover', keys, []), 'recover', keys).then(Number);
      });
      call.catch(() => undefined); // awaited below; a failure must not go unhandled meanwhile
      calls.push(call);
      if (calls.length >= RECOVER_IN_FLIGHT) found += await (calls.shift() as Promise<number>);
    }
    for (const call of calls) found += await call;
    return found;
  }

  async unsyncedCount(): Promise<number> {
    return Number(await this.primary.send(['SCARD', this.keys.unsyncedSet]));
  }

  /** One SSCAN page of the unsynced set. */
  async scanUnsynced(cursor: string, count: number): Promise<{ cursor: string; keys: string[] }> {
    const reply = asArray(await this.primary.send(['SSCAN', this.keys.unsyncedSet, cursor, 'COUNT', String(count)]));
    return { cursor: asBuffer(reply[0]).toString(), keys: asArray(reply[1]).map((k) => asBuffer(k).toString('utf8')) };
  }

  /** Reads messages, one script call per chunk. A key that vanished (or is not a message) is undefined. */
  async fetch(messageKeys: readonly string[]): Promise<(StoredMessage | undefined)[]> {
    const conn = this.connection();
    const out: (StoredMessage | undefined)[] = [];
    for (let i = 0; i < messageKeys.length; i += CHUNK_MESSAGES) {
      const chunk = messageKeys.slice(i, i + CHUNK_MESSAGES);
      const replies = asArray(await this.call(conn, () => runScript(conn, 'fetch', chunk, []), 'fetch', chunk));
      chunk.forEach((key, n) => {
        const v = decodeMessage(key, replies[n]);
        out.push(v === undefined ? undefined : { key, ...v, parts: this.keys.parse(key) });
      });
    }
    return out;
  }

  /**
   * Per key: its sync marker exists (it is in Kafka): in its marker set, or else a layout-1
   * marker (one EXISTS per such key). Sent together (pipelined).
   */
  async synced(messageKeys: readonly string[]): Promise<boolean[]> {
    const conn = this.connection();
    const unmarked = await this.withoutMarker(conn, messageKeys);
    const legacy = await Promise.all(unmarked.map((k) => conn.send(['EXISTS', this.keys.legacyMarkerKey(k)])));
    const missing = new Set(unmarked.filter((_, i) => Number(legacy[i]) !== 1));
    return messageKeys.map((k) => !missing.has(k));
  }

  /** Drops keys from the unsynced set (used for keys whose message no longer exists). */
  async forget(messageKeys: readonly string[]): Promise<void> {
    if (messageKeys.length > 0) await this.primary.send(['SREM', this.keys.unsyncedSet, ...messageKeys]);
  }

  /**
   * Runs one script call of `script` over `keys`, turning its failure into what it is: a full
   * target (BufferFullError, retryable), a refusal retrying cannot fix (TargetRefusedError: a
   * buffer key of the wrong type, named; a script error), or else a connection problem (retryable).
   */
  protected async call<T>(
    conn: RedisConnection,
    fn: () => Promise<T>,
    script: ScriptName | 'command' = 'command',
    keys: readonly string[] = [],
  ): Promise<T> {
    try {
      return await fn();
    } catch (err) {
      if (err instanceof ReplicationError) throw err;
      const msg = errorMessage(err);
      const kind = redisErrorKind(err);
      if (kind === 'oom') {
        throw new BufferFullError(
          `${conn.endpoint} is full (maxmemory reached): ${msg}. Reading pauses until memory frees.`,
          err,
        );
      }
      if (kind === 'wrongtype') {
        const wrong = await this.wrongTypeKey(conn, keys);
        const which = wrong
          ? `${wrong.key} holds a ${wrong.type}, where the buffer keeps a ${wrong.expected}`
          : 'a key the buffer uses holds another type than the buffer keeps there';
        throw new TargetRefusedError(
          `${conn.endpoint} (db ${conn.db}): ${script} failed: ${which} (${msg}). Something else writes under ` +
            `TARGET_REDIS_KEY_PREFIX="${this.keys.prefix}" in TARGET_REDIS_DB=${conn.db}: delete or rename that key, ` +
            'or give the service a prefix or DB of its own. Retrying cannot fix this.',
          { cause: err },
        );
      }
      if (kind === 'script') {
        throw new TargetRefusedError(
          `${conn.endpoint}: the buffer script ${script}.lua failed: ${msg}. Not a connection problem: the same ` +
            'call fails again. Check that the target is a Redis server with Lua scripting (not a look-alike ' +
            'without it), and report this message as a bug.',
          { cause: err },
        );
      }
      throw new ConnectionError(`${conn.endpoint}: ${msg}`, { retryable: isRetryableRedisError(err), cause: err });
    }
  }

  /** The first of `keys` whose type is not the one the buffer keeps there (for an error message). */
  private async wrongTypeKey(
    conn: RedisConnection,
    keys: readonly string[],
  ): Promise<{ key: string; type: string; expected: string } | undefined> {
    const expected = (key: string): string =>
      key === this.keys.unsyncedSet ? 'set' : this.keys.parse(key) ? 'hash' : 'string';
    try {
      const types = await Promise.all(keys.slice(0, 2001).map((k) => conn.send(['TYPE', k])));
      for (const [i, t] of types.entries()) {
        const key = keys[i] as string;
        const type = asText(t);
        if (type !== 'none' && type !== expected(key)) return { key, type, expected: expected(key) };
      }
    } catch {
      // the diagnosis is best effort; the error is reported either way
    }
    return undefined;
  }
}

function* chunks(messages: readonly OutgoingMessage[]): Generator<OutgoingMessage[]> {
  let chunk: OutgoingMessage[] = [];
  let bytes = 0;
  for (const m of messages) {
    chunk.push(m);
    bytes += (m.value ? m.value.length : m.payload.length) + m.key.length;
    if (chunk.length >= CHUNK_MESSAGES || bytes >= CHUNK_BYTES) {
      yield chunk;
      chunk = [];
      bytes = 0;
    }
  }
  if (chunk.length > 0) yield chunk;
}

/**
 * `conn` and the target buffer reach one server (equal INFO run_id): "localhost" and "127.0.0.1",
 * a DNS alias. False when INFO is refused (ACL, managed Redis).
 */
export async function onTargetServer(conn: RedisConnection, target: BufferStore): Promise<boolean> {
  const [x, y] = await Promise.all([runIdOf(conn), target.serverRunId()]);
  return x !== undefined && x === y;
}

/** INFO run_id of the server behind `conn`; undefined when INFO is refused (ACL, managed Redis). */
export async function runIdOf(conn: RedisConnection): Promise<string | undefined> {
  try {
    return /^run_id:(\w+)/m.exec(asText(await conn.send(['INFO', 'server'])))?.[1];
  } catch {
    return undefined;
  }
}
