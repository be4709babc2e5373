/**
 * The latency floor of the same machine: records shaped like the service's (the entry's JSON
 * envelope, device id key, rks-* headers) produced straight to Kafka with the service's producer
 * settings at the offered rate, read back by the same kind of consumer as `latency` uses. No
 * Redis, no service: what XADD -> readable in Kafka could at best be here.
 */
import Kafka from '@confluentinc/kafka-javascript';
import type { MessageHeader } from '@confluentinc/kafka-javascript';
import { producerSettings } from '../src/sink/kafka-config.js';
import { benchConfig, deleteTopics, payloadPool, sinkMessages, type BenchEnv } from './common.js';
import { createTopic, measureLatency, type LatencyResult } from './latency.js';

export async function latencyFloor(
  env: BenchEnv,
  ratePerSec: number,
  size: number,
  warmupMs: number,
  measureMs: number,
): Promise<LatencyResult> {
  const topic = `bench-${env.runId}-floor${ratePerSec}`;
  const cfg = benchConfig(env);
  await createTopic(env, topic);
  // Built before the clock starts: record n carries seq n.
  const total = Math.ceil(((warmupMs + measureMs) / 1000) * ratePerSec);
  const records = sinkMessages(cfg, topic, ['bench-floor-stream'], total, payloadPool(size));
  const producer = new Kafka.Producer(producerSettings(cfg.kafka) as Kafka.ProducerGlobalConfig);
  try {
    await new Promise<void>((resolve, reject) => producer.connect({}, (err) => (err ? reject(err) : resolve())));
    producer.setPollInBackground(true);
    return await measureLatency(
      env,
      topic,
      { ratePerSec, size, warmupMs, measureMs },
      {
        send: (first, count, now) => {
          for (const r of records.slice(first, first + count))
            producer.produce(r.topic, null, r.payload, r.kafkaKey, now, undefined, r.headers as MessageHeader[]);
        },
      },
      'floor',
    );
  } finally {
    await new Promise<void>((resolve) => producer.disconnect(5000, () => resolve()));
    await deleteTopics(env, [topic]);
  }
}
