import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { Message } from '@confluentinc/kafka-javascript';
import { ReactiveKafkaProducer, SyncEngine } from '../../src/index.js';
import { KeyFormat } from '../../src/buffer/key-format.js';
import { TargetBuffer } from '../../src/buffer/store.js';
import { silentLogger } from '../../src/observability/logger.js';
import type { RedisConnection } from '../../src/redis/client.js';
import { sleep } from '../../src/util/retry.js';
import { waitFor } from '../helpers/daemon.js';
import { consume, ensureStack, header, redis, stackConfig, uid } from '../helpers/real-stack.js';

describe('end to end through the daemon loops', () => {
  const sources = new Map<number, RedisConnection>();
  let target: RedisConnection;
  before(async () => {
    await ensureStack();
    for (const db of [1, 2, 3]) sources.set(db, await redis('source', db));
    target = await redis('target');
  });
  after(async () => {
    for (const c of sources.values()) await c.close();
    await target.close();
  });

  it('delivers 10,000 entries from 50 streams in 3 DBs to the topics their pattern maps to, then leaves nothing behind', async () => {
    const id = uid();
    const prefix = `e2e${id}:`;
    const devTopic = `dev-${id}`;
    const appTopic = `app-${id}`;
    const streams: { db: number; name: string; topic: string }[] = [];
    for (let i = 0; i < 50; i += 1) {
      const db = 1 + (i % 3);
      if (i % 2 === 0) streams.push({ db, name: `device:${id}-${i}:stream`, topic: devTopic });
      else streams.push({ db, name: `app-${id}-${i}-stream`, topic: appTopic });
    }
    const writes: Promise<unknown>[] = [];
    for (let n = 0; n < 10_000; n += 1) {
      const s = streams[n % 50]!;
      writes.push(sources.get(s.db)!.send(['XADD', s.name, '*', 'device_id', `${s.name}#${n % 4}`, 'n', String(n)]));
    }
    await Promise.all(writes);
    const cfg = stackConfig({
      TARGET_REDIS_KEY_PREFIX: prefix,
      SOURCE_REDIS_DB_SEARCH_RANGE: '1-3',
      STREAM_AUTO_DISCOVERY: 'true',
      STREAM_DISCOVERY_INTERVAL: '1',
      STREAM_DISCOVERY_PATTERNS: `device:${id}-*:stream,app-${id}-*-stream`,
      STREAM_TARGET_TOPIC_MAP: JSON.stringify({ [`device:${id}-*`]: devTopic, [`app-${id}-*`]: appTopic }),
      KAFKA_TOPIC: `unused-${id}`,
      SOURCE_BLOCK_MS: '100',
      SOURCE_CONSUMER_NAME: `c-${id}`,
      // Many small batches with several in progress at once: order must hold across them.
      SOURCE_BATCH_SIZE: '200',
      SOURCE_READ_AHEAD_BATCHES: '4',
      // Short reads (50 streams, 200 per read) pause before the next read: order still holds.
      SOURCE_READ_LINGER_MS: '5',
    });
    const engine = new SyncEngine(cfg, silentLogger);
    await engine.start();
    engine.runForever();
    try {
      await waitFor(
        'source streams to drain',
        async () => {
          const lens = await Promise.all(streams.map((s) => sources.get(s.db)!.send(['XLEN', s.name])));
          return lens.every((l) => Number(l) === 0);
        },
        90_000,
      );
    } finally {
      await engine.stop();
    }
    assert.equal(Number(await target.send(['SCARD', `${prefix}unsynced_keys_set`])), 0);
    const records = await consume([devTopic, appTopic], (all) => all.length >= 10_000);
    assert.equal(records.length, 10_000);
    const ids = new Set(records.map((r) => header(r, 'rks-id')));
    assert.equal(ids.size, 10_000, 'no duplicates');
    const byStream = new Map(streams.map((s) => [s.name, s]));
    const lastN = new Map<string, number>();
    for (const r of records) {
      const env = JSON.parse(String(r.value)) as {
        stream: string;
        db: number;
        id: string;
        fields: Record<string, string>;
      };
      const s = byStream.get(env.stream);
      assert.ok(s, `record from a known stream (${env.stream})`);
      assert.equal(r.topic, s.topic);
      assert.equal(env.db, s.db);
      assert.equal(String(r.key), env.fields.device_id);
      assert.equal(header(r, 'rks-stream'), env.stream);
      assert.equal(header(r, 'rks-db'), String(env.db));
      assert.equal(header(r, 'rks-entry-id'), env.id);
      const key = String(r.key);
      const n = Number(env.fields.n);
      assert.ok((lastN.get(key) ?? -1) < n, `per-device order kept for ${key}`);
      lastN.set(key, n);
    }
    const sample = header(records[0]!, 'rks-buffer-key')!;
    const ttl = Number(await target.send(['TTL', sample]));
    assert.ok(ttl > 0 && ttl <= 3600, `a synced message carries TARGET_REDIS_TIME_TO_LIVE (ttl ${ttl})`);
    const marker = new KeyFormat(prefix).marker(sample);
    assert.equal(Number(await target.send(['SISMEMBER', marker.set, marker.member])), 1, 'its marker is written');
    const markerTtl = Number(await target.send(['TTL', marker.set]));
    assert.ok(markerTtl > 3600 && markerTtl <= 604800, `its marker carries TARGET_REDIS_SYNC_TTL (ttl ${markerTtl})`);
  });

  it('shares the streams between two instances of one consumer group without duplicates', async () => {
    const id = uid();
    const prefix = `two${id}:`;
    const topic = `two-${id}`;
    const names = Array.from({ length: 10 }, (_, i) => `pair-${id}-${i}-stream`);
    const src = sources.get(1)!;
    await Promise.all(
      Array.from({ length: 4000 }, (_, n) =>
        src.send(['XADD', names[n % 10]!, '*', 'device_id', `d${n % 10}`, 'n', String(n)]),
      ),
    );
    const mk = (name: string): SyncEngine =>
      new SyncEngine(
        stackConfig({
          TARGET_REDIS_KEY_PREFIX: prefix,
          SOURCE_REDIS_DB_SEARCH_RANGE: '1',
          STREAM_AUTO_DISCOVERY: 'true',
          STREAM_DISCOVERY_INTERVAL: '1',
          STREAM_DISCOVERY_PATTERNS: `pair-${id}-*`,
          KAFKA_TOPIC: topic,
          SOURCE_BLOCK_MS: '100',
          SOURCE_BATCH_SIZE: '50',
          SOURCE_CONSUMER_NAME: name,
        }),
        silentLogger,
      );
    const a = mk('a');
    const b = mk('b');
    await Promise.all([a.start(), b.start()]);
    a.runForever();
    b.runForever();
    try {
      await waitFor(
        'both instances to drain the streams',
        async () => {
          const lens = await Promise.all(names.map((n) => src.send(['XLEN', n])));
          return lens.every((l) => Number(l) === 0);
        },
        90_000,
      );
    } finally {
      await Promise.all([a.stop(), b.stop()]);
    }
    assert.ok(a.pipe.stats.delivered > 0, 'instance a delivered some');
    assert.ok(b.pipe.stats.delivered > 0, 'instance b delivered some');
    assert.equal(a.pipe.stats.delivered + b.pipe.stats.delivered, 4000);
    const records = await consume([topic], (all) => all.length >= 4000);
    assert.equal(new Set(records.map((r) => header(r, 'rks-id'))).size, 4000);
  });

  it('a short read waits SOURCE_READ_LINGER_MS only when entries come fast: entries 550 ms apart are not held for a 1 s linger', async () => {
    const id = uid();
    const stream = `slow-${id}-stream`;
    const src = sources.get(2)!;
    await src.send(['XADD', stream, '*', 'device_id', 'd', 'n', '0']);
    const engine = new SyncEngine(
      stackConfig({
        TARGET_REDIS_KEY_PREFIX: `slow${id}:`,
        SOURCE_REDIS_DB_SEARCH_RANGE: '2',
        STREAM_AUTO_DISCOVERY: 'true',
        STREAM_DISCOVERY_INTERVAL: '1',
        STREAM_DISCOVERY_PATTERNS: stream,
        KAFKA_TOPIC: `slow-${id}`,
        SOURCE_BLOCK_MS: '5000',
        SOURCE_CONSUMER_NAME: `c-${id}`,
        SOURCE_READ_LINGER_MS: '1000',
      }),
      silentLogger,
    );
    await engine.start();
    engine.runForever();
    const buffered = (n: number) => async (): Promise<boolean> => engine.pipe.stats.buffered >= n;
    try {
      await waitFor('the first entry to be buffered', buffered(1), 30_000);
      // The first read may linger (no earlier read to tell the rate): let that wait end.
      await sleep(1_200);
      const took: number[] = [];
      for (let n = 1; n <= 3; n += 1) {
        const t0 = Date.now();
        await src.send(['XADD', stream, '*', 'device_id', 'd', 'n', String(n)]);
        await waitFor(`entry ${n} to be buffered`, buffered(1 + n), 10_000, 5);
        took.push(Date.now() - t0);
        await sleep(550);
      }
      // One entry per 0.55 s would gather 1.8 in a 1 s linger (< 2): no wait. Held by it, entries
      // 2 and 3 would wait ~0.45 s (1 s after the read that took the entry before them).
      for (const [i, ms] of took.entries()) assert.ok(ms < 300, `entry ${i + 1} buffered in ${ms} ms`);
      await waitFor('all four to be delivered', async () => engine.pipe.stats.delivered >= 4, 30_000);
    } finally {
      await engine.stop();
    }
  });
});

describe('the library API', () => {
  let source: RedisConnection;
  let target: RedisConnection;
  before(async () => {
    await ensureStack();
    source = await redis('source', 4);
    target = await redis('target');
  });
  after(async () => {
    await source.close();
    await target.close();
  });

  it('carries binary field values byte for byte', async () => {
    const id = uid();
    const topic = `bin-${id}`;
    const blob = Buffer.from(Array.from({ length: 256 }, (_, i) => i));
    const stream = `bin-${id}-stream`;
    await source.send(['XADD', stream, '*', 'device_id', 'x', 'blob', blob, 'empty', '']);
    const p = new ReactiveKafkaProducer({
      config: stackConfig({ TARGET_REDIS_KEY_PREFIX: `b${id}:`, KAFKA_TOPIC: topic }),
      logger: silentLogger,
    });
    await p.start();
    try {
      assert.equal(await p.processSourceStreams({ streamPattern: stream, sourceDb: 4 }), 1);
    } finally {
      await p.stop();
    }
    const [rec] = await consume([topic], (all) => all.length >= 1);
    const env = JSON.parse(String(rec!.value)) as { fields: Record<string, string>; base64: string[] };
    assert.deepEqual(env.base64, ['blob']);
    assert.deepEqual(Buffer.from(env.fields.blob!, 'base64'), blob);
    assert.equal(env.fields.empty, '');
  });

  it('sendMessage buffers, sends and marks a direct message synced, returning its key', async () => {
    const id = uid();
    const topic = `direct-${id}`;
    const prefix = `d${id}:`;
    const body = Buffer.from([0, 1, 2, 0xff]);
    const p = new ReactiveKafkaProducer({
      config: stackConfig({ TARGET_REDIS_KEY_PREFIX: prefix }),
      logger: silentLogger,
    });
    await p.start();
    let key: string;
    try {
      key = await p.sendMessage(topic, body, 'device-7');
    } finally {
      await p.stop();
    }
    assert.ok(key.startsWith(`${prefix}msg:${topic}:`));
    assert.ok(key.endsWith(':d:device-7'));
    assert.ok(Number(await target.send(['TTL', key])) > 0, 'the message has its TTL once synced');
    const marker = new KeyFormat(prefix).marker(key);
    assert.equal(Number(await target.send(['SISMEMBER', marker.set, marker.member])), 1, 'its marker is written');
    const [rec] = await consume([topic], (all) => all.length >= 1);
    assert.deepEqual(rec!.value, body);
    assert.equal(String(rec!.key), 'device-7');
    assert.equal(header(rec!, 'rks-buffer-key'), key);
  });

  it('after a crash, start() rebuilds the unsynced set from the target and syncUnsyncedKeys sends what was never confirmed', async () => {
    const id = uid();
    const prefix = `r${id}:`;
    const topic = `recover-${id}`;
    const cfg = stackConfig({ TARGET_REDIS_KEY_PREFIX: prefix, KAFKA_TOPIC: topic });
    // A crashed instance: messages were buffered but never sent, and the set itself was lost.
    const buffer = new TargetBuffer([target], cfg.target);
    const keys = Array.from({ length: 300 }, (_, i) =>
      buffer.keys.messageKey({ topic, id: `${i}-0`, origin: { kind: 'direct', deviceId: `dev${i % 3}` } }),
    );
    await buffer.put(
      keys.map((key, i) => ({
        key,
        topic,
        kafkaKey: Buffer.from(`dev${i % 3}`),
        payload: Buffer.from(`payload-${i}`),
      })),
    );
    // One of them had been synced already: it must not be sent again.
    await buffer.markSynced([keys[0]!]);
    await target.send(['DEL', buffer.keys.unsyncedSet]);
    for (const k of keys)
      assert.equal(Number(await target.send(['TTL', k])) > 0, k === keys[0], 'only synced messages have a TTL');

    const p = new ReactiveKafkaProducer({ config: cfg, logger: silentLogger });
    await p.start();
    try {
      assert.equal(
        Number(await target.send(['SCARD', buffer.keys.unsyncedSet])),
        299,
        'recovery found the 299 unsynced keys',
      );
      assert.equal(await p.syncUnsyncedKeys({ topic }), 299);
    } finally {
      await p.stop();
    }
    assert.equal(Number(await target.send(['SCARD', buffer.keys.unsyncedSet])), 0);
    const records: Message[] = await consume([topic], (all) => all.length >= 299, 20_000);
    assert.equal(records.length, 299);
    assert.ok(!records.some((r) => String(r.value) === 'payload-0'));
  });

  it('re-reads its own pending entries after a restart and does not resend what Kafka already has', async () => {
    const id = uid();
    const topic = `pending-${id}`;
    const stream = `pend-${id}-stream`;
    const prefix = `pe${id}:`;
    await source.send(['XGROUP', 'CREATE', stream, 'redis-kafka-sync', '0', 'MKSTREAM']);
    for (let i = 0; i < 20; i += 1) await source.send(['XADD', stream, '*', 'device_id', 'd', 'n', String(i)]);
    // A crashed consumer "c1" read all 20 and never acknowledged them.
    await source.send(['XREADGROUP', 'GROUP', 'redis-kafka-sync', `c1-${id}`, 'COUNT', '100', 'STREAMS', stream, '>']);
    const cfg = stackConfig({ TARGET_REDIS_KEY_PREFIX: prefix, KAFKA_TOPIC: topic, SOURCE_CONSUMER_NAME: `c1-${id}` });
    const p = new ReactiveKafkaProducer({ config: cfg, logger: silentLogger });
    await p.start();
    try {
      assert.equal(await p.processSourceStreams({ streamPattern: stream, sourceDb: 4 }), 20);
    } finally {
      await p.stop();
    }
    assert.equal(Number(await source.send(['XLEN', stream])), 0);
    const pending = (await source.send(['XPENDING', stream, 'redis-kafka-sync'])) as unknown[];
    assert.equal(Number(pending[0]), 0);
    const records = await consume([topic], (all) => all.length >= 20, 20_000);
    assert.equal(records.length, 20);
  });
});
