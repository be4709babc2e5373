/**
 * The seam between the engine and whatever counts what it does: a small interface of events the
 * engine and the pipeline report, and a no-op default so the engine never depends on a metrics
 * library. The Prometheus implementation is `SyncMetrics` in ./metrics.ts.
 *
 * Contract: every method is cheap and synchronous and never throws; it is called once per batch
 * (never once per message) with a count, from the hot path. Callers report:
 *   entriesRead      after a source read returned entries (before buffering)
 *   buffered         after the target Redis confirmed holding new messages
 *   sent             after Kafka acknowledged messages (acks=all) and they were marked synced
 *   sourceAcked      after XACK (+XDEL) of source entries
 *   deadLettered     after messages were moved to the dead-letter stream
 *   deliveryLatency  seconds from the buffer write of a batch to Kafka's ack of it
 *   retry            each retried attempt of an operation (Redis write, Kafka delivery, ...)
 *   transaction      a Kafka transaction ended (KAFKA_EXACTLY_ONCE): committed (with the commit's
 *                    seconds) or aborted
 *   pause            a reader starts waiting (in-flight budget full, target full); the returned
 *                    function ends the pause and must be called exactly once
 */

/** Why a reader waits instead of reading: backpressure. */
export type PauseReason = 'in_flight_budget' | 'target_full';

export interface EngineMetrics {
  entriesRead(db: number, stream: string, count: number): void;
  buffered(topic: string, count: number): void;
  sent(topic: string, count: number): void;
  sourceAcked(db: number, stream: string, count: number): void;
  deadLettered(topic: string, count: number): void;
  deliveryLatency(seconds: number): void;
  retry(operation: string, count: number): void;
  transaction(outcome: 'committed' | 'aborted', seconds: number): void;
  pause(reason: PauseReason): () => void;
}

const noop = (): void => undefined;

export const noopMetrics: EngineMetrics = {
  entriesRead: noop,
  buffered: noop,
  sent: noop,
  sourceAcked: noop,
  deadLettered: noop,
  deliveryLatency: noop,
  retry: noop,
  transaction: noop,
  pause: () => noop,
};

/** How many items have each label: count once per batch, report once per label. */
export function countBy<T>(items: readonly T[], label: (item: T) => string): Map<string, number> {
  const counts = new Map<string, number>();
  for (const it of items) {
    const l = label(it);
    counts.set(l, (counts.get(l) ?? 0) + 1);
  }
  return counts;
}
