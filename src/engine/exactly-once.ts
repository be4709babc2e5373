/**
 * The progress check of exactly-once delivery (KAFKA_EXACTLY_ONCE): before anything buffered can
 * be sent again, what Kafka already committed is marked synced, so it is acknowledged without
 * being sent again (the buffer write's marker check, or the resync pass not seeing it).
 *
 *   start      the sink's init_transactions fenced this instance's previous incarnation and read
 *              the progress topic: every key listed is marked synced, then the readers start
 *              (their re-read of pending entries finds the markers and only acks those)
 *   takeover   before claiming a dead consumer's entries: fence it (its open transaction is
 *              aborted), read the progress again, mark, then claim (marker check again)
 *   resync     before each pass: read the progress again, mark; the pass sees only what is left
 *
 * Invariant: a key is marked here only when a committed progress record lists it, i.e. when its
 * record is in Kafka (progress.ts, invariant 1): never one that still needs sending.
 */
import type { BufferStore } from '../buffer/buffer.js';
import type { Logger } from '../observability/logger.js';
import type { Progress, ProgressLog } from '../sink/progress.js';

const MARK_CHUNK = 5000;

/** Marks every key the progress lists as synced; returns how many keys were listed. */
export async function applyProgress(buffer: BufferStore, progress: Progress): Promise<number> {
  for (let i = 0; i < progress.keys.length; i += MARK_CHUNK)
    await buffer.markSynced(progress.keys.slice(i, i + MARK_CHUNK));
  return progress.keys.length;
}

export class ProgressCheck {
  /** Instances fenced lately (instance -> when): one fence per takeover, not one per claim round. */
  private readonly fenced = new Map<string, number>();

  constructor(
    private readonly log: ProgressLog,
    private readonly buffer: BufferStore,
    private readonly logger: Logger,
    private readonly self: string,
    private readonly refenceAfterMs: number,
  ) {}

  /** Reads the progress topic to its end and marks what it lists. */
  async refresh(): Promise<number> {
    return applyProgress(this.buffer, await this.log.read());
  }

  /** Before taking over `owners`' entries: fence each (not ourselves), then refresh. */
  async beforeTakeover(owners: readonly string[]): Promise<void> {
    const now = Date.now();
    for (const o of owners) {
      if (o === this.self) continue;
      const at = this.fenced.get(o);
      if (at !== undefined && now - at < this.refenceAfterMs) continue;
      await this.log.fence(o);
      this.fenced.set(o, now);
    }
    const n = await this.refresh();
    this.logger.info({ owners, progressKeys: n }, 'exactly-once: progress checked before taking over entries');
  }
}
