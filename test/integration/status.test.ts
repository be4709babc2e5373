import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { after, before, describe, it } from 'node:test';
import type { RedisConnection } from '../../src/redis/client.js';
import { stackEnv } from '../../src/stack/index.js';
import { ensureStack, redis, uid } from '../helpers/real-stack.js';
import { deletePrefix, startDaemon, waitFor } from '../helpers/daemon.js';

const run = promisify(execFile);
const DB = 8;

interface StatusJson {
  target: { backlog: number; deadLetters: number; lastSyncMs: number | null; prefix: string };
  group: string;
  streams: {
    db: number;
    stream: string;
    pending: number | null;
    lag: number | null;
    oldestPendingAgeMs: number | null;
  }[];
  totalPending: number;
}

async function status(
  args: string[],
  env: Record<string, string>,
): Promise<{ code: number; stdout: string; stderr: string }> {
  try {
    const { stdout, stderr } = await run(process.execPath, ['--import', 'tsx', 'src/cli/bin.ts', 'status', ...args], {
      env: { ...process.env, ...stackEnv('plaintext'), ...env },
      timeout: 60_000,
    });
    return { code: 0, stdout, stderr };
  } catch (err) {
    const e = err as { code: number; stdout: string; stderr: string };
    return { code: e.code, stdout: e.stdout, stderr: e.stderr };
  }
}

describe('redis-kafka-sync status', () => {
  const id = uid();
  const prefix = `st${id}:`;
  const stream = `st-${id}-a`;
  const other = `st-${id}-nogroup`;
  const env = {
    SOURCE_REDIS_DB_SEARCH_RANGE: String(DB),
    STREAM_DISCOVERY_PATTERNS: `st-${id}-*`,
    TARGET_REDIS_KEY_PREFIX: prefix,
  };
  let source: RedisConnection;
  let target: RedisConnection;
  let startedMs = 0;
  before(async () => {
    await ensureStack();
    source = await redis('source', DB);
    target = await redis('target');
    // A daemon syncs some entries (recording the last sync), then stops.
    for (let i = 0; i < 20; i += 1) await source.send(['XADD', stream, '*', 'device_id', 'd', 'n', String(i)]);
    startedMs = Date.now();
    const daemon = startDaemon({ ...env, KAFKA_TOPIC: `status-${id}`, SOURCE_BLOCK_MS: '200' });
    try {
      await waitFor('the stream to drain', async () => Number(await source.send(['XLEN', stream])) === 0, 60_000);
      await waitFor('the buffer to be synced', async () => {
        return Number(await target.send(['SCARD', `${prefix}unsynced_keys_set`])) === 0;
      });
    } finally {
      assert.equal(await daemon.stop(), 0, daemon.output());
    }
    // While it is down: 5 new entries, 3 of them read by a consumer and not acknowledged,
    // a stream without the group, 2 dead letters, 3 unsynced keys.
    for (let i = 0; i < 5; i += 1) await source.send(['XADD', stream, '*', 'device_id', 'd', 'n', `late${i}`]);
    await source.send(['XREADGROUP', 'GROUP', 'redis-kafka-sync', `c-${id}`, 'COUNT', '3', 'STREAMS', stream, '>']);
    await source.send(['XADD', other, '*', 'k', 'v']);
    for (const k of ['a', 'b'])
      await target.send(['XADD', `${prefix}dead_letters`, '*', 'key', k, 'topic', 't', 'reason', 'too large']);
    await target.send(['SADD', `${prefix}unsynced_keys_set`, 'x1', 'x2', 'x3']);
  });
  after(async () => {
    await source.send(['DEL', stream, other]);
    await deletePrefix(target, prefix);
    await source.close();
    await target.close();
  });

  it('reports backlog, dead letters, last sync and pending entries per stream with --json while the daemon is down', async () => {
    const r = await status(['--json'], env);
    assert.equal(r.code, 0, r.stderr);
    const s = JSON.parse(r.stdout) as StatusJson;
    assert.equal(s.target.backlog, 3);
    assert.equal(s.target.deadLetters, 2);
    assert.ok(s.target.lastSyncMs !== null && s.target.lastSyncMs >= startedMs && s.target.lastSyncMs <= Date.now());
    assert.equal(s.group, 'redis-kafka-sync');
    assert.equal(s.totalPending, 3);
    const a = s.streams.find((x) => x.stream === stream);
    assert.deepEqual(
      { db: a?.db, pending: a?.pending, lag: a?.lag },
      { db: DB, pending: 3, lag: 2 },
      'three read and unacknowledged, two never delivered',
    );
    assert.ok((a?.oldestPendingAgeMs ?? -1) >= 0);
    const n = s.streams.find((x) => x.stream === other);
    assert.equal(n?.pending, null, 'a stream without the consumer group has no pending count');
  });

  it('prints the same as readable lines, and reads SOURCE_STREAMS when discovery is not used', async () => {
    const r = await status(['--set', `SOURCE_STREAMS=${stream}@${DB}`, '--set', 'STREAM_DISCOVERY_PATTERNS=none'], {
      ...env,
      STREAM_AUTO_DISCOVERY: 'false', // env.conf may turn it on
    });
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /^backlog \(unsynced in target\): +3$/m);
    assert.match(r.stdout, /^dead letters: +2$/m);
    assert.match(r.stdout, /^last successful sync: +\d{4}-\d\d-\d\dT.* ago\)$/m);
    assert.match(r.stdout, /pending entries \(group redis-kafka-sync\): 3 in 1 stream\(s\)/);
    assert.ok(r.stdout.includes(`  db ${DB}  ${stream}  pending 3, oldest `), r.stdout);
    assert.match(r.stdout, /, lag 2$/m);
  });

  it('exits 1 naming the target Redis when it cannot be reached', async () => {
    const r = await status([], { ...env, TARGET_REDIS_PORT: '1' });
    assert.equal(r.code, 1);
    assert.match(r.stderr, /target Redis redis:\/\/127\.0\.0\.1:1/);
  });
});
