/**
 * What a command does when its Redis is away, with and without the reply deadline
 * (`<ROLE>_REDIS_REPLY_TIMEOUT_MS`, redis/reply-watch.ts), against a redis-server of the test's
 * own that it stops and starts again on the same port.
 *
 *  - With the deadline (the default, 30 s), a connection has no per-command timer of node-redis
 *    (its 5 s `AbortSignal.timeout`, which fires and builds a DOMException 5 s after every command
 *    that was not collected yet) and no offline queue: a command sent while the server is down
 *    fails at once, retryable, and the same connection works again once the server is back.
 *  - Without it (0), node-redis's offline queue stays and so does its deadline for a command not
 *    yet written, shared (redis/command-deadline.ts) instead of a timer per command: a command sent
 *    while the server is down waits in the queue and is answered if the server is back within
 *    5 s; after 5-6 s it fails, retryable, saying so.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, afterEach, before, describe, it } from 'node:test';
import { connectRedis, type RedisConnection } from '../../src/redis/client.js';
import { isRetryableRedisError } from '../../src/redis/errors.js';
import { sleep } from '../../src/stack/process.js';
import { stackConfig } from '../helpers/real-stack.js';
import { failureOf, untilAnswered } from '../helpers/answers.js';
import { countTimers } from '../helpers/timers.js';
import { freePort, startServer, stopServer, type TestServer } from '../helpers/redis-server.js';

/** node-redis timers made by 50 commands sent at once on `conn` (see countTimers). */
function timersOf50Commands(conn: RedisConnection): Promise<number> {
  return countTimers(async () => {
    await Promise.all(Array.from({ length: 50 }, (_, i) => conn.send(['SET', `offline:${i}`, 'v'])));
  });
}

describe('commands while the Redis server is away', () => {
  const dir = mkdtempSync(join(tmpdir(), 'rks-offline-'));
  let port = 0;
  let server: TestServer | undefined;
  let conn: RedisConnection | undefined;
  const start = async (): Promise<void> => {
    server = await startServer(dir, 'offline', [`port ${port}`]);
  };
  const connect = (replyTimeoutMs: string): Promise<RedisConnection> =>
    connectRedis(
      stackConfig({ TARGET_REDIS_PORT: String(port), TARGET_REDIS_REPLY_TIMEOUT_MS: replyTimeoutMs }).target,
      {
        role: 'target',
        db: 0,
        connectTimeoutMs: 5000,
      },
    );

  before(async () => {
    port = await freePort();
    await start();
  });
  afterEach(async () => {
    await conn?.close().catch(() => undefined);
    conn = undefined;
    const down = !server || server.child.exitCode !== null || server.child.signalCode !== null;
    if (down) await start();
  });
  after(async () => {
    await stopServer(server);
    rmSync(dir, { recursive: true, force: true });
  });

  it('with the reply deadline: no timer per command; a command fails at once while the server is down, and the connection recovers', async () => {
    const c = (conn = await connect('30000'));
    const timers = await timersOf50Commands(c);
    assert.equal(timers, 0, 'no AbortSignal.timeout for the 50 commands');

    await stopServer(server);
    await sleep(200); // the client has seen the socket close and is reconnecting
    const { err, tookMs } = await failureOf(c.send(['GET', 'offline:1']));
    assert.ok(err instanceof Error, 'the command failed');
    assert.ok(isRetryableRedisError(err), `retryable: ${String(err)}`);
    assert.ok(tookMs < 2000, `failed at once (${tookMs} ms), not after node-redis's 5 s timeout`);

    await start();
    assert.equal(String(await untilAnswered(c, ['SET', 'offline:after', 'v'], 15_000)), 'OK');
    assert.equal(c.isReady(), true);
  });

  it('without it (0): no timer per command either; a command sent while the server is down waits for it, 5-6 s at most', async () => {
    const c = (conn = await connect('0'));
    const timers = await timersOf50Commands(c);
    assert.equal(timers, 0, 'no AbortSignal.timeout for the 50 commands');

    await stopServer(server);
    await sleep(200);
    const waiting = c.send(['SET', 'offline:queued', 'v']);
    await sleep(300);
    await start();
    assert.equal(String(await waiting), 'OK', 'answered from the offline queue once the server is back');

    await stopServer(server);
    await sleep(200);
    const { err, tookMs } = await failureOf(c.send(['GET', 'offline:queued']));
    assert.ok(err instanceof Error, 'the command failed');
    assert.ok(isRetryableRedisError(err), `retryable: ${String(err)}`);
    assert.match(
      err.message,
      new RegExp(`127\\.0\\.0\\.1:${port}.*without being sent`),
      'names the endpoint and the cause',
    );
    assert.ok(
      tookMs >= 4500 && tookMs < 8000,
      `failed after node-redis's 5 s deadline, give or take its 1 s slot (${tookMs} ms)`,
    );

    await start();
    assert.equal(
      String(await untilAnswered(c, ['SET', 'offline:again', 'v'], 15_000)),
      'OK',
      'the same connection answers again',
    );
  });
});
