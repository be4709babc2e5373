/**
 * The delivery pipeline: buffer -> Kafka -> mark synced -> acknowledge the source. It works on
 * two seams only, a BufferStore (buffer/buffer.ts) and a Sink (sink/sink.ts), and holds what all
 * sources share: the in-flight budget, the in-flight messages, the policies (when a batch is
 * acknowledged, how failures are retried) and the counters. Each source submits its batches to a
 * Lane of its own (lane.ts), the sequencer that keeps that source's order.
 *
 * Invariants
 *  1. A message is produced only after the target confirmed holding it (BufferStore.put).
 *  2. It is marked synced only after Kafka acknowledged it (acks=all); its batch's `ack` is called
 *     only after that, or, for stream entries with SOURCE_ACK_MODE=target, once the target holds
 *     it (`ackPoint`, the one place that decides).
 *  3. A failed delivery is retried (only the failed messages, never the whole batch) with the one
 *     retry policy (SYNC_RETRY_BASE_MS/SYNC_RETRY_MAX_MS, exponential with jitter) until delivered
 *     or the engine stops; then it stays unsynced in the buffer and pending in the source
 *     (`nack`), to be found again (resync, PEL re-read, XAUTOCLAIM).
 *  4. At most KAFKA_MAX_CONCURRENT_SENDS batches / KAFKA_MAX_IN_FLIGHT_BYTES bytes are in flight;
 *     a lane waits for room before producing, and readers wait for their lane: backpressure.
 *  5. A message Kafka can never take (too large) goes to the dead-letter stream with its reason,
 *     and only then is it acknowledged: it never blocks the others and is never silently lost.
 *  6. Batches of one lane are produced in submission order, retries included (lane.ts).
 */
import type { BufferStore } from '../buffer/buffer.js';
import type { OutgoingMessage } from '../buffer/store.js';
import type { Config } from '../config/config.js';
import { BufferFullError, errorMessage, SyncError } from '../errors.js';
import { noopMetrics, type EngineMetrics } from '../observability/engine-metrics.js';
import type { Logger } from '../observability/logger.js';
import type { Sink } from '../sink/sink.js';
import { Coalescer } from '../util/coalesce.js';
import { backoffMs, Budget, sleep } from '../util/retry.js';
import { InFlight, MessageFormat, type BatchKind } from './batch.js';
import { Lane } from './lane.js';

export interface PipelineStats {
  buffered: number;
  delivered: number;
  deadLettered: number;
  retries: number;
  lastSyncMs: number;
}

export interface PipelineSignals {
  /** No new work: lanes stop producing, failed deliveries are not retried. */
  readonly stop: AbortSignal;
  /** Give up waiting: retry loops end (after the shutdown timeout). */
  readonly abandon: AbortSignal;
}

/** A delivery in progress, for the stuck-delivery warning. */
interface Started {
  readonly since: number;
  readonly count: number;
  readonly topic: string;
  warned: boolean;
}

/** The most keys one grouped mark carries (BufferStore.markSynced sends them in chunks of 1000). */
const MARK_GROUP_KEYS = 5000;

export class Pipeline {
  readonly budget: Budget;
  readonly inFlight = new InFlight();
  /** Builds every message (buffer key and headers): KAFKA_RECORD_HEADERS. */
  readonly format: MessageFormat;
  readonly stats: PipelineStats = { buffered: 0, delivered: 0, deadLettered: 0, retries: 0, lastSyncMs: 0 };
  private readonly lanes = new Map<string, Lane>();
  private readonly deliveries = new Map<Promise<void>, Started>();
  private lastSyncWrittenMs = 0;
  /**
   * Every lane's marks go through one group commit: while one call runs, the keys reported
   * meanwhile wait and go together in the next (MARK_GROUP_KEYS at most), so a burst of small
   * batches costs one script call and one write, not one each on a different connection.
   */
  private readonly marks: Coalescer<string>;

  constructor(
    readonly buffer: BufferStore,
    readonly sink: Sink,
    readonly cfg: Config,
    readonly log: Logger,
    readonly signals: PipelineSignals,
    readonly metrics: EngineMetrics = noopMetrics,
  ) {
    this.budget = new Budget(cfg.kafka.maxConcurrentSends, cfg.kafka.maxInFlightBytes);
    this.format = new MessageFormat(buffer.keys, cfg.kafka.recordHeaders);
    this.marks = new Coalescer(
      (keys) => this.buffer.markSynced(keys),
      1,
      MARK_GROUP_KEYS,
      () => this.ackLingerMs(),
    );
    const watchdog = setInterval(() => this.reportStuck(), Math.max(1000, Math.floor(cfg.sync.stuckWarnMs / 2)));
    watchdog.unref();
    signals.abandon.addEventListener('abort', () => clearInterval(watchdog), { once: true });
  }

  /** The lane (sequencer) of one source, made on first use; its buffer writes use one connection. */
  lane(name: string): Lane {
    let lane = this.lanes.get(name);
    if (!lane) this.lanes.set(name, (lane = new Lane(name, this, this.buffer.writer())));
    return lane;
  }

  /**
   * When a batch's `ack` is called: once the target holds it ('target': stream entries with
   * SOURCE_ACK_MODE=target; a batch already buffered was acknowledged when it was written), or
   * after Kafka's ack ('kafka': everything else).
   */
  ackPoint(kind: BatchKind): 'target' | 'kafka' {
    const fromStreams = kind === 'stream' || kind === 'claim' || kind === 'resync';
    return fromStreams && this.cfg.source.ackMode === 'target' ? 'target' : 'kafka';
  }

  /**
   * Marks delivered messages synced (BufferStore.markSynced), grouped with the other lanes' marks
   * of the moment (see `marks`); rejects when the call carrying them failed (the caller retries).
   */
  markSynced(keys: readonly string[]): Promise<void> {
    return this.marks.add(keys);
  }

  /**
   * SYNC_ACK_LINGER_MS while the in-flight budget is less than a quarter used, else 0: a batch
   * holds its room until it is marked and acknowledged, so a wait on purpose while batches queue
   * for room would slow the reader (a one-stream drain measured 15% slower).
   */
  ackLingerMs(): number {
    return this.budget.busy ? 0 : this.cfg.sync.ackLingerMs;
  }

  /** The same for source acks, except with SOURCE_ACK_MODE=target: there the ack comes before admission (lane.ts), never delayed. */
  sourceAckLingerMs(): number {
    return this.cfg.source.ackMode === 'target' ? 0 : this.ackLingerMs();
  }

  /** The wait before retry `attempt` (0-based) of anything: the one retry policy. */
  retryDelayMs(attempt: number): number {
    return backoffMs(attempt, this.cfg.sync.retryBaseMs, this.cfg.sync.retryMaxMs);
  }

  /** Waits until every delivery started so far has settled, or the timeout passes. */
  async drain(timeoutMs: number): Promise<boolean> {
    const all = Promise.all([...this.deliveries.keys()]).then(() => true);
    const timeout = new Promise<boolean>((r) => setTimeout(() => r(false), timeoutMs).unref());
    return Promise.race([all, timeout]);
  }

  /** A lane produced a batch: tracked until `settled` (drain, stuck warning). */
  track(settled: Promise<void>, count: number, topic: string): void {
    this.deliveries.set(settled, { since: Date.now(), count, topic, warned: false });
    void settled.finally(() => this.deliveries.delete(settled));
  }

  /** Moves messages to the dead-letter stream (with reason) and out of the unsynced set. */
  async deadLetter(items: readonly { m: OutgoingMessage; reason: string }[]): Promise<void> {
    await this.buffer.deadLetter(items);
    this.log.error(
      { count: items.length, reason: items[0]?.reason, stream: this.buffer.keys.deadLetters },
      'messages moved to the dead-letter stream',
    );
  }

  /** Records the last sync: in memory, and in the target at most once per second (for `status`). */
  noteSynced(): void {
    const now = Date.now();
    this.stats.lastSyncMs = now;
    if (now - this.lastSyncWrittenMs < 1000) return;
    this.lastSyncWrittenMs = now;
    // Best effort: a lost write only makes the reported last sync older.
    this.buffer.noteLastSync(now).catch(() => undefined);
  }

  /** `retrying` for actions without a result: true when done, false when abandoned. */
  async retryingVoid(what: string, fn: () => Promise<unknown>): Promise<boolean> {
    return (await this.retrying(what, async () => (await fn(), true))) === true;
  }

  /** Runs `fn` until it succeeds, backing off; undefined only when abandoned (so T must not be void). */
  async retrying<T extends NonNullable<unknown>>(what: string, fn: () => Promise<T>): Promise<T | undefined> {
    let endPause: (() => void) | undefined; // a full target pauses the caller: backpressure
    try {
      for (let attempt = 0; ; attempt += 1) {
        try {
          return await fn();
        } catch (err) {
          if (this.signals.abandon.aborted) return undefined;
          if (!endPause && err instanceof BufferFullError) endPause = this.metrics.pause('target_full');
          this.stats.retries += 1;
          this.metrics.retry(what, 1);
          // A refusal that will not pass by itself (a foreign key in the buffer's place, a script
          // error) is said for what it is, at every attempt, and retried slowly: nothing is dropped,
          // and the service goes on by itself once an operator fixed the cause.
          const refused = err instanceof SyncError && !err.retryable;
          const delay = refused ? this.cfg.sync.retryMaxMs : this.retryDelayMs(attempt);
          if (refused)
            this.log.error(
              { what, attempt, delayMs: delay, code: err.code, err: errorMessage(err) },
              `${what} refused; fix the cause named here, the service retries`,
            );
          else if (attempt === 0 || attempt % 10 === 0)
            this.log.warn({ what, attempt, delayMs: delay, err: errorMessage(err) }, `${what} failed; retrying`);
          await sleep(delay, this.signals.abandon);
          if (this.signals.abandon.aborted) return undefined;
        }
      }
    } finally {
      endPause?.();
    }
  }

  /**
   * Kafka retries a message it cannot deliver (broker down, topic missing with auto-creation off)
   * without failing it (KAFKA_MESSAGE_TIMEOUT_MS=0): say so instead of waiting silently.
   */
  private reportStuck(): void {
    const now = Date.now();
    let count = 0;
    let oldest = now;
    const topics = new Set<string>();
    for (const d of this.deliveries.values()) {
      if (d.warned || now - d.since < this.cfg.sync.stuckWarnMs) continue;
      d.warned = true;
      count += d.count;
      oldest = Math.min(oldest, d.since);
      topics.add(d.topic);
    }
    if (count === 0) return;
    this.log.warn(
      { count, waitingMs: now - oldest, topics: [...topics].slice(0, 10), kafka: this.sink.status },
      'messages are waiting for Kafka longer than SYNC_STUCK_WARN_MS: is the broker down or the topic missing (auto-creation off)? they stay buffered and are retried',
    );
  }
}
