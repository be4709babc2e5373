import assert from 'node:assert/strict';
import { once } from 'node:events';
import { readFileSync } from 'node:fs';
import { after, before, describe, it } from 'node:test';
import type { RedisConnection } from '../../src/redis/client.js';
import { startDaemon, waitFor } from '../helpers/daemon.js';
import { consume, ensureStack, header, redis, uid } from '../helpers/real-stack.js';

describe('the run daemon', () => {
  let source: RedisConnection;
  let target: RedisConnection;
  before(async () => {
    await ensureStack();
    source = await redis('source', 5);
    target = await redis('target');
  });
  after(async () => {
    await source.close();
    await target.close();
  });

  it('picks up streams created while it runs, and on SIGTERM finishes, acknowledges and exits 0', async () => {
    const id = uid();
    const topic = `daemon-${id}`;
    const { child, output } = startDaemon({
      SOURCE_REDIS_DB_SEARCH_RANGE: '5',
      STREAM_AUTO_DISCOVERY: 'true',
      STREAM_DISCOVERY_INTERVAL: '1',
      STREAM_DISCOVERY_PATTERNS: `run-${id}-*`,
      KAFKA_TOPIC: topic,
      TARGET_REDIS_KEY_PREFIX: `dm${id}:`,
      SOURCE_BLOCK_MS: '200',
    });
    try {
      await waitFor('the daemon to run', async () => output().includes('"msg":"running"'), 30_000);
      // It replaced itself (same PID) with its heap settings: SYNC_HEAP_SEMI_SPACE_MB's default 8.
      const argv = readFileSync(`/proc/${child.pid}/cmdline`, 'utf8').split('\0');
      assert.equal(argv[1], '--max-semi-space-size=8', argv.join(' '));
      assert.equal(argv.filter((a) => a.startsWith('--max-semi-space-size')).length, 1);
      assert.ok(readFileSync(`/proc/${child.pid}/environ`, 'utf8').split('\0').includes('MALLOC_ARENA_MAX=2'));
      // Streams created after start are discovered without a restart.
      for (let i = 0; i < 500; i += 1)
        await source.send(['XADD', `run-${id}-${i % 5}`, '*', 'device_id', `d${i % 5}`, 'n', String(i)]);
      await waitFor('the new streams to drain', async () => {
        const lens = await Promise.all([0, 1, 2, 3, 4].map((i) => source.send(['XLEN', `run-${id}-${i}`])));
        return lens.every((l) => Number(l) === 0);
      });
      const t0 = Date.now();
      child.kill('SIGTERM');
      const [code] = (await once(child, 'exit')) as [number | null];
      assert.equal(code, 0, output());
      assert.ok(Date.now() - t0 < 10_000, 'graceful stop within 10 s');
    } finally {
      if (child.exitCode === null) child.kill('SIGKILL');
    }
    const records = await consume([topic], (all) => all.length >= 500);
    assert.equal(new Set(records.map((r) => header(r, 'rks-id'))).size, 500);
    assert.equal(Number(await target.send(['SCARD', `dm${id}:unsynced_keys_set`])), 0);
  });

  it('with SOURCE_ACK_MODE=target, drains the source while Kafka is unreachable and delivers once Kafka is back', async () => {
    const id = uid();
    const topic = `tmode-${id}`;
    const prefix = `tm${id}:`;
    for (let i = 0; i < 200; i += 1)
      await source.send(['XADD', `tm-${id}-stream`, '*', 'device_id', 'd', 'n', String(i)]);
    const common = {
      SOURCE_REDIS_DB_SEARCH_RANGE: '5',
      STREAM_DISCOVERY_PATTERNS: `tm-${id}-*`,
      KAFKA_TOPIC: topic,
      TARGET_REDIS_KEY_PREFIX: prefix,
      SOURCE_ACK_MODE: 'target',
      SOURCE_BLOCK_MS: '200',
      SYNC_RESYNC_INTERVAL_MS: '500',
      SYNC_RESEND_AFTER_MS: '0',
    };
    // Kafka "down": nothing listens on this port.
    const down = startDaemon({ ...common, KAFKA_BOOTSTRAP_SERVERS: '127.0.0.1:1' });
    try {
      await waitFor(
        'the source to drain into the target',
        async () => Number(await source.send(['XLEN', `tm-${id}-stream`])) === 0,
        30_000,
      );
      assert.equal(Number(await target.send(['SCARD', `${prefix}unsynced_keys_set`])), 200);
      down.child.kill('SIGTERM');
      const [code] = (await once(down.child, 'exit')) as [number | null];
      assert.equal(code, 0, down.output());
    } finally {
      if (down.child.exitCode === null) down.child.kill('SIGKILL');
    }
    const up = startDaemon(common);
    try {
      await waitFor(
        'the buffer to be delivered',
        async () => Number(await target.send(['SCARD', `${prefix}unsynced_keys_set`])) === 0,
        30_000,
      );
    } finally {
      up.child.kill('SIGTERM');
      await once(up.child, 'exit');
    }
    const records = await consume([topic], (all) => all.length >= 200);
    assert.equal(records.length, 200);
  });

  it('keeps a young-generation flag the operator gave in NODE_OPTIONS instead of its own', async () => {
    const { child, output, stop } = startDaemon({
      NODE_OPTIONS: '--max-semi-space-size=4',
      MALLOC_ARENA_MAX: '4',
      STREAM_DISCOVERY_PATTERNS: `none-${uid()}-*`,
      KAFKA_TOPIC: `daemon-${uid()}`,
    });
    try {
      await waitFor('the daemon to run', async () => output().includes('"msg":"running"'), 30_000);
      const argv = readFileSync(`/proc/${child.pid}/cmdline`, 'utf8').split('\0');
      assert.ok(!argv.some((a) => a.startsWith('--max-semi-space-size')), argv.join(' '));
      const env = readFileSync(`/proc/${child.pid}/environ`, 'utf8').split('\0');
      assert.ok(env.includes('NODE_OPTIONS=--max-semi-space-size=4') && env.includes('MALLOC_ARENA_MAX=4'));
    } finally {
      assert.equal(await stop(), 0, output());
    }
  });

  it('gives its young generation back once when idle, and once more only after messages moved (SYNC_HEAP_IDLE_TRIM_MS)', async () => {
    const id = uid();
    const stream = `trim-${id}`;
    const { output, stop } = startDaemon({
      LOG_LEVEL: 'debug',
      SYNC_HEAP_IDLE_TRIM_MS: '300',
      SOURCE_REDIS_DB_SEARCH_RANGE: '5',
      STREAM_DISCOVERY_INTERVAL: '1',
      STREAM_DISCOVERY_PATTERNS: `trim-${id}*`,
      KAFKA_TOPIC: `daemon-${id}`,
      TARGET_REDIS_KEY_PREFIX: `tr${id}:`,
      SOURCE_BLOCK_MS: '200',
    });
    const trims = (): { youngMbBefore: number; youngMbAfter: number }[] =>
      output()
        .split('\n')
        .filter((l) => l.includes('"msg":"idle: heap trimmed"'))
        .map((l) => JSON.parse(l) as { youngMbBefore: number; youngMbAfter: number });
    try {
      await waitFor('the first idle trim', async () => trims().length === 1, 30_000);
      const [first] = trims();
      assert.ok(first && first.youngMbAfter < first.youngMbBefore, `young generation ${JSON.stringify(first)}`);
      // Quiet (discovery scans still run): no second collection in 5 periods.
      await new Promise((r) => setTimeout(r, 1500));
      assert.equal(trims().length, 1, 'one trim per idle period');
      for (let i = 0; i < 200; i += 1) await source.send(['XADD', stream, '*', 'device_id', 'd1', 'n', String(i)]);
      await waitFor('the entries to drain', async () => Number(await source.send(['XLEN', stream])) === 0);
      await waitFor('the trim after the drain', async () => trims().length === 2, 10_000);
    } finally {
      assert.equal(await stop(), 0, output());
    }
  });

  it('exits 2 naming every invalid variable', async () => {
    const { child, output } = startDaemon({
      SOURCE_REDIS_PORT: 'x',
      KAFKA_SECURITY_PROTOCOL: 'TLS',
      TARGET_REDIS_TIME_TO_LIVE: '-5',
    });
    const [code] = (await once(child, 'exit')) as [number | null];
    assert.equal(code, 2);
    assert.match(output(), /SOURCE_REDIS_PORT/);
    assert.match(output(), /KAFKA_SECURITY_PROTOCOL/);
    assert.match(output(), /TARGET_REDIS_TIME_TO_LIVE/);
  });
});
