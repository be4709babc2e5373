/**
 * The physical ceilings of this machine, measured in the same run as the pipeline:
 *
 *  - Kafka: the raw librdkafka Producer of @confluentinc/kafka-javascript with exactly the
 *    service's settings (`producerSettings` of src/sink/kafka-config.ts: acks=all, idempotence,
 *    lz4, linger), producing the records the pipeline would make of the same entries (envelope,
 *    key, headers), as fast as the client takes them; timed from the first produce to the last
 *    delivery report. The topic is created by an untimed warm-up record.
 *  - Redis, the server: pipelined XADD over a raw socket (chunks of 1000, 4 chunks in flight)
 *    into a scratch stream, and XREADGROUP COUNT <SOURCE_BATCH_SIZE> one at a time (as the
 *    service reads per DB), also raw: what redis-server itself does, without client costs.
 *  - Redis through the service's own read path (`SourceDb.read`: node-redis, parsed entries)
 *    over the same stream with a second group.
 */
import Kafka from '@confluentinc/kafka-javascript';
import type { LibrdKafkaError, MessageHeader } from '@confluentinc/kafka-javascript';
import { producerSettings } from '../src/sink/kafka-config.js';
import type { SinkMessage } from '../src/sink/producer.js';
import { TargetBuffer, type OutgoingMessage } from '../src/buffer/store.js';
import { MessageFormat } from '../src/engine/batch.js';
import { streamMessage, type StreamMapping } from '../src/source/stream-message.js';
import { SourceDb } from '../src/source/streams.js';
import { GlobMap } from '../src/util/glob.js';
import {
  benchConfig,
  deleteTopics,
  entryFields,
  payloadPool,
  prefill,
  rawTarget,
  redisOf,
  sinkMessages,
  sleep,
  streamNames,
  type BenchEnv,
} from './common.js';
import { stackCpu, stackCpuPerMillion } from './daemon.js';
import { pipelineRaw } from './resp.js';

export interface ProducerCeiling {
  size: number;
  messages: number;
  msgPerSec: number;
  mbPerSec: number;
  recordBytes: number;
  /** CPU seconds (all threads of the producing process: JS and librdkafka) per 1M messages. */
  cpuSecondsPerMillion: number;
  /** CPU seconds of the broker per 1M messages. */
  kafkaCpuPerMillion: number;
}

const QUEUE_FULL = Kafka.CODES.ERRORS.ERR__QUEUE_FULL;

export async function producerCeiling(env: BenchEnv, size: number, count: number): Promise<ProducerCeiling> {
  const topic = `bench-${env.runId}-ceiling-${size}`;
  const cfg = benchConfig(env, { KAFKA_TOPIC: topic });
  const pool = payloadPool(size);
  const streams = streamNames(env.runId, `ceil${size}`, 1);
  const msgs = sinkMessages(cfg, topic, streams, Math.min(count, size >= 10_000 ? 2000 : 10_000), pool);
  const producer = new Kafka.Producer(producerSettings(cfg.kafka) as Kafka.ProducerGlobalConfig);
  let reports = 0;
  let failed = 0;
  let onReport: () => void = () => undefined;
  producer.on('delivery-report', (err: LibrdKafkaError | null) => {
    reports += 1;
    if (err) failed += 1;
    onReport();
  });
  await new Promise<void>((resolve, reject) =>
    producer.connect({ timeout: 30_000 }, (err) => (err ? reject(err) : resolve())),
  );
  producer.setPollInterval(2);
  try {
    const waitReports = (n: number): Promise<void> =>
      new Promise((resolve) => {
        onReport = () => {
          if (reports >= n) resolve();
        };
        onReport();
      });
    const first = msgs[0] as SinkMessage;
    produceOne(producer, first);
    await waitReports(1);
    reports = 0;
    failed = 0;
    const t0 = performance.now();
    const cpu0 = process.cpuUsage();
    const servers0 = stackCpu();
    let bytes = 0;
    for (let i = 0; i < count;) {
      const m = msgs[i % msgs.length] as SinkMessage;
      if (produceOne(producer, m)) {
        bytes += m.payload.length;
        i += 1;
        // Yield now and then so delivery reports are handled while producing, as in the service.
        if (i % 1000 === 0) await new Promise((r) => setImmediate(r));
      } else {
        producer.poll();
        await sleep(1);
      }
    }
    await waitReports(count);
    const seconds = (performance.now() - t0) / 1000;
    const cpu = process.cpuUsage(cpu0);
    const servers = stackCpuPerMillion(servers0, stackCpu(), count);
    if (failed > 0) throw new Error(`producer ceiling: ${failed} deliveries failed`);
    return {
      size,
      messages: count,
      msgPerSec: count / seconds,
      mbPerSec: bytes / seconds / 1e6,
      recordBytes: Math.round(bytes / count),
      cpuSecondsPerMillion: ((cpu.user + cpu.system) / 1e6 / count) * 1e6,
      kafkaCpuPerMillion: servers.kafka,
    };
  } finally {
    await new Promise<void>((resolve) => producer.disconnect(5000, () => resolve()));
    await deleteTopics(env, [topic]);
  }
}

function produceOne(p: Kafka.Producer, m: SinkMessage): boolean {
  try {
    p.produce(m.topic, null, m.payload, m.kafkaKey, Date.now(), undefined, m.headers as MessageHeader[]);
    return true;
  } catch (err) {
    if ((err as { code?: number }).code === QUEUE_FULL) return false;
    throw err;
  }
}

export interface RedisCeiling {
  size: number;
  entries: number;
  /** Server: pipelined XADD over a raw socket (1000 per write, 4 writes in flight). */
  xaddPerSec: number;
  /** Server: XREADGROUP COUNT 1000, one at a time, over a raw socket (entries/s). */
  xreadgroupPerSec: number;
  /** The service's read path: SourceDb.read through node-redis, parsed into entries. */
  serviceReadPerSec: number;
  /**
   * The service's target-buffer path alone: the entries as messages (envelope, key) written with
   * TargetBuffer.put (fresh, as entries read as new are) and then marked with markSynced,
   * SOURCE_BATCH_SIZE per call, one call at a
   * time: what the buffer step can move with nothing else running. CPU of the target Redis.
   */
  targetBufferPerSec: number;
  targetCpuPerMillion: number;
}

export async function redisCeiling(env: BenchEnv, size: number, count: number): Promise<RedisCeiling> {
  const pool = payloadPool(size);
  const [stream] = streamNames(env.runId, `rceil${size}`, 1) as [string];
  const cfg = benchConfig(env, { SOURCE_CONSUMER_NAME: `bench-${env.runId}` });
  const group = cfg.source.consumerGroup;
  const commands = await redisOf(env, 'source');
  const reads = await redisOf(env, 'source');
  const batch = cfg.source.batchSize;
  try {
    const xaddPerSec = await prefill(env, [stream], count, pool);
    await commands.send(['XGROUP', 'CREATE', stream, 'bench-raw', '0']);
    const raw = ['XREADGROUP', 'GROUP', 'bench-raw', 'c', 'COUNT', String(batch), 'STREAMS', stream, '>'];
    const reads1 = Math.ceil(count / batch);
    const xreadgroupPerSec = (await pipelineRaw(rawTarget(env, 'source'), reads1, () => raw, 1, 1)) * batch;
    const src = new SourceDb(0, commands, reads, cfg.source);
    await src.setStreams([stream]);
    const t0 = performance.now();
    let got = 0;
    for (;;) {
      const entries = await src.read(batch, 1);
      if (entries.length === 0) break;
      got += entries.length;
    }
    const seconds = (performance.now() - t0) / 1000;
    if (got !== count) throw new Error(`service read path read ${got} of ${count} entries (group ${group})`);
    const buffer = await targetBufferRate(env, stream, count, pool, batch);
    return { size, entries: count, xaddPerSec, xreadgroupPerSec, serviceReadPerSec: count / seconds, ...buffer };
  } finally {
    await commands.send(['DEL', stream]);
    await commands.close();
    await reads.close();
  }
}

async function targetBufferRate(
  env: BenchEnv,
  stream: string,
  count: number,
  pool: readonly Buffer[],
  batch: number,
): Promise<{ targetBufferPerSec: number; targetCpuPerMillion: number }> {
  const conn = await redisOf(env, 'target');
  const cfg = benchConfig(env);
  const buffer = new TargetBuffer([conn], cfg.target);
  const mapping: StreamMapping = {
    topics: new GlobMap<string>([]),
    defaultTopic: 'bench-buffer',
    keyField: cfg.kafka.keyField,
    encoding: cfg.source.encoding,
  };
  try {
    const base = Date.now();
    const format = new MessageFormat(buffer.keys, cfg.kafka.recordHeaders);
    const make = (n: number): OutgoingMessage =>
      streamMessage(
        { db: 0, stream, id: `${base}-${n}`, fields: entryFields(n, pool).map((f) => Buffer.from(f)) },
        format,
        mapping,
      );
    const cpu0 = stackCpu();
    const t0 = performance.now();
    for (let i = 0; i < count; i += batch) {
      const messages = Array.from({ length: Math.min(batch, count - i) }, (_, j) => make(i + j));
      await buffer.put(messages, conn, { fresh: true });
      await buffer.markSynced(
        messages.map((m) => m.key),
        conn,
      );
    }
    const seconds = (performance.now() - t0) / 1000;
    return {
      targetBufferPerSec: count / seconds,
      targetCpuPerMillion: stackCpuPerMillion(cpu0, stackCpu(), count).target,
    };
  } finally {
    await conn.send(['FLUSHALL']);
    await conn.close();
  }
}
