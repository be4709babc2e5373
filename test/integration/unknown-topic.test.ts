/**
 * Unknown topic with topic auto-creation off: messages are retried (never dropped), the failure
 * is surfaced in the logs, nothing is acknowledged in the source, and everything is delivered
 * once the topic exists. Runs a broker of its own (auto.create.topics.enable=false).
 */
import assert from 'node:assert/strict';
import { Writable } from 'node:stream';
import { after, before, describe, it } from 'node:test';
import Kafka from '@confluentinc/kafka-javascript';

process.env.RKS_STACK_DIR = '.stack-noauto';
process.env.RKS_STACK_PORT_OFFSET = String(Number(process.env.RKS_STACK_PORT_OFFSET ?? 0) + 300);
process.env.RKS_KAFKA_AUTO_CREATE = 'false';

const { stackUp, stackDown, stackEnv } = await import('../../src/stack/index.js');
const { loadConfig } = await import('../../src/config/config.js');
const { connectRedis } = await import('../../src/redis/client.js');
const { SyncEngine } = await import('../../src/engine/engine.js');
const { createLogger } = await import('../../src/observability/logger.js');

describe('a topic that does not exist, with auto-creation off', () => {
  before(async () => {
    await stackUp();
  });
  after(async () => {
    await stackDown({ purge: true });
  });

  it('retries and reports the failure, acknowledges nothing, and delivers everything once the topic is created', async () => {
    const id = Math.random().toString(16).slice(2, 8);
    const topic = `missing-${id}`;
    const stream = `nt-${id}-stream`;
    const env: Record<string, string> = {
      ...stackEnv('plaintext'),
      SOURCE_REDIS_DB_SEARCH_RANGE: '0',
      STREAM_DISCOVERY_PATTERNS: stream,
      KAFKA_TOPIC: topic,
      SOURCE_BLOCK_MS: '100',
      SYNC_RETRY_MAX_MS: '1000',
      SYNC_STUCK_WARN_MS: '2000',
      HTTP_ADDRESS: 'off',
    };
    const cfg = loadConfig({ configFile: null, env });
    const source = await connectRedis(cfg.source, { role: 'source', db: 0 });
    for (let i = 0; i < 50; i += 1) await source.send(['XADD', stream, '*', 'device_id', 'd', 'n', String(i)]);
    let logs = '';
    const sink = new Writable({ write: (chunk: Buffer, _enc, done) => ((logs += chunk.toString()), done()) });
    const engine = new SyncEngine(cfg, createLogger('info', sink));
    await engine.start();
    engine.runForever();
    const admin = Kafka.AdminClient.create({ 'bootstrap.servers': env.KAFKA_BOOTSTRAP_SERVERS as string });
    try {
      const deadline = Date.now() + 60_000;
      const surfaced = /waiting for Kafka longer than SYNC_STUCK_WARN_MS/;
      while (!surfaced.test(logs) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 200));
      assert.match(logs, surfaced, `the failure is surfaced; logs:\n${logs.slice(-3000)}`);
      assert.match(logs, new RegExp(topic), 'the warning names the topic');
      assert.equal(engine.pipe.stats.deadLettered, 0, 'a missing topic is not a reason to dead-letter');
      assert.equal(Number(await source.send(['XLEN', stream])), 50, 'nothing acknowledged');
      assert.ok((await engine.target.unsyncedCount()) >= 50, 'everything is kept unsynced in the target');
      await new Promise<void>((resolve, reject) =>
        admin.createTopic({ topic, num_partitions: 1, replication_factor: 1 }, (err) =>
          err ? reject(err) : resolve(),
        ),
      );
      const until = Date.now() + 90_000;
      while (Number(await source.send(['XLEN', stream])) > 0 && Date.now() < until)
        await new Promise((r) => setTimeout(r, 250));
      assert.equal(
        Number(await source.send(['XLEN', stream])),
        0,
        'delivered and acknowledged after the topic appeared',
      );
      assert.equal(engine.pipe.stats.delivered, 50);
    } finally {
      admin.disconnect();
      await engine.stop();
      await source.close();
    }
  });
});
