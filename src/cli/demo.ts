/**
 * `redis-kafka-sync demo`: the README's first command. Against the local stack, it runs the sync
 * service (the same engine as `run`), a generator of device data writing into source streams,
 * and a Kafka consumer that shows the records arriving live, until Ctrl-C.
 */
import Kafka from '@confluentinc/kafka-javascript';
import type { Message } from '@confluentinc/kafka-javascript';
import type { Command } from 'commander';
import { loadConfig } from '../config/config.js';
import { SyncEngine } from '../engine/engine.js';
import { startHttpServer } from '../observability/http-server.js';
import { createLogger } from '../observability/logger.js';
import { SyncMetrics } from '../observability/metrics.js';
import { connectRedis } from '../redis/client.js';
import { stackEnv } from '../stack/index.js';
import { runUntilSignal } from './run.js';

const DEMO_TOPIC = 'demo-device-data';

export function registerDemoCommand(program: Command): void {
  program
    .command('demo')
    .description('run the service against the local stack with a device-data generator; show records arriving in Kafka')
    .option('--rate <n>', 'entries per second written by the generator', '200')
    .option('--devices <n>', 'number of simulated devices (one stream each)', '20')
    .action(async (flags: { rate: string; devices: string }) => {
      const env = {
        ...process.env,
        ...stackEnv('plaintext'),
        STREAM_AUTO_DISCOVERY: 'true',
        STREAM_DISCOVERY_INTERVAL: '2',
        STREAM_DISCOVERY_PATTERNS: 'device:*:stream',
        STREAM_TARGET_TOPIC_MAP: JSON.stringify({ 'device:*:stream': DEMO_TOPIC }),
        SOURCE_REDIS_DB_SEARCH_RANGE: '0-1',
        TARGET_REDIS_KEY_PREFIX: 'demo:',
        LOG_LEVEL: process.env.LOG_LEVEL ?? 'warn',
      };
      const cfg = loadConfig({ env });
      const log = createLogger(cfg.logLevel);
      const metrics = new SyncMetrics();
      const engine = new SyncEngine(cfg, log, { metrics });
      const http = await startHttpServer(engine, metrics, log);
      const rate = Math.max(1, Number(flags.rate));
      const devices = Math.max(1, Number(flags.devices));
      const stopCtl = new AbortController();
      engine.stopSignal.addEventListener('abort', () => stopCtl.abort());
      await runUntilSignal(engine, log, () => {
        process.stdout.write(
          `demo: ${devices} devices write ${rate} entries/s into device:<n>:stream (DBs 0-1) -> target buffer -> Kafka topic ${DEMO_TOPIC}.${http ? ` Dashboard: ${http.url}/` : ''} Ctrl-C to stop.\n`,
        );
        void generate(cfg, rate, devices, stopCtl.signal);
        void watch(cfg.kafka.bootstrapServers, stopCtl.signal, engine, metrics);
      });
      await http?.close();
      process.stdout.write('demo stopped. The stack keeps running: `npm run stack -- down` stops it.\n');
    });
}

async function generate(
  cfg: ReturnType<typeof loadConfig>,
  rate: number,
  devices: number,
  signal: AbortSignal,
): Promise<void> {
  const conns = [
    await connectRedis(cfg.source, { role: 'source', db: 0 }),
    await connectRedis(cfg.source, { role: 'source', db: 1 }),
  ];
  let seq = 0;
  const perTick = Math.max(1, Math.round(rate / 10));
  while (!signal.aborted) {
    const writes = [];
    for (let i = 0; i < perTick; i += 1) {
      seq += 1;
      const dev = seq % devices;
      const conn = conns[dev % 2];
      if (!conn) continue;
      writes.push(
        conn.send([
          'XADD',
          `device:${dev}:stream`,
          '*',
          'device_id',
          `device-${dev}`,
          'seq',
          String(seq),
          'temperature',
          (20 + Math.sin(seq / 50) * 5).toFixed(2),
          'ts',
          String(Date.now()),
        ]),
      );
    }
    await Promise.all(writes).catch(() => undefined);
    await new Promise((r) => setTimeout(r, 100));
  }
  await Promise.all(conns.map((c) => c.close()));
}

/** Sum of the high watermarks of the topic's partitions: how many records Kafka has stored. */
async function storedRecords(consumer: Kafka.KafkaConsumer, topic: string): Promise<number | undefined> {
  const metadata = await new Promise<Kafka.Metadata | undefined>((resolve) =>
    consumer.getMetadata({ topic, timeout: 2_000 }, (err, data) => resolve(err ? undefined : data)),
  );
  const partitions = metadata?.topics.find((t) => t.name === topic)?.partitions ?? [];
  if (partitions.length === 0) return undefined;
  const highs = await Promise.all(
    partitions.map(
      (p) =>
        new Promise<number | undefined>((resolve) =>
          consumer.queryWatermarkOffsets(topic, p.id, 2_000, (err, offsets) =>
            resolve(err ? undefined : offsets.highOffset),
          ),
        ),
    ),
  );
  return highs.every((h) => h !== undefined) ? highs.reduce<number>((a, h) => a + (h ?? 0), 0) : undefined;
}

/**
 * The live line, once a second. "kafka stored" is what the broker really has: the growth of the
 * topic's high watermarks since the demo started (asked every second, so it moves as deliveries
 * are confirmed, not in consumer batches). A consumer with short fetch waits shows the last record.
 */
async function watch(bootstrap: string, signal: AbortSignal, engine: SyncEngine, metrics: SyncMetrics): Promise<void> {
  const consumer = new Kafka.KafkaConsumer(
    {
      'bootstrap.servers': bootstrap,
      'group.id': `demo-watch-${process.pid}`,
      'enable.auto.commit': false,
      'fetch.wait.max.ms': 50,
    },
    { 'auto.offset.reset': 'latest' },
  );
  await new Promise<void>((resolve, reject) =>
    consumer.connect({ timeout: 10_000 }, (err) => (err ? reject(err) : resolve())),
  );
  consumer.setDefaultConsumeTimeout(100);
  consumer.subscribe([DEMO_TOPIC]);
  let atStart: number | undefined;
  let lastStored: number | undefined;
  let lastRead = metrics.totals.read;
  let last: Message | undefined;
  const started = Date.now();
  let ticking = false;
  const timer = setInterval(() => {
    if (ticking) return;
    ticking = true;
    void Promise.all([engine.target.unsyncedCount(), storedRecords(consumer, DEMO_TOPIC)])
      .then(
        ([backlog, stored]) => {
          // The topic may not exist before the first delivery: then nothing is stored yet.
          atStart ??= stored;
          const total = stored !== undefined && atStart !== undefined ? stored - atStart : 0;
          const rate = lastStored !== undefined && stored !== undefined ? stored - lastStored : total;
          if (stored !== undefined) lastStored = stored;
          const sample = last ? ` last: key=${String(last.key)} ${String(last.value).slice(0, 90)}` : '';
          const readRate = metrics.totals.read - lastRead;
          lastRead = metrics.totals.read;
          process.stdout.write(
            `[${Math.round((Date.now() - started) / 1000)}s] read ${readRate}/s, in flight ${engine.pipe.inFlight.size}, kafka stored ${total} (${rate}/s) backlog ${backlog}${sample}\n`,
          );
        },
        () => undefined,
      )
      .finally(() => {
        ticking = false;
      });
  }, 1000);
  while (!signal.aborted) {
    const batch = await new Promise<Message[]>((resolve) =>
      consumer.consume(100, (err, msgs) => resolve(err ? [] : msgs)),
    );
    last = batch[batch.length - 1] ?? last;
    if (batch.length === 0) await new Promise((r) => setTimeout(r, 50));
  }
  clearInterval(timer);
  await new Promise<void>((resolve) => consumer.disconnect(() => resolve()));
}
