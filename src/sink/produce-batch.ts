/**
 * The adapter to the Kafka client's `produceBatch`: the project's patch of the binding
 * (patches/kafka-javascript-produce-batch.patch, applied by scripts/patch-kafka-client.sh; its
 * contract is written in the patched lib/producer.js and src/producer.cc). KafkaSink (producer.ts)
 * keeps the policy: what a refusal means, settling, backpressure.
 *
 * Contract
 *  - `queueRun(client, records, from, opaque)` hands the run of records from `from` that share its
 *    topic to librdkafka in one native call, in order, their headers as flat arrays. librdkafka
 *    queues them until one is refused: `accepted` of them are queued (records from..from+accepted-1)
 *    and `code` is the refusal of record from+accepted (0: none). `end` is the index after the run.
 *  - Each queued record's delivery report reaches the producer's `dr_batch_cb` option, many per
 *    call, as a flat array [opaque, index, code, ...] (index = its index in `records`, code 0 =
 *    delivered); never the 'delivery-report' event.
 */
import { createRequire } from 'node:module';
import Kafka from '@confluentinc/kafka-javascript';
import type { LibrdKafkaError } from '@confluentinc/kafka-javascript';
import type { SinkRecord } from './sink.js';

/** The patched client's method (see the contract). */
interface BatchProducer {
  produceBatch(
    topic: string,
    partition: number | null,
    values: Buffer[],
    keys: Buffer[],
    timestampMs: number,
    headerCounts: number[],
    headerNames: string[],
    headerValues: (string | Buffer)[],
    opaque: object,
    indexBase: number,
  ): [accepted: number, errorCode: number];
}

const requireCjs = createRequire(import.meta.url);
const nativeAddon = requireCjs('@confluentinc/kafka-javascript/librdkafka.js') as { Producer: { prototype: object } };

/**
 * The installed client has the patch, in its JavaScript and in its compiled addon (else KafkaSink
 * produces record by record).
 */
export const clientHasBatchProduce =
  typeof (Kafka.Producer.prototype as Partial<BatchProducer>).produceBatch === 'function' &&
  typeof (nativeAddon.Producer.prototype as Partial<BatchProducer>).produceBatch === 'function';

/** The binding's error type, built from a librdkafka code (a batch report or a refusal). */
export const kafkaError = requireCjs('@confluentinc/kafka-javascript/lib/error.js') as (
  code: number,
) => LibrdKafkaError;

/** What one call did (see the contract); `thrown`: the client threw (not connected), nothing was queued. */
export interface RunResult {
  readonly end: number;
  readonly accepted: number;
  readonly code: number;
  readonly thrown?: unknown;
}

/** One native call for a run of records of one topic (see the contract). */
export function queueRun(
  client: Kafka.Producer,
  records: readonly SinkRecord[],
  from: number,
  opaque: object,
): RunResult {
  const topic = (records[from] as SinkRecord).topic;
  const values: Buffer[] = [];
  const keys: Buffer[] = [];
  const counts: number[] = [];
  const names: string[] = [];
  const headerValues: (string | Buffer)[] = [];
  let end = from;
  for (; end < records.length; end += 1) {
    const r = records[end] as SinkRecord;
    if (r.topic !== topic) break;
    values.push(r.payload);
    keys.push(r.kafkaKey);
    let n = 0;
    for (const h of r.headers) {
      for (const name in h) {
        names.push(name);
        headerValues.push(h[name] as string | Buffer);
        n += 1;
      }
    }
    counts.push(n);
  }
  try {
    const [accepted, code] = (client as Kafka.Producer & BatchProducer).produceBatch(
      topic,
      null,
      values,
      keys,
      Date.now(),
      counts,
      names,
      headerValues,
      opaque,
      from,
    );
    return { end, accepted, code };
  } catch (thrown) {
    return { end, accepted: 0, code: -1, thrown };
  }
}
