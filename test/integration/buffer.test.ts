/**
 * The target buffer against a real Redis: both write paths (fresh: MULTI/MSET/SADD/EXEC; others:
 * put_batch.lua with the marker check), the versioned value layout (version 1 hashes written by
 * older releases are still read, recovered and marked), the marker sets (layout 2; layout-1
 * markers of older releases still honoured), and the guarantees of the write: a chunk
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

  it('marks into one marker set per topic, origin and 10-minute id window, with the sync TTL renewed per batch', async () => {
    const { buffer } = setup();
    const id = uid();
    const w = 2_888_888; // 10-minute windows since the epoch
    const key = (ms: number, seq: number, stream: string): string =>
      buffer.keys.messageKey({ topic: `t-${id}`, id: `${ms}-${seq}`, origin: { kind: 'stream', db: 3, stream } });
    const t0 = w * 600_000;
    const keys = [key(t0, 0, 'a:1'), key(t0 + 599_999, 1, 'a:1'), key(t0 + 600_000, 0, 'a:1'), key(t0, 0, 'b')];
    const ms = keys.map((k) => ({ key: k, topic: `t-${id}`, kafkaKey: Buffer.from('k'), payload: Buffer.from('p') }));
    await buffer.put(ms, target, { fresh: true });
    await buffer.markSynced(keys.slice(0, 3), target);
    const set = (m: number, stream: string): string => `${buffer.keys.prefix}synced:t-${id}:w${m}:s3:${stream}`;
    assert.deepEqual(((await target.send(['SMEMBERS', set(w, 'a:1')])) as Buffer[]).map(String).sort(), [
      `${t0}-0`,
      `${t0 + 599_999}-1`,
    ]);
    assert.deepEqual(((await target.send(['SMEMBERS', set(w + 1, 'a:1')])) as Buffer[]).map(String), [
      `${t0 + 600_000}-0`,
    ]);
    assert.equal(Number(await target.send(['EXISTS', set(w, 'b')])), 0, 'an unmarked message has no marker');
    const syncTtl = Number(await target.send(['TTL', set(w, 'a:1')]));
    assert.ok(syncTtl > 604_000 && syncTtl <= 604_800, `the set lives TARGET_REDIS_SYNC_TTL (${syncTtl})`);
    for (const k of keys.slice(0, 3)) {
      const ttl = Number(await target.send(['TTL', k]));
      assert.ok(ttl > 3500 && ttl <= 3600, 'a marked message lives TARGET_REDIS_TIME_TO_LIVE');
      assert.equal(Number(await target.send(['EXISTS', buffer.keys.legacyMarkerKey(k)])), 0, 'no layout-1 marker');
    }
    assert.deepEqual(await members(buffer), [keys[3]]);
    // A later batch into the same set renews its TTL (every marker lives at least SYNC_TTL).
    await target.send(['EXPIRE', set(w, 'b'), '10']);
    await target.send(['SADD', set(w, 'b'), 'other']);
    await target.send(['EXPIRE', set(w, 'b'), '10']);
    await buffer.markSynced([keys[3] as string], target);
    assert.ok(Number(await target.send(['TTL', set(w, 'b')])) > 604_000, 'renewed');
    assert.deepEqual(await buffer.synced([...keys, key(t0, 5, 'a:1')]), [true, true, true, true, false]);
    // Devices and keys of a topic share one set per window; the member names the device or key.
    const other = [
      buffer.keys.messageKey({ topic: `t-${id}`, id: `${t0}-1-aa`, origin: { kind: 'direct', deviceId: 'dev:1' } }),
      buffer.keys.messageKey({ topic: `t-${id}`, id: `${t0}-2-aa`, origin: { kind: 'direct', deviceId: 'dev:2' } }),
      buffer.keys.messageKey({ topic: `t-${id}`, id: `${t0}-3`, origin: { kind: 'key', db: 4, key: 'user:9' } }),
    ];
    await buffer.markSynced(other, target);
    const sorted = async (k: string): Promise<string[]> =>
      ((await target.send(['SMEMBERS', k])) as Buffer[]).map(String).sort();
    const base = `${buffer.keys.prefix}synced:t-${id}:w${w}`;
    assert.deepEqual(await sorted(`${base}:d`), [`${t0}-1-aa:dev:1`, `${t0}-2-aa:dev:2`]);
    assert.deepEqual(await sorted(`${base}:k4`), [`${t0}-3:user:9`]);
    assert.deepEqual(await buffer.synced(other), [true, true, true]);
  });

  it('honours layout-1 markers of an older release: put skips, synced and recovery see them', async () => {
    const { buffer, messages } = setup();
    const [legacy, current, none] = messages(3, 100);
    await buffer.put([legacy!, current!, none!], target, { fresh: true });
    // The older release marked `legacy`: a String marker per message and the message's TTL.
    await target.send(['SET', buffer.keys.legacyMarkerKey(legacy!.key), '1', 'EX', '3600']);
    await target.send(['EXPIRE', legacy!.key, '3600']);
    await target.send(['SREM', buffer.keys.unsyncedSet, legacy!.key]);
    await buffer.markSynced([current!.key], target);
    assert.deepEqual(await buffer.synced([legacy!.key, current!.key, none!.key]), [true, true, false]);
    await target.send(['DEL', buffer.keys.unsyncedSet, legacy!.key, current!.key]); // both expired meanwhile
    assert.deepEqual(await buffer.put([legacy!, current!, none!]), [2, 2, 0], 'a re-read of synced entries');
    assert.equal(Number(await target.send(['EXISTS', legacy!.key, current!.key])), 0, 'not written again');
    await target.send(['DEL', buffer.keys.unsyncedSet]);
    assert.equal(await buffer.recover(), 1);
    assert.deepEqual(await members(buffer), [none!.key]);
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
    // The older release had marked this one: a layout-1 marker and the TTL.
    await target.send(['SET', buffer.keys.legacyMarkerKey(synced!.key), '1', 'EX', '3600']);
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
    const marker = buffer.keys.marker(old!.key);
    assert.equal(Number(await target.send(['SISMEMBER', marker.set, marker.member])), 1);
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
    await target.send(['SREM', marker.set, marker.member]);
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

  it('recovery does not fail on a foreign key under msg: that is not of the key format', async () => {
    const { buffer, messages } = setup();
    const [m] = messages(1);
    await buffer.put([m!], target, { fresh: true });
    const foreign = `${buffer.keys.prefix}msg:hello`;
    await target.send(['SET', foreign, 'world']);
    await target.send(['DEL', buffer.keys.unsyncedSet]);
    for (let i = 0; i < 20; i += 1) await target.send(['SET', `${buffer.keys.prefix}msg:x${i}`, 'y', 'EX', '60']);
    assert.equal(await buffer.recover(1000), 2, 'the message and the foreign key without a TTL');
    assert.deepEqual(await members(buffer), [foreign, m!.key].sort());
    await buffer.markSynced([foreign], target);
    assert.ok(Number(await target.send(['TTL', foreign])) > 0);
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
