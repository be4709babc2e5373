/**
 * A link to the target that dies without a reset (TcpProxy.freeze: the connections stay open and
 * go silent, new ones work) is noticed by the reply deadline (TARGET_REDIS_REPLY_TIMEOUT_MS,
 * redis/reply-watch.ts): the connection is replaced, what waited on it fails retryable, and a
 * running engine goes on delivering. Without the deadline the command waits (TCP would give up
 * after ~15 minutes). A blocking read is not taken for a dead link. Against a redis-server of its
 * own behind a real TCP proxy, and the stack's Kafka.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { SyncEngine } from '../../src/engine/engine.js';
import { ConnectionError } from '../../src/errors.js';
import { connectRedis, type RedisConnection, type Reply } from '../../src/redis/client.js';
import { sleep } from '../../src/stack/process.js';
import { TcpProxy } from '../chaos/proxy.js';
import { consume, ensureStack, keptLog, stackConfig } from '../helpers/real-stack.js';
import { freePort, startServer, stopServer, type TestServer } from '../helpers/redis-server.js';

/** The outcome of `p`, or 'pending' if it has none after `ms`. */
async function within<T>(p: Promise<T>, ms: number): Promise<{ value: T } | { error: unknown } | 'pending'> {
  return Promise.race([
    p.then(
      (value) => ({ value }),
      (error: unknown) => ({ error }),
    ),
    sleep(ms).then(() => 'pending' as const),
  ]);
}

describe('a target link that dies without a reset', () => {
  let server: TestServer | undefined;
  let proxy: TcpProxy;
  const dir = mkdtempSync(join(tmpdir(), 'rks-dead-link-'));
  const cfg = (timeoutMs: string) =>
    stackConfig({
      TARGET_REDIS_PORT: String(proxy.listenPort),
      TARGET_REDIS_REPLY_TIMEOUT_MS: timeoutMs,
      SYNC_RETRY_BASE_MS: '50',
      SYNC_RETRY_MAX_MS: '200',
    });
  const connect = async (timeoutMs: string): Promise<{ conn: RedisConnection; errors: string[] }> => {
    const conn = await connectRedis(cfg(timeoutMs).target, { role: 'target', db: 0, connectTimeoutMs: 5000 });
    const errors: string[] = [];
    conn.onError((err) => errors.push(err.message));
    return { conn, errors };
  };

  before(async () => {
    await ensureStack(); // the engine test produces to the stack's Kafka
    const port = await freePort();
    server = await startServer(dir, 'dead-link', [`port ${port}`]);
    proxy = new TcpProxy(await freePort(), port);
    await proxy.start();
  });
  after(async () => {
    await proxy.stop();
    await stopServer(server);
    rmSync(dir, { recursive: true, force: true });
  });

  it('without a deadline a command on the silent link just waits', { timeout: 60_000 }, async () => {
    const { conn } = await connect('0');
    try {
      assert.equal(String(await conn.send(['PING'])), 'PONG');
      proxy.freeze();
      const waiting = conn.send(['SET', 'dead-link:a', '1']);
      assert.equal(await within(waiting, 2500), 'pending', 'no reply and no error: the stall the deadline is for');
      proxy.cut(); // a reset at last: the waiting command fails, so the client can close
      proxy.restore();
      await waiting.catch(() => undefined);
    } finally {
      await conn.close().catch(() => undefined);
    }
  });

  it(
    'replaces the connection after TARGET_REDIS_REPLY_TIMEOUT_MS: the waiting command fails retryable, the next one works',
    { timeout: 60_000 },
    async () => {
      const { conn, errors } = await connect('1000');
      try {
        assert.equal(String(await conn.send(['PING'])), 'PONG');
        proxy.freeze();
        const outcome = await within(conn.send(['SET', 'dead-link:b', '1']), 10_000);
        assert.ok(outcome !== 'pending' && 'error' in outcome, 'the command on the silent link failed');
        assert.ok(
          errors.some((e) => /no reply for \d+ ms while commands waited.*TARGET_REDIS_REPLY_TIMEOUT_MS/.test(e)),
          `the reason is reported: ${errors.join(' | ')}`,
        );
        let reply: Reply | undefined;
        for (let i = 0; i < 50 && reply === undefined; i += 1) {
          reply = await conn.send(['SET', 'dead-link:b', '2']).catch(async (err: unknown) => {
            assert.ok(!(err instanceof ConnectionError) || err.retryable);
            await sleep(100);
            return undefined;
          });
        }
        assert.equal(String(reply), 'OK', 'a new connection carries the retry');
        assert.equal(String(await conn.send(['GET', 'dead-link:b'])), '2');
      } finally {
        await conn.close();
      }
    },
  );

  it('does not take a blocking read that waits its BLOCK time for a dead link', { timeout: 60_000 }, async () => {
    const { conn, errors } = await connect('500');
    try {
      const reply = await conn.send(['XREAD', 'BLOCK', '2000', 'STREAMS', 'dead-link:empty', '$']);
      assert.equal(reply, null, 'XREAD BLOCK 2000 timed out normally');
      assert.deepEqual(errors, [], 'no replacement, no error');
    } finally {
      await conn.close();
    }
  });

  it('a running engine goes on delivering after the link froze under it', { timeout: 90_000 }, async () => {
    const { lines, log } = keptLog();
    const topic = `dl-${Date.now()}`;
    const engine = new SyncEngine(cfg('1000'), log);
    await engine.start();
    try {
      await engine.sendMessage(topic, 'before', 'dev-1');
      proxy.freeze(); // every connection of the engine to the target goes silent
      const sent = await within(engine.sendMessage(topic, 'after', 'dev-1'), 20_000);
      assert.ok(sent !== 'pending' && 'value' in sent, 'buffered through a new connection');
      const records = await consume([topic], (all) => all.length >= 2);
      assert.deepEqual(records.map((r) => String(r.value)).sort(), ['after', 'before']);
      assert.ok(
        lines.some((l) => l.includes('TARGET_REDIS_REPLY_TIMEOUT_MS')),
        'the replaced connection is in the log',
      );
    } finally {
      await engine.stop();
    }
  });
});
