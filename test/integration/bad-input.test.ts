import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { once } from 'node:events';
import { promisify } from 'node:util';
import { after, before, describe, it } from 'node:test';
import { ReactiveKafkaProducer, SyncEngine } from '../../src/index.js';
import { silentLogger } from '../../src/observability/logger.js';
import type { RedisConnection } from '../../src/redis/client.js';
import { stackEnv } from '../../src/stack/index.js';
import { startDaemon as daemon, waitFor } from '../helpers/daemon.js';
import { consume, ensureStack, header, redis, stackConfig, uid } from '../helpers/real-stack.js';

const run = promisify(execFile);

describe('bad input and bad endpoints', () => {
  let source: RedisConnection;
  let target: RedisConnection;
  before(async () => {
    await ensureStack();
    source = await redis('source', 6);
    target = await redis('target');
  });
  after(async () => {
    await source.close();
    await target.close();
  });

  it('dead-letters an entry larger than KAFKA_MAX_REQUEST_SIZE with its reason, delivers the others, and `dlq replay` resends it', async () => {
    const id = uid();
    const topic = `big-${id}`;
    const prefix = `big${id}:`;
    const stream = `big-${id}-stream`;
    await source.send(['XADD', stream, '*', 'device_id', 'd', 'n', '1']);
    await source.send(['XADD', stream, '*', 'device_id', 'd', 'n', '2', 'blob', 'x'.repeat(5000)]);
    await source.send(['XADD', stream, '*', 'device_id', 'd', 'n', '3']);
    const cfg = stackConfig({ TARGET_REDIS_KEY_PREFIX: prefix, KAFKA_TOPIC: topic, KAFKA_MAX_REQUEST_SIZE: '2000' });
    const p = new ReactiveKafkaProducer({ config: cfg, logger: silentLogger });
    await p.start();
    try {
      assert.equal(await p.processSourceStreams({ streamPattern: stream, sourceDb: 6 }), 3);
      assert.equal(p.engine.pipe.stats.deadLettered, 1);
    } finally {
      await p.stop();
    }
    assert.equal(Number(await source.send(['XLEN', stream])), 0, 'the dead-lettered entry is acknowledged too');
    assert.equal(Number(await target.send(['SCARD', `${prefix}unsynced_keys_set`])), 0);
    assert.equal(Number(await target.send(['XLEN', `${prefix}dead_letters`])), 1);
    const delivered = await consume([topic], (all) => all.length >= 2, 15_000);
    assert.deepEqual(
      delivered.map((r) => (JSON.parse(String(r.value)) as { fields: { n: string } }).fields.n),
      ['1', '3'],
    );

    const cli = ['--import', 'tsx', 'src/cli/bin.ts'];
    const env = { ...process.env, ...stackEnv('plaintext'), TARGET_REDIS_KEY_PREFIX: prefix };
    const listed = await run(process.execPath, [...cli, 'dlq', 'list', '--config', '/dev/null'], { env });
    assert.match(listed.stdout, /KAFKA_MAX_REQUEST_SIZE=2000/);
    assert.match(listed.stdout, /1 dead letter\(s\)/);
    const replayed = await run(
      process.execPath,
      [...cli, 'dlq', 'replay', '--config', '/dev/null', '--set', 'KAFKA_MAX_REQUEST_SIZE=1000000'],
      { env },
    );
    assert.match(replayed.stdout, /replayed 1 dead letter\(s\); 0 failed again; 0 left/);
    const all = await consume([topic], (r) => r.length >= 3, 15_000);
    const big = all.find((r) => (JSON.parse(String(r.value)) as { fields: { n: string } }).fields.n === '2');
    assert.ok(big, 'the replayed entry reached Kafka');
    assert.match(header(big, 'rks-id') ?? '', /^msg:/);
  });

  it('acknowledges an entry deleted while pending (no fields left) without sending anything for it', async () => {
    const id = uid();
    const topic = `gone-${id}`;
    const stream = `gone-${id}-stream`;
    await source.send(['XGROUP', 'CREATE', stream, 'redis-kafka-sync', '0', 'MKSTREAM']);
    const first = String(await source.send(['XADD', stream, '*', 'device_id', 'd', 'n', '1']));
    await source.send(['XADD', stream, '*', 'device_id', 'd', 'n', '2']);
    await source.send(['XREADGROUP', 'GROUP', 'redis-kafka-sync', `c-${id}`, 'STREAMS', stream, '>']);
    await source.send(['XDEL', stream, first]);
    const cfg = stackConfig({
      TARGET_REDIS_KEY_PREFIX: `g${id}:`,
      KAFKA_TOPIC: topic,
      SOURCE_CONSUMER_NAME: `c-${id}`,
    });
    const p = new ReactiveKafkaProducer({ config: cfg, logger: silentLogger });
    await p.start();
    try {
      await p.processSourceStreams({ streamPattern: stream, sourceDb: 6 });
    } finally {
      await p.stop();
    }
    const pending = (await source.send(['XPENDING', stream, 'redis-kafka-sync'])) as unknown[];
    assert.equal(Number(pending[0]), 0);
    const records = await consume([topic], (all) => all.length >= 1, 10_000);
    assert.equal(records.length, 1);
  });

  it('keeps running when a stream is deleted, re-created, or replaced by another type while being read', async () => {
    const id = uid();
    const topic = `churn-${id}`;
    const s1 = `churn-${id}-a`;
    const s2 = `churn-${id}-b`;
    const s3 = `churn-${id}-c`;
    await source.send(['XADD', s1, '*', 'device_id', 'a', 'n', '0']);
    await source.send(['XADD', s2, '*', 'device_id', 'b', 'n', '0']);
    const engine = new SyncEngine(
      stackConfig({
        TARGET_REDIS_KEY_PREFIX: `ch${id}:`,
        KAFKA_TOPIC: topic,
        SOURCE_REDIS_DB_SEARCH_RANGE: '6',
        STREAM_AUTO_DISCOVERY: 'true',
        STREAM_DISCOVERY_INTERVAL: '1',
        STREAM_DISCOVERY_PATTERNS: `churn-${id}-*`,
        SOURCE_BLOCK_MS: '100',
      }),
      silentLogger,
    );
    await engine.start();
    engine.runForever();
    try {
      await waitFor('the first entries', async () => engine.pipe.stats.delivered >= 2);
      await source.send(['DEL', s1]); // deleted while being read ...
      await source.send(['DEL', s2]);
      await source.send(['SET', s2, 'now a string']); // ... replaced by another type
      await new Promise((r) => setTimeout(r, 500));
      await source.send(['XADD', s1, '*', 'device_id', 'a', 'n', '1']); // ... re-created
      await source.send(['XADD', s3, '*', 'device_id', 'c', 'n', '0']); // a new stream
      await waitFor('the re-created and the new stream', async () => engine.pipe.stats.delivered >= 4);
      assert.equal(engine.status().running, true);
    } finally {
      await engine.stop();
    }
    const records = await consume([topic], (all) => all.length >= 4, 15_000);
    const seen = records.map(
      (r) => `${header(r, 'rks-stream')}#${(JSON.parse(String(r.value)) as { fields: { n: string } }).fields.n}`,
    );
    for (const want of [`${s1}#0`, `${s2}#0`, `${s1}#1`, `${s3}#0`])
      assert.ok(seen.includes(want), `delivered ${want}`);
    await source.send(['DEL', s1, s2, s3]);
  });

  it('with the target Redis unreachable at start: names the endpoint, retries without crashing, touches nothing; a fixed restart delivers all', async () => {
    const id = uid();
    const stream = `unreach-${id}-stream`;
    const topic = `unreach-${id}`;
    for (let i = 0; i < 10; i += 1) await source.send(['XADD', stream, '*', 'device_id', 'd', 'n', String(i)]);
    const common = {
      SOURCE_REDIS_DB_SEARCH_RANGE: '6',
      STREAM_DISCOVERY_PATTERNS: stream,
      KAFKA_TOPIC: topic,
      TARGET_REDIS_KEY_PREFIX: `u${id}:`,
      SYNC_RETRY_MAX_MS: '500',
    };
    const broken = daemon({ ...common, TARGET_REDIS_PORT: '1' });
    try {
      await waitFor('a retry message', async () => broken.output().includes('cannot connect to the target Redis'));
      assert.match(broken.output(), /redis:\/\/127\.0\.0\.1:1/);
      await new Promise((r) => setTimeout(r, 1500));
      assert.equal(broken.child.exitCode, null, 'still running, retrying');
      assert.equal(Number(await source.send(['XLEN', stream])), 10);
      broken.child.kill('SIGTERM');
      const [code] = (await once(broken.child, 'exit')) as [number | null];
      assert.equal(code, 0);
    } finally {
      if (broken.child.exitCode === null) broken.child.kill('SIGKILL');
    }
    const fixed = daemon(common);
    try {
      await waitFor('the source to drain', async () => Number(await source.send(['XLEN', stream])) === 0);
    } finally {
      fixed.child.kill('SIGTERM');
      await once(fixed.child, 'exit');
    }
    assert.equal((await consume([topic], (all) => all.length >= 10, 15_000)).length, 10);
  });

  it('with a wrong Kafka password: says authentication failed for the endpoint, keeps retrying, buffers and acknowledges nothing', async () => {
    const id = uid();
    const stream = `authfail-${id}-stream`;
    await source.send(['XADD', stream, '*', 'device_id', 'd', 'n', '0']);
    const sasl = stackEnv('sasl');
    const d = daemon({
      ...sasl,
      KAFKA_SASL_PASSWORD: 'wrong-password',
      SOURCE_REDIS_DB_SEARCH_RANGE: '6',
      STREAM_DISCOVERY_PATTERNS: stream,
      KAFKA_TOPIC: `authfail-${id}`,
      TARGET_REDIS_KEY_PREFIX: `af${id}:`,
    });
    try {
      await waitFor('an authentication error', async () => /authentication/i.test(d.output()), 30_000);
      assert.match(d.output(), new RegExp(`Kafka SASL_PLAINTEXT ${sasl.KAFKA_BOOTSTRAP_SERVERS}`));
      assert.ok(!d.output().includes('wrong-password'), 'the password is never logged');
      assert.equal(d.child.exitCode, null);
      assert.equal(Number(await source.send(['XLEN', stream])), 1, 'nothing acknowledged without Kafka');
    } finally {
      d.child.kill('SIGTERM');
      await once(d.child, 'exit');
      await source.send(['DEL', stream]);
    }
  });
});
