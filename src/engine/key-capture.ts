/**
 * Key-value change capture: keyspace notifications -> windows -> envelopes -> Pipeline.submit,
 * the same durable path as stream entries (buffered in the target before Kafka, unsynced
 * tracking, retries, recovery, resync).
 *
 *   subscriber  PSUBSCRIBE __keyspace@<db>__:* (source/keyspace.ts) -> `pending`, one entry per
 *               key (last event wins), keys not matching KEY_SYNC_PATTERNS dropped
 *   snapshot    at start and after every resubscription: notify-keyspace-events checked again
 *               (a restarted source forgets it), then SCAN MATCH each pattern over each DB
 *               -> `pending` as `snapshot` (a pending live change of the key is kept instead)
 *   capture     one loop: a window closes WINDOW_MS after its first change or at WINDOW_KEYS
 *               keys; values are read (read_keys.lua, one call per DB and 100 keys), one
 *               envelope per key, one submit per window (parts of ~8 MiB when values are big)
 *
 * Invariants
 *  1. Per-key order: one loop takes windows in order, reads each window's values after the
 *     previous window was submitted, and submits to one lane (one target connection, produce in
 *     submission order); Kafka key = Redis key.
 *  2. The last value always arrives: a key in `pending` is read after its latest notification,
 *     so repeated writes may be coalesced, never lost. A change is safe once `submit` buffered it;
 *     one still in `pending` at a stop or crash is covered by the snapshot of the next start.
 *  3. Notifications missed while the subscriber was disconnected are covered by the snapshot
 *     started once it is subscribed again (deletions in that gap are not seen: SCAN finds no
 *     trace of a deleted key; FLUSHDB/FLUSHALL never notify).
 *  4. Memory is bounded by the number of distinct changed keys: `pending` holds one entry per key,
 *     the snapshot waits for room, and a slow Kafka slows the loop through `submit`.
 */
import { newMessageId } from '../buffer/key-format.js';
import { onTargetServer } from '../buffer/store.js';
import type { Config } from '../config/config.js';
import { errorMessage } from '../errors.js';
import type { Logger } from '../observability/logger.js';
import { connectRedis, type RedisConnection } from '../redis/client.js';
import {
  buildKeyEnvelope,
  eventOp,
  KeyPatternMap,
  needsValue,
  type KeyChange,
  type KeyRead,
} from '../source/key-envelope.js';
import {
  ensureKeyspaceNotifications,
  KeyspaceEventsError,
  KeyspaceSubscriber,
  readKeys,
  scanPage,
  type KeyspaceEvent,
} from '../source/keyspace.js';
import { backoffMs, sleep, untilWoken } from '../util/retry.js';
import { batchOf, type Message } from './batch.js';
import type { Lane } from './lane.js';
import type { Pipeline } from './pipeline.js';

/** A window closes this long after its first change... */
export const WINDOW_MS = 10;
/** ...or when this many keys are pending. Also the SCAN page size of snapshots. */
export const WINDOW_KEYS = 1000;
/** Most keys per value read (one read_keys.lua call per DB). */
const READ_KEYS = 100;
/** A window's messages are submitted in parts of about this many payload bytes. */
const SUBMIT_BYTES = 8 * 1024 * 1024;

/** CLIENT SETNAME of the subscriber: derived from SOURCE_CONSUMER_NAME, unique per instance. */
export function keyCaptureClientName(consumerName: string): string {
  return `redis-kafka-sync-keys-${consumerName.replace(/[^A-Za-z0-9._:-]/g, '_')}`;
}

export class KeyCapture {
  readonly stats = { events: 0, windows: 0, changes: 0, snapshots: 0, snapshotKeys: 0 };
  private readonly pending = new Map<string, KeyChange>();
  private readonly renameFrom = new Map<number, Buffer>();
  private readonly conns = new Map<number, RedisConnection>();
  private readonly patterns: KeyPatternMap<true>;
  private readonly topics: KeyPatternMap<string>;
  private subscriber: KeyspaceSubscriber | undefined;
  private submitting = false;
  private snapshotGeneration = 0;
  private snapshotDone = 0;
  private wakeCapture: (() => void) | undefined;
  private wakeSnapshot: (() => void) | undefined;
  private roomWaiters: (() => void)[] = [];
  /** The source server is the target server (same endpoint, or the same run_id behind two names). */
  private targetIsSource: boolean;

  constructor(
    private readonly cfg: Config,
    private readonly log: Logger,
    private readonly pipeline: Pipeline,
    private readonly stop: AbortSignal,
  ) {
    this.patterns = new KeyPatternMap(cfg.keys.patterns.map((p) => [p, true] as const));
    this.topics = new KeyPatternMap(cfg.keys.topicMap);
    this.targetIsSource = cfg.source.host === cfg.target.host && cfg.source.port === cfg.target.port;
  }

  /** Runs until `stop`; rejects only with KeyspaceEventsError (notifications cannot be enabled). */
  async run(): Promise<void> {
    try {
      for (const db of this.cfg.keys.dbRange) {
        const conn = (
          await this.retry(`connect the source DB ${db}`, () =>
            connectRedis(this.cfg.source, {
              role: 'source',
              db,
              name: 'redis-kafka-sync-keys',
              connectTimeoutMs: 10_000,
            }),
          )
        )?.value;
        if (!conn) return;
        conn.onError((err) => this.log.warn({ err: err.message }, 'key capture: Redis connection error'));
        this.conns.set(db, conn);
      }
      const first = this.conns.values().next().value as RedisConnection;
      if (!this.targetIsSource) this.targetIsSource = await onTargetServer(first, this.pipeline.buffer);
      if (!(await this.retry('check notify-keyspace-events', () => ensureKeyspaceNotifications(first, this.log))))
        return;
      const subscriber = new KeyspaceSubscriber(
        this.cfg.source,
        this.cfg.keys.dbRange,
        keyCaptureClientName(this.cfg.source.consumerName),
        {
          onEvent: (e) => this.onEvent(e),
          onResubscribed: () => {
            this.log.info('key capture: subscriber reconnected; snapshot to cover missed notifications');
            this.requestSnapshot();
          },
          onError: (err) => this.log.warn({ err: err.message }, 'key capture: subscriber connection error'),
        },
      );
      this.subscriber = subscriber;
      if (!(await this.retry('subscribe to keyspace notifications', () => subscriber.start(this.stop)))) return;
      this.log.info(
        { dbs: this.cfg.keys.dbRange, patterns: this.cfg.keys.patterns },
        'key capture: subscribed to keyspace notifications',
      );
      this.requestSnapshot();
      await Promise.all([this.captureLoop(), this.snapshotLoop()]);
    } finally {
      await this.subscriber?.close();
      await Promise.allSettled([...this.conns.values()].map((c) => c.close()));
    }
  }

  /**
   * Resolves once nothing is pending or being submitted and the latest requested snapshot (at
   * least the first) is done: every change seen so far is in the target buffer. Tests, tooling.
   */
  async idle(): Promise<void> {
    const busy = (): boolean =>
      this.pending.size > 0 || this.submitting || this.snapshotDone < Math.max(1, this.snapshotGeneration);
    while (busy() && !this.stop.aborted) await sleep(20, this.stop);
  }

  private onEvent(e: KeyspaceEvent): void {
    this.stats.events += 1;
    const from = this.renameFrom.get(e.db);
    if (from) {
      this.renameFrom.delete(e.db);
      if (e.event === 'rename_to') {
        this.enqueue({ db: e.db, key: from, op: 'del', renamedTo: e.key });
        this.enqueue({ db: e.db, key: e.key, op: 'renamed', from });
        return;
      }
      this.enqueue({ db: e.db, key: from, op: 'del' }); // unpaired (never expected): the key is gone
    }
    if (e.event === 'rename_from') this.renameFrom.set(e.db, e.key);
    else if (e.event === 'rename_to') this.enqueue({ db: e.db, key: e.key, op: 'set' });
    else {
      const op = eventOp(e.event);
      if (op) this.enqueue({ db: e.db, key: e.key, op });
    }
  }

  private enqueue(change: KeyChange): void {
    if (this.patterns.indexOf(change.key) < 0 || this.isOwnKey(change.db, change.key)) return;
    const id = `${change.db}:${change.key.toString('latin1')}`;
    if (change.op === 'snapshot' && this.pending.has(id)) return; // the live change is newer
    this.pending.set(id, change);
    this.wakeCapture?.();
  }

  /** A key the service writes, when the source is also the target (never capture our own writes). */
  private isOwnKey(db: number, key: Buffer): boolean {
    return this.targetIsSource && db === this.cfg.target.db && this.pipeline.buffer.keys.isOwnKey(key);
  }

  private requestSnapshot(): void {
    this.snapshotGeneration += 1;
    this.wakeSnapshot?.();
  }

  private async captureLoop(): Promise<void> {
    const lane = this.pipeline.lane('keys');
    while (!this.stop.aborted) {
      if (this.pending.size === 0) await this.wait((w) => (this.wakeCapture = w));
      if (this.pending.size < WINDOW_KEYS) await this.windowClosed();
      if (this.stop.aborted) return;
      const window: KeyChange[] = [];
      for (const [id, change] of this.pending) {
        if (window.length >= WINDOW_KEYS) break;
        window.push(change);
        this.pending.delete(id);
      }
      for (const w of this.roomWaiters.splice(0)) w();
      if (window.length === 0) continue;
      this.submitting = true;
      try {
        await this.submitWindow(window, lane);
      } catch (err) {
        this.log.error({ err: errorMessage(err), keys: window.length }, 'key capture: a window failed');
      } finally {
        this.submitting = false;
      }
    }
  }

  /**
   * Reads the window's values READ_KEYS keys at a time (one script call per DB and chunk) and
   * submits the messages in window order, in one submit, or several of about SUBMIT_BYTES when the
   * values are big (memory stays bounded by SUBMIT_BYTES + READ_KEYS values).
   */
  private async submitWindow(window: readonly KeyChange[], lane: Lane): Promise<void> {
    let messages: Message[] = [];
    let bytes = 0;
    for (let i = 0; i < window.length; i += READ_KEYS) {
      const chunk = window.slice(i, i + READ_KEYS);
      const reads = await this.readValues(chunk);
      if (!reads) return; // stopped: the next start's snapshot covers these keys
      const now = Date.now();
      for (const change of chunk) {
        const read = reads.get(change);
        if (change.op === 'snapshot' && read?.type === 'none') continue; // deleted since the scan
        const env = buildKeyEnvelope(change, read, this.cfg.source.encoding, now);
        const topic = this.topics.match(change.key) ?? this.cfg.kafka.topic;
        const payload = Buffer.from(JSON.stringify(env));
        const parts = { topic, id: newMessageId(now), origin: { kind: 'key', db: change.db, key: env.key } } as const;
        messages.push(this.pipeline.format.build(parts, change.key, payload));
        bytes += payload.length;
      }
      if (bytes >= SUBMIT_BYTES || i + READ_KEYS >= window.length) {
        // Safe once buffered; waiting for its produce turn also slows this loop when Kafka is slow.
        const handle = lane.submit(batchOf('key', messages, { fresh: true }));
        if (!(await handle.buffered)) return; // stopped: the next start's snapshot covers these keys
        await handle.admitted;
        this.stats.changes += messages.length;
        messages = [];
        bytes = 0;
      }
    }
    this.stats.windows += 1;
  }

  /** Values of the changes that need one, by change; undefined when stopped. */
  private async readValues(changes: readonly KeyChange[]): Promise<Map<KeyChange, KeyRead> | undefined> {
    const reads = new Map<KeyChange, KeyRead>();
    const byDb = new Map<number, KeyChange[]>();
    for (const c of changes) if (needsValue(c.op)) byDb.set(c.db, [...(byDb.get(c.db) ?? []), c]);
    for (const [db, list] of byDb) {
      const conn = this.conns.get(db);
      if (!conn) continue;
      const keys = list.map((c) => c.key);
      const got = await this.retry(`read key values in DB ${db}`, () =>
        readKeys(conn, keys, this.cfg.keys.maxValueBytes),
      );
      if (!got) return undefined;
      list.forEach((c, n) => reads.set(c, got.value[n] as KeyRead));
    }
    return reads;
  }

  private async snapshotLoop(): Promise<void> {
    while (!this.stop.aborted) {
      if (this.snapshotDone === this.snapshotGeneration) await this.wait((w) => (this.wakeSnapshot = w));
      this.wakeSnapshot = undefined;
      if (this.stop.aborted) return;
      const generation = this.snapshotGeneration;
      const t0 = Date.now();
      // A restarted source forgets a CONFIG SET: check again before every pass (KeyspaceEventsError is fatal).
      const first = this.conns.values().next().value as RedisConnection;
      if (!(await this.retry('check notify-keyspace-events', () => ensureKeyspaceNotifications(first, this.log))))
        return;
      const found = await this.snapshot(generation);
      if (found === undefined) continue; // superseded by a newer request, or stopped
      this.snapshotDone = generation;
      this.stats.snapshots += 1;
      this.stats.snapshotKeys += found;
      this.log.info({ keys: found, ms: Date.now() - t0 }, 'key capture: snapshot queued every matching key');
    }
  }

  /** One pass; undefined when a newer snapshot was requested meanwhile (it restarts) or on stop. */
  private async snapshot(generation: number): Promise<number | undefined> {
    let found = 0;
    for (const [db, conn] of this.conns) {
      for (let p = 0; p < this.cfg.keys.patterns.length; p += 1) {
        const pattern = this.cfg.keys.patterns[p] as string;
        let cursor = '0';
        do {
          if (generation !== this.snapshotGeneration || this.stop.aborted) return undefined;
          const page = await this.retry(`scan DB ${db} for ${pattern}`, () =>
            scanPage(conn, cursor, pattern, WINDOW_KEYS),
          );
          if (!page) return undefined;
          cursor = page.value.cursor;
          for (const key of page.value.keys) {
            // A key matching an earlier pattern is (or will be) found by that pattern's scan.
            if (this.patterns.indexOf(key) !== p) continue;
            found += 1;
            this.enqueue({ db, key, op: 'snapshot' });
          }
          while (this.pending.size >= WINDOW_KEYS && !this.stop.aborted)
            await this.wait((w) => this.roomWaiters.push(w));
        } while (cursor !== '0');
      }
    }
    return found;
  }

  /** Coalescing: resolves WINDOW_MS from now, or as soon as WINDOW_KEYS keys are pending, or on stop. */
  private windowClosed(): Promise<void> {
    return new Promise<void>((resolve) => {
      const done = (): void => {
        clearTimeout(timer);
        this.wakeCapture = undefined;
        this.stop.removeEventListener('abort', done);
        resolve();
      };
      const timer = setTimeout(done, WINDOW_MS);
      this.stop.addEventListener('abort', done, { once: true });
      this.wakeCapture = () => {
        if (this.pending.size >= WINDOW_KEYS) done();
      };
    });
  }

  /** Waits until `register`'s callback is called or the engine stops. */
  private wait(register: (wake: () => void) => void): Promise<void> {
    return untilWoken(register, this.stop);
  }

  /** Runs `fn` until it succeeds (backoff), undefined on stop; a KeyspaceEventsError is rethrown. */
  private async retry<T>(what: string, fn: () => Promise<T>): Promise<{ value: T } | undefined> {
    for (let attempt = 0; !this.stop.aborted; attempt += 1) {
      try {
        return { value: await fn() };
      } catch (err) {
        if (err instanceof KeyspaceEventsError) throw err;
        if (this.stop.aborted) return undefined;
        const delayMs = backoffMs(attempt, this.cfg.sync.retryBaseMs, this.cfg.sync.retryMaxMs);
        if (attempt === 0 || attempt % 10 === 0)
          this.log.warn({ what, attempt, delayMs, err: errorMessage(err) }, `key capture: ${what} failed; retrying`);
        await sleep(delayMs, this.stop);
      }
    }
    return undefined;
  }
}

/**
 * The daemon's hook (SyncEngine.runForever when KEY_SYNC_ENABLED): runs the capture until `stop`;
 * when it cannot run at all (KeyspaceEventsError) it logs why at fatal level and calls `onFatal`.
 */
export async function runKeyCapture(
  cfg: Config,
  log: Logger,
  pipeline: Pipeline,
  stop: AbortSignal,
  onFatal: (err: unknown) => void,
): Promise<void> {
  try {
    await new KeyCapture(cfg, log, pipeline, stop).run();
  } catch (err) {
    log.fatal({ err: errorMessage(err) }, 'key capture cannot run; stopping the service');
    onFatal(err);
  }
}
