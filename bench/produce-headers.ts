/**
 * What each Kafka header costs in librdkafka's produce call (KAFKA_RECORD_HEADERS): 100,000
 * records of 1 KB produced with the service's producer settings, with five headers as a stream
 * entry carries, five as Buffers, one (rks-id) and none; client CPU per record for the produce loop
 * and until every delivery report arrived. Twice each, back to back.
 *
 *   bash scripts/with-node.sh node --import tsx bench/produce-headers.ts [bootstrap]   (default: the main stack)
 */
import Kafka from '@confluentinc/kafka-javascript';
import type { MessageHeader } from '@confluentinc/kafka-javascript';
import { loadConfig } from '../src/config/config.js';
import { producerSettings } from '../src/sink/kafka-config.js';
import { STACK_HOST, STACK_PORTS } from '../src/stack/index.js';

const bootstrap = process.argv[2] ?? `${STACK_HOST}:${STACK_PORTS.kafka.plaintext}`;
const cfg = loadConfig({ configFile: null, env: { KAFKA_BOOTSTRAP_SERVERS: bootstrap } });
const p = new Kafka.Producer(producerSettings(cfg.kafka) as Kafka.ProducerGlobalConfig);
await new Promise<void>((resolve, reject) => p.connect({ timeout: 10_000 }, (e) => (e ? reject(e) : resolve())));
p.setPollInBackground(true);
let reports = 0;
p.on('delivery-report', () => (reports += 1));
const payload = Buffer.alloc(1000, 97);
const N = 100_000;

async function run(name: string, headers: (i: number) => MessageHeader[] | undefined): Promise<void> {
  reports = 0;
  const cpu0 = process.cpuUsage();
  const t0 = performance.now();
  for (let i = 0; i < N; i += 1) {
    for (;;) {
      try {
        p.produce('bench-headers', null, payload, Buffer.from(`dev${i % 100}`), Date.now(), { i }, headers(i));
        break;
      } catch {
        p.poll(); // local queue full: let deliveries make room
        await new Promise((r) => setTimeout(r, 2));
      }
    }
  }
  const loop = process.cpuUsage(cpu0);
  while (reports < N) await new Promise((r) => setTimeout(r, 5));
  const all = process.cpuUsage(cpu0);
  const us = (c: NodeJS.CpuUsage): string => ((c.user + c.system) / N).toFixed(1);
  process.stdout.write(
    `| ${name} | ${us(loop)} | ${us(all)} | ${Math.round(N / ((performance.now() - t0) / 1000))} |\n`,
  );
}

const id = (i: number): string => `msg:t:${i}-0:s0:stream`;
process.stdout.write(
  '| headers | produce loop µs/record | until reported µs/record | records/s |\n|---|---|---|---|\n',
);
for (let round = 0; round < 2; round += 1) {
  await run('5 (stream entry, all)', (i): MessageHeader[] => [
    { 'rks-id': id(i) },
    { 'rks-buffer-key': `p:${id(i)}` },
    { 'rks-stream': 'stream' },
    { 'rks-db': '0' },
    { 'rks-entry-id': `${i}-0` },
  ]);
  await run('1 (rks-id: KAFKA_RECORD_HEADERS=id)', (i) => [{ 'rks-id': id(i) }]);
  await run('none', () => undefined);
}
p.disconnect();
