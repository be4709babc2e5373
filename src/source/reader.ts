/**
 * The stream reader of one source DB: XREADGROUP (own pending entries first, then new ones) ->
 * messages -> its lane (engine/lane.ts), with read-ahead.
 *
 * Contract with the pipeline: a batch of entries acknowledges itself by XACK (+XDEL with
 * SOURCE_DELETE_AFTER_ACK) of exactly its entries, one script call for all their streams; the
 * pipeline calls that only once they are safe (Kafka confirmed them, or the target holds them with
 * SOURCE_ACK_MODE=target). A `nack` leaves them pending and makes the next read start with this
 * consumer's pending entries again (entries still in flight here are skipped, not sent twice).
 *
 * Read-ahead: up to SOURCE_READ_AHEAD_BATCHES batches are between read and admitted (room in the
 * in-flight budget), so batch N+1 is read and written to the target while batch N is still being
 * written; the lane keeps their produce order. It also pauses while the batches waiting hold
 * KAFKA_MAX_IN_FLIGHT_BYTES of entry data, so with large messages memory stays near twice that
 * budget, not SOURCE_READ_AHEAD_BATCHES full batches.
 *
 * Read linger: after a short read the reader waits SOURCE_READ_LINGER_MS before reading that DB
 * again, so that at moderate rates entries come in fewer, larger batches (the per-batch work is
 * most of the CPU there); only when entries come fast enough for the wait to gather some
 * (`lingerGathers`), since at low rates it would delay each entry and save no read.
 */
import type { Config } from '../config/config.js';
import { errorMessage } from '../errors.js';
import { batchOf, type Batch, type Message } from '../engine/batch.js';
import type { Lane, SubmitHandle } from '../engine/lane.js';
import type { Pipeline } from '../engine/pipeline.js';
import { countBy, type EngineMetrics } from '../observability/engine-metrics.js';
import type { Logger } from '../observability/logger.js';
import { redisErrorKind } from '../redis/errors.js';
import { sleep } from '../util/retry.js';
import { streamMessage, type StreamMapping } from './stream-message.js';
import type { SourceDb, SourceEntry } from './streams.js';

export interface ReaderContext {
  readonly cfg: Config;
  readonly log: Logger;
  readonly pipeline: Pipeline;
  readonly metrics: EngineMetrics;
  /** The one retry policy (Pipeline.retryDelayMs). */
  readonly retryDelayMs: (attempt: number) => number;
}

/** A batch of entries of one DB; `ack` = XACK (+XDEL) of exactly these entries. */
export function entryBatch(
  src: SourceDb,
  kind: 'stream' | 'claim',
  messages: readonly Message[],
  metrics: EngineMetrics,
  fresh = false,
): Batch {
  return {
    ...batchOf(kind, messages, { fresh }),
    ack: (ms) => ackEntries(src, ms.map(entryOf), metrics),
    nack: () => src.rereadPending(),
  };
}

/** XACK (+XDEL) through `src`, counted by stream. */
export async function ackEntries(
  src: SourceDb,
  entries: readonly { readonly stream: string; readonly id: string }[],
  metrics: EngineMetrics,
): Promise<void> {
  await src.ack(entries);
  for (const [stream, n] of countBy(entries, (e) => e.stream)) metrics.sourceAcked(src.db, stream, n);
}

function entryOf(m: Message): { stream: string; id: string } {
  return { stream: m.origin.kind === 'stream' ? m.origin.stream : '', id: m.id };
}

/**
 * Submits entries read (or claimed) from `src` to `lane`. Entries deleted while pending (no
 * fields) are acknowledged at once: nothing is left to send. An entry already being delivered
 * here (re-read, or claimed from ourselves) is not sent twice.
 */
export async function submitEntries(
  ctx: ReaderContext,
  lane: Lane,
  src: SourceDb,
  entries: readonly SourceEntry[],
  mapping: StreamMapping,
  kind: 'stream' | 'claim' = 'stream',
  /** Read as new (XREADGROUP `>`): never delivered, so the buffer write skips the marker check. */
  fresh = false,
): Promise<SubmitHandle | undefined> {
  for (const [stream, n] of countBy(entries, (e) => e.stream)) ctx.metrics.entriesRead(src.db, stream, n);
  const gone = entries.filter((e) => e.fields.length === 0);
  if (gone.length > 0) await ackEntries(src, gone, ctx.metrics);
  const format = ctx.pipeline.format;
  const messages: Message[] = [];
  for (const e of entries) {
    if (e.fields.length === 0) continue;
    const m = streamMessage(e, format, mapping);
    if (!ctx.pipeline.inFlight.has(m.key)) messages.push(m);
  }
  if (messages.length === 0) return undefined;
  return lane.submit(entryBatch(src, kind, messages, ctx.metrics, fresh));
}

/** Reads one DB's streams until `signal` aborts, keeping up to SOURCE_READ_AHEAD_BATCHES batches in progress. */
export async function runReader(
  ctx: ReaderContext,
  src: SourceDb,
  mapping: StreamMapping,
  signal: AbortSignal,
): Promise<void> {
  const lane = ctx.pipeline.lane(`stream:db${src.db}`);
  const outstanding = new Map<Promise<void>, number>(); // admitted -> bytes read
  let outstandingBytes = 0;
  const { readAheadBatches } = ctx.cfg.source;
  const maxBytes = ctx.cfg.kafka.maxInFlightBytes;
  try {
    await readBatches(ctx, src, signal, async (entries, fresh) => {
      let bytes = 0;
      for (const e of entries) for (const f of e.fields) bytes += f.length;
      let handle: SubmitHandle | undefined;
      try {
        handle = await submitEntries(ctx, lane, src, entries, mapping, 'stream', fresh);
      } catch (err) {
        // Its entries stay pending in the source: read them again (in-flight ones are skipped).
        src.rereadPending();
        ctx.log.error({ db: src.db, err: errorMessage(err) }, 'submitting a read batch failed; re-reading');
        await sleep(ctx.retryDelayMs(0), signal);
        return;
      }
      if (!handle) return;
      const admitted = handle.admitted;
      outstanding.set(admitted, bytes);
      outstandingBytes += bytes;
      void admitted.finally(() => {
        outstanding.delete(admitted);
        outstandingBytes -= bytes;
      });
      // Read ahead while few batches and few bytes wait (large messages: less read-ahead).
      if (outstanding.size >= readAheadBatches || outstandingBytes >= maxBytes) await Promise.race(outstanding.keys());
    });
  } finally {
    await Promise.allSettled([...outstanding.keys()]);
  }
}

async function readBatches(
  ctx: ReaderContext,
  src: SourceDb,
  signal: AbortSignal,
  submit: (entries: SourceEntry[], fresh: boolean) => Promise<void>,
): Promise<void> {
  const { batchSize, blockMs, readLingerMs } = ctx.cfg.source;
  let lastReadAt = 0;
  for (let attempt = 0; !signal.aborted;) {
    let entries: SourceEntry[];
    let fresh = false;
    let sinceLastReadMs = 0;
    try {
      if (src.streamNames.length === 0) {
        await sleep(blockMs, signal);
        continue;
      }
      ({ entries, fresh } = await src.readBatch(batchSize, blockMs));
      // The entries of this read came in since the last read returned.
      const now = performance.now();
      sinceLastReadMs = lastReadAt === 0 ? 0 : now - lastReadAt;
      lastReadAt = now;
      attempt = 0;
    } catch (err) {
      const msg = errorMessage(err);
      const kind = redisErrorKind(err);
      if (kind === 'nogroup' || kind === 'wrongtype' || /no such key/i.test(msg)) {
        const dropped = await src.revalidate().catch(() => []);
        ctx.log.warn({ db: src.db, err: msg, dropped }, 'a source stream changed under the reader; revalidated');
      } else {
        const delay = ctx.retryDelayMs(attempt);
        attempt += 1;
        ctx.log.warn({ db: src.db, err: msg, delayMs: delay }, 'reading the source failed; retrying');
        await sleep(delay, signal);
      }
      continue;
    }
    if (entries.length > 0 && !signal.aborted) await submit(entries, fresh);
    // A short read: let entries gather before the next one (SOURCE_READ_LINGER_MS) when they come
    // fast enough for the wait to gather some; not during backlog reads, whose windows are short
    // by design.
    if (entries.length < batchSize && !src.inBacklog && lingerGathers(entries.length, sinceLastReadMs, readLingerMs))
      await sleep(readLingerMs, signal);
  }
}

/** Entries a read linger must be expected to gather (lingerGathers). */
const LINGER_GATHERS = 2;

/**
 * Whether a linger of `lingerMs` after a short read is worth its delay: at the rate the read's
 * `entries` came in (over the `sinceLastReadMs` since the read before it returned), at least
 * LINGER_GATHERS entries arrive while it waits. Below that rate (100 msg/s with a 10 ms linger)
 * the next blocking read returns as soon as an entry comes, with as few reads and no added
 * delay; above it, a read gathers many entries in one batch. 0 ms since the last read (the first
 * read) counts as fast.
 */
export function lingerGathers(entries: number, sinceLastReadMs: number, lingerMs: number): boolean {
  if (lingerMs <= 0 || entries <= 0) return false;
  return entries * lingerMs >= LINGER_GATHERS * sinceLastReadMs;
}
