/**
 * The target as a Redis Cluster, on real servers: six Debian redis-servers (three masters, three
 * replicas, `redis-cli --cluster create ... --cluster-replicas 1`) on loopback sandbox ports,
 * started and stopped here (src/stack/replicated.ts). The buffer's cluster layout is checked
 * directly (shards, status over every shard, dead letters, recovery over every master), then the
 * daemon runs end to end (stack source and Kafka) through a master failover and a resharding
 * under load (test/chaos/cluster.ts): nothing may be lost.
 */
import assert from 'node:assert/strict';
import { mkdirSync, writeFileSync } from 'node:fs';
import { after, before, describe, it } from 'node:test';
import { DeadLetters } from '../../src/buffer/dead-letters.js';
import { ClusterTargetBuffer, createTargetBuffer } from '../../src/buffer/cluster-store.js';
import { SHARDS } from '../../src/buffer/cluster-layout.js';
import { readStatus } from '../../src/cli/status.js';
import { TargetRefusedError } from '../../src/errors.js';
import { loadConfig } from '../../src/config/config.js';
import { asArray, connectRedis } from '../../src/redis/client.js';
import { isRetryableRedisError } from '../../src/redis/errors.js';
import { isCluster } from '../../src/redis/cluster.js';
import { stackEnv } from '../../src/stack/index.js';
import {
  clusterEnv,
  clusterNodes,
  SET_PASSWORD,
  admin,
  nodePid,
  startCluster,
  stopReplicated,
  waitClusterHealthy,
} from '../../src/stack/replicated.js';
import { sleep } from '../../src/stack/process.js';
import { clusterTable, runClusterScenarios } from '../chaos/cluster.js';
import { ensureStack, uid } from '../helpers/real-stack.js';
import { failureOf, untilAnswered } from '../helpers/answers.js';
import { countTimers } from '../helpers/timers.js';

function clusterConfig(prefix: string, extra: Record<string, string> = {}) {
  const env: Record<string, string> = {
    ...stackEnv('plaintext'),
    ...clusterEnv(),
    TARGET_REDIS_KEY_PREFIX: prefix,
    ...extra,
  };
  delete env['TARGET_REDIS_HOST'];
  delete env['TARGET_REDIS_PORT'];
  return loadConfig({ configFile: null, env });
}

/** The port of the master that holds `key` (the others answer MOVED). */
async function ownerOf(key: string): Promise<number> {
  for (const m of (await clusterNodes()).filter((n) => n.master && !n.failed && n.slots > 0)) {
    try {
      await admin(m.port, SET_PASSWORD, ['GET', key]);
      return m.port;
    } catch {
      // MOVED: not this one
    }
  }
  throw new Error(`no master holds ${key}`);
}

/** total_connections_received of every master, by port (INFO stats; this call's own connection included). */
async function connectionsReceived(): Promise<Map<number, number>> {
  const out = new Map<number, number>();
  for (const m of (await clusterNodes()).filter((n) => n.master && !n.failed && n.slots > 0)) {
    const info = String(await admin(m.port, SET_PASSWORD, ['INFO', 'stats']));
    out.set(m.port, Number(/total_connections_received:(\d+)/.exec(info)?.[1]));
  }
  return out;
}

/** The outcome of `p`, or 'pending' if it has none after `ms`. */
async function within(p: Promise<unknown>, ms: number): Promise<'settled' | 'pending'> {
  return Promise.race([
    p.then(
      () => 'settled' as const,
      () => 'settled' as const,
    ),
    sleep(ms).then(() => 'pending' as const),
  ]);
}

describe('Redis Cluster as the target', () => {
  before(async () => {
    await ensureStack();
    await startCluster();
  });
  after(async () => stopReplicated('cluster'));

  it('spreads batches over every master, one slot per script call, and status, dead letters and recovery see every shard', async () => {
    const prefix = `cl${uid()}:`;
    const cfg = clusterConfig(prefix);
    const conn = await connectRedis(cfg.target, { role: 'target', db: 0, connectTimeoutMs: 10_000 });
    try {
      const buf = createTargetBuffer([conn], cfg.target);
      assert.ok(buf instanceof ClusterTargetBuffer);
      const msgs = Array.from({ length: 400 }, (_, i) => ({
        key: buf.keys.messageKey({
          topic: 't',
          id: `1-${i}`,
          origin: { kind: 'stream', db: 0, stream: `dev-${i % 50}` },
        }),
        topic: 't',
        kafkaKey: Buffer.from(`dev-${i % 50}`),
        payload: Buffer.from(`p${i}`),
      }));
      assert.match(msgs[0]?.key ?? '', new RegExp(`^${prefix}\\{rks\\d+\\}msg:t:1-0:s0:dev-0$`));
      assert.deepEqual(
        new Set(await buf.put(msgs)),
        new Set([0]),
        'one put of 400 messages of 50 streams: no CROSSSLOT',
      );
      // Every master holds some of them: the shards spread over the cluster.
      const masters = (await clusterNodes()).filter((n) => n.master && n.slots > 0);
      for (const m of masters) {
        const [, keys] = asArray(
          (await admin(m.port, SET_PASSWORD, ['SCAN', '0', 'MATCH', `${prefix}*msg:*`, 'COUNT', '10000'])) as never,
        );
        assert.ok(asArray(keys as never).length > 0, `master ${m.port} holds messages`);
      }
      assert.equal(await buf.unsyncedCount(), 400);
      assert.equal((await readStatus(cfg)).target.backlog, 400, '`status` sums every shard');
      // Dead letters: one stream; the messages leave their own shards' sets.
      await new DeadLetters(buf.primary, buf.keys).add(msgs.slice(0, 10).map((m) => ({ m, reason: 'test' })));
      assert.equal(await buf.unsyncedCount(), 390);
      assert.equal(Number(await conn.send(['XLEN', buf.keys.deadLetters])), 10);
      await buf.markSynced(msgs.slice(10, 110).map((m) => m.key));
      assert.equal(await buf.unsyncedCount(), 290);
      assert.deepEqual(new Set(await buf.put(msgs.slice(10, 110))), new Set([2]), 'synced ones are not written again');
      // Losing every set loses nothing: recovery scans every master and refills each shard's set.
      for (const set of buf.keys.unsyncedSets) await conn.send(['DEL', set]);
      assert.equal(buf.keys.unsyncedSets.length, SHARDS);
      assert.equal(await buf.recover(), 290);
      let cursor = '0';
      const seen = new Set<string>();
      do {
        const page = await buf.scanUnsynced(cursor, 50);
        cursor = page.cursor;
        for (const k of page.keys) seen.add(k);
      } while (cursor !== '0');
      assert.equal(seen.size, 290, 'the resync scan visits every shard');
      const fetched = await buf.fetch(msgs.slice(200, 260).map((m) => m.key));
      assert.deepEqual(
        fetched.map((m) => m?.payload.toString()),
        msgs.slice(200, 260).map((m) => m.payload.toString()),
      );
    } finally {
      await conn.close();
    }
  });

  it('checks the eviction policy of every master, not only the node a keyless INFO reaches', async () => {
    const cfg = clusterConfig(`ev${uid()}:`);
    const conn = await connectRedis(cfg.target, { role: 'target', db: 0, connectTimeoutMs: 10_000 });
    const masters = (await clusterNodes()).filter((n) => n.master && n.slots > 0);
    const evicting = masters[masters.length - 1];
    assert.ok(evicting && masters.length >= 3, 'a cluster of three masters');
    try {
      const buf = createTargetBuffer([conn], cfg.target);
      assert.equal(await buf.checkEviction(), 'safe');
      await admin(evicting.port, SET_PASSWORD, [
        'CONFIG',
        'SET',
        'maxmemory',
        '1gb',
        'maxmemory-policy',
        'allkeys-lru',
      ]);
      // A keyless command goes to the next node in turn (masters and replicas): six checks in a
      // row would meet the evicting master once if only that node were asked.
      for (let i = 0; i < 6; i += 1)
        await assert.rejects(buf.checkEviction(), (err: unknown) => {
          assert.ok(err instanceof TargetRefusedError);
          assert.match(err.message, new RegExp(`master [^ ]+:${evicting.port}: maxmemory-policy is allkeys-lru`));
          return true;
        });
    } finally {
      await admin(evicting.port, SET_PASSWORD, ['CONFIG', 'SET', 'maxmemory', '0', 'maxmemory-policy', 'noeviction']);
      await conn.close();
    }
  });

  it("sends every command without node-redis's timer per command (the shared pre-write deadline instead)", async () => {
    const prefix = `tm${uid()}:`;
    const cfg = clusterConfig(prefix);
    const conn = await connectRedis(cfg.target, { role: 'target', db: 0, connectTimeoutMs: 10_000 });
    try {
      assert.ok(isCluster(conn));
      const keys = Array.from({ length: 50 }, (_, i) => `${prefix}k${i}`);
      let deleted: unknown;
      let sizes: unknown[] = [];
      const timers = await countTimers(async () => {
        await Promise.all(keys.map((k) => conn.send(['SET', k, 'v'])));
        assert.equal(String(await conn.sendTo(keys[0] as string, ['GET', keys[0] as string])), 'v');
        deleted = await conn.send(['DEL', ...keys]); // split per key: slots differ
        sizes = await Promise.all((await conn.masters()).map((m) => m.send(['DBSIZE'])));
      });
      assert.equal(deleted, 50, 'the 50 keys, over every slot they hash to');
      assert.ok(sizes.length >= 3, 'every master answered');
      assert.equal(timers, 0, 'no AbortSignal.timeout for the 100-odd commands');
    } finally {
      await conn.close();
    }
  });

  it('an idle connection whose node sockets passed their deadline answers at once, with no error reported', async () => {
    const prefix = `id${uid()}:`;
    // Node sockets time out after 200 + 1 ms of silence (reply timeout + WAIT's time).
    const cfg = clusterConfig(prefix, {
      TARGET_REDIS_REPLY_TIMEOUT_MS: '200',
      TARGET_REDIS_REPLICA_ACK_TIMEOUT_MS: '1',
    });
    const conn = await connectRedis(cfg.target, { role: 'target', db: 0, connectTimeoutMs: 10_000 });
    const errors: string[] = [];
    conn.onError((err) => errors.push(err.message));
    try {
      const keys = Array.from({ length: 30 }, (_, i) => `${prefix}k${i}`);
      await Promise.all(keys.map((k) => conn.send(['SET', k, 'v'])));
      const before = await connectionsReceived();
      await sleep(1500); // idle: every node socket is closed and reconnected, several times
      const after = await connectionsReceived();
      for (const [port, n] of before)
        // More than this check's own INFO connection: the client's node socket came back at least once.
        assert.ok((after.get(port) ?? 0) - n >= 2, `master ${port} saw the idle socket reconnect`);
      const replies = await Promise.all(keys.map((k) => conn.send(['GET', k])));
      assert.deepEqual(
        replies.map(String),
        keys.map(() => 'v'),
        'every key answered on the first try',
      );
      assert.deepEqual(errors, [], 'an idle socket timing out is not reported as a failure');
    } finally {
      await conn.close();
    }
  });

  it('a master that goes silent (SIGSTOP) fails the commands written to it after TARGET_REDIS_REPLY_TIMEOUT_MS, retryable; at 0 they wait', async () => {
    const prefix = `sl${uid()}:`;
    const key = `${prefix}k`;
    const connect = (ms: string) =>
      connectRedis(clusterConfig(prefix, { TARGET_REDIS_REPLY_TIMEOUT_MS: ms }).target, {
        role: 'target',
        db: 0,
        connectTimeoutMs: 10_000,
      });
    const watched = await connect('1000');
    const unwatched = await connect('0');
    try {
      assert.equal(String(await watched.send(['SET', key, 'v'])), 'OK');
      assert.equal(String(await unwatched.send(['GET', key])), 'v', 'both connected to the owner');
      const owner = await ownerOf(key);
      const pid = nodePid('cluster', owner);
      assert.ok(pid !== undefined, `the pid of the master on port ${owner}`);
      // A silent node: the process stopped, its sockets open (as a link dropped without a reset).
      process.kill(pid, 'SIGSTOP');
      let waiting: Promise<unknown>;
      try {
        waiting = unwatched.send(['GET', key]);
        const { err, tookMs } = await failureOf(watched.send(['GET', key]), 8000);
        assert.ok(err instanceof Error, 'the command on the silent node failed');
        assert.ok(isRetryableRedisError(err), `retryable: ${String(err)}`);
        // The node socket's deadline: the reply timeout plus WAIT's own time (1 s by default).
        assert.ok(tookMs >= 1500 && tookMs < 5000, `after the node's socket deadline of 2 s (${tookMs} ms)`);
        assert.equal(await within(waiting, 300), 'pending', 'at 0 the command still waits');
      } finally {
        process.kill(pid, 'SIGCONT');
      }
      await waitClusterHealthy(); // the stop may have started a failover
      assert.equal(String(await waiting), 'v', 'the waiting command is answered once the node is back');
      assert.equal(
        String(await untilAnswered(watched, ['GET', key], 30_000)),
        'v',
        'the watched connection works again',
      );
    } finally {
      await watched.close();
      await unwatched.close();
    }
  });

  it('the daemon loses nothing through a master failover and a resharding under load', async () => {
    const results = await runClusterScenarios(
      { messages: 3000, ratePerSec: 600, drainTimeoutMs: 90_000, logDir: 'test-artifacts/cluster' },
      undefined,
      false,
    );
    const text = clusterTable(results);
    mkdirSync('test-artifacts', { recursive: true });
    writeFileSync('test-artifacts/cluster.md', text);
    process.stdout.write(`# ${text.split('\n').join('\n# ')}\n`);
    assert.equal(results.length, 2);
    for (const r of results) {
      assert.ok(r.written > 0, `${r.id}: load written`);
      assert.equal(r.lost, 0, `${r.id} (${r.title}) lost ${r.lost}`);
      assert.equal(r.delivered, r.written, `${r.id}: everything delivered`);
    }
  });
});
