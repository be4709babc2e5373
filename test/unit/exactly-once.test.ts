/**
 * The progress check of exactly-once delivery (sink/progress.ts, engine/exactly-once.ts) on
 * fakes: what a progress record holds, which records count, and that after a crash only what no
 * committed transaction holds is sent again. The transactional producer itself runs against the
 * real broker (test/integration/exactly-once.test.ts, the chaos suite's exactly-once column).
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { applyProgress } from '../../src/engine/exactly-once.js';
import {
  decodeProgress,
  encodeProgress,
  foldProgress,
  progressRecords,
  transactionalId,
  writerKey,
  type ProgressRecord,
} from '../../src/sink/progress.js';
import { loggedBatch, makePipeline, messages, testConfig, until } from '../helpers/fakes.js';

const base = { v: 1 as const, instance: 'edge-1', seq: 7, streams: { '0/s': '5-0' }, atMs: 1 };
const rec = (instance: string, seq: number, keys: string[], part = 0, parts = 1): ProgressRecord => ({
  ...base,
  instance,
  seq,
  keys,
  part,
  parts,
});

describe('progress records', () => {
  test("split a transaction's keys into parts under the size limit, each key exactly once", () => {
    const keys = Array.from({ length: 1000 }, (_, i) => `msg:t:${i}-0:s:stream`);
    const parts = progressRecords(base, keys, 2000);
    assert.ok(parts.length > 5, `${parts.length} parts`);
    assert.deepEqual(
      parts.flatMap((p) => p.keys),
      keys,
    );
    for (const [i, p] of parts.entries()) {
      assert.equal(p.part, i);
      assert.equal(p.parts, parts.length);
      assert.equal(p.seq, 7);
      assert.ok(JSON.stringify(p.keys).length <= 2000 + 100, 'part within the limit');
    }
    assert.deepEqual(
      progressRecords(base, [], 2000).map((p) => p.keys),
      [[]],
      'a transaction without keys still writes one record (its seq)',
    );
  });

  test('round-trip through their encoding; anything else (a tombstone, a foreign writer) is ignored', () => {
    const r = rec('edge-1', 3, ['a', 'b']);
    assert.deepEqual(decodeProgress(encodeProgress(r)), r);
    assert.equal(decodeProgress(null), undefined);
    assert.equal(decodeProgress(Buffer.from('not json')), undefined);
    assert.equal(decodeProgress(Buffer.from('{"v":2,"instance":"x","seq":1,"keys":[]}')), undefined);
  });

  test('count, per instance, only the parts of its highest seq (older keys are marked already)', () => {
    const p = foldProgress([
      rec('edge-1', 1, ['old1']),
      rec('edge-2', 4, ['b1'], 0, 2),
      rec('edge-1', 2, ['new1'], 0, 2),
      rec('edge-2', 4, ['b2'], 1, 2),
      rec('edge-1', 2, ['new2'], 1, 2),
      rec('edge-1', 1, ['stale-replay']), // an older record read after a newer one (compaction)
    ]);
    assert.deepEqual(Object.fromEntries(p.seqs), { 'edge-1': 2, 'edge-2': 4 });
    assert.deepEqual([...p.keys].sort(), ['b1', 'b2', 'new1', 'new2']);
  });

  test('tell which process committed what: a commit of another process with the same name is not ours', () => {
    const p = foldProgress([
      { ...rec('edge-1', 5, ['a']), writer: 'w1' },
      { ...rec('edge-1', 6, ['b']), writer: 'w2' }, // a second process sharing the name
    ]);
    assert.equal(p.seqs.get('edge-1'), 6);
    assert.equal(p.committed.get(writerKey('edge-1', 'w1')), 5, 'w1 committed up to 5 only: its seq 6 did not commit');
    assert.equal(p.committed.get(writerKey('edge-1', 'w2')), 6);
    assert.equal(p.lastWriter.get('edge-1'), 'w2');
  });

  test('name a transactional.id per consumer group and instance', () => {
    assert.equal(transactionalId('g', 'edge-1'), 'redis-kafka-sync.g.edge-1');
    assert.notEqual(transactionalId('g', 'a'), transactionalId('h', 'a'));
  });
});

describe('the progress check on recovery', () => {
  test('after a crash: what committed transactions hold is acknowledged without being sent; only the rest is sent', async () => {
    const { pipeline, buffer, sink, log } = makePipeline();
    const ms = messages(buffer.keys, 'a', 4);
    const key = (i: number): string => (ms[i] as { key: string }).key;
    // The crashed instance committed a1 and a3 (listed in its latest progress records), never marked them.
    const listed = await applyProgress(buffer, foldProgress([rec('edge-1', 9, [key(0), key(2)])]));
    assert.equal(listed, 2);
    // The restarted reader re-reads its pending entries (not fresh: the marker check runs).
    const h = pipeline.lane('stream:db0').submit(loggedBatch(log, 'stream', ms));
    await until('the produce', () => log.some((l) => l.startsWith('produce')));
    sink.reportAll();
    await h.settled;
    assert.deepEqual(
      log.filter((l) => !l.startsWith('mark a1,a3')),
      ['put a1,a2,a3,a4', 'ack a1,a3', 'produce a2,a4', 'mark a2,a4', 'ack a2,a4'],
    );
    assert.deepEqual(sink.markedKeys, [key(1), key(3)], 'the sink is told what was marked, so it stops listing it');
  });

  test('without the check the same batch is sent whole (what the check prevents)', async () => {
    const { pipeline, buffer, sink, log } = makePipeline();
    const h = pipeline.lane('stream:db0').submit(loggedBatch(log, 'stream', messages(buffer.keys, 'a', 4)));
    await until('the produce', () => log.some((l) => l.startsWith('produce')));
    sink.reportAll();
    await h.settled;
    assert.ok(log.includes('produce a1,a2,a3,a4'));
  });
});

describe('KAFKA_EXACTLY_ONCE configuration', () => {
  test('requires SOURCE_CONSUMER_NAME (the transactional.id must survive restarts), naming it', () => {
    assert.throws(
      () => testConfig({ KAFKA_EXACTLY_ONCE: 'true' }),
      /SOURCE_CONSUMER_NAME: required when KAFKA_EXACTLY_ONCE=true/,
    );
    const cfg = testConfig({ KAFKA_EXACTLY_ONCE: 'true', SOURCE_CONSUMER_NAME: 'edge-1' });
    assert.equal(cfg.kafka.exactlyOnce, true);
    assert.equal(cfg.kafka.instance, 'edge-1');
    assert.equal(cfg.kafka.transactionIntervalMs, 100);
  });

  test('checks the progress topic name', () => {
    assert.throws(
      () => testConfig({ KAFKA_EXACTLY_ONCE: 'true', SOURCE_CONSUMER_NAME: 'e', KAFKA_PROGRESS_TOPIC: 'bad topic' }),
      /KAFKA_PROGRESS_TOPIC: "bad topic" is not a valid topic/,
    );
  });
});
