import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ClusterKeyFormat, SHARDS } from '../../src/buffer/cluster-layout.js';
import { KeyFormat } from '../../src/buffer/key-format.js';
import { loadConfig } from '../../src/config/config.js';
import { ConfigError } from '../../src/errors.js';
import { routingKey } from '../../src/redis/cluster.js';

/** CRC16/XMODEM, as Redis Cluster hashes keys (of the hash tag when there is one). */
function slotOf(key: string): number {
  const open = key.indexOf('{');
  const close = open >= 0 ? key.indexOf('}', open + 1) : -1;
  const tagged = open >= 0 && close > open + 1 ? key.slice(open + 1, close) : key;
  let crc = 0;
  for (const byte of Buffer.from(tagged)) {
    crc ^= byte << 8;
    for (let i = 0; i < 8; i += 1) crc = crc & 0x8000 ? ((crc << 1) ^ 0x1021) & 0xffff : (crc << 1) & 0xffff;
  }
  return crc % 16384;
}

describe('cluster key layout', () => {
  const keys = new ClusterKeyFormat('p:');

  it("puts a message, its marker and its shard's unsynced set in one slot", () => {
    const key = keys.messageKey({
      topic: 'telemetry',
      id: '1-0',
      origin: { kind: 'stream', db: 2, stream: 'device:7:stream' },
    });
    assert.match(key, /^p:\{rks\d+\}msg:telemetry:1-0:s2:device:7:stream$/);
    const marker = keys.marker(key);
    assert.match(marker.set, /^p:\{rks\d+\}synced:telemetry:w0:s2:device:7:stream$/);
    assert.equal(marker.member, '1-0');
    assert.equal(slotOf(marker.set), slotOf(key));
    const legacy = keys.legacyMarkerKey(key);
    assert.match(legacy, /^p:\{rks\d+\}synced:telemetry:1-0:s2:device:7:stream$/);
    assert.equal(slotOf(legacy), slotOf(key));
    assert.equal(slotOf(keys.unsyncedSetOf(key)), slotOf(key));
    assert.deepEqual(keys.parse(key), {
      topic: 'telemetry',
      id: '1-0',
      origin: { kind: 'stream', db: 2, stream: 'device:7:stream' },
    });
  });

  it('gives the same entry the same key (idempotent re-reads) and one device one shard', () => {
    const parts = { topic: 't', id: '5-1', origin: { kind: 'direct' as const, deviceId: 'd1' } };
    assert.equal(keys.messageKey(parts), keys.messageKey(parts));
    const other = keys.messageKey({ ...parts, id: '9-9' });
    assert.equal(keys.shardOf(other), keys.shardOf(keys.messageKey(parts)));
  });

  it('spreads many streams over every shard and the shards over many slots', () => {
    const shards = new Set<number>();
    for (let i = 0; i < 2000; i += 1)
      shards.add(
        keys.shardOf(keys.messageKey({ topic: 't', id: '1-0', origin: { kind: 'stream', db: 0, stream: `s${i}` } })),
      );
    assert.equal(shards.size, SHARDS);
    assert.equal(new Set(keys.unsyncedSets.map(slotOf)).size, SHARDS, 'one slot per shard');
  });

  it('leaves the standalone layout exactly as it was', () => {
    const plain = new KeyFormat('p:');
    const key = plain.messageKey({ topic: 't', id: '1-0', origin: { kind: 'stream', db: 0, stream: 's' } });
    assert.equal(key, 'p:msg:t:1-0:s0:s');
    assert.equal(plain.unsyncedSetOf(key), 'p:unsynced_keys_set');
    assert.deepEqual(plain.unsyncedSets, ['p:unsynced_keys_set']);
  });

  it('routes a script call by its first key and keyless commands anywhere', () => {
    assert.equal(routingKey(['EVALSHA', 'abc', '3', 'k1', 'k2', 'k3', 'a']), 'k1');
    assert.equal(routingKey(['EVALSHA', 'abc', '0', 'a']), undefined);
    assert.equal(routingKey(['WAIT', '1', '100']), undefined);
    assert.equal(routingKey(['SCARD', 'set']), 'set');
  });
});

describe('cluster configuration', () => {
  const problems = (env: Record<string, string>): string => {
    try {
      loadConfig({ env, configFile: null });
      return '';
    } catch (err) {
      assert.ok(err instanceof ConfigError);
      return err.problems.join('\n');
    }
  };

  it('reads the seed nodes', () => {
    const cfg = loadConfig({ configFile: null, env: { TARGET_REDIS_CLUSTER_NODES: '10.0.0.1:7000,10.0.0.2:7001' } });
    assert.deepEqual(cfg.target.cluster, {
      nodes: [
        { host: '10.0.0.1', port: 7000 },
        { host: '10.0.0.2', port: 7001 },
      ],
    });
  });

  it('refuses host/port, Sentinels, a DB other than 0 and braces in the prefix next to the cluster', () => {
    const seeds = { TARGET_REDIS_CLUSTER_NODES: '127.0.0.1:7000' };
    assert.match(problems({ ...seeds, TARGET_REDIS_HOST: 'x' }), /TARGET_REDIS_CLUSTER_NODES and TARGET_REDIS_HOST/);
    assert.match(
      problems({ ...seeds, TARGET_REDIS_SENTINELS: '127.0.0.1:26379', TARGET_REDIS_SENTINEL_MASTER: 'm' }),
      /a target is a cluster or behind Sentinels, not both/,
    );
    assert.match(problems({ ...seeds, TARGET_REDIS_DB: '3' }), /a Redis Cluster has only DB 0/);
    assert.match(problems({ ...seeds, TARGET_REDIS_KEY_PREFIX: '{x}' }), /must not contain "\{" or "\}"/);
    assert.match(problems({ TARGET_REDIS_CLUSTER_NODES: 'nope' }), /"nope" is not host:port/);
  });
});
