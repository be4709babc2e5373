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
import { stackEnv } from '../../src/stack/index.js';
import {
  clusterEnv,
  clusterNodes,
  SET_PASSWORD,
  admin,
  startCluster,
  stopReplicated,
} from '../../src/stack/replicated.js';
import { clusterTable, runClusterScenarios } from '../chaos/cluster.js';
import { ensureStack, uid } from '../helpers/real-stack.js';

function clusterConfig(prefix: string) {
  const env: Record<string, string> = { ...stackEnv('plaintext'), ...clusterEnv(), TARGET_REDIS_KEY_PREFIX: prefix };
  delete env['TARGET_REDIS_HOST'];
  delete env['TARGET_REDIS_PORT'];
  return loadConfig({ configFile: null, env });
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
