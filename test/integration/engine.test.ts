import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { ReactiveKafkaProducer } from '../../src/index.js';
import { silentLogger } from '../../src/observability/logger.js';
import type { RedisConnection } from '../../src/redis/client.js';
import { consume, ensureStack, header, redis, stackConfig, uid } from '../helpers/real-stack.js';

describe('the sync engine against the real stack', () => {
  let source: RedisConnection;
  let target: RedisConnection;
  before(async () => {
    await ensureStack();
    source = await redis('source');
    target = await redis('target');
  });
  after(async () => {
    await source.close();
    await target.close();
  });

  it('moves stream entries to Kafka with envelope, key and headers, then empties the source and the unsynced set', async () => {
    const id = uid();
    const topic = `t-${id}`;
    const prefix = `p${id}:`;
    const stream = `dev-${id}-stream`;
    for (let i = 0; i < 50; i += 1)
      await source.send(['XADD', stream, '*', 'device_id', `d${i % 3}`, 'seq', String(i)]);
    const p = new ReactiveKafkaProducer({
      config: stackConfig({ TARGET_REDIS_KEY_PREFIX: prefix, KAFKA_TOPIC: topic, SOURCE_REDIS_DB_SEARCH_RANGE: '0' }),
      logger: silentLogger,
    });
    await p.start();
    try {
      const n = await p.processSourceStreams({ streamPattern: `dev-${id}-*`, sourceDb: 0 });
      assert.equal(n, 50);
    } finally {
      await p.stop();
    }
    const records = await consume([topic], (all) => all.length >= 50);
    assert.equal(records.length, 50);
    const first = records.find((r) => header(r, 'rks-stream') === stream);
    assert.ok(first);
    const env = JSON.parse(String(first.value)) as {
      stream: string;
      db: number;
      id: string;
      fields: Record<string, string>;
    };
    assert.equal(env.stream, stream);
    assert.equal(env.db, 0);
    assert.equal(String(first.key), env.fields.device_id);
    assert.equal(header(first, 'rks-entry-id'), env.id);
    // per-device order kept
    for (const dev of ['d0', 'd1', 'd2']) {
      const seqs = records
        .filter((r) => String(r.key) === dev)
        .map((r) => Number((JSON.parse(String(r.value)) as { fields: { seq: string } }).fields.seq));
      assert.deepEqual(
        seqs,
        [...seqs].sort((a, b) => a - b),
      );
    }
    assert.equal(Number(await source.send(['XLEN', stream])), 0);
    assert.equal(Number(await target.send(['SCARD', `${prefix}unsynced_keys_set`])), 0);
    const key = header(first, 'rks-buffer-key') as string;
    const ttl = Number(await target.send(['TTL', key]));
    assert.ok(ttl > 0 && ttl <= 3600, `synced message has its TTL (got ${ttl})`);
    await source.send(['DEL', stream]);
  });

  it('with KAFKA_RECORD_HEADERS=id sends rks-id alone, the same id as with every header', async () => {
    const id = uid();
    const topic = `t-${id}`;
    const prefix = `p${id}:`;
    const stream = `hdr-${id}-stream`;
    for (let i = 0; i < 5; i += 1) await source.send(['XADD', stream, '*', 'device_id', 'd1', 'seq', String(i)]);
    const p = new ReactiveKafkaProducer({
      config: stackConfig({
        TARGET_REDIS_KEY_PREFIX: prefix,
        KAFKA_TOPIC: topic,
        SOURCE_REDIS_DB_SEARCH_RANGE: '0',
        KAFKA_RECORD_HEADERS: 'id',
      }),
      logger: silentLogger,
    });
    await p.start();
    try {
      assert.equal(await p.processSourceStreams({ streamPattern: `hdr-${id}-*`, sourceDb: 0 }), 5);
    } finally {
      await p.stop();
    }
    const records = await consume([topic], (all) => all.length >= 5);
    for (const r of records) {
      assert.deepEqual(
        (r.headers ?? []).map((h) => Object.keys(h)[0]),
        ['rks-id'],
      );
      const env = JSON.parse(String(r.value)) as { id: string };
      assert.equal(header(r, 'rks-id'), `msg:${topic}:${env.id}:s0:${stream}`);
    }
    await source.send(['DEL', stream]);
  });
});
