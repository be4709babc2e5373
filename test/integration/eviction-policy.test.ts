/**
 * A target whose maxmemory-policy may evict unsynced messages (maxmemory with allkeys-*) is
 * refused: TargetBuffer.checkEviction throws, and the engine reads nothing until an operator
 * changed the policy, then starts by itself. Against a redis-server of its own (the stack's
 * target is shared with the other tests, whose engines must keep starting).
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { TargetBuffer } from '../../src/buffer/store.js';
import { SyncEngine } from '../../src/engine/engine.js';
import { TargetRefusedError } from '../../src/errors.js';
import { createLogger, silentLogger } from '../../src/observability/logger.js';
import { connectRedis, type RedisConnection } from '../../src/redis/client.js';
import { sleep } from '../../src/stack/process.js';
import { ensureStack, stackConfig } from '../helpers/real-stack.js';
import { startServer, stopServer, type TestServer } from '../helpers/redis-server.js';

async function freePort(): Promise<number> {
  const server = net.createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as net.AddressInfo;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

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

  it('keeps the engine from starting until the policy is safe, then starts by itself', async () => {
    await policy('allkeys-lfu');
    const lines: string[] = [];
    const log = createLogger('error', {
      write: (line: string) => (lines.push(line), true),
    } as unknown as NodeJS.WritableStream);
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
