/**
 * The sync engine: owns the connections and runs the loops of the daemon.
 *
 *   discovery loop  SCAN ... TYPE stream over SOURCE_REDIS_DB_SEARCH_RANGE every interval
 *   read loop/DB    XREADGROUP (own pending first, then new) -> Pipeline.submit
 *   claim loop      XAUTOCLAIM entries idle > SOURCE_CLAIM_IDLE_MS (crashed instances)
 *   resync loop     unsynced keys in the target older than SYNC_RESEND_AFTER_MS -> Kafka
 *   key capture     (KEY_SYNC_ENABLED) keyspace notifications + snapshots -> Pipeline.submit
 *                   (engine/key-capture.ts)
 *
 * Invariants: see pipeline.ts. In addition: on start, the unsynced set is rebuilt from the
 * target's keys (recovery) before anything is resent; a graceful stop ends the loops, lets
 * in-flight deliveries finish and get acknowledged for up to SYNC_SHUTDOWN_TIMEOUT_MS, then
 * closes; whatever is still undelivered stays unsynced and pending, to be found on restart.
 */
import { setMaxListeners } from 'node:events';
import { TargetBuffer, type OutgoingMessage } from '../buffer/store.js';
import { newMessageId } from '../buffer/key-format.js';
import type { Config } from '../config/config.js';
import { errorMessage, SyncError } from '../errors.js';
import { countBy, noopMetrics, type EngineMetrics } from '../observability/engine-metrics.js';
import type { Logger } from '../observability/logger.js';
import { connectRedis, endpointName, type RedisConnection } from '../redis/client.js';
import { KafkaSink } from '../sink/producer.js';
import { SourceDb, type SourceEntry } from '../source/streams.js';
import { GlobMap } from '../util/glob.js';
import { backoffMs, sleep } from '../util/retry.js';
import { streamMessage, type StreamMapping, type StreamMessage } from './messages.js';
import { runKeyCapture } from './key-capture.js';
import { Pipeline, type DeliveryHandle } from './pipeline.js';

export interface EngineStatus {
  readonly running: boolean;
  readonly source: string;
  readonly target: string;
  readonly kafka: string;
  readonly streams: number;
}

/** SSCAN COUNT of a resync pass: big pages keep the pass from being bound by round trips. */
const RESYNC_PAGE = 5000;

export class SyncEngine {
  readonly sink: KafkaSink;
  private buffer: TargetBuffer | undefined;
  private pipeline: Pipeline | undefined;
  private readonly sources = new Map<number, SourceDb>();
  private readonly readLoops = new Map<number, Promise<void>>();
  private readonly loops: Promise<void>[] = [];
  private readonly stopCtl = new AbortController();
  private readonly abandonCtl = new AbortController();
  private readonly mapping: StreamMapping;
  private running = false;
  private targetConns: RedisConnection[] = [];

  readonly metrics: EngineMetrics;

  constructor(
    readonly cfg: Config,
    readonly log: Logger,
    opts: { readonly metrics?: EngineMetrics } = {},
  ) {
    this.metrics = opts.metrics ?? noopMetrics;
    // Every waiting delivery, retry sleep and budget wait listens on these (and stops listening
    // when done): hundreds at once during an outage are expected, not a leak.
    setMaxListeners(0, this.stopCtl.signal, this.abandonCtl.signal);
    this.sink = new KafkaSink(cfg.kafka, log);
    this.mapping = {
      topics: new GlobMap(cfg.stream.topicMap),
      defaultTopic: cfg.kafka.topic,
      keyField: cfg.kafka.keyField,
      encoding: cfg.source.encoding,
    };
  }

  get stopSignal(): AbortSignal {
    return this.stopCtl.signal;
  }

  get pipe(): Pipeline {
    if (!this.pipeline) throw new SyncError('the engine is not started: call start() first');
    return this.pipeline;
  }

  get target(): TargetBuffer {
    if (!this.buffer) throw new SyncError('the engine is not started: call start() first');
    return this.buffer;
  }

  /** Connects the target and Kafka (retrying with backoff) and rebuilds the unsynced set. */
  async start(opts: { connectTimeoutMs?: number } = {}): Promise<void> {
    const poolSize = Math.min(this.cfg.target.poolSize, 4);
    this.targetConns = await this.connectWithRetry('target', this.cfg.target.db, poolSize, opts.connectTimeoutMs);
    this.buffer = new TargetBuffer(this.targetConns, this.cfg.target);
    this.pipeline = new Pipeline(
      this.buffer,
      this.sink,
      this.cfg,
      this.log,
      {
        stop: this.stopCtl.signal,
        abandon: this.abandonCtl.signal,
      },
      this.metrics,
    );
    const t0 = Date.now();
    const recovered = await this.pipeline.retrying('recovery', () => this.target.recover());
    this.log.info({ unsynced: recovered, ms: Date.now() - t0 }, 'recovery: rebuilt the unsynced set');
    if (opts.connectTimeoutMs !== undefined) {
      await this.sink.connectOnce(opts.connectTimeoutMs);
    } else {
      // The daemon does not wait for Kafka: it buffers (and, with SOURCE_ACK_MODE=target,
      // drains the source) while the producer keeps trying to connect in the background.
      this.loops.push(this.sink.connect(this.stopCtl.signal));
    }
    this.running = true;
  }

  /** Starts the daemon loops (discovery, reading, claiming, resync). Returns at once. */
  runForever(): void {
    this.loops.push(this.discoveryLoop(), this.claimLoop(), this.resyncLoop());
    if (this.cfg.keys.enabled)
      this.loops.push(runKeyCapture(this.cfg, this.log, this.pipe, this.stopCtl.signal, () => void this.stop()));
  }

  status(): EngineStatus {
    const src = [...this.sources.values()];
    return {
      running: this.running,
      source:
        src.length === 0 ? 'not connected' : src.every((s) => s.commands.isReady()) ? 'connected' : 'reconnecting',
      target: this.targetConns.length > 0 && this.targetConns.every((c) => c.isReady()) ? 'connected' : 'disconnected',
      kafka: this.sink.status,
      streams: src.reduce((n, s) => n + s.streamNames.length, 0),
    };
  }

  /** The source DBs connected so far, with the streams each reads (monitoring). */
  get sourceDbs(): readonly SourceDb[] {
    return [...this.sources.values()];
  }

  /** The SourceDb of a DB, connecting it on first use. */
  async sourceDb(db: number): Promise<SourceDb> {
    let s = this.sources.get(db);
    if (!s) {
      const [commands] = await this.connectWithRetry('source', db, 1);
      const [reads] = await this.connectWithRetry('source', db, 1);
      s =
        this.sources.get(db) ??
        new SourceDb(db, commands as RedisConnection, reads as RedisConnection, this.cfg.source);
      this.sources.set(db, s);
    }
    return s;
  }

  /** Buffers and delivers stream entries of one DB; resolves once they are produced. */
  async submitEntries(
    src: SourceDb,
    entries: readonly SourceEntry[],
    mapping: StreamMapping = this.mapping,
    after?: Promise<unknown>,
    fresh = false,
  ): Promise<{ whenDelivered: Promise<void> }> {
    for (const [stream, n] of countBy(entries, (e) => e.stream)) this.metrics.entriesRead(src.db, stream, n);
    const gone = entries.filter((e) => e.fields.length === 0);
    if (gone.length > 0) await this.ackEntries(src, gone); // deleted while pending: nothing left to send
    const live = entries.filter((e) => e.fields.length > 0);
    // An entry already being delivered here (re-read or claimed from ourselves) is not sent twice.
    const msgs = live
      .map((e) => streamMessage(e, this.target.keys, mapping))
      .filter((m) => !this.pipe.inFlight.has(m.key));
    const conn = this.targetConns[src.db % this.targetConns.length];
    const handle = await this.pipe.submit<StreamMessage>(msgs, {
      ...(conn ? { conn } : {}),
      ackMode: this.cfg.source.ackMode,
      ackSource: (ms) => this.ackEntries(src, ms),
      ...(after ? { after } : {}),
      fresh,
    });
    return handle ?? { whenDelivered: Promise.resolve() };
  }

  /** A direct message: buffered, sent, marked synced. Returns its buffer key. */
  async sendMessage(
    topic: string,
    message: Buffer | string,
    deviceId: string,
    opts: { waitForKafka?: boolean } = {},
  ): Promise<string> {
    if (!/^[a-zA-Z0-9._-]{1,249}$/.test(topic))
      throw new SyncError(`topic "${topic}" is not a valid Kafka topic name (letters, digits, . _ -)`);
    const key = this.target.keys.messageKey({ topic, id: newMessageId(), origin: { kind: 'direct', deviceId } });
    const m: OutgoingMessage = {
      key,
      topic,
      kafkaKey: Buffer.from(deviceId),
      payload: Buffer.isBuffer(message) ? message : Buffer.from(message),
    };
    const handle = await this.pipe.submit([m], { fresh: true });
    if (!handle) throw new SyncError('the engine stopped before the message was buffered');
    if (opts.waitForKafka !== false) await handle.whenDelivered;
    return key;
  }

  /**
   * One pass over the unsynced set: resends messages not in flight here and older than
   * `minAgeMs`, waits for their delivery, and returns how many were delivered.
   */
  async syncUnsynced(opts: { minAgeMs?: number; defaultTopic?: string } = {}): Promise<number> {
    const minAge = opts.minAgeMs ?? 0;
    const handles: DeliveryHandle[] = [];
    let cursor = '0';
    do {
      const page = await this.target.scanUnsynced(cursor, RESYNC_PAGE);
      cursor = page.cursor;
      const keys = page.keys.filter((k) => !this.pipe.inFlight.has(k));
      if (keys.length === 0) continue;
      const stored = await this.target.fetch(keys);
      const missing = keys.filter((_, i) => stored[i] === undefined);
      await this.target.forget(missing);
      const now = Date.now();
      const due = stored.filter(
        (m): m is NonNullable<typeof m> =>
          m !== undefined && now - m.createdMs >= minAge && !this.pipe.inFlight.has(m.key),
      );
      // SSCAN pages come in no order; within a page, oldest first keeps most of each device's order.
      due.sort((x, y) => x.createdMs - y.createdMs || (x.key < y.key ? -1 : x.key > y.key ? 1 : 0));
      const withTopic = due.map((m) => (m.topic === '' && opts.defaultTopic ? { ...m, topic: opts.defaultTopic } : m));
      const handle = await this.pipe.deliver(withTopic, (ms) => this.ackOrigins(ms));
      if (!handle) break;
      handles.push(handle);
    } while (cursor !== '0' && !this.stopCtl.signal.aborted);
    await Promise.all(handles.map((h) => h.whenDelivered));
    // Only this pass's own deliveries (readers deliver at the same time).
    return handles.reduce((n, h) => n + (h.tally?.delivered ?? 0), 0);
  }

  /** Graceful stop: loops end, in-flight deliveries finish (bounded), connections close. */
  async stop(): Promise<void> {
    if (this.stopCtl.signal.aborted) return;
    this.log.info('stopping: finishing in-flight deliveries');
    this.stopCtl.abort();
    await Promise.allSettled([...this.loops, ...this.readLoops.values()]);
    const drained = this.pipeline ? await this.pipeline.drain(this.cfg.sync.shutdownTimeoutMs) : true;
    if (!drained) this.log.warn('shutdown timeout: undelivered messages stay buffered and are resent on restart');
    this.abandonCtl.abort();
    await this.sink.flush(1000).catch(() => undefined);
    await this.sink.close();
    const conns = [...this.targetConns, ...[...this.sources.values()].flatMap((s) => [s.commands, s.reads])];
    await Promise.allSettled(conns.map((c) => c.close()));
    this.running = false;
    this.log.info({ drained }, 'stopped');
  }

  /** XACK (+XDEL) through `src`, counted by stream; takes entries or the messages made of them. */
  private async ackEntries(
    src: SourceDb,
    items: readonly ({ stream: string; id: string } | StreamMessage)[],
  ): Promise<void> {
    const entries = items.map((i) => ('entry' in i ? i.entry : i));
    await src.ack(entries);
    for (const [stream, n] of countBy(entries, (e) => e.stream)) this.metrics.sourceAcked(src.db, stream, n);
  }

  private async ackOrigins(messages: readonly OutgoingMessage[]): Promise<void> {
    const byDb = new Map<number, { stream: string; id: string }[]>();
    for (const m of messages) {
      const parts = this.target.keys.parse(m.key);
      if (parts?.origin.kind !== 'stream') continue;
      let list = byDb.get(parts.origin.db);
      if (!list) byDb.set(parts.origin.db, (list = []));
      list.push({ stream: parts.origin.stream, id: parts.id });
    }
    for (const [db, list] of byDb) {
      if (this.cfg.source.ackMode === 'target') continue; // already acknowledged at buffering
      await this.ackEntries(await this.sourceDb(db), list);
    }
  }

  private async connectWithRetry(
    role: 'source' | 'target',
    db: number,
    count: number,
    timeoutMs?: number,
  ): Promise<RedisConnection[]> {
    const cfg = role === 'source' ? this.cfg.source : this.cfg.target;
    for (let attempt = 0; ; attempt += 1) {
      try {
        const conns: RedisConnection[] = [];
        for (let i = 0; i < count; i += 1) {
          const c = await connectRedis(cfg, {
            role,
            db,
            connectTimeoutMs: timeoutMs ?? 10_000,
            name: `redis-kafka-sync-${role}`,
          });
          c.onError((err) => this.log.warn({ err: err.message }, 'Redis connection error'));
          conns.push(c);
        }
        return conns;
      } catch (err) {
        if (timeoutMs !== undefined || this.stopCtl.signal.aborted) throw err;
        const delay = backoffMs(attempt, this.cfg.sync.retryBaseMs, this.cfg.sync.retryMaxMs);
        this.log.warn(
          { endpoint: endpointName(cfg, role), attempt, delayMs: delay, err: errorMessage(err) },
          `cannot connect to the ${role} Redis; retrying`,
        );
        await sleep(delay, this.stopCtl.signal);
      }
    }
  }

  private async discoveryLoop(): Promise<void> {
    const signal = this.stopCtl.signal;
    const configured = this.configuredStreams();
    for (let first = true; !signal.aborted; first = false) {
      try {
        if (configured) {
          if (first) for (const [db, names] of configured) await this.useStreams(db, names, true);
        } else if (first || this.cfg.stream.autoDiscovery) {
          const t0 = Date.now();
          // All DBs at once (each has its own connections): connecting 16 DBs and creating their
          // groups overlaps instead of adding up. The first failure is reported, as before.
          const perDb = await Promise.allSettled(
            this.cfg.source.dbSearchRange.map(async (db) => {
              const names = await (await this.sourceDb(db)).discover(this.cfg.stream.discoveryPatterns);
              await this.useStreams(db, names, false);
              return names.length;
            }),
          );
          let total = 0;
          for (const r of perDb) {
            if (r.status === 'rejected') throw r.reason;
            total += r.value;
          }
          this.log.debug({ streams: total, ms: Date.now() - t0 }, 'discovery cycle');
        }
      } catch (err) {
        this.log.warn({ err: errorMessage(err) }, 'stream discovery failed; retrying next interval');
      }
      await sleep(this.cfg.stream.discoveryIntervalSeconds * 1000, signal);
    }
  }

  /** SOURCE_STREAMS ("name" or "name@db") grouped by DB, or undefined when discovery is used. */
  private configuredStreams(): Map<number, string[]> | undefined {
    if (this.cfg.stream.autoDiscovery || this.cfg.stream.streams.length === 0) return undefined;
    const byDb = new Map<number, string[]>();
    const defaultDb = this.cfg.source.dbSearchRange[0] ?? 0;
    for (const spec of this.cfg.stream.streams) {
      const m = /^(.*)@(\d+)$/.exec(spec);
      const db = m ? Number(m[2]) : defaultDb;
      const name = m ? (m[1] as string) : spec;
      byDb.set(db, [...(byDb.get(db) ?? []), name]);
    }
    return byDb;
  }

  private async useStreams(db: number, names: readonly string[], create: boolean): Promise<void> {
    const src = await this.sourceDb(db);
    if (create) for (const n of names) await src.ensureGroup(n, true);
    const { added, removed } = await src.setStreams(names);
    if (added.length > 0 || removed.length > 0) {
      this.log.info(
        { db, added: added.length, removed: removed.length, streams: src.streamNames.length },
        'streams changed',
      );
    }
    if (src.streamNames.length > 0 && !this.readLoops.has(db)) this.readLoops.set(db, this.readLoop(src));
  }

  /**
   * Reads one DB's streams and submits what it reads. Read-ahead: up to SOURCE_READ_AHEAD_BATCHES
   * batches are outstanding, so batch N+1 is read, enveloped and written to the target while batch N is
   * still being written or produced (the target's script time no longer stalls the reader);
   * each submit produces only after the previous one did (`after`), so order is kept. Read-ahead
   * also stops while the batches waiting hold KAFKA_MAX_IN_FLIGHT_BYTES of entry data, so with
   * large messages memory stays near twice that budget, not SOURCE_READ_AHEAD_BATCHES full batches.
   */
  private async readLoop(src: SourceDb): Promise<void> {
    const signal = this.stopCtl.signal;
    const outstanding = new Map<Promise<void>, number>(); // submit -> bytes read
    let outstandingBytes = 0;
    let previous: Promise<unknown> = Promise.resolve();
    try {
      await this.readBatches(src, signal, (entries, fresh) => {
        let bytes = 0;
        for (const e of entries) for (const f of e.fields) bytes += f.length;
        const after = previous;
        const submitted = this.submitEntries(src, entries, this.mapping, after, fresh).then(
          () => undefined,
          (err: unknown) => {
            // Its entries stay pending in the source: read them again (in-flight ones are skipped).
            src.rereadPending();
            this.log.error({ db: src.db, err: errorMessage(err) }, 'submitting a read batch failed; re-reading');
          },
        );
        // Settled once this batch AND every earlier one produced (or gave up): a batch that
        // returns early (target mode, Kafka down) must not let the next overtake the one before.
        previous = Promise.all([after, submitted]);
        outstanding.set(submitted, bytes);
        outstandingBytes += bytes;
        void submitted.finally(() => {
          outstanding.delete(submitted);
          outstandingBytes -= bytes;
        });
        // Read ahead while few batches and few bytes wait (large messages: less read-ahead).
        const full =
          outstanding.size >= this.cfg.source.readAheadBatches || outstandingBytes >= this.cfg.kafka.maxInFlightBytes;
        return full ? Promise.race(outstanding.keys()) : undefined;
      });
    } finally {
      await Promise.allSettled([...outstanding.keys()]);
    }
  }

  private async readBatches(
    src: SourceDb,
    signal: AbortSignal,
    submit: (entries: SourceEntry[], fresh: boolean) => Promise<void> | undefined,
  ): Promise<void> {
    for (let attempt = 0; !signal.aborted;) {
      let entries: SourceEntry[];
      let fresh: boolean;
      try {
        if (src.streamNames.length === 0) {
          await sleep(this.cfg.source.blockMs, signal);
          continue;
        }
        ({ entries, fresh } = await src.readBatch(this.cfg.source.batchSize, this.cfg.source.blockMs));
        attempt = 0;
      } catch (err) {
        const msg = errorMessage(err);
        if (/NOGROUP|WRONGTYPE|no such key/i.test(msg)) {
          const dropped = await src.revalidate().catch(() => []);
          this.log.warn({ db: src.db, err: msg, dropped }, 'a source stream changed under the reader; revalidated');
        } else {
          const delay = backoffMs(attempt, this.cfg.sync.retryBaseMs, this.cfg.sync.retryMaxMs);
          attempt += 1;
          this.log.warn({ db: src.db, err: msg, delayMs: delay }, 'reading the source failed; retrying');
          await sleep(delay, signal);
        }
        continue;
      }
      if (entries.length > 0 && !signal.aborted) await submit(entries, fresh);
    }
  }

  private async claimLoop(): Promise<void> {
    const signal = this.stopCtl.signal;
    const every = Math.max(1000, Math.floor(this.cfg.source.claimIdleMs / 3));
    while (!signal.aborted) {
      await sleep(every, signal);
      await this.touchOwnPending().catch((err: unknown) =>
        this.log.warn({ err: errorMessage(err) }, 'refreshing the idle time of in-flight entries failed'),
      );
      for (const src of this.sources.values()) {
        for (const stream of src.streamNames) {
          if (signal.aborted) return;
          try {
            const claimed = await src.claim(stream, this.cfg.source.claimIdleMs, this.cfg.source.batchSize);
            if (claimed.length > 0) {
              this.log.info(
                { db: src.db, stream, count: claimed.length },
                'claimed entries left pending by another consumer',
              );
              await this.submitEntries(src, claimed);
            }
          } catch (err) {
            this.log.warn({ db: src.db, stream, err: errorMessage(err) }, 'claiming pending entries failed');
          }
        }
      }
    }
  }

  /**
   * Entries this instance is still delivering (Kafka slow or down) must not look abandoned to
   * the others: XCLAIM ... JUSTID to ourselves resets their idle time, so XAUTOCLAIM elsewhere
   * only takes entries of a consumer that really stopped.
   */
  private async touchOwnPending(): Promise<void> {
    const byStream = new Map<string, { db: number; stream: string; ids: string[] }>();
    for (const key of this.pipe.inFlight.keys()) {
      const parts = this.target.keys.parse(key);
      if (parts?.origin.kind !== 'stream') continue;
      const k = `${parts.origin.db}/${parts.origin.stream}`;
      let group = byStream.get(k);
      if (!group) byStream.set(k, (group = { db: parts.origin.db, stream: parts.origin.stream, ids: [] }));
      group.ids.push(parts.id);
    }
    for (const { db, stream, ids } of byStream.values()) {
      const src = this.sources.get(db);
      if (src) await src.touch(stream, ids);
    }
  }

  private async resyncLoop(): Promise<void> {
    const signal = this.stopCtl.signal;
    while (!signal.aborted) {
      await sleep(this.cfg.sync.resyncIntervalMs, signal);
      if (signal.aborted) return;
      try {
        const n = await this.syncUnsynced({ minAgeMs: this.cfg.sync.resendAfterMs });
        if (n > 0) this.log.info({ delivered: n }, 'resync delivered buffered messages');
      } catch (err) {
        this.log.warn({ err: errorMessage(err) }, 'resync pass failed; retrying next interval');
      }
    }
  }
}
