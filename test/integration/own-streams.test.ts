/**
 * A source that is the target's own server and DB (one Redis for both, a common edge setup):
 * discovery must never take the service's own streams (the dead-letter stream) for device data.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { SyncEngine } from '../../src/engine/engine.js';
import { silentLogger } from '../../src/observability/logger.js';
import type { RedisConnection } from '../../src/redis/client.js';
import { STACK_PORTS } from '../../src/stack/index.js';
import { ensureStack, redis, stackConfig, uid } from '../helpers/real-stack.js';
import { waitFor } from '../helpers/daemon.js';

describe('a source on the target server', () => {
  let target: RedisConnection;
  before(async () => {
    await ensureStack();
    target = await redis('target', 7);
  });
  after(async () => {
    await target.close();
  });

  it('discovers device streams but never the dead-letter stream the service writes there', async () => {
    const id = uid();
    const prefix = `own${id}:`;
    const device = `own-${id}-dev`;
    await target.send(['XADD', `${prefix}dead_letters`, '*', 'key', 'x', 'reason', 'test', 'payload', 'p']);
    await target.send(['XADD', device, '*', 'device_id', 'd1', 'v', '1']);
    const cfg = stackConfig({
      SOURCE_REDIS_PORT: String(STACK_PORTS.target),
      SOURCE_REDIS_DB_SEARCH_RANGE: '7',
      TARGET_REDIS_DB: '7',
      TARGET_REDIS_KEY_PREFIX: prefix,
      STREAM_DISCOVERY_PATTERNS: '*',
      KAFKA_TOPIC: `own-${id}`,
    });
    const engine = new SyncEngine(cfg, silentLogger);
    await engine.start({ connectTimeoutMs: 15_000 });
    engine.runForever();
    try {
      await waitFor('the device entry delivered', async () => engine.pipe.stats.delivered >= 1);
      const streams = engine.sourceDbs.flatMap((s) => s.streamNames);
      assert.ok(streams.includes(device), 'the device stream is read');
      assert.ok(!streams.includes(`${prefix}dead_letters`), `the dead-letter stream is not: ${streams.join(', ')}`);
    } finally {
      await engine.stop();
      await target.send(['DEL', device]);
    }
    assert.equal(Number(await target.send(['XLEN', `${prefix}dead_letters`])), 1, 'the dead letter is still there');
    await target.send(['DEL', `${prefix}dead_letters`]);
  });
});
