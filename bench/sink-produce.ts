/**
 * KafkaSink's two ways into librdkafka, alone (no Redis): 100,000 records of 1 KB with a stream
 * entry's five headers, in batches of 1,000 (SOURCE_BATCH_SIZE), up to 8 batches awaiting reports
 * at once, through `KafkaSink.produce` with KAFKA_BATCH_PRODUCE=false (a produce call and a
 * delivery-report event per record) and true (the client's produceBatch patch). Client CPU per
 * record until every outcome is in (the records are made before), rounds alternating.
 *
 *   bash scripts/with-node.sh node --import tsx bench/sink-produce.ts [bootstrap] [rounds] [headers]
 *   (default: the main stack, 3 rounds, 5 headers; 1 = rks-id only, as KAFKA_RECORD_HEADERS=id)
 */
import type { MessageHeader } from '@confluentinc/kafka-javascript';
import { loadConfig } from '../src/config/config.js';
import { createLogger } from '../src/observability/logger.js';
import { KafkaSink } from '../src/sink/producer.js';
import type { SinkRecord } from '../src/sink/sink.js';
import { STACK_HOST, STACK_PORTS } from '../src/stack/index.js';

const bootstrap = process.argv[2] || `${STACK_HOST}:${STACK_PORTS.kafka.plaintext}`;
const rounds = Number(process.argv[3] || 3);
const headerCount = Number(process.argv[4] || 5);
const N = 100_000;
const BATCH = 1_000;
const IN_FLIGHT = 8;
const payload = Buffer.alloc(1000, 97);
const streamHeaders = [Object.freeze({ 'rks-stream': 'stream' }), Object.freeze({ 'rks-db': '0' })];

function batchOf(from: number): SinkRecord[] {
  return Array.from({ length: BATCH }, (_, j) => {
    const i = from + j;
    const id = `msg:t:${i}-0:s0:stream`;
    const headers: MessageHeader[] = [
      { 'rks-id': id },
      { 'rks-buffer-key': `p:${id}` },
      ...streamHeaders,
      { 'rks-entry-id': `${i}-0` },
    ];
    return { topic: 'bench-sink-produce', kafkaKey: Buffer.from(`dev${i % 100}`), payload, headers };
  });
}

async function run(batchProduce: boolean): Promise<void> {
  const env = { KAFKA_BOOTSTRAP_SERVERS: bootstrap, KAFKA_BATCH_PRODUCE: String(batchProduce) };
  const sink = new KafkaSink(loadConfig({ configFile: null, env }).kafka, createLogger('error'));
  await sink.connect();
  const batches = Array.from({ length: N / BATCH }, (_, b) => batchOf(b * BATCH));
  const waiting: Promise<unknown>[] = [];
  const cpu0 = process.cpuUsage();
  const t0 = performance.now();
  let failed = 0;
  for (const batch of batches) {
    const ticket = sink.produce(batch);
    await ticket.accepted;
    waiting.push(ticket.outcomes.then((o) => (failed += o.filter((x) => x !== undefined).length)));
    if (waiting.length >= IN_FLIGHT) await waiting.shift();
  }
  await Promise.all(waiting);
  const cpu = process.cpuUsage(cpu0);
  const s = (performance.now() - t0) / 1000;
  await sink.close();
  if (failed > 0) throw new Error(`${failed} records failed`);
  const mode = batchProduce ? 'produceBatch (KAFKA_BATCH_PRODUCE=true)' : 'record by record (false)';
  process.stdout.write(`| ${mode} | ${((cpu.user + cpu.system) / N).toFixed(1)} | ${Math.round(N / s)} |\n`);
}

process.stdout.write(`headers per record: ${headerCount}\n`);
process.stdout.write('| path | client CPU µs/record until reported | records/s |\n|---|---|---|\n');
for (let r = 0; r < rounds; r += 1) {
  await run(false);
  await run(true);
}
