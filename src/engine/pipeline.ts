/**
 * The delivery pipeline: buffer -> Kafka -> mark synced -> acknowledge the source.
 *
 * Invariants
 *  1. A message is produced only after the target Redis confirmed holding it (put_batch).
 *  2. It is marked synced only after Kafka acknowledged it (acks=all), and the source entry is
 *     acknowledged/deleted only after that (SOURCE_ACK_MODE=kafka) or after (1) (=target).
 *  3. A failed delivery is retried (only the failed messages, never the whole batch) with
 *     backoff until delivered or the engine stops; on stop it simply stays unsynced in the
 *     buffer and pending in the source, to be found again (resync, PEL re-read, XAUTOCLAIM).
 *  4. At most KAFKA_MAX_CONCURRENT_SENDS batches / KAFKA_MAX_IN_FLIGHT_BYTES bytes are in flight;
 *     `submit` waits for room, so readers slow down instead of memory growing.
 *  5. A message Kafka can never take (too large) goes to the dead-letter stream with its reason,
 *     and only then is it acknowledged: it never blocks the others and is never silently lost.
 *  6. Batches submitted by one caller are produced in submission order (per-device order): one
 *     at a time, or chained with `after` when the caller keeps several outstanding.
 */
import { DeadLetters } from '../buffer/dead-letters.js';
import type { TargetBuffer, OutgoingMessage } from '../buffer/store.js';
import type { Config } from '../config/config.js';
import { BufferFullError, errorMessage, isRetryable, PoisonMessageError, type SyncError } from '../errors.js';
import { countBy, noopMetrics, type EngineMetrics } from '../observability/engine-metrics.js';
import type { Logger } from '../observability/logger.js';
import type { RedisConnection } from '../redis/client.js';
import { lastSyncKey } from '../observability/sync-status.js';
import type { KafkaSink } from '../sink/producer.js';
import { backoffMs, Budget, sleep } from '../util/retry.js';
import { headersFor } from './messages.js';

export interface SubmitOptions<M extends OutgoingMessage> {
  /** Connection for the buffer write; one per caller keeps its writes in order. */
  readonly conn?: RedisConnection;
  /** Called once the messages are safe per the ack mode, to acknowledge their source. */
  readonly ackSource?: (messages: readonly M[]) => Promise<void>;
  /** When to call ackSource: after the target write ('target') or after Kafka's ack ('kafka'). */
  readonly ackMode?: 'kafka' | 'target';
  /**
   * Produce only after this settles: the caller's previous `submit`. A caller with several
   * submits outstanding (read-ahead) keeps its produce order = its submit order this way, while
   * the buffer writes and reads of later batches overlap the earlier ones. Must not reject.
   */
  readonly after?: Promise<unknown>;
  /** Never delivered before (read as new, direct messages, key changes): TargetBuffer.put's `fresh`. */
  readonly fresh?: boolean;
}

/** A delivery in progress: settles once every message is delivered or dead-lettered (or abandoned). */
export interface DeliveryHandle {
  readonly whenDelivered: Promise<void>;
  /** How many of this handle's messages Kafka confirmed so far. */
  readonly tally?: { readonly delivered: number };
}

export interface PipelineStats {
  buffered: number;
  delivered: number;
  deadLettered: number;
  retries: number;
  lastSyncMs: number;
}

export class Pipeline {
  readonly budget: Budget;
  /** Buffer keys being delivered here (refcounted): resync and claims skip them. */
  readonly inFlight = new KeyRefs();
  readonly stats: PipelineStats = { buffered: 0, delivered: 0, deadLettered: 0, retries: 0, lastSyncMs: 0 };
  private readonly deliveries = new Set<Promise<void>>();
  private lastSyncWrittenMs = 0;

  constructor(
    readonly buffer: TargetBuffer,
    readonly sink: KafkaSink,
    private readonly cfg: Config,
    private readonly log: Logger,
    /** stop: no new work (readers end, failed deliveries are not retried). abandon: give up waiting. */
    private readonly signals: { readonly stop: AbortSignal; readonly abandon: AbortSignal },
    private readonly metrics: EngineMetrics = noopMetrics,
  ) {
    this.budget = new Budget(cfg.kafka.maxConcurrentSends, cfg.kafka.maxInFlightBytes);
    const watchdog = setInterval(() => this.reportStuck(), Math.max(1000, Math.floor(cfg.sync.stuckWarnMs / 2)));
    watchdog.unref();
    signals.abandon.addEventListener('abort', () => clearInterval(watchdog), { once: true });
  }

  /** Start time, size and topics of each delivery in progress (for the stuck-delivery warning). */
  private readonly started = new Map<Promise<void>, { since: number; count: number; topic: string; warned: boolean }>();

  /**
   * Kafka retries a message it cannot deliver (broker down, topic missing with auto-creation off)
   * without failing it (KAFKA_MESSAGE_TIMEOUT_MS=0): say so instead of waiting silently.
   */
  private reportStuck(): void {
    const now = Date.now();
    let count = 0;
    let oldest = now;
    const topics = new Set<string>();
    for (const d of this.started.values()) {
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

  /**
   * Buffers the messages (retrying until the target accepts them), then starts their delivery.
   * Resolves when the messages are buffered and produced, NOT when delivered; `whenDelivered`
   * on the returned handle resolves after delivery, marking and source ack. Returns undefined
   * when the engine stopped before the messages were buffered (they stay in the source).
   */
  async submit<M extends OutgoingMessage>(
    messages: readonly M[],
    opts: SubmitOptions<M> = {},
  ): Promise<DeliveryHandle | undefined> {
    if (messages.length === 0) return { whenDelivered: Promise.resolve() };
    // In flight from now on, so the periodic resync never sends what a reader is sending.
    for (const m of messages) this.inFlight.add(m.key);
    const statuses = await this.retrying('buffer write', () =>
      this.buffer.put(messages, opts.conn, { fresh: opts.fresh === true }),
    );
    if (!statuses) {
      for (const m of messages) this.inFlight.delete(m.key);
      return undefined;
    }
    const toSend: M[] = [];
    const alreadySynced: M[] = [];
    messages.forEach((m, i) => (statuses[i] === 2 ? alreadySynced : toSend).push(m));
    this.stats.buffered += toSend.length;
    const bufferedAtMs = Date.now();
    for (const [topic, n] of countBy(toSend, (m) => m.topic)) this.metrics.buffered(topic, n);
    if (opts.ackSource && (opts.ackMode === 'target' || alreadySynced.length === messages.length)) {
      const ack = opts.ackSource;
      const safe = opts.ackMode === 'target' ? messages : alreadySynced;
      await this.retryingVoid('source ack', () => ack(safe));
    } else if (opts.ackSource && alreadySynced.length > 0) {
      const ack = opts.ackSource;
      await this.retryingVoid('source ack', () => ack(alreadySynced));
    }
    for (const m of alreadySynced) this.inFlight.delete(m.key);
    if (opts.ackMode === 'target' && (!this.sink.isConnected || !this.budget.tryAcquireFits(memoryOf(toSend)))) {
      // The source is already acknowledged and Kafka is slow or down: do not hold the reader;
      // these stay unsynced in the target and the resync loop delivers them later.
      for (const m of toSend) this.inFlight.delete(m.key);
      return { whenDelivered: Promise.resolve() };
    }
    const afterDelivery = opts.ackMode === 'target' ? undefined : opts.ackSource;
    if (opts.after) {
      await opts.after;
      if (this.signals.stop.aborted) {
        // Stopping: an earlier batch of this caller may have been left unproduced (it is re-read
        // after the restart); producing this one now would overtake it. It stays buffered and
        // pending in the source, to be found again the same way.
        for (const m of toSend) this.inFlight.delete(m.key);
        return undefined;
      }
    }
    return this.deliver(toSend, afterDelivery, bufferedAtMs, true);
  }

  /** Waits for room, produces, and returns a promise of the delivery being fully settled. */
  async deliver<M extends OutgoingMessage>(
    messages: readonly M[],
    ackSource?: (m: readonly M[]) => Promise<void>,
    /** When the messages were written to the buffer (delivery latency); default now. */
    bufferedAtMs: number = Date.now(),
    /** The caller already counted these keys in `inFlight` (submit); this call releases them. */
    alreadyTracked = false,
  ): Promise<DeliveryHandle | undefined> {
    if (messages.length === 0) return { whenDelivered: Promise.resolve() };
    if (!alreadyTracked) for (const m of messages) this.inFlight.add(m.key);
    const bytes = memoryOf(messages);
    const endPause = this.budget.tryAcquireFits(bytes) ? undefined : this.metrics.pause('in_flight_budget');
    const acquired = await this.budget.acquire(bytes, this.signals.stop);
    endPause?.();
    if (!acquired) {
      for (const m of messages) this.inFlight.delete(m.key);
      return undefined;
    }
    const tally = { delivered: 0 };
    const p = this.settle(messages, ackSource, bufferedAtMs, tally).finally(() => {
      this.started.delete(p);
      for (const m of messages) this.inFlight.delete(m.key);
      this.budget.release(bytes);
      this.deliveries.delete(p);
    });
    this.deliveries.add(p);
    this.started.set(p, { since: Date.now(), count: messages.length, topic: messages[0]?.topic ?? '', warned: false });
    // settle() produced synchronously above, in submission order (or, before the first Kafka
    // connection, queued for it in that order); it awaits the reports.
    return { whenDelivered: p, tally };
  }

  /** Waits until every delivery started so far has settled, or the timeout passes. */
  async drain(timeoutMs: number): Promise<boolean> {
    const all = Promise.all([...this.deliveries]).then(() => true);
    const timeout = new Promise<boolean>((r) => setTimeout(() => r(false), timeoutMs).unref());
    return Promise.race([all, timeout]);
  }

  private async settle<M extends OutgoingMessage>(
    messages: readonly M[],
    ackSource: ((m: readonly M[]) => Promise<void>) | undefined,
    bufferedAtMs: number,
    tally: { delivered: number },
  ): Promise<void> {
    let pending: readonly M[] = messages;
    // Before Kafka's first connection there is no producer: a batch sent now would fail, wait a
    // backoff, and be overtaken by the batches produced once connected (out of order). Wait for
    // it instead; waiters resume in the order they came, so batches are produced in order.
    if (!this.sink.canProduce) await this.sink.producible(this.signals.stop);
    let firstSend = this.produce(pending);
    for (let attempt = 0; pending.length > 0; attempt += 1) {
      const outcomes = await firstSend;
      const delivered: M[] = [];
      const failed: M[] = [];
      const poison: { m: M; err: SyncError }[] = [];
      pending.forEach((m, i) => {
        const o = outcomes[i];
        if (o === undefined) delivered.push(m);
        else if (o instanceof PoisonMessageError || !isRetryable(o)) poison.push({ m, err: o });
        else failed.push(m);
      });
      if (delivered.length > 0) {
        if (!(await this.retryingVoid('mark synced', () => this.buffer.markSynced(delivered.map((m) => m.key)))))
          return;
        this.stats.delivered += delivered.length;
        tally.delivered += delivered.length;
        this.noteSynced();
        for (const [topic, n] of countBy(delivered, (m) => m.topic)) this.metrics.sent(topic, n);
        this.metrics.deliveryLatency((Date.now() - bufferedAtMs) / 1000);
        if (ackSource) await this.retryingVoid('source ack', () => ackSource(delivered));
      }
      if (poison.length > 0) {
        await this.retryingVoid('dead letter', () =>
          this.deadLetter(poison.map(({ m, err }) => ({ m, reason: errorMessage(err) }))),
        );
        this.stats.deadLettered += poison.length;
        for (const [topic, n] of countBy(poison, (p) => p.m.topic)) this.metrics.deadLettered(topic, n);
        if (ackSource) await this.retryingVoid('source ack', () => ackSource(poison.map((p) => p.m)));
      }
      pending = failed;
      if (pending.length === 0 || this.signals.stop.aborted) return;
      this.stats.retries += pending.length;
      this.metrics.retry('kafka delivery', pending.length);
      const first = outcomes.find((o) => o !== undefined);
      if (attempt === 0 || attempt % 20 === 0) {
        this.log.warn(
          { count: pending.length, attempt, err: first ? errorMessage(first) : undefined },
          'Kafka delivery failed; retrying the failed messages',
        );
      }
      await sleep(backoffMs(attempt, this.cfg.sync.retryBaseMs, this.cfg.sync.retryMaxMs), this.signals.stop);
      if (this.signals.stop.aborted) return;
      firstSend = this.produce(pending);
    }
  }

  private produce(messages: readonly OutgoingMessage[]): Promise<(SyncError | undefined)[]> {
    // Not connected yet: fail the attempt without building records (the retry loop runs often).
    if (!this.sink.canProduce) return this.sink.sendBatch(messages.map(() => NOT_SENT));
    return this.sink.sendBatch(
      messages.map((m) => ({
        topic: m.topic,
        kafkaKey: m.kafkaKey,
        payload: m.payload,
        headers: headersFor(this.buffer.keys, m.key),
      })),
    );
  }

  /** Moves messages to the dead-letter stream (with reason) and out of the unsynced set. */
  private async deadLetter(items: readonly { m: OutgoingMessage; reason: string }[]): Promise<void> {
    const keys = this.buffer.keys;
    await new DeadLetters(this.buffer.primary, keys).add(items);
    this.log.error(
      { count: items.length, reason: items[0]?.reason, stream: keys.deadLetters },
      'messages moved to the dead-letter stream',
    );
  }

  /** Records the last sync: in memory, and in the target at most once per second (for `status`). */
  private noteSynced(): void {
    const now = Date.now();
    this.stats.lastSyncMs = now;
    if (now - this.lastSyncWrittenMs < 1000) return;
    this.lastSyncWrittenMs = now;
    // Best effort: a lost write only makes the reported last sync older.
    this.buffer.primary.send(['SET', lastSyncKey(this.buffer.keys), String(now)]).catch(() => undefined);
  }

  /** `retrying` for actions without a result: true when done, false when abandoned. */
  async retryingVoid(what: string, fn: () => Promise<unknown>): Promise<boolean> {
    return (await this.retrying(what, async () => (await fn(), true))) === true;
  }

  /** Runs `fn` until it succeeds, backing off; undefined only when abandoned (so T must not be void). */
  async retrying<T extends NonNullable<unknown>>(what: string, fn: () => Promise<T>): Promise<T | undefined> {
    let endPause: (() => void) | undefined; // a full target pauses the caller: backpressure
    try {
      return await this.retryLoop(what, fn, (err) => {
        if (!endPause && err instanceof BufferFullError) endPause = this.metrics.pause('target_full');
      });
    } finally {
      endPause?.();
    }
  }

  private async retryLoop<T extends NonNullable<unknown>>(
    what: string,
    fn: () => Promise<T>,
    onError: (err: unknown) => void,
  ): Promise<T | undefined> {
    for (let attempt = 0; ; attempt += 1) {
      try {
        return await fn();
      } catch (err) {
        if (this.signals.abandon.aborted) return undefined;
        onError(err);
        this.stats.retries += 1;
        this.metrics.retry(what, 1);
        const delay = backoffMs(attempt, this.cfg.sync.retryBaseMs, this.cfg.sync.retryMaxMs);
        if (attempt === 0 || attempt % 10 === 0)
          this.log.warn({ what, attempt, delayMs: delay, err: errorMessage(err) }, `${what} failed; retrying`);
        await sleep(delay, this.signals.abandon);
        if (this.signals.abandon.aborted) return undefined;
      }
    }
  }
}

/** A multiset of keys: a key stays `has` until every `add` was matched by a `delete`. */
export class KeyRefs {
  private readonly counts = new Map<string, number>();
  get size(): number {
    return this.counts.size;
  }
  add(key: string): void {
    this.counts.set(key, (this.counts.get(key) ?? 0) + 1);
  }
  delete(key: string): void {
    const n = this.counts.get(key);
    if (n === undefined) return;
    if (n <= 1) this.counts.delete(key);
    else this.counts.set(key, n - 1);
  }
  has(key: string): boolean {
    return this.counts.has(key);
  }
  keys(): IterableIterator<string> {
    return this.counts.keys();
  }
}

const NOT_SENT = { topic: '', kafkaKey: Buffer.alloc(0), payload: Buffer.alloc(0), headers: [] };

/**
 * What a batch costs in memory while in flight, for KAFKA_MAX_IN_FLIGHT_BYTES: its bytes plus an
 * estimate of the JavaScript objects around each message (key string, Buffers, headers), which
 * for small messages outweigh the payload.
 */
export const PER_MESSAGE_OVERHEAD_BYTES = 600;

export function memoryOf(messages: readonly OutgoingMessage[]): number {
  let n = 0;
  for (const m of messages) n += m.payload.length + m.kafkaKey.length + m.key.length + PER_MESSAGE_OVERHEAD_BYTES;
  return n;
}
