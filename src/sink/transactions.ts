/**
 * The exactly-once sink (KAFKA_EXACTLY_ONCE=true): one transactional librdkafka producer
 * (transactional.id from SOURCE_CONSUMER_NAME, progress.ts) that groups the batches it is given
 * into transactions and commits each with the progress records naming what it holds.
 * Implements the `Sink` contract (sink.ts), with one difference in meaning: a record's outcome is
 * "delivered" only once its transaction committed, so the pipeline marks it synced and acks the
 * source only then.
 *
 *   produce(records) ─▶ (in call order) wait while a commit is under way, begin a transaction if
 *                       none is open, queue the records in it (`accepted`)
 *   every KAFKA_TRANSACTION_INTERVAL_MS, or sooner once the transaction holds
 *   KAFKA_MAX_CONCURRENT_SENDS batches or half of KAFKA_MAX_IN_FLIGHT_BYTES:
 *                    ─▶ progress records (this transaction's buffer keys + keys committed before
 *                       whose synced mark is not confirmed yet: `marked`) ─▶ commit
 *                    ─▶ committed: every record delivered; aborted: every record failed
 *                       (retryable), so the lanes resend them, in order, in a new transaction
 *
 * Invariants
 *  1. One transaction open at a time; records join it in produce order; none is produced while a
 *     commit is under way. So a lane's order is the order within and across transactions. When a
 *     transaction aborts, the batches handed over after it and not yet queued fail with it, so
 *     the lanes resend all of them in submission order (retries before anything newer).
 *  2. A record counts as delivered only after commitTransaction succeeded. An outcome the client
 *     cannot know (a commit that timed out for longer than KAFKA_RECONNECT_TIMEOUT_MS, a fatal
 *     error) is settled by the truth: a new producer with the same transactional.id
 *     (init_transactions fences the old one and aborts what it left open), then the progress
 *     topic is read back: if it holds this process's record (`writer`) of that transaction's seq,
 *     it committed, else it aborted. Never guessed, so never sent twice, never lost, even when
 *     another process wrongly shares the transactional.id (it is named in an error then).
 *  3. Every key a committed transaction holds stays listed in this instance's progress records
 *     until the pipeline confirmed it marked synced in the target (`marked`): a crash between the
 *     commit and the mark cannot make it look unsent (progress.ts, invariant 2).
 */
import Kafka from '@confluentinc/kafka-javascript';
import type { DeliveryReport, LibrdKafkaError, MessageHeader } from '@confluentinc/kafka-javascript';
import type { Config } from '../config/config.js';
import { DeliveryError, errorMessage, type SyncError } from '../errors.js';
import type { Logger } from '../observability/logger.js';
import { backoffMs, sleep } from '../util/retry.js';
import { classify } from './producer.js';
import { encodeProgress, progressRecords, writerKey } from './progress.js';
import { unsentTicket, type Outcome, type SendTicket, type Sink, type SinkRecord } from './sink.js';
import { TransactionalClient } from './transactional-client.js';

const CODES = Kafka.CODES.ERRORS;

/** What the sink reports of each transaction (metrics, dashboard). */
export type TransactionListener = (outcome: 'committed' | 'aborted', seconds: number, records: number) => void;

interface PendingBatch {
  readonly records: readonly SinkRecord[];
  /** Set at produce time for a record the client refused at once (too large: poison). */
  readonly refused: (SyncError | undefined)[];
  /** The delivery report's error of each record, if any (decides poison vs retry on abort). */
  readonly reported: (LibrdKafkaError | undefined)[];
  readonly resolve: (o: Outcome[]) => void;
  /** `aborts` when produce was called: a transaction aborted since then fails this batch too. */
  readonly epoch: number;
}

interface Txn {
  readonly seq: number;
  readonly startedMs: number;
  readonly batches: PendingBatch[];
  readonly keys: string[];
  readonly streams: Map<string, string>;
  bytes: number;
  /** produce calls still queueing records into it (QUEUE_FULL waits). */
  enqueuing: number;
  idle: (() => void)[];
}

export class TransactionalSink extends TransactionalClient implements Sink {
  private open: Txn | undefined;
  private committing: Promise<void> | undefined;
  private timer: NodeJS.Timeout | undefined;
  /** The produce calls, chained: records join transactions in call order. */
  private gate: Promise<void> = Promise.resolve();
  /** Keys committed whose synced mark is not confirmed yet (listed again in every progress record). */
  private readonly carried = new Set<string>();
  /** Transactions aborted so far: batches produced before an abort, not yet queued, fail with it. */
  private aborts = 0;

  constructor(
    cfg: Config['kafka'],
    consumerGroup: string,
    log: Logger,
    retry: { readonly baseMs: number; readonly maxMs: number } = { baseMs: 200, maxMs: 10_000 },
    private readonly onTransaction: TransactionListener = () => undefined,
  ) {
    super(cfg, consumerGroup, log, retry);
  }

  /** Keys listed again in the next progress record (for tests and status). */
  get carriedCount(): number {
    return this.carried.size;
  }

  produce(records: readonly SinkRecord[]): SendTicket {
    if (records.length === 0) return unsentTicket(records, undefined);
    if (!this.producer)
      return unsentTicket(records, new DeliveryError(`${this.endpoint}: not connected to Kafka`, { retryable: true }));
    let resolve!: (o: Outcome[]) => void;
    const outcomes = new Promise<Outcome[]>((r) => (resolve = r));
    const batch: PendingBatch = {
      records,
      refused: new Array<SyncError | undefined>(records.length),
      reported: new Array<LibrdKafkaError | undefined>(records.length),
      resolve,
      epoch: this.aborts,
    };
    const accepted = this.gate.then(() => this.enqueue(batch));
    this.gate = accepted;
    return { accepted, outcomes };
  }

  /** The pipeline confirmed these keys marked synced in the target: no need to list them again. */
  marked(keys: readonly string[]): void {
    for (const k of keys) this.carried.delete(k);
  }

  /** Commits the open transaction now and waits for it (shutdown). */
  async flush(timeoutMs: number): Promise<void> {
    const txn = this.open;
    const done = txn ? this.commit(txn) : (this.committing ?? Promise.resolve());
    await Promise.race([done, sleep(timeoutMs)]);
  }

  async close(): Promise<void> {
    this.closed = true;
    clearTimeout(this.timer);
    // An open transaction is left to the broker (aborted at the next init_transactions or its
    // timeout); its records are failed here so nothing waits on them (they stay buffered).
    const txn = this.open;
    this.open = undefined;
    if (txn) this.settle(txn, 'aborted', 'the sink closed before the transaction committed');
    await this.dropProducer(5000);
    await this.progress.close();
  }

  private async enqueue(batch: PendingBatch): Promise<void> {
    const txn = await this.openTxn();
    if (!txn || batch.epoch !== this.aborts) {
      // An abort came after this batch was handed over: the aborted records are resent by their
      // lanes, and this batch must go after them (invariant 1), so it fails too and is resent.
      const why = txn ? 'a transaction before it aborted' : 'producer not connected';
      const err = new DeliveryError(`${this.endpoint}: ${why}; resent in order`, { retryable: true });
      batch.resolve(batch.records.map(() => err));
      return;
    }
    txn.enqueuing += 1;
    try {
      let waits = 0;
      for (let i = 0; i < batch.records.length;) {
        const r = batch.records[i] as SinkRecord;
        const p = this.producer;
        if (!p) {
          batch.refused[i] = new DeliveryError(`${this.endpoint}: producer not connected`, { retryable: true });
          i += 1;
          continue;
        }
        try {
          p.produce(
            r.topic,
            null,
            r.payload,
            r.kafkaKey,
            Date.now(),
            { batch, index: i },
            r.headers as MessageHeader[],
          );
        } catch (err) {
          const e = err as LibrdKafkaError;
          if (e.code === CODES.ERR__QUEUE_FULL) {
            p.poll();
            waits += 1;
            await sleep(Math.min(100, 5 * waits));
            continue;
          }
          batch.refused[i] = classify(e, r, this.cfg.maxRequestSizeBytes);
          i += 1;
          continue;
        }
        waits = 0;
        txn.bytes += r.payload.length;
        if (r.key !== undefined) txn.keys.push(r.key);
        if (r.origin?.kind === 'stream' && r.id !== undefined)
          txn.streams.set(`${r.origin.db}/${r.origin.stream}`, r.id);
        i += 1;
      }
      txn.batches.push(batch);
    } finally {
      txn.enqueuing -= 1;
      if (txn.enqueuing === 0) for (const f of txn.idle.splice(0)) f();
    }
    if (txn.batches.length >= this.cfg.maxConcurrentSends || txn.bytes >= this.cfg.maxInFlightBytes / 2)
      void this.commit(txn);
  }

  /** The open transaction, begun if none is (after any commit under way); undefined without a producer. */
  private async openTxn(): Promise<Txn | undefined> {
    while (this.committing) await this.committing;
    if (this.open) return this.open;
    const p = this.producer;
    if (!p) return undefined;
    await new Promise<void>((resolve, reject) => p.beginTransaction((err) => (err ? reject(err) : resolve()))).catch(
      (err: unknown) => {
        // Only when the producer is unusable (fatal); the commit path replaces it.
        this.log.warn({ err: errorMessage(err) }, 'begin_transaction failed');
      },
    );
    const txn: Txn = {
      seq: this.seq + 1,
      startedMs: Date.now(),
      batches: [],
      keys: [],
      streams: new Map(),
      bytes: 0,
      enqueuing: 0,
      idle: [],
    };
    this.open = txn;
    this.timer = setTimeout(() => void this.commit(txn), this.cfg.transactionIntervalMs);
    return txn;
  }

  /** Ends a transaction: commit (or abort), settle its records. One at a time. */
  private commit(txn: Txn): Promise<void> {
    if (this.open !== txn) return this.committing ?? Promise.resolve();
    this.open = undefined;
    clearTimeout(this.timer);
    const run = (async () => {
      if (txn.enqueuing > 0) await new Promise<void>((r) => txn.idle.push(r));
      const outcome = await this.finish(txn);
      this.settle(txn, outcome.result, outcome.reason);
    })().finally(() => {
      if (this.committing === run) this.committing = undefined;
    });
    this.committing = run;
    return run;
  }

  private async finish(txn: Txn): Promise<{ result: 'committed' | 'aborted'; reason?: string }> {
    const t0 = Date.now();
    const keys = [...txn.keys, ...this.carried];
    const base = {
      v: 1 as const,
      instance: this.cfg.instance,
      seq: txn.seq,
      writer: this.writer,
      streams: Object.fromEntries(txn.streams),
      atMs: t0,
    };
    const records = progressRecords(base, keys, Math.floor(this.cfg.maxRequestSizeBytes / 2));
    const p = this.producer;
    if (!p) return { result: 'aborted', reason: 'producer not connected' };
    try {
      for (const r of records) p.produce(this.progress.topic, null, encodeProgress(r), `${this.id}/${r.part}`, t0);
    } catch (err) {
      this.log.warn({ err: errorMessage(err) }, 'writing the progress record failed; aborting the transaction');
      return this.abort(txn, `progress record: ${errorMessage(err)}`);
    }
    for (let attempt = 0; ; attempt += 1) {
      const err = await call((cb) => p.commitTransaction(this.cfg.transactionTimeoutMs, cb));
      if (!err) {
        this.seq = txn.seq;
        this.connected = true;
        this.onTransaction('committed', (Date.now() - t0) / 1000, txn.keys.length);
        return { result: 'committed' };
      }
      this.lastError = err.message;
      if (err.isTxnRequiresAbort && !err.isFatal) return this.abort(txn, err.message);
      if (err.isFatal || Date.now() - t0 > this.cfg.reconnectTimeoutMs || this.closed)
        return this.settleByProgress(txn, `commit failed: ${err.message}`);
      this.log.warn({ seq: txn.seq, attempt, err: err.message }, 'commit_transaction failed; retrying');
      await sleep(backoffMs(attempt, this.retry.baseMs, this.retry.maxMs));
    }
  }

  private async abort(txn: Txn, reason: string): Promise<{ result: 'committed' | 'aborted'; reason?: string }> {
    const p = this.producer;
    const t0 = Date.now();
    for (let attempt = 0; p && !this.closed; attempt += 1) {
      const err = await call((cb) => p.abortTransaction(this.cfg.transactionTimeoutMs, cb));
      if (!err) {
        this.onTransaction('aborted', (Date.now() - t0) / 1000, txn.keys.length);
        this.log.warn(
          { seq: txn.seq, records: txn.keys.length, reason },
          'transaction aborted; its records are resent',
        );
        return { result: 'aborted', reason };
      }
      if (err.isFatal || Date.now() - t0 > this.cfg.reconnectTimeoutMs) break;
      await sleep(backoffMs(attempt, this.retry.baseMs, this.retry.maxMs));
    }
    return this.settleByProgress(txn, reason);
  }

  /**
   * The outcome is unknown to this client: replace it (init_transactions fences the old producer
   * and aborts whatever it left open), then ask the progress topic whether `txn` committed.
   */
  private async settleByProgress(
    txn: Txn,
    reason: string,
  ): Promise<{ result: 'committed' | 'aborted'; reason?: string }> {
    this.log.warn(
      { seq: txn.seq, reason },
      'transaction outcome unknown: recreating the producer and reading the progress back',
    );
    await this.dropProducer(1000);
    await this.connect();
    const instance = this.cfg.instance;
    const committed = (this.recovered.committed.get(writerKey(instance, this.writer)) ?? -1) >= txn.seq;
    const other = this.recovered.lastWriter.get(instance);
    if (other !== undefined && other !== this.writer && (this.recovered.seqs.get(instance) ?? 0) >= txn.seq)
      this.log.error(
        { instance, transactionalId: this.id },
        'another process commits with this transactional.id: give every instance its own SOURCE_CONSUMER_NAME when KAFKA_EXACTLY_ONCE=true (they fence each other)',
      );
    this.onTransaction(committed ? 'committed' : 'aborted', 0, txn.keys.length);
    return committed ? { result: 'committed' } : { result: 'aborted', reason };
  }

  /** Resolves every record of the transaction: delivered when committed, else failed (retryable or poison). */
  private settle(txn: Txn, result: 'committed' | 'aborted', reason = ''): void {
    if (result === 'committed') for (const k of txn.keys) this.carried.add(k);
    else this.aborts += 1;
    for (const b of txn.batches) {
      b.resolve(
        b.records.map((r, i) => {
          const refused = b.refused[i];
          if (refused) return refused;
          if (result === 'committed') return undefined;
          const reported = b.reported[i];
          if (reported) return classify(reported, r, this.cfg.maxRequestSizeBytes);
          return new DeliveryError(`Kafka transaction ${txn.seq} aborted (${reason}); resent in a new one`, {
            retryable: true,
          });
        }),
      );
    }
  }

  protected onReport(err: LibrdKafkaError | null, report: DeliveryReport): void {
    const opaque = report.opaque as { batch: PendingBatch; index: number } | undefined;
    if (!opaque || !err) return;
    opaque.batch.reported[opaque.index] = err;
  }

  /** Fenced by another instance with this transactional.id, or an idempotence error: the open
   * transaction's commit fails and settles it by the progress topic (finish()). */
  protected onFatal(): void {
    if (this.open) void this.commit(this.open);
  }
}

function call(fn: (cb: (err: LibrdKafkaError) => void) => void): Promise<LibrdKafkaError | undefined> {
  return new Promise((resolve) => {
    try {
      fn((err) => resolve(err ?? undefined));
    } catch (err) {
      resolve(err as LibrdKafkaError);
    }
  });
}
