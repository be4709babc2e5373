/**
 * Steady-state latency: entries are XADDed into one source stream at a fixed offered rate (their
 * field `ts` is the XADD wall time, `seq` their number); the real service process moves them; a
 * Kafka consumer in this process computes `receive time - send time` per record (measureLatency,
 * shared with the floor in latency-floor.ts). Same machine, same clock. The first `warmupMs` of
 * records are left out; the generator is a raw pipelined socket, so the client is never the
 * bottleneck.
 */
import { join } from 'node:path';
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
  LATENCY_PARTITIONS,
  type BenchEnv,
} from './common.js';
import { Daemon, serviceEnv, stackCpu, stackCpuPer, type StackCpu } from './daemon.js';
import { RawConnection, type Arg } from './resp.js';

const SEQ = /"seq":"(\d+)"/;

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
  /**
   * The two legs of each record's latency, split at the broker's append (the topics are created
   * with message.timestamp.type=LogAppendTime, so a record's timestamp is when the broker wrote
   * it): XADD -> appended (source, service, producer, broker's write) and appended -> received
   * (the broker's fetch path and the consumer). p50 / p99 of each, ms.
   */
  legs?: { toAppend: [number, number]; fromAppend: [number, number] };
  load: number;
  /**
   * CPU of the service process (utime+stime) over the measured window, in cores, and per record
   * sent in it; undefined for the floor (no service).
   */
  serviceCores?: number;
  serviceCpuUsPerMsg?: number;
  /**
   * CPU of each server over the same window, in cores. The source's includes the bench's own
   * XADDs and the broker's the bench's consumer (the floor rows show what those cost alone).
   */
  serverCores?: StackCpu;
  /** The service ran with KAFKA_EXACTLY_ONCE=true. */
  exactlyOnce?: boolean;
  /** Partitions of the topic (a batch's records spread over them by device id). */
  partitions?: number;
}

export async function latency(
  env: BenchEnv,
  ratePerSec: number,
  size: number,
  warmupMs: number,
  measureMs: number,
  opts: {
    overrides?: Record<string, string>;
    nodeFlags?: readonly string[];
    exactlyOnce?: boolean;
    /** A folder for the daemon's log (lat<rate>.log), as the drain's `--logs`. */
    logDir?: string;
  } = {},
): Promise<LatencyResult> {
  await flushSandbox(env);
  const label = `lat${ratePerSec}${opts.exactlyOnce ? 'eo' : ''}`;
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
    serviceEnv(env.stack, env.runId, stream, topic, opts.overrides),
    opts.nodeFlags,
    opts.logDir ? join(opts.logDir, `${label}.log`) : undefined,
  );
  try {
    await daemon.start();
    const result = await measureLatency(
      env,
      topic,
      { ratePerSec, size, warmupMs, measureMs },
      {
        send: async (first, count, now) => {
          const cmds: Arg[][] = [];
          for (let n = first; n < first + count; n += 1) cmds.push(['XADD', stream, '*', ...entryFields(n, pool, now)]);
          await writer.write(cmds);
        },
        flush: () => writer.waitReplies(writer.written),
        cpuSeconds: () => daemon.usage().cpuSeconds,
      },
    );
    if (opts.exactlyOnce) result.exactlyOnce = true;
    if (result.received < result.measured) {
      log(
        `latency ${ratePerSec}/s: ${result.received} of ${result.measured} records arrived; daemon log:\n${daemon.output.slice(-1500)}`,
      );
    }
    return result;
  } finally {
    await daemon.stop();
    await source.close();
    writer.close();
    await deleteTopics(env, [topic]);
    await flushSandbox(env);
  }
}

export interface LatencyPlan {
  ratePerSec: number;
  size: number;
  warmupMs: number;
  measureMs: number;
}

/**
 * The measuring loop both latency phases share. A consumer of `topic` in this process (partitions
 * assigned directly, no group join) starts first; then every 2 ms `send(first, count, now)` sends
 * the records the rate owes by `now`, numbered by the `seq` field of their envelope. Each record
 * sent after the warm-up gives `receive time - send time`. A stalled event loop shows up as
 * latency, not as a lower rate.
 */
export async function measureLatency(
  env: BenchEnv,
  topic: string,
  plan: LatencyPlan,
  io: {
    send: (first: number, count: number, now: number) => Promise<void> | void;
    /** Called after the last send (e.g. wait for the writes' replies). */
    flush?: () => Promise<void>;
    /** CPU seconds so far of the process measured (the service), sampled over the measured window. */
    cpuSeconds?: () => number;
  },
  kind: 'service' | 'floor' = 'service',
): Promise<LatencyResult> {
  const { ratePerSec, warmupMs, measureMs } = plan;
  const total = Math.ceil(((warmupMs + measureMs) / 1000) * ratePerSec);
  const sentAt = new Float64Array(total);
  const consumer = new Kafka.KafkaConsumer(
    {
      'bootstrap.servers': env.stack['KAFKA_BOOTSTRAP_SERVERS'] as string,
      'group.id': topic,
      'enable.auto.commit': false,
      'fetch.wait.max.ms': 100,
      // What consumers of KAFKA_EXACTLY_ONCE must do (a record counts once committed); records
      // outside transactions are read the same way.
      'isolation.level': 'read_committed',
    },
    { 'auto.offset.reset': 'earliest' },
  );
  const samples: number[] = [];
  const toAppend: number[] = [];
  const fromAppend: number[] = [];
  let firstMeasured = Number.POSITIVE_INFINITY;
  try {
    await new Promise<void>((resolve, reject) =>
      consumer.connect({ timeout: 20_000 }, (err) => (err ? reject(err) : resolve())),
    );
    consumer.assign(Array.from({ length: partitionsOf(env) }, (_, partition) => ({ topic, partition, offset: 0 })));
    consumer.on('data', (m: Message) => {
      const now = Date.now();
      // `seq` is read from the head of the envelope ({"stream":..,"fields":{"device_id":..,
      // "seq":..), not JSON.parse'd: this process shares the CPU with what it measures.
      const seq = Number(SEQ.exec(m.value ? m.value.toString('latin1', 0, 200) : '')?.[1]);
      if (seq >= firstMeasured && seq < total) {
        samples.push(now - (sentAt[seq] as number));
        if (m.timestamp !== undefined) {
          toAppend.push(m.timestamp - (sentAt[seq] as number));
          fromAppend.push(now - m.timestamp);
        }
      }
    });
    consumer.consume();
    const load0 = load1();
    const t0 = Date.now();
    let sent = 0;
    let cpu0: number | undefined;
    let servers0: StackCpu | undefined;
    let cpuAt0 = t0;
    const until = t0 + warmupMs + measureMs;
    while (Date.now() < until && sent < total) {
      const now = Date.now();
      if (now >= t0 + warmupMs && firstMeasured === Number.POSITIVE_INFINITY) {
        firstMeasured = sent;
        cpu0 = io.cpuSeconds?.();
        servers0 = stackCpu();
        cpuAt0 = now;
      }
      const owed = Math.min(total, Math.floor(((now - t0) / 1000) * ratePerSec)) - sent;
      if (owed > 0) {
        sentAt.fill(now, sent, sent + owed);
        await io.send(sent, owed, now);
        sent += owed;
      }
      await sleep(2);
    }
    const cpu1 = io.cpuSeconds?.();
    const servers1 = stackCpu();
    const cpuWindowS = (Date.now() - cpuAt0) / 1000;
    await io.flush?.();
    const measured = sent - firstMeasured;
    const cpu = cpu0 !== undefined && cpu1 !== undefined ? cpu1 - cpu0 : undefined;
    const deadline = Date.now() + 30_000;
    while (samples.length < measured && Date.now() < deadline) await sleep(50);
    const sorted = [...samples].sort((a, b) => a - b);
    const p50p99 = (xs: number[]): [number, number] => {
      const s = [...xs].sort((a, b) => a - b);
      return [percentile(s, 50), percentile(s, 99)];
    };
    return {
      kind,
      ratePerSec,
      size: plan.size,
      partitions: partitionsOf(env),
      measured,
      received: samples.length,
      achievedRate: sent / ((until - t0) / 1000),
      p50: percentile(sorted, 50),
      p99: percentile(sorted, 99),
      p999: percentile(sorted, 99.9),
      max: sorted[sorted.length - 1] ?? Number.NaN,
      ...(toAppend.length > 0 ? { legs: { toAppend: p50p99(toAppend), fromAppend: p50p99(fromAppend) } } : {}),
      load: Math.max(load0, load1()),
      ...(cpu !== undefined
        ? { serviceCores: cpu / cpuWindowS, serviceCpuUsPerMsg: (cpu / Math.max(1, measured)) * 1e6 }
        : {}),
      ...(servers0 !== undefined ? { serverCores: stackCpuPer(servers0, servers1, cpuWindowS) } : {}),
    };
  } finally {
    await new Promise<void>((resolve) => consumer.disconnect(() => resolve()));
  }
}

/** The partitions of the latency topics of this run. */
export function partitionsOf(env: BenchEnv): number {
  return env.partitions ?? LATENCY_PARTITIONS;
}

export async function createTopic(env: BenchEnv, topic: string): Promise<void> {
  const admin = Kafka.AdminClient.create({
    'bootstrap.servers': env.stack['KAFKA_BOOTSTRAP_SERVERS'] as string,
    'client.id': 'rks-bench-admin',
  });
  try {
    await new Promise<void>((resolve, reject) =>
      admin.createTopic(
        {
          topic,
          num_partitions: partitionsOf(env),
          replication_factor: 1,
          // A record's timestamp is the broker's append: measureLatency splits each latency there.
          config: { 'message.timestamp.type': 'LogAppendTime' },
        },
        10_000,
        (err) => (err ? reject(err) : resolve()),
      ),
    );
  } finally {
    admin.disconnect();
  }
}
