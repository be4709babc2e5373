/**
 * The bench's end-of-run cleanup (`flushSandbox(env, { rewriteAof: true })`) while Redis is
 * already rewriting its AOF by itself (after a drain's growth passes auto-aof-rewrite-percentage):
 * Redis refuses a second BGREWRITEAOF with "already in progress", which used to fail the whole
 * bench run at its end. The cleanup must wait for that rewrite and ask again, so that the files
 * written last start from the empty data set. Against a redis-server of its own with AOF on and
 * `rdb-key-save-delay`, so that a rewrite is surely running when the cleanup comes.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { flushSandbox, redisOf, type BenchEnv } from '../../bench/common.js';
import type { RedisConnection } from '../../src/redis/client.js';
import { freePort, startServer, stopServer, type TestServer } from '../helpers/redis-server.js';

const KEYS = 1500;

describe('bench sandbox cleanup', () => {
  let server: TestServer | undefined;
  let conn: RedisConnection;
  let env: BenchEnv;
  const dir = mkdtempSync(join(tmpdir(), 'rks-bench-cleanup-'));

  before(async () => {
    const port = await freePort();
    // 2 ms per key: a rewrite of KEYS keys takes ~3 s.
    server = await startServer(dir, 'aof', [
      `port ${port}`,
      'appendonly yes',
      'auto-aof-rewrite-percentage 0',
      'rdb-key-save-delay 2000',
    ]);
    const at = { host: '127.0.0.1', port: String(port) };
    env = {
      stack: {
        SOURCE_REDIS_HOST: at.host,
        SOURCE_REDIS_PORT: at.port,
        TARGET_REDIS_HOST: at.host,
        TARGET_REDIS_PORT: at.port,
      },
      runId: 'cleanup',
    };
    conn = await redisOf(env, 'target');
  });
  after(async () => {
    await conn?.close();
    await stopServer(server);
    rmSync(dir, { recursive: true, force: true });
  });

  const persistence = async (): Promise<string> => String(await conn.send(['INFO', 'persistence']));

  it(
    'waits for a rewrite Redis is already running, then rewrites from the empty data set',
    { timeout: 120_000 },
    async () => {
      const value = 'v'.repeat(1000);
      for (let i = 0; i < KEYS; i += 500)
        await conn.send(['MSET', ...Array.from({ length: 500 }, (_, j) => [`k${i + j}`, value]).flat()]);
      await conn.send(['BGREWRITEAOF']);
      assert.match(await persistence(), /aof_rewrite_in_progress:1/, 'a rewrite runs when the cleanup starts');

      await flushSandbox(env, { rewriteAof: true });

      const info = await persistence();
      assert.match(info, /aof_rewrite_in_progress:0/);
      assert.equal(Number(await conn.send(['DBSIZE'])), 0);
      const base = Number(/aof_base_size:(\d+)/.exec(info)?.[1]);
      assert.ok(base < 1000, `the last rewrite started from the empty data set (base ${base} B, not ~${KEYS} KB)`);
    },
  );
});
