/**
 * Progress records of exactly-once delivery (KAFKA_EXACTLY_ONCE): what each instance's
 * transactions committed, in a compacted control topic (KAFKA_PROGRESS_TOPIC), written by the
 * transactional sink (transactions.ts) in the same Kafka transaction as the records themselves.
 *
 *   key    `<transactional.id>/<part>` (a transaction's key list is split into parts so no record
 *          comes near KAFKA_MAX_REQUEST_SIZE)
 *   value  JSON { v: 1, instance, seq, part, parts, keys: [buffer keys], streams: { "<db>/<stream>":
 *          highest entry id }, atMs }
 *
 * Invariants
 *  1. A record is visible to a read_committed reader only once its transaction committed, so every
 *     buffer key it lists is in Kafka: marking it synced is always right.
 *  2. The latest records of an instance list every key it committed whose synced mark in the
 *     target is not confirmed yet (its last transaction's keys plus those carried over from earlier
 *     ones); every key committed before is marked synced in the target already.
 *  3. So after a crash, a restart or a takeover: fence the instance (init_transactions with its
 *     transactional.id aborts its open transaction), read every instance's latest records to the
 *     end, mark what they list as synced; then whatever is still unsynced was never committed and
 *     is sent again. A key listed twice, or already marked, is harmless (marking is idempotent).
 */
import Kafka from '@confluentinc/kafka-javascript';
import type { Config } from '../config/config.js';
import { ConnectionError, errorMessage } from '../errors.js';
import type { Logger } from '../observability/logger.js';
import { securitySettings } from './kafka-config.js';

export interface ProgressRecord {
  readonly v: 1;
  /** SOURCE_CONSUMER_NAME of the writer. */
  readonly instance: string;
  /** The writer's transaction number: grows by one per committed transaction, across restarts. */
  readonly seq: number;
  /**
   * The process that wrote it (random per process): a client whose commit outcome is unknown
   * asks whether *its* transaction committed, not whether any process with the same name did.
   */
  readonly writer?: string;
  readonly part: number;
  readonly parts: number;
  /** Buffer keys committed and not yet confirmed marked synced in the target. */
  readonly keys: readonly string[];
  /** Per source stream ("<db>/<stream>"), the highest entry id this transaction committed. */
  readonly streams: Readonly<Record<string, string>>;
  readonly atMs: number;
}

/** The transactional.id of an instance: stable across its restarts, unique per consumer group. */
export function transactionalId(consumerGroup: string, instance: string): string {
  return `redis-kafka-sync.${consumerGroup}.${instance}`;
}

/** Splits a transaction's keys into records of at most `maxBytes` of keys each (at least one record). */
export function progressRecords(
  base: Omit<ProgressRecord, 'part' | 'parts' | 'keys'>,
  keys: readonly string[],
  maxBytes: number,
): ProgressRecord[] {
  const chunks: string[][] = [[]];
  let bytes = 0;
  for (const k of keys) {
    const size = Buffer.byteLength(k) + 3;
    if (bytes + size > maxBytes && (chunks.at(-1) as string[]).length > 0) {
      chunks.push([]);
      bytes = 0;
    }
    (chunks.at(-1) as string[]).push(k);
    bytes += size;
  }
  return chunks.map((c, part) => ({ ...base, part, parts: chunks.length, keys: c }));
}

export function encodeProgress(r: ProgressRecord): Buffer {
  return Buffer.from(JSON.stringify(r));
}

/** undefined for anything that is not a progress record of this version (a foreign writer, a tombstone). */
export function decodeProgress(value: Buffer | null | undefined): ProgressRecord | undefined {
  if (!value || value.length === 0) return undefined;
  try {
    const r = JSON.parse(value.toString('utf8')) as Partial<ProgressRecord>;
    if (r.v !== 1 || typeof r.instance !== 'string' || typeof r.seq !== 'number' || !Array.isArray(r.keys))
      return undefined;
    return r as ProgressRecord;
  } catch {
    return undefined;
  }
}

/** What the records read say: per instance its highest committed seq, and the keys to mark synced. */
export interface Progress {
  readonly seqs: ReadonlyMap<string, number>;
  readonly keys: readonly string[];
  /** Per instance and writer (`writerKey`), the highest seq committed. */
  readonly committed: ReadonlyMap<string, number>;
  /** Per instance, the writer of its latest record. */
  readonly lastWriter: ReadonlyMap<string, string>;
}

export function writerKey(instance: string, writer: string): string {
  return `${instance}\u0000${writer}`;
}

/**
 * Per instance, the parts of its highest seq: the keys whose mark may be missing (invariant 2);
 * older records (a compacted topic still holds some) list keys marked already and are dropped.
 */
export class ProgressState {
  private readonly latest = new Map<string, { seq: number; parts: Map<number, readonly string[]> }>();
  private readonly committed = new Map<string, number>();
  private readonly lastWriter = new Map<string, string>();

  add(r: ProgressRecord): void {
    const wk = writerKey(r.instance, r.writer ?? '');
    this.committed.set(wk, Math.max(this.committed.get(wk) ?? -1, r.seq));
    this.lastWriter.set(r.instance, r.writer ?? '');
    const cur = this.latest.get(r.instance);
    if (cur && cur.seq > r.seq) return;
    if (!cur || cur.seq < r.seq) this.latest.set(r.instance, { seq: r.seq, parts: new Map([[r.part, r.keys]]) });
    else cur.parts.set(r.part, r.keys);
  }

  get progress(): Progress {
    const seqs = new Map<string, number>();
    const keys: string[] = [];
    for (const [instance, { seq, parts }] of this.latest) {
      seqs.set(instance, seq);
      for (const k of parts.values()) keys.push(...k);
    }
    return { seqs, keys, committed: new Map(this.committed), lastWriter: new Map(this.lastWriter) };
  }
}

/** The fold of records read in topic order. */
export function foldProgress(records: readonly ProgressRecord[]): Progress {
  const state = new ProgressState();
  for (const r of records) state.add(r);
  return state.progress;
}

/** The control topic: created when missing, read to its end with read_committed, fencing. */
export class ProgressLog {
  constructor(
    private readonly cfg: Config['kafka'],
    private readonly consumerGroup: string,
    private readonly log: Logger,
  ) {}

  get topic(): string {
    return this.cfg.progressTopic;
  }

  /** Creates the control topic (one partition, compacted) unless it exists. */
  async ensureTopic(timeoutMs = 15_000): Promise<void> {
    const admin = Kafka.AdminClient.create({
      'bootstrap.servers': this.cfg.bootstrapServers,
      ...securitySettings(this.cfg),
    } as Kafka.GlobalConfig);
    try {
      await new Promise<void>((resolve, reject) =>
        admin.createTopic(
          {
            topic: this.topic,
            num_partitions: 1,
            replication_factor: -1,
            // Compacted; short segments so the part a reader must read from the start stays small.
            config: { 'cleanup.policy': 'compact', 'segment.ms': '60000', 'min.cleanable.dirty.ratio': '0.1' },
          },
          timeoutMs,
          (err) => {
            if (!err || err.code === Kafka.CODES.ERRORS.ERR_TOPIC_ALREADY_EXISTS) resolve();
            else
              reject(
                new ConnectionError(
                  `KAFKA_PROGRESS_TOPIC: creating topic "${this.topic}" failed (${err.message}); create it (cleanup.policy=compact) or grant CreateTopics`,
                  { retryable: true, cause: err },
                ),
              );
          },
        ),
      );
    } finally {
      admin.disconnect();
    }
  }

  /**
   * Fences an instance: init_transactions with its transactional.id aborts its open transaction
   * (a dead instance's) and makes its producer unusable. Done before taking over its entries.
   */
  async fence(instance: string, timeoutMs = 30_000): Promise<void> {
    const producer = new Kafka.Producer({
      'bootstrap.servers': this.cfg.bootstrapServers,
      ...securitySettings(this.cfg),
      'transactional.id': transactionalId(this.consumerGroup, instance),
      'transaction.timeout.ms': this.cfg.transactionTimeoutMs,
    } as Kafka.ProducerGlobalConfig);
    await new Promise<void>((resolve, reject) =>
      producer.connect({ timeout: timeoutMs }, (err) => (err ? reject(err) : resolve())),
    );
    try {
      await new Promise<void>((resolve, reject) =>
        producer.initTransactions(timeoutMs, (err) => (err ? reject(err) : resolve())),
      );
      this.log.info({ instance }, 'fenced the transactions of an instance before taking over its entries');
    } finally {
      await new Promise<void>((resolve) => producer.disconnect(5000, () => resolve()));
    }
  }

  /**
   * What the control topic says up to its end as a read_committed reader sees it now: one
   * consumer, kept open, reads from the beginning once and then only what was added since.
   * Rejects (retryable) when Kafka does not answer, or the end is not reached in time (an open
   * transaction of an instance not fenced holds read_committed readers back until it ends).
   */
  async read(timeoutMs = 30_000): Promise<Progress> {
    this.reading = (this.reading ?? Promise.resolve()).catch(() => undefined).then(() => this.catchUp(timeoutMs));
    return this.reading;
  }

  async close(): Promise<void> {
    const c = this.consumer;
    this.consumer = undefined;
    if (c) await new Promise<void>((resolve) => c.disconnect(() => resolve()));
  }

  private consumer: Kafka.KafkaConsumer | undefined;
  private reading: Promise<Progress> | undefined;
  private readonly state = new ProgressState();
  /** Per partition, the offset a partition.eof said the reader is at. */
  private readonly eofAt = new Map<number, number>();

  private fail(what: string, err: unknown): ConnectionError {
    return new ConnectionError(`KAFKA_PROGRESS_TOPIC "${this.topic}": ${what}: ${errorMessage(err)}`, {
      retryable: true,
      cause: err,
    });
  }

  private async open(timeoutMs: number): Promise<Kafka.KafkaConsumer> {
    if (this.consumer) return this.consumer;
    const consumer = new Kafka.KafkaConsumer(
      {
        'bootstrap.servers': this.cfg.bootstrapServers,
        ...securitySettings(this.cfg),
        'group.id': transactionalId(this.consumerGroup, 'progress-reader'),
        'enable.auto.commit': false,
        'isolation.level': 'read_committed',
        'enable.partition.eof': true,
        'allow.auto.create.topics': false,
        'queued.max.messages.kbytes': 4096,
      },
      {},
    );
    await new Promise<void>((resolve, reject) =>
      consumer.connect({ timeout: timeoutMs }, (err) => (err ? reject(this.fail('connecting', err)) : resolve())),
    );
    consumer.on('partition.eof', (e: { partition: number; offset: number }) => this.eofAt.set(e.partition, e.offset));
    consumer.assign([{ topic: this.topic, partition: 0, offset: -2 }]);
    this.consumer = consumer;
    return consumer;
  }

  private async catchUp(timeoutMs: number): Promise<Progress> {
    let consumer: Kafka.KafkaConsumer;
    try {
      consumer = await this.open(timeoutMs);
    } catch (err) {
      await this.close();
      throw err;
    }
    const high = await new Promise<number>((resolve, reject) =>
      consumer.queryWatermarkOffsets(this.topic, 0, timeoutMs, (err, o) =>
        err ? reject(this.fail('reading its end offset', err)) : resolve(o.highOffset),
      ),
    );
    const deadline = Date.now() + timeoutMs;
    while ((this.eofAt.get(0) ?? -1) < high) {
      if (Date.now() > deadline)
        throw this.fail(
          'reading to its end',
          new Error(`at ${this.eofAt.get(0) ?? 0} of ${high} after ${timeoutMs} ms (a transaction still open?)`),
        );
      const batch = await new Promise<Kafka.Message[]>((resolve, reject) =>
        consumer.consume(1000, (err, msgs) => (err ? reject(this.fail('reading', err)) : resolve(msgs))),
      );
      for (const m of batch) {
        const r = decodeProgress(m.value);
        if (r) this.state.add(r);
      }
    }
    return this.state.progress;
  }
}
