/**
 * A lane: the sequencer of one source (a DB's stream reader, key capture, direct messages, the
 * resync loop, ...). It owns that source's order; the Pipeline (pipeline.ts) owns the policies.
 *
 *   submit(batch) ─▶ buffer write (starts at once: later batches' writes overlap earlier ones,
 *                    on the lane's one connection, so they are applied in order)
 *                 ─▶ admission, in submission order: room in the in-flight budget (`admitted`:
 *                    the source may go on reading; this is its backpressure)
 *                 ─▶ produce turn, one batch at a time, in submission order: once Kafka's first
 *                    connection exists, hand the records to the sink and wait until all are
 *                    queued in the client (`accepted`)
 *                 ─▶ reports (async): delivered -> mark synced -> ack; poison -> dead letters
 *                    -> ack; failed -> queued for a retry turn
 *
 * Invariants
 *  1. Produce order = submission order. The next batch is produced only after the previous one
 *     was accepted whole by the sink (a local queue that fills mid-batch holds the turn), and a
 *     retry of a failed subset is produced before any batch submitted after it that is not
 *     produced yet (retries wait for the lane's turn too, lowest submission number first). When
 *     the sink replaces its client, every record it held fails in produce order, so the lane
 *     resends them in that order, before anything newer. Only what Kafka already accepted from a
 *     later batch can precede a retried message (a partial failure): at-least-once, not order.
 *  2. Nothing waits forever on a full budget while a retry is due: a retry needs no new room.
 *  3. A batch leaves the lane once every message is delivered, dead-lettered, left to resync
 *     (SOURCE_ACK_MODE=target while Kafka is unreachable or the budget full: the reader is not
 *     held) or given up at a stop (`nack`: it stays buffered and pending, found again later).
 */
import type { BufferWriter } from '../buffer/buffer.js';
import type { PutStatus } from '../buffer/store.js';
import { errorMessage, isRetryable, PoisonMessageError, type SyncError } from '../errors.js';
import { countBy } from '../observability/engine-metrics.js';
import type { Outcome, SinkRecord } from '../sink/sink.js';
import { sleep, untilWoken } from '../util/retry.js';
import { memoryOf, type Batch, type Message } from './batch.js';
import type { Pipeline } from './pipeline.js';

/** What `submit` returns: the stages of one batch. None of them rejects. */
export interface SubmitHandle {
  /** true once the target holds the batch (and, when that is its ack point, it was acked); false when abandoned. */
  readonly buffered: Promise<boolean>;
  /**
   * The batch holds its place in the in-flight budget (its produce turn will come, in order), or
   * left the lane (left to resync, given up). Sources wait for this before reading on: backpressure.
   */
  readonly admitted: Promise<void>;
  /** Every message delivered and acked, dead-lettered, left to resync, or given up at a stop. */
  readonly settled: Promise<void>;
  /** How many of the batch's messages Kafka confirmed so far. */
  readonly tally: { readonly delivered: number };
}

interface Job {
  readonly seq: number;
  readonly batch: Batch;
  readonly bufferedAtMs: number;
  /** Set once the buffer write is done: what is left to send; undefined while writing. */
  toSend: Message[] | undefined;
  /** Messages waiting for their (next) produce turn. */
  pending: Message[];
  attempt: number;
  retryAt: number;
  /** What `pending` costs in the budget (memoryOf), counted once when the write is done. */
  bytes: number;
  budgetBytes: number;
  /** Reports and follow-up work (mark, ack, dead letters) still running. */
  open: number;
  readonly tally: { delivered: number };
  readonly done: Deferred;
  readonly admittedTurn: Deferred;
  written: Promise<boolean>;
}

interface Deferred {
  readonly promise: Promise<void>;
  resolve(): void;
}

function deferred(): Deferred {
  let resolve!: () => void;
  const promise = new Promise<void>((r) => (resolve = r));
  return { promise, resolve };
}

export class Lane {
  private seq = 0;
  /** Submitted, waiting for their first produce turn, in submission order. */
  private readonly fresh: Job[] = [];
  /** Failed subsets waiting for a produce turn again, in submission order. */
  private readonly retries: Job[] = [];
  private pumping = false;
  private wakers: (() => void)[] = [];
  private endPause: (() => void) | undefined;

  constructor(
    readonly name: string,
    private readonly p: Pipeline,
    private readonly writer: BufferWriter,
  ) {}

  /** Hands a batch to the lane; its buffer write starts now, its produce turn comes in order. */
  submit(batch: Batch): SubmitHandle {
    const job: Job = {
      seq: this.seq++,
      batch,
      bufferedAtMs: Date.now(),
      toSend: undefined,
      pending: [],
      attempt: 0,
      retryAt: 0,
      bytes: 0,
      budgetBytes: 0,
      open: 0,
      tally: { delivered: 0 },
      done: deferred(),
      admittedTurn: deferred(),
      written: Promise.resolve(false),
    };
    // In flight from now on, so resync and claims never send what this lane is sending.
    for (const m of batch.messages) this.p.inFlight.add(m);
    job.written = this.write(job);
    this.fresh.push(job);
    void this.pump();
    return { buffered: job.written, admitted: job.admittedTurn.promise, settled: job.done.promise, tally: job.tally };
  }

  /** Jobs waiting for a turn (for tests and status). */
  get waiting(): number {
    return this.fresh.length + this.retries.length;
  }

  /** Buffer write (retried until the target accepts it) and, at the 'target' ack point, the ack. */
  private async write(job: Job): Promise<boolean> {
    const { batch } = job;
    const messages = batch.messages;
    const statuses: PutStatus[] | undefined = batch.buffered
      ? messages.map(() => 0)
      : await this.p.retrying('buffer write', () => this.writer.put(messages, { fresh: batch.fresh === true }));
    if (!statuses) {
      job.toSend = [];
      this.giveUp(job, messages, 'the buffer write was abandoned (stopping)');
      return false;
    }
    const toSend: Message[] = [];
    const synced: Message[] = [];
    messages.forEach((m, i) => (statuses[i] === 2 ? synced : toSend).push(m));
    if (!batch.buffered) {
      this.p.stats.buffered += toSend.length;
      for (const [topic, n] of countBy(toSend, (m) => m.topic)) this.p.metrics.buffered(topic, n);
    }
    if (this.p.ackPoint(batch.kind) === 'target') {
      if (!batch.buffered && messages.length > 0) await this.p.retryingVoid('source ack', () => batch.ack(messages));
    } else if (synced.length > 0) {
      await this.p.retryingVoid('source ack', () => batch.ack(synced)); // already in Kafka
    }
    for (const m of synced) this.p.inFlight.delete(m);
    job.toSend = toSend;
    job.pending = toSend;
    job.bytes = memoryOf(toSend);
    this.wake(); // it may be admitted now
    return true;
  }

  /** The produce turns: one job at a time, retries before newer batches. */
  private async pump(): Promise<void> {
    if (this.pumping) return;
    this.pumping = true;
    try {
      for (;;) {
        const { stop } = this.p.signals;
        if (stop.aborted) return this.stopAll();
        this.admit();
        // A retry's batch was produced before every fresh one (turns go in submission order).
        const retry = this.retries[0];
        const fresh = this.fresh[0];
        const job = retry ?? fresh;
        if (!job) return;
        const woken = this.nextWake(); // a submit, a finished write, a retry
        if (job === fresh && job.budgetBytes === 0) {
          // Not admitted: its write is not done, or there is no room (budget).
          await Promise.race([woken, this.p.budget.whenReleased(stop)]);
        } else if (job === retry && Date.now() < job.retryAt) {
          await Promise.race([woken, sleep(job.retryAt - Date.now(), stop)]);
        } else if (!this.p.sink.canProduce) {
          // Before Kafka's first connection (or while its client is replaced): wait here, in
          // turn, instead of failing and being overtaken after a backoff; admission goes on.
          await Promise.race([woken, this.p.sink.producible(stop), this.p.budget.whenReleased(stop)]);
        } else {
          (job === retry ? this.retries : this.fresh).shift();
          this.wake(); // drop the waiter made above
          await this.produce(job);
        }
      }
    } finally {
      this.pumping = false;
      this.endPause?.();
      this.endPause = undefined;
    }
  }

  /**
   * Admits fresh jobs in submission order (synchronous): each one whose write is done takes its
   * room in the budget; the first that does not fit, or is still being written, stops admission.
   */
  private admit(): void {
    for (let i = 0; i < this.fresh.length; i += 1) {
      const job = this.fresh[i] as Job;
      if (job.budgetBytes > 0) continue;
      if (job.toSend === undefined) return;
      const { bytes } = job;
      const target = this.p.ackPoint(job.batch.kind) === 'target' && !job.batch.buffered;
      const leaves =
        job.pending.length === 0 || (target && (!this.p.sink.isConnected || !this.p.budget.tryAcquireFits(bytes)));
      if (leaves) {
        // Nothing to send, or (already acknowledged, Kafka slow or down) left to the resync loop:
        // the reader is not held; these stay unsynced in the target.
        this.fresh.splice(i, 1);
        i -= 1;
        for (const m of job.pending) this.p.inFlight.delete(m);
        job.pending = [];
        this.leave(job);
        continue;
      }
      if (!this.p.budget.tryAcquire(bytes)) {
        this.endPause ??= this.p.metrics.pause('in_flight_budget');
        return;
      }
      this.endPause?.();
      this.endPause = undefined;
      job.budgetBytes = bytes;
      job.admittedTurn.resolve();
    }
  }

  private async produce(job: Job): Promise<void> {
    const messages = job.pending;
    job.pending = [];
    const first = job.attempt === 0;
    job.open += 1;
    const records: readonly SinkRecord[] = messages;
    const ticket = this.p.sink.produce(records);
    if (first) this.p.track(job.done.promise, messages.length, messages[0]?.topic ?? '');
    void ticket.outcomes.then((outcomes) => this.onReports(job, messages, outcomes));
    await ticket.accepted;
  }

  /**
   * One round of reports. Failures are queued for a retry turn at once (before any await), so the
   * pump sees them before it picks a newer batch; marking and acks follow.
   */
  private async onReports(job: Job, messages: readonly Message[], outcomes: readonly Outcome[]): Promise<void> {
    const delivered: Message[] = [];
    const failed: Message[] = [];
    const poison: { m: Message; err: SyncError }[] = [];
    messages.forEach((m, i) => {
      const o = outcomes[i];
      if (o === undefined) delivered.push(m);
      else if (o instanceof PoisonMessageError || !isRetryable(o)) poison.push({ m, err: o });
      else failed.push(m);
    });
    if (failed.length > 0)
      this.scheduleRetry(
        job,
        failed,
        outcomes.find((o) => o !== undefined),
      );
    // Kafka's reports are in: observed here, before the (lingering) mark of SYNC_ACK_LINGER_MS.
    if (delivered.length > 0) this.p.metrics.deliveryLatency((Date.now() - job.bufferedAtMs) / 1000);
    const ackAfterKafka = this.p.ackPoint(job.batch.kind) === 'kafka';
    try {
      if (delivered.length > 0) {
        const keys = delivered.map((m) => m.key);
        if (await this.p.retryingVoid('mark synced', () => this.p.markSynced(keys))) {
          this.p.sink.marked?.(keys);
          this.p.stats.delivered += delivered.length;
          job.tally.delivered += delivered.length;
          this.p.noteSynced();
          for (const [topic, n] of countBy(delivered, (m) => m.topic)) this.p.metrics.sent(topic, n);
          if (ackAfterKafka) await this.p.retryingVoid('source ack', () => job.batch.ack(delivered));
        }
      }
      if (poison.length > 0) {
        const items = poison.map(({ m, err }) => ({ m, reason: errorMessage(err) }));
        if (await this.p.retryingVoid('dead letter', () => this.p.deadLetter(items))) {
          this.p.stats.deadLettered += poison.length;
          for (const [topic, n] of countBy(poison, (x) => x.m.topic)) this.p.metrics.deadLettered(topic, n);
          const ms = poison.map((x) => x.m);
          if (ackAfterKafka) await this.p.retryingVoid('source ack', () => job.batch.ack(ms));
        }
      }
    } finally {
      for (const m of delivered) this.p.inFlight.delete(m);
      for (const { m } of poison) this.p.inFlight.delete(m);
      job.open -= 1;
      this.maybeDone(job);
    }
  }

  private scheduleRetry(job: Job, failed: Message[], first: Outcome): void {
    if (this.p.signals.stop.aborted) {
      this.giveUp(job, failed, 'stopping: Kafka did not confirm them');
      return;
    }
    const attempt = job.attempt;
    job.attempt += 1;
    job.pending = failed;
    job.retryAt = Date.now() + this.p.retryDelayMs(attempt);
    this.p.stats.retries += failed.length;
    this.p.metrics.retry('kafka delivery', failed.length);
    if (attempt === 0 || attempt % 20 === 0) {
      this.p.log.warn(
        { lane: this.name, count: failed.length, attempt, err: first ? errorMessage(first) : undefined },
        'Kafka delivery failed; retrying the failed messages',
      );
    }
    let i = this.retries.length;
    while (i > 0 && (this.retries[i - 1] as Job).seq > job.seq) i -= 1;
    this.retries.splice(i, 0, job);
    this.wake();
    void this.pump();
  }

  /** At a stop: nothing more is produced; what waits stays buffered and pending. */
  private stopAll(): void {
    for (const job of this.retries.splice(0)) {
      const left = job.pending;
      job.pending = [];
      this.giveUp(job, left, 'stopping: Kafka did not confirm them');
    }
    for (const job of this.fresh.splice(0)) {
      void job.written.then((ok) => {
        if (!ok) return; // already given up by the write
        const left = job.pending;
        job.pending = [];
        this.giveUp(job, left, 'stopping before they were produced');
      });
    }
  }

  /** The lane gives up on `messages` (they stay buffered / pending) and lets the job finish. */
  private giveUp(job: Job, messages: readonly Message[], reason: string): void {
    for (const m of messages) this.p.inFlight.delete(m);
    if (messages.length > 0) job.batch.nack(messages, reason);
    this.leave(job);
  }

  /** The job's turn is over for good; it is done once its reports are handled. */
  private leave(job: Job): void {
    job.admittedTurn.resolve();
    this.maybeDone(job);
  }

  private maybeDone(job: Job): void {
    if (job.open > 0 || job.pending.length > 0 || job.toSend === undefined) return;
    if (this.retries.includes(job) || this.fresh.includes(job)) return;
    if (job.budgetBytes > 0) {
      this.p.budget.release(job.budgetBytes);
      job.budgetBytes = 0;
    }
    job.admittedTurn.resolve();
    job.done.resolve();
  }

  private nextWake(): Promise<void> {
    return untilWoken((w) => this.wakers.push(w), this.p.signals.stop);
  }

  private wake(): void {
    const w = this.wakers;
    this.wakers = [];
    for (const f of w) f();
  }
}
