/**
 * The transactional producer's connection, for the exactly-once sink (transactions.ts): one
 * librdkafka producer with this instance's transactional.id, its init_transactions (which fences
 * the previous incarnation and aborts what it left open), the progress topic created if missing
 * and read to its end, and the brokers' reachability (`isConnected`). The sink on top of it groups
 * records into transactions.
 *
 * Invariant: `producer` is set only after init_transactions and the progress read succeeded, so
 * `committedSeq` and `recovered` are the truth of Kafka when the first record is produced.
 */
import { randomBytes } from 'node:crypto';
import Kafka from '@confluentinc/kafka-javascript';
import type { DeliveryReport, LibrdKafkaError } from '@confluentinc/kafka-javascript';
import type { Config } from '../config/config.js';
import { ConnectionError, errorMessage } from '../errors.js';
import type { Logger } from '../observability/logger.js';
import { explainConnectFailure } from '../security/kafka-failure.js';
import { retryWithBackoff, untilWoken } from '../util/retry.js';
import { producerSettings } from './kafka-config.js';
import { safeDisconnect } from './producer.js';
import { ProgressLog, transactionalId, type Progress } from './progress.js';

const CODES = Kafka.CODES.ERRORS;
/** While idle, a metadata request this often tells whether the brokers are still reachable. */
const HEALTH_CHECK_MS = 5_000;

export abstract class TransactionalClient {
  readonly progress: ProgressLog;
  /** What the progress topic said at the last connection (the engine applies it before starting). */
  recovered: Progress = { seqs: new Map(), keys: [], committed: new Map(), lastWriter: new Map() };
  /** This process, in its progress records (progress.ts: `writer`). */
  readonly writer = `${process.pid}-${randomBytes(4).toString('hex')}`;
  protected producer: Kafka.Producer | undefined;
  protected connected = false;
  protected closed = false;
  protected lastError: string | undefined;
  /** The last committed transaction's seq (read back at each connection). */
  protected seq = 0;
  protected readonly id: string;
  protected readonly endpoint: string;
  private producibleWaiters: (() => void)[] = [];
  private healthTimer: NodeJS.Timeout | undefined;

  constructor(
    protected readonly cfg: Config['kafka'],
    consumerGroup: string,
    protected readonly log: Logger,
    protected readonly retry: { readonly baseMs: number; readonly maxMs: number },
  ) {
    this.id = transactionalId(consumerGroup, cfg.instance);
    this.endpoint = `Kafka ${cfg.securityProtocol} ${cfg.bootstrapServers}`;
    this.progress = new ProgressLog(cfg, consumerGroup, log);
  }

  get canProduce(): boolean {
    return this.producer !== undefined;
  }
  get isConnected(): boolean {
    return this.connected;
  }
  get status(): string {
    return this.connected ? 'connected' : `disconnected${this.lastError ? `: ${this.lastError}` : ''}`;
  }

  producible(signal: AbortSignal): Promise<void> {
    if (this.producer) return Promise.resolve();
    return untilWoken((wake) => this.producibleWaiters.push(wake), signal);
  }

  /** Connects (fencing this instance's previous incarnation) and reads the progress, retrying with backoff. */
  async connect(signal?: AbortSignal): Promise<void> {
    await retryWithBackoff(
      () => this.connectOnce(15_000),
      this.retry,
      (err, attempt) => {
        this.lastError = errorMessage(err);
        this.log.warn(
          { err: this.lastError, endpoint: this.endpoint, transactionalId: this.id, attempt },
          'Kafka (transactional) not ready yet; retrying',
        );
      },
      () => this.closed,
      signal,
    );
  }

  /**
   * One attempt: a producer with this instance's transactional.id, init_transactions (aborts what
   * a previous incarnation left open), the progress topic created if missing and read to its end.
   */
  async connectOnce(timeoutMs: number): Promise<void> {
    const settings = producerSettings(this.cfg);
    delete settings['message.timeout.ms']; // follows transaction.timeout.ms
    const producer = new Kafka.Producer({
      ...settings,
      'transactional.id': this.id,
      'transaction.timeout.ms': this.cfg.transactionTimeoutMs,
    } as Kafka.ProducerGlobalConfig);
    producer.on('delivery-report', (err: LibrdKafkaError | null, report: DeliveryReport) => this.onReport(err, report));
    producer.on('event.error', (err: LibrdKafkaError) => this.onError(producer, err));
    try {
      await new Promise<void>((resolve, reject) =>
        producer.connect({ timeout: timeoutMs }, (err) =>
          err
            ? reject(new ConnectionError(explainConnectFailure(this.endpoint, err.message, []), { cause: err }))
            : resolve(),
        ),
      );
      producer.setPollInBackground(true);
      await new Promise<void>((resolve, reject) =>
        producer.initTransactions(timeoutMs, (err) =>
          err
            ? reject(
                new ConnectionError(`${this.endpoint}: init_transactions of ${this.id}: ${err.message}`, {
                  cause: err,
                }),
              )
            : resolve(),
        ),
      );
      await this.progress.ensureTopic(timeoutMs);
      const progress = await this.progress.read(timeoutMs);
      if (this.closed) throw new ConnectionError(`${this.endpoint}: sink closed while connecting`);
      this.recovered = progress;
      this.seq = Math.max(this.seq, progress.seqs.get(this.cfg.instance) ?? 0);
    } catch (err) {
      safeDisconnect(producer);
      throw err;
    }
    this.producer = producer;
    this.connected = true;
    this.lastError = undefined;
    this.startHealthCheck(producer);
    this.log.info(
      {
        endpoint: this.endpoint,
        transactionalId: this.id,
        committedSeq: this.seq,
        progressKeys: this.recovered.keys.length,
      },
      'connected to Kafka (exactly-once: transactions)',
    );
    const waiters = this.producibleWaiters;
    this.producibleWaiters = [];
    for (const w of waiters) w();
  }

  /** A delivery report of a record (errors decide poison vs retry when its transaction aborts). */
  protected abstract onReport(err: LibrdKafkaError | null, report: DeliveryReport): void;
  /** A fatal client error (fenced, idempotence): the open transaction must be settled. */
  protected abstract onFatal(): void;

  /** Drops the producer (a new one is made by `connect`). */
  protected async dropProducer(timeoutMs: number): Promise<void> {
    clearInterval(this.healthTimer);
    const p = this.producer;
    this.producer = undefined;
    this.connected = false;
    if (p) await new Promise<void>((resolve) => safeDisconnect(p, timeoutMs, resolve));
  }

  /**
   * `isConnected` follows the brokers while no transaction proves it (idle): a metadata request
   * of known topics every HEALTH_CHECK_MS, as the at-least-once sink does (readyz, status).
   */
  private startHealthCheck(producer: Kafka.Producer): void {
    clearInterval(this.healthTimer);
    this.healthTimer = setInterval(() => {
      if (this.producer !== producer) return;
      producer.getMetadata({ allTopics: false, timeout: 2_000 }, (err) => {
        if (this.producer !== producer) return;
        if (err) this.lastError = errorMessage(err);
        else this.lastError = undefined;
        this.connected = !err;
      });
    }, HEALTH_CHECK_MS);
    this.healthTimer.unref();
  }

  private onError(producer: Kafka.Producer, err: LibrdKafkaError): void {
    if (this.producer !== producer) return;
    const repeated = err.message === this.lastError && !err.isFatal;
    this.lastError = err.message;
    if (err.code === CODES.ERR__ALL_BROKERS_DOWN || err.code === CODES.ERR__TRANSPORT) this.connected = false;
    if (!repeated)
      this.log.warn(
        { endpoint: this.endpoint, code: err.code, fatal: err.isFatal === true, err: err.message },
        'Kafka client error',
      );
    if (err.isFatal) this.onFatal();
  }
}
