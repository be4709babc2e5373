/**
 * Steady-state latency: entries are XADDed into one source stream at a fixed offered rate, each
 * carrying its XADD wall time in the field `ts`; the real service process moves them; a Kafka
 * consumer in this process (partitions assigned directly, no group join) computes
 * `receive time - ts` per record. Same machine, same clock. The first `warmupMs` of records are
 * left out; the generator (a raw pipelined socket, so the client is never the bottleneck) paces
 * itself every 2 ms and sends what the rate owes by then, so a stalled event loop shows up as
 * latency, not as a lower rate.
 */
import Kafka from '@confluentinc/kafka-javascript';
import type { Message } from '@confluentinc/kafka-javascript';
import {
  benchConfig,
  deleteTopics,
  entryFields,
  flushSandbox,
  load1,
  log,
  payloadPool,
  percentile,
  rawTarget,
  redisOf,
  sleep,
  streamNames,
  type BenchEnv,
} from './common.js';
import { Daemon } from './daemon.js';
import { RawConnection, type Arg } from './resp.js';

const SEQ = /"seq":"(\d+)"/;
const TS = /"ts":"(\d+)"/;

export interface LatencyResult {
  /** 'floor': raw producer -> consumer with no service (latency-floor.ts); default the service. */
  kind?: 'service' | 'floor';
  ratePerSec: number;
  size: number;
  measured: number;
  received: number;
  achievedRate: number;
  p50: number;
  p99: number;
  p999: number;
  max: number;
  load: number;
}

export async function latency(
  env: BenchEnv,
  ratePerSec: number,
  size: number,
  warmupMs: number,
  measureMs: number,
  opts: { overrides?: Record<string, string>; nodeFlags?: readonly string[] } = {},
): Promise<LatencyResult> {
  await flushSandbox(env);
  const label = `lat${ratePerSec}`;
  const topic = `bench-${env.runId}-${label}`;
  const [stream] = streamNames(env.runId, label, 1) as [string];
  const pool = payloadPool(size);
  const source = await redisOf(env, 'source');
  const writer = await RawConnection.open(rawTarget(env, 'source'));
  const cfg = benchConfig(env);
  // The topic and the stream exist before anyone waits on them.
  await source.send(['XGROUP', 'CREATE', stream, cfg.source.consumerGroup, '0', 'MKSTREAM']);
  await createTopic(env, topic);
  const daemon = new Daemon(
    {
      ...env.stack,
      SOURCE_REDIS_DB_SEARCH_RANGE: '0',
      STREAM_DISCOVERY_PATTERNS: stream,
      SOURCE_CONSUMER_NAME: `bench-${env.runId}`,
      KAFKA_TOPIC: topic,
      HTTP_ADDRESS: 'off',
      LOG_LEVEL: 'info',
      ...opts.overrides,
    },
    opts.nodeFlags,
  );
  const consumer = new Kafka.KafkaConsumer(
    {
      'bootstrap.servers': env.stack['KAFKA_BOOTSTRAP_SERVERS'] as string,
      'group.id': `bench-${env.runId}-${label}`,
      'enable.auto.commit': false,
      'fetch.wait.max.ms': 100,
    },
    { 'auto.offset.reset': 'earliest' },
  );
  const samples: number[] = [];
  let firstMeasured = Number.POSITIVE_INFINITY;
  try {
    await daemon.start();
    await new Promise<void>((resolve, reject) =>
      consumer.connect({ timeout: 20_000 }, (err) => (err ? reject(err) : resolve())),
    );
    consumer.assign([0, 1, 2].map((partition) => ({ topic, partition, offset: 0 })));
    consumer.on('data', (m: Message) => {
      const now = Date.now();
      // The envelope is the service's plain JSON ({"stream":..,"fields":{"device_id":..,"seq":..,
      // "ts":..,"data":..}}): the two numbers are read from its head, not JSON.parse'd, so this
      // process takes less of the CPU it shares with the service being measured.
      const head = m.value ? m.value.toString('latin1', 0, 200) : '';
      const seq = Number(SEQ.exec(head)?.[1]);
      if (seq >= firstMeasured) samples.push(now - Number(TS.exec(head)?.[1]));
    });
    consumer.consume();
    const load0 = load1();
    const t0 = Date.now();
    let sent = 0;
    const until = t0 + warmupMs + measureMs;
    while (Date.now() < until) {
      const now = Date.now();
      if (now >= t0 + warmupMs && firstMeasured === Number.POSITIVE_INFINITY) firstMeasured = sent;
      const owed = Math.floor(((now - t0) / 1000) * ratePerSec) - sent;
      const cmds: Arg[][] = [];
      for (let i = 0; i < owed; i += 1) cmds.push(['XADD', stream, '*', ...entryFields(sent + i, pool, now)]);
      sent += owed;
      if (cmds.length > 0) await writer.write(cmds);
      await sleep(2);
    }
    await writer.waitReplies(writer.written);
    const measured = sent - firstMeasured;
    const deadline = Date.now() + 30_000;
    while (samples.length < measured && Date.now() < deadline) await sleep(50);
    if (samples.length < measured) {
      log(
        `latency ${ratePerSec}/s: ${samples.length} of ${measured} records arrived; daemon log:\n${daemon.output.slice(-1500)}`,
      );
    }
    const sorted = [...samples].sort((a, b) => a - b);
    return {
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
    await daemon.stop();
    await source.close();
    writer.close();
    await deleteTopics(env, [topic]);
    await flushSandbox(env);
  }
}

export async function createTopic(env: BenchEnv, topic: string): Promise<void> {
  const admin = Kafka.AdminClient.create({
    'bootstrap.servers': env.stack['KAFKA_BOOTSTRAP_SERVERS'] as string,
    'client.id': 'rks-bench-admin',
  });
  try {
    await new Promise<void>((resolve, reject) =>
      admin.createTopic({ topic, num_partitions: 3, replication_factor: 1 }, 10_000, (err) =>
        err ? reject(err) : resolve(),
      ),
    );
  } finally {
    admin.disconnect();
  }
}
