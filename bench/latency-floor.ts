/**
 * The latency floor of the same machine: records shaped like the service's (the entry's JSON
 * envelope, device id key, rks-* headers) produced straight to Kafka with the service's producer
 * settings at the offered rate, read back by the same kind of consumer as `latency` uses. No
 * Redis, no service: what XADD -> readable in Kafka could at best be here.
 */
import Kafka from '@confluentinc/kafka-javascript';
import type { Message } from '@confluentinc/kafka-javascript';
import { producerSettings } from '../src/sink/kafka-config.js';
import {
  benchConfig,
  deleteTopics,
  load1,
  payloadPool,
  percentile,
  sinkMessages,
  sleep,
  type BenchEnv,
} from './common.js';
import { createTopic, type LatencyResult } from './latency.js';

const SEQ = /"seq":"(\d+)"/;

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
  const total = Math.ceil(((warmupMs + measureMs) / 1000) * ratePerSec);
  // Built before the clock starts (the envelope's own ts is not used: send times are kept here).
  const records = sinkMessages(cfg, topic, ['bench-floor-stream'], total, payloadPool(size));
  const sentAt = new Float64Array(total);
  const producer = new Kafka.Producer(producerSettings(cfg.kafka) as Kafka.ProducerGlobalConfig);
  const consumer = new Kafka.KafkaConsumer(
    {
      'bootstrap.servers': env.stack['KAFKA_BOOTSTRAP_SERVERS'] as string,
      'group.id': `bench-${env.runId}-floor${ratePerSec}`,
      'enable.auto.commit': false,
      'fetch.wait.max.ms': 100,
    },
    { 'auto.offset.reset': 'earliest' },
  );
  const samples: number[] = [];
  let firstMeasured = Number.POSITIVE_INFINITY;
  try {
    await new Promise<void>((resolve, reject) => producer.connect({}, (err) => (err ? reject(err) : resolve())));
    producer.setPollInBackground(true);
    await new Promise<void>((resolve, reject) =>
      consumer.connect({ timeout: 20_000 }, (err) => (err ? reject(err) : resolve())),
    );
    consumer.assign([0, 1, 2].map((partition) => ({ topic, partition, offset: 0 })));
    consumer.on('data', (m: Message) => {
      const now = Date.now();
      const seq = Number(SEQ.exec(m.value ? m.value.toString('latin1', 0, 200) : '')?.[1]);
      if (seq >= firstMeasured) samples.push(now - (sentAt[seq] as number));
    });
    consumer.consume();
    const load0 = load1();
    const t0 = Date.now();
    let sent = 0;
    const until = t0 + warmupMs + measureMs;
    while (Date.now() < until && sent < total) {
      const now = Date.now();
      if (now >= t0 + warmupMs && firstMeasured === Number.POSITIVE_INFINITY) firstMeasured = sent;
      const owed = Math.min(total, Math.floor(((now - t0) / 1000) * ratePerSec)) - sent;
      for (let i = 0; i < owed; i += 1) {
        const r = records[sent] as (typeof records)[number];
        sentAt[sent] = now;
        producer.produce(r.topic, null, r.payload, r.kafkaKey, now, undefined, r.headers);
        sent += 1;
      }
      await sleep(2);
    }
    const measured = sent - firstMeasured;
    const deadline = Date.now() + 30_000;
    while (samples.length < measured && Date.now() < deadline) await sleep(50);
    const sorted = [...samples].sort((a, b) => a - b);
    return {
      kind: 'floor',
      ratePerSec,
      size,
      measured,
      received: samples.length,
      achievedRate: sent / ((until - t0) / 1000),
      p50: percentile(sorted, 50),
      p99: percentile(sorted, 99),
      p999: percentile(sorted, 99.9),
      max: sorted[sorted.length - 1] ?? Number.NaN,
      load: Math.max(load0, load1()),
    };
  } finally {
    await new Promise<void>((resolve) => consumer.disconnect(() => resolve()));
    await new Promise<void>((resolve) => producer.disconnect(5000, () => resolve()));
    await deleteTopics(env, [topic]);
  }
}
