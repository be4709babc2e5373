/**
 * A target whose maxmemory-policy may evict unsynced messages (maxmemory with allkeys-*) is
 * refused: TargetBuffer.checkEviction throws, and the engine reads nothing until an operator
 * changed the policy, then starts by itself. A policy changed while running (CONFIG SET, a
 * failover) is seen by the next buffer write after TARGET_REDIS_EVICTION_CHECK_INTERVAL_MS: writes
 * pause until it is safe again. Against a redis-server of its own (the stack's
 * target is shared with the other tests, whose engines must keep starting).
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { TargetBuffer } from '../../src/buffer/store.js';
import { SyncEngine } from '../../src/engine/engine.js';
import { TargetRefusedError } from '../../src/errors.js';
import { silentLogger } from '../../src/observability/logger.js';
import { connectRedis, type RedisConnection } from '../../src/redis/client.js';
import { sleep } from '../../src/stack/process.js';
import { consume, ensureStack, keptLog, stackConfig } from '../helpers/real-stack.js';
import { freePort, startServer, stopServer, type TestServer } from '../helpers/redis-server.js';

describe('the target maxmemory-policy', () => {
  let server: TestServer | undefined;
  let port: number;
  let conn: RedisConnection;
  const dir = mkdtempSync(join(tmpdir(), 'rks-eviction-'));
  const cfg = (extra: Record<string, string> = {}) =>
    stackConfig({ TARGET_REDIS_PORT: String(port), SYNC_RETRY_BASE_MS: '50', SYNC_RETRY_MAX_MS: '100', ...extra });
  const policy = (p: string, maxmemory = '64mb') =>
    Promise.all([
      conn.send(['CONFIG', 'SET', 'maxmemory-policy', p]),
      conn.send(['CONFIG', 'SET', 'maxmemory', maxmemory]),
    ]);

  before(async () => {
    await ensureStack(); // the engine test below produces to the stack's Kafka
    port = await freePort();
    server = await startServer(dir, 'eviction', [`port ${port}`]);
    conn = await connectRedis(cfg().target, { role: 'target', db: 0, connectTimeoutMs: 5000 });
  });
  after(async () => {
    await conn.close();
    await stopServer(server);
    rmSync(dir, { recursive: true, force: true });
  });

  it('refuses allkeys-* with maxmemory, naming the policy and what to set; accepts the safe ones', async () => {
    const buffer = new TargetBuffer([conn], cfg().target);
    await policy('allkeys-lru');
    await assert.rejects(buffer.checkEviction(), (err: unknown) => {
      assert.ok(err instanceof TargetRefusedError);
      assert.equal(err.retryable, false);
      assert.match(err.message, new RegExp(`127\\.0\\.0\\.1:${port}.*allkeys-lru.*noeviction.*volatile-`));
      return true;
    });
    await policy('allkeys-random');
    await assert.rejects(buffer.checkEviction(), TargetRefusedError);
    for (const safe of ['noeviction', 'volatile-lru', 'volatile-ttl']) {
      await policy(safe);
      assert.equal(await buffer.checkEviction(), 'safe', safe);
    }
    await policy('allkeys-lru', '0');
    assert.equal(await buffer.checkEviction(), 'safe', 'no maxmemory: nothing is evicted');
  });

  it('fails a one-shot start (a CLI command) with the reason instead of waiting', async () => {
    await policy('allkeys-lru');
    const engine = new SyncEngine(cfg(), silentLogger);
    try {
      await assert.rejects(engine.start({ connectTimeoutMs: 5000 }), /allkeys-lru.*noeviction/);
    } finally {
      await engine.stop();
    }
  });

  it('checks again before a buffer write every TARGET_REDIS_EVICTION_CHECK_INTERVAL_MS: writes pause while unsafe', async () => {
    await policy('noeviction');
    const buffer = new TargetBuffer([conn], cfg({ TARGET_REDIS_EVICTION_CHECK_INTERVAL_MS: '100' }).target);
    const m = (n: number) => ({
      key: buffer.keys.messageKey({ topic: 't', id: `${n}-0`, origin: { kind: 'stream', db: 0, stream: 'ev' } }),
      topic: 't',
      kafkaKey: Buffer.from('k'),
      payload: Buffer.from(`p${n}`),
    });
    assert.deepEqual(await buffer.put([m(1)], conn, { fresh: true }), [0]);
    await policy('allkeys-lru'); // a CONFIG SET, or a failover to a node configured otherwise
    assert.deepEqual(await buffer.put([m(2)], conn, { fresh: true }), [0], 'within the interval: not checked yet');
    await sleep(150);
    await assert.rejects(buffer.put([m(3)], conn, { fresh: true }), /allkeys-lru.*noeviction/);
    await assert.rejects(buffer.put([m(4)]), TargetRefusedError, 'the next write checks again: still refused');
    assert.equal(Number(await conn.send(['EXISTS', m(3).key, m(4).key])), 0, 'nothing written while refused');
    await policy('volatile-lru');
    assert.deepEqual(await buffer.put([m(3)], conn, { fresh: true }), [0], 'goes on as soon as the policy is safe');
    await policy('allkeys-lru');
    const once = new TargetBuffer([conn], cfg({ TARGET_REDIS_EVICTION_CHECK_INTERVAL_MS: '0' }).target);
    await sleep(150);
    assert.deepEqual(await once.put([m(5)], conn, { fresh: true }), [0], '0: checked at start only');
    await conn.send(['FLUSHDB']);
  });

  it('a running engine holds new messages back while the policy is unsafe and sends them once fixed', async () => {
    await policy('noeviction');
    const { lines, log } = keptLog('error');
    const topic = `ev-${Date.now()}`;
    const engine = new SyncEngine(cfg({ TARGET_REDIS_EVICTION_CHECK_INTERVAL_MS: '100' }), log);
    await engine.start();
    try {
      await engine.sendMessage(topic, 'before', 'dev-1');
      await policy('allkeys-lru');
      await sleep(150);
      let sent = false;
      const sending = engine.sendMessage(topic, 'while unsafe', 'dev-1').then((key) => ((sent = true), key));
      for (let i = 0; i < 40 && !lines.some((l) => l.includes('buffer write refused')); i += 1) await sleep(50);
      assert.equal(sent, false, 'not buffered while the target may evict it');
      assert.ok(
        lines.some((l) => l.includes('buffer write refused') && l.includes('allkeys-lru')),
        'the refusal is logged with the policy',
      );
      assert.equal((await engine.target.scanUnsynced('0', 100)).keys.length, 0, 'nothing new in the buffer');
      await policy('noeviction');
      const key = await Promise.race([sending, sleep(5000).then(() => undefined)]);
      assert.ok(key, 'buffered and sent once the policy was changed');
      const records = await consume([topic], (all) => all.length >= 2);
      assert.deepEqual(records.map((r) => String(r.value)).sort(), ['before', 'while unsafe']);
    } finally {
      await engine.stop();
    }
    await conn.send(['FLUSHDB']);
  });

  it('keeps the engine from starting until the policy is safe, then starts by itself', async () => {
    await policy('allkeys-lfu');
    const { lines, log } = keptLog('error');
    const engine = new SyncEngine(cfg(), log);
    let started = false;
    const starting = engine.start().then(() => (started = true));
    try {
      for (let i = 0; i < 40 && lines.length === 0; i += 1) await sleep(50);
      await sleep(300);
      assert.equal(started, false, 'not started while the policy may evict');
      assert.ok(
        lines.some((l) => l.includes('eviction policy check') && l.includes('allkeys-lfu')),
        'the refusal is logged',
      );
      await policy('noeviction');
      await Promise.race([starting, sleep(5000)]);
      assert.equal(started, true, 'started once the policy was changed');
    } finally {
      await engine.stop(); // also ends a start still waiting (a failed assertion above)
      await starting.catch(() => undefined);
    }
  });
});
