/**
 * Connections the engine opens, counted on the real servers (CLIENT LIST): what the configuration
 * says, and never a pair too many.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { SyncEngine } from '../../src/engine/engine.js';
import { silentLogger } from '../../src/observability/logger.js';
import { asText, type RedisConnection } from '../../src/redis/client.js';
import { ensureStack, redis, stackConfig, uid } from '../helpers/real-stack.js';

/** Clients of the server in `db` whose name is `name`. */
async function clients(conn: RedisConnection, name: string, db?: number): Promise<number> {
  const list = asText(await conn.send(['CLIENT', 'LIST'])).split('\n');
  return list.filter((l) => l.includes(` name=${name} `) && (db === undefined || l.includes(` db=${db} `))).length;
}

describe('connections of the engine', () => {
  let source: RedisConnection;
  let target: RedisConnection;
  before(async () => {
    await ensureStack();
    source = await redis('source');
    target = await redis('target');
  });
  after(async () => {
    await source.close();
    await target.close();
  });

  it('opens TARGET_REDIS_POOL_SIZE target connections, and one pair per source DB however many ask at once', async () => {
    const db = 9;
    const name = `rks-conn-${uid()}`;
    const cfg = stackConfig({ TARGET_REDIS_POOL_SIZE: '6', SOURCE_CONSUMER_NAME: name });
    const engine = new SyncEngine(cfg, silentLogger);
    const before = await clients(source, 'redis-kafka-sync-source', db);
    await engine.start({ connectTimeoutMs: 10_000 });
    try {
      const targetConns = await clients(target, 'redis-kafka-sync-target');
      assert.ok(targetConns >= 6, `TARGET_REDIS_POOL_SIZE=6 gives 6 connections (found ${targetConns})`);
      const [a, b, c] = await Promise.all([engine.sourceDb(db), engine.sourceDb(db), engine.sourceDb(db)]);
      assert.ok(a === b && b === c, 'one SourceDb for the DB');
      assert.equal(await clients(source, 'redis-kafka-sync-source', db), before + 2, 'commands + blocking reads');
    } finally {
      await engine.stop();
    }
    assert.equal(await clients(source, 'redis-kafka-sync-source', db), before, 'all closed at stop');
  });
});
