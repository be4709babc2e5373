/**
 * The sync engine: owns the connections and the lifecycle, and runs the daemon's loops. The
 * loops themselves live with their role:
 *
 *   discovery   source/discovery.ts   which streams each DB reads
 *   reader/DB   source/reader.ts      XREADGROUP -> its lane, with read-ahead
 *   claims      engine/redelivery.ts  XAUTOCLAIM of dead consumers' entries, own idle refresh
 *   resync      engine/redelivery.ts  unsynced messages older than SYNC_RESEND_AFTER_MS -> Kafka
 *   key capture engine/key-capture.ts keyspace notifications + snapshots -> its lane
 * and every one of them hands batches to the Pipeline (pipeline.ts, lane.ts).
 *
 * Invariants: see pipeline.ts and lane.ts. In addition: on start, the unsynced set is rebuilt
 * from the target's keys (recovery) before anything is resent; a graceful stop ends the loops,
 * lets in-flight deliveries finish and get acknowledged for up to SYNC_SHUTDOWN_TIMEOUT_MS, then
 * closes; whatever is still undelivered stays unsynced and pending, to be found on restart.
 */
import { setMaxListeners } from 'node:events';
import { onTargetServer, type TargetBuffer } from '../buffer/store.js';
import { createTargetBuffer } from '../buffer/cluster-store.js';
import { newMessageId } from '../buffer/key-format.js';
import type { Config } from '../config/config.js';
import { errorMessage, SyncError } from '../errors.js';
import { noopMetrics, type EngineMetrics } from '../observability/engine-metrics.js';
import type { Logger } from '../observability/logger.js';
import { connectRedis, endpointName, type RedisConnection } from '../redis/client.js';
import { KafkaSink } from '../sink/producer.js';
import { TransactionalSink } from '../sink/transactions.js';
import { checkTopicName } from '../sink/topic.js';
import { runDiscovery } from '../source/discovery.js';
import { runReader, submitEntries } from '../source/reader.js';
import { SourceDbs } from '../source/source-dbs.js';
import type { StreamMapping } from '../source/stream-message.js';
import type { SourceDb, SourceEntry } from '../source/streams.js';
import { GlobMap } from '../util/glob.js';
import { backoffMs, sleep } from '../util/retry.js';
import { batchOf } from './batch.js';
import { runKeyCapture } from './key-capture.js';
import type { SubmitHandle } from './lane.js';
import { applyProgress, ProgressCheck } from './exactly-once.js';
import { Pipeline } from './pipeline.js';
import { resyncPass, runClaimLoop, runResyncLoop, type RedeliveryContext } from './redelivery.js';

export interface EngineStatus {
  readonly running: boolean;
  readonly source: string;
  readonly target: string;
  readonly kafka: string;
  readonly streams: number;
}

export class SyncEngine {
  /** KafkaSink, or with KAFKA_EXACTLY_ONCE the TransactionalSink. */
  readonly sink: KafkaSink | TransactionalSink;
  readonly sources: SourceDbs;
  private progressCheck: ProgressCheck | undefined;
  private buffer: TargetBuffer | undefined;
  private pipeline: Pipeline | undefined;
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
    const retry = { baseMs: cfg.sync.retryBaseMs, maxMs: cfg.sync.retryMaxMs };
    this.sink = cfg.kafka.exactlyOnce
      ? new TransactionalSink(cfg.kafka, cfg.source.consumerGroup, log, retry, (outcome, seconds) =>
          this.metrics.transaction(outcome, seconds),
        )
      : new KafkaSink(cfg.kafka, log, retry);
    this.sources = new SourceDbs(
      cfg.source,
      async (db) => {
        const [c] = await this.connectWithRetry('source', db, 1);
        return c as RedisConnection;
      },
      () => this.pipeline?.sourceAckLingerMs() ?? 0,
    );
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
    const poolSize = this.cfg.target.poolSize;
    this.targetConns = await this.connectWithRetry('target', this.cfg.target.db, poolSize, opts.connectTimeoutMs);
    this.buffer = createTargetBuffer(this.targetConns, this.cfg.target);
    this.pipeline = new Pipeline(
      this.buffer,
      this.sink,
      this.cfg,
      this.log,
      { stop: this.stopCtl.signal, abandon: this.abandonCtl.signal },
      this.metrics,
    );
    // A target that may evict unsynced messages is refused before anything is read (store.ts):
    // the daemon says so and checks again until the policy is changed; a one-shot (a CLI command,
    // `connectTimeoutMs`) fails with the reason instead of waiting.
    const eviction =
      opts.connectTimeoutMs !== undefined
        ? await this.target.checkEviction()
        : await this.pipeline.retrying('target eviction policy check', () => this.target.checkEviction());
    if (eviction === 'unknown')
      this.log.warn(
        { endpoint: this.targetConns[0]?.endpoint },
        'could not read the target maxmemory-policy (INFO refused); make sure it is noeviction or volatile-*: allkeys-* may evict messages not yet in Kafka',
      );
    const t0 = Date.now();
    const recovered = await this.pipeline.retrying('recovery', () => this.target.recover());
    this.log.info({ unsynced: recovered, ms: Date.now() - t0 }, 'recovery: rebuilt the unsynced set');
    if (opts.connectTimeoutMs !== undefined) await this.sink.connectOnce(opts.connectTimeoutMs);
    // Exactly-once waits for Kafka: nothing is sent again before the progress check.
    else if (this.sink instanceof TransactionalSink) await this.sink.connect(this.stopCtl.signal);
    // Otherwise the daemon does not wait for Kafka: it buffers (and, with SOURCE_ACK_MODE=target,
    // drains the source) while the producer keeps trying to connect in the background.
    // Not awaited at stop: an attempt under way ends by itself once the sink is closed.
    else void this.sink.connect(this.stopCtl.signal);
    if (this.sink instanceof TransactionalSink) {
      if (!this.sink.canProduce) return; // stopped before Kafka answered: nothing was read
      // init_transactions fenced this instance's previous incarnation; what its transactions
      // committed is marked synced now, so the readers' re-read of pending entries only acks it.
      const { progress, recovered: committed } = this.sink;
      await this.pipeline.retryingVoid('exactly-once progress check', () => applyProgress(this.target, committed));
      this.log.info(
        { progressKeys: committed.keys.length, instances: committed.seqs.size },
        'exactly-once: marked what committed transactions hold as synced',
      );
      const { consumerName, claimIdleMs } = this.cfg.source;
      this.progressCheck = new ProgressCheck(progress, this.target, this.log, consumerName, claimIdleMs);
    }
    this.running = true;
  }

  /** Starts the daemon loops (discovery, reading, claiming, resync). Returns at once. */
  runForever(): void {
    const signal = this.stopCtl.signal;
    const startReader = (src: SourceDb): void => {
      if (!this.readLoops.has(src.db)) this.readLoops.set(src.db, runReader(this.context(), src, this.mapping, signal));
    };
    this.loops.push(
      runDiscovery(this.cfg, this.log, this.sources, startReader, signal, (src, name) => this.isOwnStream(src, name)),
      runClaimLoop(this.context()),
      runResyncLoop(this.context()),
    );
    if (this.cfg.keys.enabled)
      this.loops.push(runKeyCapture(this.cfg, this.log, this.pipe, signal, () => void this.stop()));
  }

  status(): EngineStatus {
    const src = this.sources.all();
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
    return this.sources.all();
  }

  /** The SourceDb of a DB, connecting it on first use. */
  sourceDb(db: number): Promise<SourceDb> {
    return this.sources.get(db);
  }

  /** Buffers and delivers stream entries of one DB through that DB's lane (library use). */
  async submitEntries(
    src: SourceDb,
    entries: readonly SourceEntry[],
    mapping: StreamMapping = this.mapping,
  ): Promise<SubmitHandle | undefined> {
    return submitEntries(this.context(), this.pipe.lane(`stream:db${src.db}`), src, entries, mapping);
  }

  /** A direct message: buffered, sent, marked synced. Returns its buffer key. */
  async sendMessage(
    topic: string,
    message: Buffer | string,
    deviceId: string,
    opts: { waitForKafka?: boolean } = {},
  ): Promise<string> {
    const topicProblem = checkTopicName(topic);
    if (topicProblem) throw new SyncError(`topic "${topic}" is not a valid Kafka topic name: ${topicProblem}`);
    const m = this.pipe.format.build(
      { topic, id: newMessageId(), origin: { kind: 'direct', deviceId } },
      Buffer.from(deviceId),
      Buffer.isBuffer(message) ? message : Buffer.from(message),
    );
    const handle = this.pipe.lane('direct').submit(batchOf('direct', [m], { fresh: true }));
    if (!(await handle.buffered)) throw new SyncError('the engine stopped before the message was buffered');
    if (opts.waitForKafka !== false) await handle.settled;
    return m.key;
  }

  /**
   * One pass over the unsynced set: resends messages not in flight here and older than
   * `minAgeMs`, waits for their delivery, and returns how many were delivered.
   */
  syncUnsynced(opts: { minAgeMs?: number; defaultTopic?: string } = {}): Promise<number> {
    return resyncPass(this.context(), opts);
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
    await Promise.allSettled([...this.targetConns, ...this.sources.connections()].map((c) => c.close()));
    this.running = false;
    this.log.info({ drained }, 'stopped');
  }

  private readonly sameServerAsTarget = new Map<number, Promise<boolean>>();

  /** A stream the service writes itself (dead letters) when this source DB is the target's server and DB. */
  private async isOwnStream(src: SourceDb, name: string): Promise<boolean> {
    if (src.db !== this.cfg.target.db || !this.target.keys.isOwnKey(name)) return false;
    let same = this.sameServerAsTarget.get(src.db);
    if (!same) {
      same = onTargetServer(src.commands, this.target);
      this.sameServerAsTarget.set(src.db, same);
    }
    return same;
  }

  private context(): RedeliveryContext {
    const pipeline = this.pipe;
    return {
      cfg: this.cfg,
      log: this.log,
      pipeline,
      metrics: this.metrics,
      retryDelayMs: (attempt) => pipeline.retryDelayMs(attempt),
      buffer: this.target,
      sources: this.sources,
      mapping: this.mapping,
      signal: this.stopCtl.signal,
      exactlyOnce: this.progressCheck,
    };
  }

  private async connectWithRetry(
    role: 'source' | 'target',
    db: number,
    count: number,
    timeoutMs?: number,
  ): Promise<RedisConnection[]> {
    const cfg = role === 'source' ? this.cfg.source : this.cfg.target;
    for (let attempt = 0; ; attempt += 1) {
      const conns: RedisConnection[] = [];
      try {
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
        await Promise.allSettled(conns.map((c) => c.close())); // never leave a partial pool open
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
}
