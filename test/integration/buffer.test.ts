/**
 * The target buffer against a real Redis: both write paths (fresh: MULTI/MSET/SADD/EXEC; others:
 * put_batch.lua with the marker check), the versioned value layout (version 1 hashes written by
 * older releases are still read, recovered and marked), and the guarantees of the write: a chunk
 * refused under maxmemory writes nothing and leaves the connection usable, a chunk applied in
 * part and written again ends up whole, and half-written state is found by recovery.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { TargetBuffer, type OutgoingMessage } from '../../src/buffer/store.js';
import { decodeMessage, encodeMessage, LAYOUT_VERSION } from '../../src/buffer/message-layout.js';
import { BufferFullError } from '../../src/errors.js';
import type { RedisConnection } from '../../src/redis/client.js';
import { ensureStack, redis, stackConfig, uid } from '../helpers/real-stack.js';

describe('target buffer', () => {
  let target: RedisConnection;
  before(async () => {
    await ensureStack();
    target = await redis('target');
  });
  after(async () => {
    await target.close();
  });

  function setup(): { buffer: TargetBuffer; messages: (n: number, from?: number) => OutgoingMessage[] } {
    const id = uid();
    const cfg = stackConfig({ TARGET_REDIS_KEY_PREFIX: `buf${id}:` });
    const buffer = new TargetBuffer([target], cfg.target);
    const messages = (n: number, from = 0): OutgoingMessage[] =>
      Array.from({ length: n }, (_, j) => {
        const i = from + j;
        return {
          key: buffer.keys.messageKey({
            topic: `t-${id}`,
            id: `${i}-0`,
            origin: { kind: 'stream', db: 0, stream: 's' },
          }),
          topic: `t-${id}`,
          kafkaKey: Buffer.from(`dev-${i % 7}`),
          payload: Buffer.from([0, 255, 10, 13, ...Buffer.from(`payload ${i} é`)]),
        };
      });
    return { buffer, messages };
  }

  const members = async (b: TargetBuffer): Promise<string[]> => (await b.scanUnsynced('0', 100_000)).keys.sort();

  async function assertStored(b: TargetBuffer, ms: readonly OutgoingMessage[]): Promise<void> {
    const stored = await b.fetch(ms.map((m) => m.key));
    ms.forEach((m, i) => {
      const s = stored[i];
      assert.ok(s, `${m.key} is stored`);
      assert.equal(s.topic, m.topic);
      assert.deepEqual(s.kafkaKey, m.kafkaKey);
      assert.deepEqual(s.payload, m.payload);
      assert.ok(Math.abs(s.createdMs - Date.now()) < 60_000, 'created is the write time');
    });
    for (const m of ms) assert.equal(Number(await target.send(['PTTL', m.key])), -1, 'no TTL until synced');
  }

  it('fresh: writes every message as a version-2 String without TTL, in the unsynced set, status 0', async () => {
    const { buffer, messages } = setup();
    const ms = messages(2500); // three chunks
    assert.deepEqual(
      await buffer.put(ms, target, { fresh: true }),
      ms.map(() => 0),
    );
    assert.deepEqual(await members(buffer), ms.map((m) => m.key).sort());
    await assertStored(buffer, ms);
    const raw = await target.send(['GET', ms[0]!.key]);
    assert.ok(Buffer.isBuffer(raw) && raw[0] === LAYOUT_VERSION, 'layout version byte');
  });

  it('not fresh: leaves messages with a sync marker alone (status 2) and writes the others', async () => {
    const { buffer, messages } = setup();
    const ms = messages(10);
    await buffer.put(ms.slice(0, 4), target, { fresh: true });
    await buffer.markSynced(
      ms.slice(0, 2).map((m) => m.key),
      target,
    );
    const ttl = Number(await target.send(['TTL', ms[0]!.key]));
    assert.ok(ttl > 0, 'synced messages have their TTL');
    assert.deepEqual(await buffer.put(ms), [2, 2, 0, 0, 0, 0, 0, 0, 0, 0]);
    assert.equal(Number(await target.send(['TTL', ms[0]!.key])), ttl, 'a synced message is not rewritten');
    assert.deepEqual(
      await members(buffer),
      ms
        .slice(2)
        .map((m) => m.key)
        .sort(),
    );
    await assertStored(buffer, ms.slice(2));
  });

  it('reads, recovers and marks version-1 hashes written by an older release', async () => {
    const { buffer, messages } = setup();
    const [old, synced, fresh] = messages(3);
    for (const m of [old!, synced!])
      await target.send([
        'HSET',
        m.key,
        'topic',
        m.topic,
        'key',
        m.kafkaKey,
        'payload',
        m.payload,
        'created',
        '1700000000123',
      ]);
    // The older release had marked this one: marker and TTL.
    await target.send(['SET', buffer.keys.markerKey(synced!.key), '1', 'EX', '3600']);
    await target.send(['EXPIRE', synced!.key, '3600']);
    await buffer.put([fresh!], target, { fresh: true });
    await target.send(['DEL', buffer.keys.unsyncedSet]); // the set was lost
    assert.equal(await buffer.recover(), 2, 'the unsynced v1 hash and the v2 string');
    assert.deepEqual(await members(buffer), [old!.key, fresh!.key].sort());
    const [a, b, c] = await buffer.fetch([old!.key, synced!.key, fresh!.key]);
    assert.deepEqual(a, { ...old!, createdMs: 1_700_000_000_123, parts: buffer.keys.parse(old!.key) });
    assert.equal(b?.topic, synced!.topic, 'a synced v1 hash is still readable');
    assert.deepEqual(c?.payload, fresh!.payload);
    await buffer.markSynced([old!.key]);
    assert.ok(Number(await target.send(['TTL', old!.key])) > 0);
    assert.equal(Number(await target.send(['EXISTS', buffer.keys.markerKey(old!.key)])), 1);
    assert.deepEqual(await members(buffer), [fresh!.key]);
    // Written again (re-read), a v1 message becomes a v2 one.
    await target.send([
      'HSET',
      old!.key,
      'topic',
      old!.topic,
      'key',
      old!.kafkaKey,
      'payload',
      old!.payload,
      'created',
      '1',
    ]);
    await target.send(['DEL', buffer.keys.markerKey(old!.key)]);
    assert.deepEqual(await buffer.put([old!]), [0]);
    assert.equal(String(await target.send(['TYPE', old!.key])), 'string');
  });

  it('a value of an unknown layout version is an error, never taken for a vanished message', async () => {
    const { buffer, messages } = setup();
    const [m] = messages(1);
    const v = encodeMessage(m!.topic, m!.kafkaKey, m!.payload, 1);
    v[0] = 9;
    await target.send(['SET', m!.key, v]);
    await assert.rejects(buffer.fetch([m!.key]), /layout version 9 .*newer/);
    assert.equal(decodeMessage(m!.key, null), undefined);
  });

  for (const fresh of [true, false]) {
    it(`${fresh ? 'fresh' : 'not fresh'}: a chunk refused under maxmemory writes nothing, and the buffer works again once memory frees`, async () => {
      const { buffer, messages } = setup();
      const ms = messages(800);
      const [pre] = messages(1, 10_000);
      await buffer.put([pre!], target, { fresh: true });
      const before = await members(buffer);
      const used = Number(/used_memory:(\d+)/.exec(String(await target.send(['INFO', 'memory'])))?.[1]);
      await target.send(['CONFIG', 'SET', 'maxmemory-policy', 'noeviction']);
      await target.send(['CONFIG', 'SET', 'maxmemory', String(used + 64 * 1024)]);
      try {
        // Fill to the limit so that the chunk is refused (maxmemory is checked before a command runs).
        const filler = `${buffer.keys.prefix}filler`;
        for (let i = 0; i < 1000; i += 1) {
          try {
            await target.send(['SET', `${filler}${i}`, Buffer.alloc(4096)]);
          } catch {
            break;
          }
        }
        await assert.rejects(buffer.put(ms, target, { fresh }), BufferFullError);
        for (const m of ms.slice(0, 50))
          assert.equal(Number(await target.send(['EXISTS', m.key])), 0, 'nothing written');
        assert.deepEqual(await members(buffer), before, 'the set is unchanged');
        // Marking works while full (it frees memory through TTLs).
        await buffer.markSynced([pre!.key], target);
        assert.deepEqual(await members(buffer), []);
      } finally {
        await target.send(['CONFIG', 'SET', 'maxmemory', '0']);
        await target.send(['DEL', ...Array.from({ length: 1000 }, (_, i) => `${buffer.keys.prefix}filler${i}`)]);
      }
      assert.deepEqual(
        await buffer.put(ms, target, { fresh }),
        ms.map(() => 0),
        'the same connection writes again',
      );
      await assertStored(buffer, ms);
      assert.ok(Number(await target.send(['TTL', pre!.key])) > 0, 'marked while full');
    });
  }

  it('a chunk applied in part (a message written, the set not updated) and written again ends up whole', async () => {
    const { buffer, messages } = setup();
    const ms = messages(20);
    // What a connection lost between MULTI and EXEC can leave: some values written, no SADD.
    await target.send(['SET', ms[3]!.key, encodeMessage(ms[3]!.topic, ms[3]!.kafkaKey, ms[3]!.payload, 1)]);
    await target.send(['SET', ms[4]!.key, encodeMessage('other', Buffer.from('x'), Buffer.from('stale'), 1)]);
    await target.send(['SADD', buffer.keys.unsyncedSet, ms[5]!.key]);
    await buffer.put(ms, target, { fresh: true });
    assert.deepEqual(await members(buffer), ms.map((m) => m.key).sort());
    await assertStored(buffer, ms);
    await buffer.put(ms, target, { fresh: true });
    await buffer.put(ms);
    assert.deepEqual(await members(buffer), ms.map((m) => m.key).sort(), 'written twice: same set');
    await assertStored(buffer, ms);
  });

  it('recovery finds what a crash left half-written and nothing that was synced', async () => {
    const { buffer, messages } = setup();
    const ms = messages(12_000); // several SCAN pages and script calls
    await buffer.put(ms, target, { fresh: true });
    await buffer.markSynced(ms.slice(0, 3000).map((m) => m.key));
    // A message written without its SADD (crash in between, or a lost connection): not in the set.
    const [orphan] = messages(1, 50_000);
    await target.send(['SET', orphan!.key, encodeMessage(orphan!.topic, orphan!.kafkaKey, orphan!.payload, 1)]);
    await target.send(['DEL', buffer.keys.unsyncedSet]);
    assert.equal(await buffer.recover(1000), 9001);
    const expected = [...ms.slice(3000), orphan!].map((m) => m.key).sort();
    assert.deepEqual(await members(buffer), expected);
    // Running it again (a restart during recovery) changes nothing.
    assert.equal(await buffer.recover(), 9001);
    assert.deepEqual(await members(buffer), expected);
  });
});
