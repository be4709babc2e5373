/**
 * The Kafka sink: one librdkafka producer (raw Producer API, the fast path) with a delivery
 * report per message. Implements the `Sink` contract (sink.ts): records are queued in call
 * order, `accepted` once all are in librdkafka's queue, `outcomes` once every report is in;
 * nothing is dropped. With idempotence, librdkafka keeps that order per partition through its
 * own retries; a replaced producer's records are failed as retryable in the order produced.
 *
 * Two ways into librdkafka, the same records and reports: with the client's produceBatch patch
 * (KAFKA_BATCH_PRODUCE, produce-batch.ts) a run of records of one topic is one native call and
 * reports arrive many per call; otherwise `produce` per record and a 'delivery-report' event each.
 * Either way a record is settled exactly once (`settle` ignores a second report), and a queue-full
 * refusal only makes the rest of the batch wait for room (backpressure), in order.
 */
import net from 'node:net';
import Kafka from '@confluentinc/kafka-javascript';
import type { LibrdKafkaError, DeliveryReport, MessageHeader } from '@confluentinc/kafka-javascript';
import { unsentTicket, type Outcome, type SendTicket, type Sink, type SinkRecord } from './sink.js';
import type { Config } from '../config/config.js';
import { ConnectionError, DeliveryError, PoisonMessageError, errorMessage, type SyncError } from '../errors.js';
import type { Logger } from '../observability/logger.js';
import { explainConnectFailure } from '../security/kafka-failure.js';
import { retryWithBackoff, sleep, untilWoken } from '../util/retry.js';
import { producerSettings } from './kafka-config.js';
import { clientHasBatchProduce, kafkaError, queueRun } from './produce-batch.js';

/** The name the benchmark uses for a record handed to the sink (see sink.ts). */
export type SinkMessage = SinkRecord;

interface PendingBatch {
  remaining: number;
  /** Per message: its outcome once known (`settled[i]`). */
  outcomes: Outcome[];
  settled: boolean[];
  resolve: (o: Outcome[]) => void;
  /** The producer the batch went to: a replaced producer's batches are failed (retryable). */
  producer: Kafka.Producer | undefined;
}

const CODES = Kafka.CODES.ERRORS;
/** While connected, a metadata request this often tells whether the brokers are still reachable. */
const HEALTH_CHECK_MS = 5_000;
const POISON_CODES = new Set<number>([
  CODES.ERR_MSG_SIZE_TOO_LARGE,
  CODES.ERR_INVALID_MSG_SIZE,
  CODES.ERR_RECORD_LIST_TOO_LARGE,
]);

export class KafkaSink implements Sink {
  private producer: Kafka.Producer | undefined;
  private connected = false;
  private lastError: string | undefined;
  private closed = false;
  /** Callers of `producible` waiting for the first connection. */
  private producibleWaiters: (() => void)[] = [];
  private healthTimer: NodeJS.Timeout | undefined;
  private readonly outstanding = new Set<PendingBatch>();
  /** Since when a TCP probe of the bootstrap servers succeeds while the producer is disconnected. */
  private bootstrapUpSince = 0;
  private readonly endpoint: string;
  /** KAFKA_BATCH_PRODUCE and a client that has produceBatch. */
  readonly batchProduce: boolean;

  constructor(
    private readonly cfg: Config['kafka'],
    private readonly log: Logger,
    /** The retry policy of the connect loop (the engine passes SYNC_RETRY_BASE_MS / SYNC_RETRY_MAX_MS). */
    private readonly retry: { readonly baseMs: number; readonly maxMs: number } = { baseMs: 200, maxMs: 10_000 },
  ) {
    this.endpoint = `Kafka ${cfg.securityProtocol} ${cfg.bootstrapServers}`;
    this.batchProduce = cfg.batchProduce && clientHasBatchProduce;
  }

  /** A producer exists (it queues while brokers are down); false before the first connection. */
  get canProduce(): boolean {
    return this.producer !== undefined;
  }

  /**
   * Resolves once a producer exists (the first connection succeeded; later outages only queue in
   * librdkafka, in order), or when `signal` aborts. Waiters resume in the order they came.
   */
  producible(signal: AbortSignal): Promise<void> {
    if (this.producer) return Promise.resolve();
    return untilWoken((wake) => this.producibleWaiters.push(wake), signal);
  }

  get isConnected(): boolean {
    return this.connected;
  }
  get status(): string {
    return this.connected ? 'connected' : `disconnected${this.lastError ? `: ${this.lastError}` : ''}`;
  }

  /** Connects, retrying with backoff until it succeeds or `signal` aborts. */
  async connect(signal?: AbortSignal, backoff = this.retry): Promise<void> {
    await retryWithBackoff(
      () => this.connectOnce(15_000),
      backoff,
      (err, attempt) => {
        this.lastError = errorMessage(err);
        this.log.warn({ err: this.lastError, endpoint: this.endpoint, attempt }, 'Kafka not reachable yet; retrying');
      },
      () => this.closed,
      signal,
    );
  }

  /** One connection attempt; rejects with a ConnectionError naming the endpoint. */
  connectOnce(timeoutMs: number): Promise<void> {
    const settings = this.batchProduce
      ? { ...producerSettings(this.cfg), dr_batch_cb: (flat: unknown[]) => this.onBatchReports(flat) }
      : producerSettings(this.cfg);
    const producer = new Kafka.Producer(settings as Kafka.ProducerGlobalConfig);
    producer.on('delivery-report', (err: LibrdKafkaError | null, report: DeliveryReport) => this.onReport(err, report));
    producer.on('event.error', (err: LibrdKafkaError) => this.onError(err));
    // The connect error is generic ("broker transport failure"); why the broker refused us
    // (TLS verification, SASL authentication) is only in librdkafka's log lines.
    const brokerLog: string[] = [];
    const onLog = (log: { severity: number; message: string }): void => {
      if (log.severity <= 6 && brokerLog.length < 100) brokerLog.push(log.message);
    };
    producer.on('event.log', onLog);
    return new Promise((resolve, reject) => {
      producer.connect({ timeout: timeoutMs }, (err) => {
        producer.removeListener('event.log', onLog);
        if (err) {
          safeDisconnect(producer);
          reject(
            new ConnectionError(explainConnectFailure(this.endpoint, err.message, brokerLog), {
              retryable: true,
              cause: err,
            }),
          );
          return;
        }
        if (this.closed) {
          safeDisconnect(producer);
          reject(new ConnectionError(`${this.endpoint}: sink closed while connecting`));
          return;
        }
        producer.setPollInBackground(true);
        this.producer = producer;
        this.connected = true;
        const waiters = this.producibleWaiters;
        this.producibleWaiters = [];
        for (const w of waiters) w();
        this.lastError = undefined;
        this.log.info({ endpoint: this.endpoint, produce: this.produceMode() }, 'connected to Kafka');
        this.startHealthCheck(producer);
        resolve();
      });
    });
  }

  /** How records are handed to librdkafka, for the connect log line. */
  private produceMode(): string {
    if (this.batchProduce) return 'batched (produceBatch)';
    if (!this.cfg.batchProduce) return 'record by record (KAFKA_BATCH_PRODUCE=false)';
    return 'record by record: the installed Kafka client lacks the produceBatch patch (run scripts/patch-kafka-client.sh)';
  }

  /** Produces records in order (see the Sink contract); never throws. */
  produce(records: readonly SinkRecord[]): SendTicket {
    if (records.length === 0) return unsentTicket(records, undefined);
    if (!this.producer)
      return unsentTicket(records, new DeliveryError(`${this.endpoint}: not connected to Kafka`, { retryable: true }));
    let resolve!: (o: Outcome[]) => void;
    const outcomes = new Promise<Outcome[]>((r) => (resolve = r));
    const batch: PendingBatch = {
      remaining: records.length,
      outcomes: new Array<Outcome>(records.length),
      settled: new Array<boolean>(records.length).fill(false),
      resolve,
      producer: this.producer,
    };
    this.outstanding.add(batch);
    // Synchronous while librdkafka's queue has room: the common case costs no extra turn.
    const i = this.queue(records, batch, 0);
    const accepted = i === records.length ? Promise.resolve() : this.produceRest(records, batch, i);
    return { accepted, outcomes };
  }

  /** Produces one batch and waits for all its reports (produce + outcomes). */
  sendBatch(records: readonly SinkRecord[]): Promise<Outcome[]> {
    return this.produce(records).outcomes;
  }

  /** librdkafka's local queue is full: wait for deliveries to make room (backpressure). */
  private async produceRest(records: readonly SinkRecord[], batch: PendingBatch, from: number): Promise<void> {
    let waits = 0;
    for (let i = from; i < records.length;) {
      const next = this.queue(records, batch, i);
      if (next > i) {
        i = next;
        waits = 0;
      } else {
        this.producer?.poll();
        waits += 1;
        await sleep(Math.min(100, 5 * waits));
      }
    }
  }

  /**
   * Queues records[from..] in order, settling those that fail (not queue-full) with their error;
   * returns the index of the first record not queued because librdkafka's queue is full
   * (records.length when none was).
   */
  private queue(records: readonly SinkRecord[], batch: PendingBatch, from: number): number {
    let i = from;
    if (!this.batchProduce) {
      while (i < records.length && this.tryProduce(records[i] as SinkRecord, batch, i)) i += 1;
      return i;
    }
    while (i < records.length) {
      const next = this.produceRun(records, batch, i);
      if (next < 0) return -next - 1;
      i = next;
    }
    return i;
  }

  /**
   * One produceBatch call for the run of records from `from` that share its topic. Returns the
   * index after the run (or after the record that failed, now settled), or -(i + 1) when record
   * i found librdkafka's queue full.
   */
  private produceRun(records: readonly SinkRecord[], batch: PendingBatch, from: number): number {
    const p = this.producer;
    if (!p) return this.settleFrom(batch, from, records.length, this.notConnected());
    const { end, accepted, code, thrown } = queueRun(p, records, from, batch);
    const stopped = from + accepted;
    if (stopped === end) return end;
    if (thrown === undefined && code === CODES.ERR__QUEUE_FULL) return -stopped - 1;
    if (thrown !== undefined || code === CODES.ERR__STATE) {
      // No client to queue into (not connected, or being closed): the rest fails alike, retryable.
      const err = classify((thrown ?? kafkaError(code)) as LibrdKafkaError, undefined, this.cfg.maxRequestSizeBytes);
      return this.settleFrom(batch, stopped, end, err);
    }
    // This record cannot be queued (too large, ...): it fails alone; the next call goes on after it.
    this.settle(batch, stopped, classify(kafkaError(code), records[stopped], this.cfg.maxRequestSizeBytes));
    return stopped + 1;
  }

  /** Settles records from..end-1 with `err`; returns `end`. */
  private settleFrom(batch: PendingBatch, from: number, end: number, err: SyncError): number {
    for (let i = from; i < end; i += 1) this.settle(batch, i, err);
    return end;
  }

  private notConnected(): DeliveryError {
    return new DeliveryError(`${this.endpoint}: producer not connected`, { retryable: true });
  }

  async flush(timeoutMs: number): Promise<void> {
    const p = this.producer;
    if (!p) return;
    await new Promise<void>((resolve) => p.flush(timeoutMs, () => resolve()));
  }

  async close(): Promise<void> {
    this.closed = true;
    clearInterval(this.healthTimer);
    const p = this.producer;
    this.producer = undefined;
    this.connected = false;
    if (p) await new Promise<void>((resolve) => safeDisconnect(p, 5000, resolve));
  }

  /** Produces one message or settles it with an error; false when the local queue is full. */
  private tryProduce(m: SinkRecord, batch: PendingBatch, index: number): boolean {
    const p = this.producer;
    if (!p) {
      this.settle(batch, index, this.notConnected());
      return true;
    }
    try {
      p.produce(m.topic, null, m.payload, m.kafkaKey, Date.now(), { batch, index }, m.headers as MessageHeader[]);
    } catch (err) {
      if ((err as { code?: number }).code === CODES.ERR__QUEUE_FULL) return false;
      this.settle(batch, index, classify(err as LibrdKafkaError, m, this.cfg.maxRequestSizeBytes));
    }
    return true;
  }

  private onReport(err: LibrdKafkaError | null, report: DeliveryReport): void {
    const opaque = report.opaque as { batch: PendingBatch; index: number } | undefined;
    if (!opaque) return;
    const outcome = err ? classify(err, undefined, this.cfg.maxRequestSizeBytes) : undefined;
    if (!err) this.setReachable(true); // a delivery is proof the brokers are reachable
    this.settle(opaque.batch, opaque.index, outcome);
  }

  /** The reports of produceBatch records: [batch, index, code, ...] (code 0: delivered). */
  private onBatchReports(flat: unknown[]): void {
    let delivered = false;
    for (let k = 0; k < flat.length; k += 3) {
      const code = flat[k + 2] as number;
      if (code === 0) delivered = true;
      const outcome = code === 0 ? undefined : classify(kafkaError(code), undefined, this.cfg.maxRequestSizeBytes);
      this.settle(flat[k] as PendingBatch, flat[k + 1] as number, outcome);
    }
    if (delivered) this.setReachable(true); // a delivery is proof the brokers are reachable
  }

  /**
   * `isConnected` follows the brokers: librdkafka reports them gone (ALL_BROKERS_DOWN,
   * TRANSPORT) but says nothing when they come back, so a cheap metadata request (known topics
   * only) every HEALTH_CHECK_MS, and any successful delivery, set it back. Logs state changes only.
   */
  private startHealthCheck(producer: Kafka.Producer): void {
    clearInterval(this.healthTimer);
    this.healthTimer = setInterval(() => {
      if (this.producer !== producer) return clearInterval(this.healthTimer);
      producer.getMetadata({ allTopics: false, timeout: 2_000 }, (err) => {
        if (this.producer !== producer) return;
        this.setReachable(!err, err ? errorMessage(err) : undefined);
      });
    }, HEALTH_CHECK_MS);
    this.healthTimer.unref();
  }

  private setReachable(up: boolean, err?: string): void {
    if (!up && !this.connected && this.producer && this.outstanding.size > 0) {
      this.checkStuck(this.producer);
      return;
    }
    if (up) this.bootstrapUpSince = 0;
    if (up === this.connected || (up && !this.producer)) return;
    this.connected = up;
    this.lastError = up ? undefined : (err ?? this.lastError);
    if (up) this.log.info({ endpoint: this.endpoint }, 'Kafka reachable again');
    else this.log.warn({ endpoint: this.endpoint, err: this.lastError }, 'Kafka not reachable');
  }

  /**
   * The producer cannot reach the brokers, yet a plain TCP connection to a bootstrap server
   * works: if that lasts KAFKA_RECONNECT_TIMEOUT_MS, librdkafka is stuck (seen after a broker
   * restart) and the producer is replaced. A real outage (nothing answers) never replaces it,
   * so order is kept through outages.
   */
  private checkStuck(producer: Kafka.Producer): void {
    void bootstrapReachable(this.cfg.bootstrapServers).then((reachable) => {
      if (this.producer !== producer || this.connected) return;
      if (!reachable) {
        this.bootstrapUpSince = 0;
        return;
      }
      if (this.bootstrapUpSince === 0) this.bootstrapUpSince = Date.now();
      const stuckMs = Date.now() - this.bootstrapUpSince;
      if (stuckMs >= this.cfg.reconnectTimeoutMs) {
        this.replaceProducer(
          `the brokers accept connections but the producer has not reconnected for ${Math.round(stuckMs / 1000)} s`,
        );
      }
    });
  }

  private settle(batch: PendingBatch, index: number, outcome: Outcome): void {
    if (batch.settled[index]) return; // a late report of a replaced producer
    batch.settled[index] = true;
    batch.outcomes[index] = outcome;
    batch.remaining -= 1;
    if (batch.remaining === 0) {
      this.outstanding.delete(batch);
      batch.resolve(batch.outcomes);
    }
  }

  /**
   * Replaces the producer (after a fatal error, or when brokers stayed unreachable longer than
   * KAFKA_RECONNECT_TIMEOUT_MS with messages waiting: librdkafka was seen not to reconnect after
   * a broker restart). Its undelivered messages are failed as retryable, so the pipeline resends
   * them through the new producer; nothing waits on a producer that is gone.
   */
  private replaceProducer(reason: string): void {
    const old = this.producer;
    this.producer = undefined;
    this.connected = false;
    clearInterval(this.healthTimer);
    const err = new DeliveryError(`${this.endpoint}: ${reason}; resending through a new producer`, { retryable: true });
    for (const batch of [...this.outstanding]) {
      if (batch.producer !== old) continue;
      for (let i = 0; i < batch.settled.length; i += 1) if (!batch.settled[i]) this.settle(batch, i, err);
    }
    if (old) safeDisconnect(old, 1000);
    this.log.warn({ endpoint: this.endpoint, reason }, 'recreating the Kafka producer');
    if (!this.closed) void this.connect();
  }

  private onError(err: LibrdKafkaError): void {
    // librdkafka repeats an error at each reconnect attempt: log it once, not every few seconds.
    const repeated = err.message === this.lastError && !err.isFatal;
    this.lastError = err.message;
    if ((err.code === CODES.ERR__ALL_BROKERS_DOWN || err.code === CODES.ERR__TRANSPORT) && this.connected) {
      this.connected = false;
    }
    if (!repeated)
      this.log.warn(
        { endpoint: this.endpoint, code: err.code, fatal: err.isFatal === true, err: err.message },
        'Kafka client error',
      );
    // A fatal (idempotence) error: this producer can deliver nothing more.
    if (err.isFatal) this.replaceProducer(`fatal error: ${err.message}`);
  }
}

/** True when a TCP connection to any bootstrap server opens within 2 s. */
async function bootstrapReachable(servers: string): Promise<boolean> {
  const attempts = servers.split(',').map((hostPort) => {
    const i = hostPort.lastIndexOf(':');
    const host = hostPort
      .slice(0, i)
      .replace(/^\[|\]$/g, '')
      .trim();
    const port = Number(hostPort.slice(i + 1));
    return new Promise<boolean>((resolve) => {
      const socket = net.connect({ host, port, timeout: 2000 });
      const done = (ok: boolean): void => {
        socket.destroy();
        resolve(ok);
      };
      socket.once('connect', () => done(true));
      socket.once('timeout', () => done(false));
      socket.once('error', () => done(false));
    });
  });
  return (await Promise.all(attempts)).some(Boolean);
}

/** disconnect() throws when the producer never connected; closing must never throw. */
export function safeDisconnect(p: Kafka.Producer, timeoutMs = 5000, done: () => void = () => undefined): void {
  try {
    p.disconnect(timeoutMs, () => done());
  } catch {
    done();
  }
}

/** A delivery failure: poison when Kafka can never take the record as is, else retryable. */
export function classify(err: LibrdKafkaError, m: SinkRecord | undefined, maxBytes: number): SyncError {
  if (POISON_CODES.has(err.code)) {
    const size = m ? ` (${m.payload.length} bytes)` : '';
    return new PoisonMessageError(
      `message too large for Kafka${size}: limit KAFKA_MAX_REQUEST_SIZE=${maxBytes}: ${err.message}`,
      { cause: err },
    );
  }
  return new DeliveryError(`Kafka delivery failed: ${err.message}`, { retryable: true, cause: err });
}
