/**
 * The batched produce path (KAFKA_BATCH_PRODUCE, the Kafka client's produceBatch patch applied by
 * scripts/setup.sh) against the real broker: the records in Kafka are byte for byte what the
 * record-by-record path writes (payloads, keys, headers, order per key), a record Kafka can
 * never take fails alone, and a full local queue only delays (backpressure), in order, and the
 * bytes survive garbage collection while they wait in librdkafka's queue (the guard for any
 * change in who owns a payload: a zero-copy produce that does not hold its Buffers fails it).
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import Kafka from '@confluentinc/kafka-javascript';
import type { Message, MessageHeader } from '@confluentinc/kafka-javascript';
import { memoryReducingCollection } from '../../src/cli/heap-settings.js';
import { isRetryable, PoisonMessageError } from '../../src/errors.js';
import { clientHasBatchProduce } from '../../src/sink/produce-batch.js';
import { KafkaSink } from '../../src/sink/producer.js';
import type { SinkRecord } from '../../src/sink/sink.js';
import { consume, ensureStack, keptLog, stackConfig, uid } from '../helpers/real-stack.js';

const sinks: KafkaSink[] = [];
async function sinkWith(env: Record<string, string>): Promise<KafkaSink> {
  const sink = new KafkaSink(stackConfig(env).kafka, keptLog('error').log);
  sinks.push(sink);
  await sink.connect();
  return sink;
}

/** Binary keys and payloads (NUL bytes, invalid UTF-8), 0, 1 or 5 headers of strings and Buffers. */
function records(topics: readonly string[], n: number, payloadBytes = 64): SinkRecord[] {
  return Array.from({ length: n }, (_, i) => {
    const headers: MessageHeader[] = [];
    if (i % 3 >= 1) headers.push({ 'rks-id': `id-${i}` });
    if (i % 3 === 2)
      headers.push(
        { 'rks-buffer-key': Buffer.from([0, 0xff, i & 0xff]) },
        Object.freeze({ 'rks-stream': 'a stream' }),
        { 'rks-db': '3' },
        { 'rks-entry-id': `${i}-0` },
      );
    const payload = Buffer.concat([Buffer.from([0, 0xc3, 0x28]), randomBytes(payloadBytes)]);
    return {
      topic: topics[Math.floor((i * topics.length) / n) % topics.length] as string,
      kafkaKey: Buffer.from([0, i & 0xff, 0xfe]),
      payload,
      headers,
    };
  });
}

/** A record as Kafka gives it back, to compare with what was produced. */
function shape(m: { key?: Buffer | string | null; value: Buffer | null; headers?: MessageHeader[] }): string {
  const bytes = (v: unknown): string =>
    Buffer.isBuffer(v) ? v.toString('hex') : Buffer.from(String(v)).toString('hex');
  const headers = (m.headers ?? []).flatMap((h) => Object.entries(h).map(([k, v]) => `${k}=${bytes(v)}`));
  return `${bytes(m.key)}|${bytes(m.value)}|${headers.join(',')}`;
}

/**
 * Records in the order that counts: per record key (one partition each; the topics have several,
 * so there is no order across keys). A stable sort by key keeps each key's own order.
 */
function perKey(shapes: string[]): string[] {
  const keyOf = (s: string): string => s.slice(0, s.indexOf('|'));
  return [...shapes].sort((x, y) => (keyOf(x) < keyOf(y) ? -1 : keyOf(x) > keyOf(y) ? 1 : 0));
}

function byTopic(all: Message[], topic: string): string[] {
  return perKey(all.filter((m) => m.topic === topic).map((m) => shape(m)));
}

function produced(rs: readonly SinkRecord[], topic: string): string[] {
  return perKey(
    rs
      .filter((r) => r.topic === topic)
      .map((r) => shape({ key: r.kafkaKey, value: r.payload, headers: [...r.headers] })),
  );
}

describe('batched produce (produceBatch)', () => {
  before(async () => {
    await ensureStack();
  });
  after(async () => {
    for (const s of sinks) await s.close();
  });

  it('the installed Kafka client has the patch, and KAFKA_BATCH_PRODUCE=false turns it off', async () => {
    assert.ok(
      clientHasBatchProduce,
      'the Kafka client lacks produceBatch: run scripts/setup.sh (scripts/patch-kafka-client.sh)',
    );
    assert.equal((await sinkWith({})).batchProduce, true);
    assert.equal((await sinkWith({ KAFKA_BATCH_PRODUCE: 'false' })).batchProduce, false);
  });

  it('writes the same records as the record-by-record path: bytes, headers and order per key', async () => {
    const id = uid();
    const batched = await sinkWith({});
    const plain = await sinkWith({ KAFKA_BATCH_PRODUCE: 'false' });
    // Three runs of topics in one batch (a, b, then a again): one native call per run.
    const a = records([`bp-a-${id}`, `bp-b-${id}`, `bp-a-${id}`], 300);
    const b = a.map((r) => ({ ...r, topic: r.topic.replace('bp-', 'rr-') }));
    const [ta, tb] = [batched.produce(a), plain.produce(b)];
    await Promise.all([ta.accepted, tb.accepted]);
    assert.deepEqual(await ta.outcomes, new Array<undefined>(300).fill(undefined), 'every batched record delivered');
    assert.deepEqual(await tb.outcomes, new Array<undefined>(300).fill(undefined), 'every plain record delivered');
    const topics = [`bp-a-${id}`, `bp-b-${id}`, `rr-a-${id}`, `rr-b-${id}`];
    const all = await consume(topics, (got) => got.length >= 600);
    assert.equal(all.length, 600);
    assert.deepEqual(
      byTopic(all, `bp-a-${id}`),
      produced(a, `bp-a-${id}`),
      'topic a: the records produced, in order per key',
    );
    assert.deepEqual(
      byTopic(all, `bp-b-${id}`),
      produced(a, `bp-b-${id}`),
      'topic b: the records produced, in order per key',
    );
    assert.deepEqual(byTopic(all, `bp-a-${id}`), byTopic(all, `rr-a-${id}`), 'the same as record by record');
    assert.deepEqual(byTopic(all, `bp-b-${id}`), byTopic(all, `rr-b-${id}`), 'the same as record by record');
  });

  it('payloads stay intact while they wait in the client and nothing else holds them (garbage collected meanwhile)', async () => {
    const gc = memoryReducingCollection(); // a full collection: whatever nothing holds is freed
    const topic = `bp-gc-${uid()}`;
    // librdkafka waits 300 ms before it sends anything: meanwhile only the client can hold them.
    const sink = await sinkWith({ KAFKA_LINGER_MS: '300' });
    const send = (): { ticket: ReturnType<KafkaSink['produce']>; expected: string[] } => {
      // 8 KB payloads: each its own memory (not Node's Buffer pool), freed once collected.
      const rs = records([topic], 200, 8192);
      return { ticket: sink.produce(rs), expected: produced(rs, topic) };
    };
    const { ticket, expected } = send();
    // Collect, and fill memory of the same sizes with other bytes, while the records wait.
    const junk: Buffer[] = [];
    for (let round = 0; round < 5; round += 1) {
      gc();
      for (let i = 0; i < 200; i += 1) junk.push(Buffer.alloc(8195, 0x5a));
    }
    assert.deepEqual(await ticket.outcomes, new Array<undefined>(200).fill(undefined));
    junk.length = 0;
    const all = await consume([topic], (got) => got.length >= 200);
    const got = byTopic(all, topic);
    assert.equal(got.length, expected.length, 'every record once');
    // The positions, not the 8 KB payloads, in the message when bytes differ.
    const differing = expected.flatMap((record, i) => (got[i] === record ? [] : [i]));
    assert.deepEqual(differing, [], 'records whose bytes are not what was produced');
  });

  it('a record Kafka can never take fails alone as poison; the records around it are delivered', async () => {
    const id = uid();
    const sink = await sinkWith({ KAFKA_MAX_REQUEST_SIZE: '10000' });
    const rs = records([`bp-big-${id}`], 20);
    rs[7] = { ...(rs[7] as SinkRecord), payload: Buffer.alloc(20_000, 1) };
    const ticket = sink.produce(rs);
    await ticket.accepted;
    const outcomes = await ticket.outcomes;
    assert.ok(outcomes[7] instanceof PoisonMessageError, `record 7 is poison: ${String(outcomes[7])}`);
    assert.match(String(outcomes[7]?.message), /KAFKA_MAX_REQUEST_SIZE=10000/);
    assert.deepEqual(
      outcomes.filter((_, i) => i !== 7),
      new Array<undefined>(19).fill(undefined),
    );
    const all = await consume([`bp-big-${id}`], (got) => got.length >= 19);
    assert.deepEqual(
      byTopic(all, `bp-big-${id}`),
      produced(
        rs.filter((_, i) => i !== 7),
        `bp-big-${id}`,
      ),
    );
  });

  it('a client that is gone fails every record of the batch at once, retryable (resent later)', async () => {
    const sink = await sinkWith({});
    // The client disconnects under the sink (as when it is being replaced): produceBatch refuses.
    const client = (sink as unknown as { producer: { disconnect(cb: () => void): void } }).producer;
    await new Promise<void>((resolve) => client.disconnect(() => resolve()));
    const ticket = sink.produce(records([`bp-gone-${uid()}`], 50));
    await ticket.accepted;
    const outcomes = await ticket.outcomes;
    assert.equal(outcomes.length, 50);
    for (const o of outcomes) assert.ok(o !== undefined && isRetryable(o), `retryable: ${String(o)}`);
  });

  it("a batch's reports from many partitions reach JavaScript together, in one call", async () => {
    // The report thread wakes the main thread for a batch's last report only (the patch's
    // ProduceBatch): before, each partition's flush of reports was a wakeup and a call of its own
    // (3-12 for this batch), each waking the event loop at a steady rate.
    const topic = `bp-parts-${uid()}`;
    const admin = Kafka.AdminClient.create({ 'bootstrap.servers': stackConfig().kafka.bootstrapServers });
    try {
      await new Promise<void>((resolve, reject) =>
        admin.createTopic({ topic, num_partitions: 12, replication_factor: 1 }, (err) =>
          err ? reject(err) : resolve(),
        ),
      );
    } finally {
      admin.disconnect();
    }
    const sink = await sinkWith({});
    const calls: number[] = [];
    const spied = sink as unknown as { onBatchReports(flat: unknown[]): void };
    const reports = spied.onBatchReports.bind(sink);
    spied.onBatchReports = (flat) => {
      calls.push(flat.length / 3);
      reports(flat);
    };
    // 96 keys over 12 partitions; under the binding's 100 reports per flush.
    const rs = records([topic], 96).map((r, i) => ({ ...r, kafkaKey: Buffer.from(`device-${i}`) }));
    for (let round = 0; round < 3; round += 1) {
      calls.length = 0;
      const ticket = sink.produce(rs);
      assert.deepEqual(await ticket.outcomes, new Array<undefined>(96).fill(undefined));
      assert.deepEqual(calls, [96], `round ${round}: report calls (records each) for one batch`);
    }
    const all = await consume([topic], (got) => got.length >= 3 * 96);
    assert.equal(all.length, 3 * 96, 'every record in Kafka');
    assert.ok(new Set(all.map((m) => m.partition)).size >= 6, 'the batch did span many partitions');
  });

  it('a full local queue delays the rest of the batch (backpressure) and keeps the order', async () => {
    const id = uid();
    // librdkafka's queue holds 1 MB here (queue.buffering.max.kbytes), the batch 3 MB.
    const sink = await sinkWith({ KAFKA_MAX_IN_FLIGHT_BYTES: '1024' });
    const rs = records([`bp-full-${id}`], 3000, 1000);
    const ticket = sink.produce(rs);
    let queuedAtOnce = false;
    void ticket.accepted.then(() => (queuedAtOnce = true));
    await new Promise((r) => setImmediate(r));
    assert.equal(queuedAtOnce, false, 'the queue was full: the rest waits for deliveries to make room');
    await ticket.accepted;
    assert.deepEqual(await ticket.outcomes, new Array<undefined>(3000).fill(undefined));
    const all = await consume([`bp-full-${id}`], (got) => got.length >= 3000, 60_000);
    assert.deepEqual(
      byTopic(all, `bp-full-${id}`),
      produced(rs, `bp-full-${id}`),
      'every record once, in order per key',
    );
  });
});
