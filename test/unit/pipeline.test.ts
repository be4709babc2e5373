/**
 * The pipeline's invariants (pipeline.ts, lane.ts) on fakes of its two seams (BufferStore, Sink):
 * what is produced, when it is marked and acknowledged, what is retried, and in which order.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { DeliveryError, PoisonMessageError } from '../../src/errors.js';
import { noopMetrics } from '../../src/observability/engine-metrics.js';
import { loggedBatch, makePipeline, messages, turns, until } from '../helpers/fakes.js';

const retryable = new DeliveryError('broker went away (fake)', { retryable: true });
const lines = (log: string[], verb: string): string[] => log.filter((l) => l.startsWith(verb));

describe('pipeline on fakes', () => {
  test('produces only what the target confirmed holding, and nothing already synced', async () => {
    const { pipeline, buffer, sink, log } = makePipeline();
    let open!: () => void;
    const gate = new Promise<void>((r) => (open = r));
    buffer.gate = () => gate;
    const ms = messages(buffer.keys, 'a', 3);
    buffer.synced.add((ms[1] as { key: string }).key);
    const h = pipeline.lane('l').submit(loggedBatch(log, 'stream', ms));
    await turns();
    assert.deepEqual(lines(log, 'produce'), [], 'nothing produced before the buffer write answered');
    open();
    await until('the produce', () => lines(log, 'produce').length === 1);
    assert.deepEqual(log.slice(0, 3), ['put a1,a2,a3', 'ack a2', 'produce a1,a3']);
    sink.reportAll();
    await h.settled;
    assert.equal(h.tally.delivered, 2);
  });

  test('marks synced only after Kafka acknowledged, and acknowledges the source only after marking', async () => {
    const { pipeline, buffer, sink, log } = makePipeline();
    const h = pipeline.lane('l').submit(loggedBatch(log, 'stream', messages(buffer.keys, 'a', 2)));
    await until('the produce', () => lines(log, 'produce').length === 1);
    await turns();
    assert.deepEqual(lines(log, 'mark'), []);
    assert.deepEqual(lines(log, 'ack'), []);
    sink.report();
    await h.settled;
    assert.deepEqual(log, ['put a1,a2', 'produce a1,a2', 'mark a1,a2', 'ack a1,a2']);
  });

  test('observes the delivery latency when Kafka confirms a batch, not when its mark is done', async () => {
    const observed: number[] = [];
    const { pipeline, buffer, sink, log } = makePipeline(
      {},
      { ...noopMetrics, deliveryLatency: (s) => observed.push(s) },
    );
    let open!: () => void;
    const markDone = new Promise<void>((r) => (open = r));
    buffer.markGate = () => markDone;
    const h = pipeline.lane('l').submit(loggedBatch(log, 'stream', messages(buffer.keys, 'a', 2)));
    await until('the produce', () => lines(log, 'produce').length === 1);
    await turns();
    assert.deepEqual(observed, [], 'nothing observed before Kafka confirmed');
    sink.report();
    await until('the observation', () => observed.length === 1);
    assert.deepEqual(lines(log, 'mark'), [], 'observed while the mark is still being written');
    open();
    await h.settled;
    assert.equal(observed.length, 1, 'one observation per batch');
    assert.ok((observed.at(0) ?? -1) >= 0, `a latency in seconds: ${observed.join()}`);
  });

  test('retries only the failed messages and acknowledges each message once', async () => {
    // Marks one by one here (SYNC_ACK_LINGER_MS=0): the subject is the retry, not the grouping.
    const { pipeline, buffer, sink, log } = makePipeline({ SYNC_ACK_LINGER_MS: '0' });
    const h = pipeline.lane('l').submit(loggedBatch(log, 'stream', messages(buffer.keys, 'a', 3)));
    await until('the produce', () => lines(log, 'produce').length === 1);
    sink.report((i) => (i === 1 ? retryable : undefined));
    await until('the retry', () => lines(log, 'produce').length === 2);
    sink.report();
    await h.settled;
    assert.deepEqual(lines(log, 'produce'), ['produce a1,a2,a3', 'produce a2']);
    assert.deepEqual(lines(log, 'mark'), ['mark a1,a3', 'mark a2']);
    assert.deepEqual(lines(log, 'ack'), ['ack a1,a3', 'ack a2']);
    assert.equal(pipeline.stats.retries, 1);
  });

  test('marks of batches confirmed within SYNC_ACK_LINGER_MS go in one call; each batch is acked after it', async () => {
    const { pipeline, buffer, sink, log } = makePipeline({ SYNC_ACK_LINGER_MS: '50' });
    const a = pipeline.lane('a').submit(loggedBatch(log, 'stream', messages(buffer.keys, 'a', 2)));
    const b = pipeline.lane('b').submit(loggedBatch(log, 'stream', messages(buffer.keys, 'b', 1)));
    await until('both produced', () => lines(log, 'produce').length === 2);
    sink.reportAll();
    await Promise.all([a.settled, b.settled]);
    assert.deepEqual(lines(log, 'mark'), ['mark a1,a2,b1'], 'one grouped mark for both lanes');
    assert.deepEqual(lines(log, 'ack').sort(), ['ack a1,a2', 'ack b1']);
    assert.ok(log.indexOf('mark a1,a2,b1') < log.indexOf('ack b1'), 'acked only after the mark');
  });

  test('a poison message goes to the dead letters, and only then is it acknowledged; it is not resent', async () => {
    const { pipeline, buffer, sink, log } = makePipeline();
    const h = pipeline.lane('l').submit(loggedBatch(log, 'stream', messages(buffer.keys, 'a', 2)));
    await until('the produce', () => lines(log, 'produce').length === 1);
    sink.report((i) => (i === 0 ? new PoisonMessageError('too large (fake)') : undefined));
    await h.settled;
    assert.deepEqual(lines(log, 'produce'), ['produce a1,a2']);
    const dead = log.indexOf('dead a1');
    const acked = log.indexOf('ack a1');
    assert.ok(dead >= 0 && acked > dead, `dead letter before ack: ${log.join(' | ')}`);
    assert.equal(pipeline.stats.deadLettered, 1);
  });

  test('keeps submission order when later buffer writes finish first', async () => {
    const { pipeline, buffer, sink, log } = makePipeline();
    const opens = new Map<string, () => void>();
    buffer.gate = (ids) => new Promise<void>((r) => opens.set(ids, r));
    const lane = pipeline.lane('l');
    const handles = ['a', 'b', 'c'].map((p) => lane.submit(loggedBatch(log, 'stream', messages(buffer.keys, p, 1))));
    await until('three writes waiting', () => opens.size === 3);
    for (const id of ['c1', 'b1', 'a1']) opens.get(id)?.();
    await until('three produced', () => lines(log, 'produce').length === 3);
    assert.deepEqual(lines(log, 'produce'), ['produce a1', 'produce b1', 'produce c1']);
    sink.reportAll();
    await Promise.all(handles.map((h) => h.settled));
  });

  test('a sink whose local queue fills mid-batch holds the turn: the next batch does not overtake', async () => {
    const { pipeline, buffer, sink, log } = makePipeline();
    let room!: () => void;
    sink.holdAccept = new Promise<void>((r) => (room = r));
    const lane = pipeline.lane('l');
    const a = lane.submit(loggedBatch(log, 'stream', messages(buffer.keys, 'a', 2)));
    const b = lane.submit(loggedBatch(log, 'stream', messages(buffer.keys, 'b', 2)));
    await until('a produced', () => lines(log, 'produce').length === 1);
    await turns();
    assert.deepEqual(lines(log, 'produce'), ['produce a1,a2'], 'b waits while a is not accepted whole');
    room();
    await until('both produced', () => lines(log, 'produce').length === 2);
    assert.deepEqual(lines(log, 'produce'), ['produce a1,a2', 'produce b1,b2']);
    sink.reportAll();
    await Promise.all([a.settled, b.settled]);
  });

  test('a sink that loses its client: the failed batches are resent in order, before anything newer', async () => {
    const { pipeline, buffer, sink, log } = makePipeline();
    const lane = pipeline.lane('l');
    const first = ['a', 'b', 'c'].map((p) => lane.submit(loggedBatch(log, 'stream', messages(buffer.keys, p, 2))));
    await until('three produced', () => lines(log, 'produce').length === 3);
    sink.lose(retryable);
    const d = lane.submit(loggedBatch(log, 'stream', messages(buffer.keys, 'd', 1)));
    await d.buffered;
    await turns();
    assert.equal(lines(log, 'produce').length, 3, 'nothing produced while there is no client');
    sink.reconnect();
    await until('all resent', () => lines(log, 'produce').length === 7);
    assert.deepEqual(lines(log, 'produce').slice(3), ['produce a1,a2', 'produce b1,b2', 'produce c1,c2', 'produce d1']);
    sink.reportAll();
    await Promise.all([...first, d].map((h) => h.settled));
    assert.equal(lines(log, 'ack').length, 4);
  });

  test('before the first connection: admits batches (sources read on), then produces them in order', async () => {
    const { pipeline, buffer, sink, log } = makePipeline();
    sink.canProduce = false;
    const lane = pipeline.lane('l');
    const hs = ['a', 'b'].map((p) => lane.submit(loggedBatch(log, 'stream', messages(buffer.keys, p, 1))));
    // Admitted (the source reads on, buffering while Kafka was never reached), not produced.
    await Promise.all(hs.map((h) => h.admitted));
    await turns();
    assert.deepEqual(lines(log, 'produce'), []);
    sink.reconnect();
    await until('both produced', () => lines(log, 'produce').length === 2);
    assert.deepEqual(lines(log, 'produce'), ['produce a1', 'produce b1']);
    sink.reportAll();
    await Promise.all(hs.map((h) => h.settled));
  });

  test('holds the in-flight bound: at most KAFKA_MAX_CONCURRENT_SENDS batches wait for Kafka', async () => {
    const { pipeline, buffer, sink, log } = makePipeline({ KAFKA_MAX_CONCURRENT_SENDS: '2' });
    const lanes = ['x', 'y'].map((n) => pipeline.lane(n));
    const hs = ['a', 'b', 'c', 'd'].map((p, i) =>
      (lanes[i % 2] as (typeof lanes)[number]).submit(loggedBatch(log, 'stream', messages(buffer.keys, p, 1))),
    );
    await Promise.all(hs.map((h) => h.buffered));
    await turns();
    assert.equal(lines(log, 'produce').length, 2);
    assert.equal(pipeline.budget.items, 2);
    sink.report();
    await until('a third batch', () => lines(log, 'produce').length === 3);
    assert.equal(pipeline.budget.items, 2);
    while (lines(log, 'produce').length < 4 || sink.open.length > 0) {
      if (sink.open.length > 0) sink.report();
      await turns();
    }
    await Promise.all(hs.map((h) => h.settled));
    assert.equal(pipeline.budget.items, 0);
  });

  test('SOURCE_ACK_MODE=target: acknowledged once buffered; while Kafka is down the batch is left to resync', async () => {
    const { pipeline, buffer, sink, log } = makePipeline({ SOURCE_ACK_MODE: 'target' });
    sink.isConnected = false;
    const h = pipeline.lane('l').submit(loggedBatch(log, 'stream', messages(buffer.keys, 'a', 2)));
    await h.settled;
    assert.deepEqual(log, ['put a1,a2', 'ack a1,a2']);
    assert.equal(pipeline.inFlight.size, 0, 'released for the resync loop');
    const direct = pipeline.lane('d').submit(loggedBatch(log, 'direct', messages(buffer.keys, 'b', 1)));
    await direct.buffered;
    await turns();
    assert.deepEqual(lines(log, 'ack'), ['ack a1,a2'], 'a direct message is acknowledged after Kafka only');
    sink.isConnected = true;
    await until('the direct message produced', () => lines(log, 'produce').length === 1);
    sink.reportAll();
    await direct.settled;
    assert.deepEqual(lines(log, 'ack'), ['ack a1,a2', 'ack b1']);
  });

  test('at a stop, batches not yet produced are given up (nack), never produced', async () => {
    const { pipeline, buffer, sink, log, stop } = makePipeline();
    sink.canProduce = false;
    const h = pipeline.lane('l').submit(loggedBatch(log, 'stream', messages(buffer.keys, 'a', 1)));
    await h.buffered;
    stop.abort();
    await h.settled;
    assert.deepEqual(log, ['put a1', 'nack a1']);
    assert.equal(pipeline.inFlight.size, 0);
  });

  test('skips the marker check only for batches never delivered before (fresh), never for resent ones', async () => {
    const { pipeline, buffer, sink, log } = makePipeline();
    const lane = pipeline.lane('l');
    const fresh = lane.submit({ ...loggedBatch(log, 'stream', messages(buffer.keys, 'a', 1)), fresh: true });
    const reread = lane.submit(loggedBatch(log, 'stream', messages(buffer.keys, 'b', 1)));
    await Promise.all([fresh.buffered, reread.buffered]);
    assert.deepEqual(lines(log, 'put'), ['put fresh a1', 'put b1']);
    await until('both produced', () => lines(log, 'produce').length === 2);
    sink.reportAll();
    await Promise.all([fresh.settled, reread.settled]);
  });
});
