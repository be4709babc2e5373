/**
 * The seam between the pipeline and Kafka. KafkaSink (producer.ts) implements it; unit tests use
 * fakes of it.
 *
 * Contract
 *  - `produce(records)` hands the records to the client in the order given. `accepted` resolves
 *    once every record is queued in the client (after waiting for room in its local queue:
 *    backpressure); a `produce` called after `accepted` resolved queues its records after these,
 *    so whoever waits for `accepted` before the next call keeps its order.
 *  - `outcomes` resolves, once every record has a delivery report, with one outcome per record:
 *    `undefined` = Kafka acknowledged it (acks=all), otherwise the error (retryable: not in Kafka,
 *    send again; PoisonMessageError or not retryable: can never be delivered as is). It never
 *    rejects and nothing is dropped silently.
 *  - Before the first connection there is no producer (`canProduce` false): `produce` fails every
 *    record at once (retryable); `producible` resolves once there is one. After that, an outage only
 *    queues records in the client, in order; when the client is replaced (stuck or fatal), the
 *    records it held are failed as retryable, in the order they were produced.
 *  - An exactly-once sink (transactions.ts) reports a record delivered only once the transaction
 *    holding it committed; an aborted transaction fails all its records (retryable).
 */
import type { MessageHeader } from '@confluentinc/kafka-javascript';
import type { Origin } from '../buffer/key-format.js';
import type { SyncError } from '../errors.js';

export interface SinkRecord {
  readonly topic: string;
  readonly kafkaKey: Buffer;
  readonly payload: Buffer;
  readonly headers: readonly MessageHeader[];
  /** The buffer key and origin (pipeline messages have them): what an exactly-once sink records as progress. */
  readonly key?: string;
  readonly id?: string;
  readonly origin?: Origin;
}

/** `undefined`: delivered. */
export type Outcome = SyncError | undefined;

export interface SendTicket {
  readonly accepted: Promise<void>;
  readonly outcomes: Promise<Outcome[]>;
}

export interface Sink {
  readonly canProduce: boolean;
  /** The brokers answer (last known); false while an outage is seen. */
  readonly isConnected: boolean;
  /** For status output: "connected" or "disconnected: <last error>". */
  readonly status: string;
  producible(signal: AbortSignal): Promise<void>;
  produce(records: readonly SinkRecord[]): SendTicket;
  /**
   * The pipeline marked these buffer keys synced in the target (after their delivery). An
   * exactly-once sink lists committed keys in its progress records until told so; others ignore it.
   */
  marked?(keys: readonly string[]): void;
}

/**
 * The ticket of records that were never handed to a client: every one has `outcome` at once
 * (none for no records; before the first connection, one shared retryable error, not one per
 * record, since a retry loop runs this often).
 */
export function unsentTicket(records: readonly SinkRecord[], outcome: Outcome): SendTicket {
  return { accepted: Promise.resolve(), outcomes: Promise.resolve(records.map(() => outcome)) };
}
