import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { RedisConnection } from '../../src/redis/client.js';
import { KAFKA_USERS, stackEnv } from '../../src/stack/index.js';
import { ensureStack, redis, uid } from '../helpers/real-stack.js';
import { deletePrefix, metric, startDaemon, waitFor, type Daemon } from '../helpers/daemon.js';

const DB = 7;

async function get(url: string): Promise<{ status: number; text: string }> {
  const res = await fetch(url);
  return { status: res.status, text: await res.text() };
}

describe('the daemon HTTP endpoints', () => {
  let source: RedisConnection;
  let target: RedisConnection;
  const daemons: Daemon[] = [];
  const streams: string[] = [];
  const prefixes: string[] = [];
  before(async () => {
    await ensureStack();
    source = await redis('source', DB);
    target = await redis('target');
  });
  after(async () => {
    await Promise.all(daemons.map((d) => d.stop()));
    if (streams.length > 0) await source.send(['DEL', ...streams]);
    for (const p of prefixes) await deletePrefix(target, p);
    await source.close();
    await target.close();
  });

  it('exposes Prometheus metrics that move as entries flow, by stream and topic', async () => {
    const id = uid();
    const topic = `obs-${id}`;
    const [a, b, held] = [`obs-${id}-a`, `obs-${id}-b`, `obs-${id}-held`];
    streams.push(a, b, held);
    // Entries another consumer of the group read and holds: pending, oldest id from 1970.
    await source.send(['XADD', held, '1000-0', 'device_id', 'h', 'n', '0']);
    await source.send(['XADD', held, '1000-1', 'device_id', 'h', 'n', '1']);
    await source.send(['XGROUP', 'CREATE', held, 'redis-kafka-sync', '0']);
    await source.send(['XREADGROUP', 'GROUP', 'redis-kafka-sync', `other-${id}`, 'STREAMS', held, '>']);
    prefixes.push(`obs${id}:`);
    const d = startDaemon({
      SOURCE_REDIS_DB_SEARCH_RANGE: String(DB),
      STREAM_AUTO_DISCOVERY: 'true',
      STREAM_DISCOVERY_INTERVAL: '1',
      STREAM_DISCOVERY_PATTERNS: `obs-${id}-*`,
      KAFKA_TOPIC: topic,
      TARGET_REDIS_KEY_PREFIX: `obs${id}:`,
      SOURCE_BLOCK_MS: '200',
      SOURCE_BATCH_SIZE: '10',
      SOURCE_CLAIM_IDLE_MS: '600000',
      KAFKA_MAX_CONCURRENT_SENDS: '1',
    });
    daemons.push(d);
    const url = await d.url;
    assert.equal((await get(`${url}/healthz`)).status, 200);
    for (let i = 0; i < 300; i += 1)
      await source.send(['XADD', i % 2 === 0 ? a : b, '*', 'device_id', `d${i % 7}`, 'n', String(i)]);

    let text = '';
    await waitFor('300 messages counted as sent and acknowledged', async () => {
      text = (await get(`${url}/metrics`)).text;
      return (
        metric(text, 'rks_messages_sent_total', { topic }) === 300 &&
        metric(text, 'rks_source_entries_acknowledged_total', { db: String(DB), stream: a }) === 150 &&
        metric(text, 'rks_source_entries_acknowledged_total', { db: String(DB), stream: b }) === 150
      );
    });
    assert.equal(metric(text, 'rks_source_entries_read_total', { db: String(DB), stream: a }), 150);
    assert.equal(metric(text, 'rks_messages_buffered_total', { topic }), 300);
    assert.ok((metric(text, 'rks_delivery_latency_seconds_count') ?? 0) > 0, 'delivery latency observed');
    // One batch in flight at a time: the reader had to wait for room.
    assert.ok((metric(text, 'rks_backpressure_pauses_total', { reason: 'in_flight_budget' }) ?? 0) > 0);
    for (const component of ['source_redis', 'target_redis', 'kafka'])
      assert.equal(metric(text, 'rks_connection_up', { component }), 1, component);

    // Scrape-time gauges are cached for a few seconds: wait until they show the drained state.
    await waitFor('the backlog, lag and pending gauges to show the drained streams', async () => {
      text = (await get(`${url}/metrics`)).text;
      return (
        metric(text, 'rks_unsynced_backlog') === 0 &&
        metric(text, 'rks_consumer_group_lag', { db: String(DB), stream: a }) === 0 &&
        metric(text, 'rks_consumer_group_pending', { db: String(DB), stream: a }) === 0 &&
        metric(text, 'rks_consumer_group_pending', { db: String(DB), stream: held }) === 2
      );
    });
    const age = metric(text, 'rks_oldest_pending_age_seconds', { db: String(DB), stream: held }) ?? 0;
    assert.ok(age > 1_000_000_000, `the oldest pending entry (id 1000-0) is decades old, got ${age}`);
    assert.equal(metric(text, 'rks_backpressure_paused', { reason: 'in_flight_budget' }), 0);
    assert.ok((metric(text, 'rks_last_sync_timestamp_seconds') ?? 0) > 0);

    const ready = await get(`${url}/readyz`);
    assert.equal(ready.status, 200, ready.text);
    assert.equal(await d.stop(), 0, d.output());
  });

  it('answers /readyz with 503 naming Kafka when Kafka is unreachable, while /healthz answers 200', async () => {
    const id = uid();
    prefixes.push(`obsk${id}:`);
    const d = startDaemon({
      SOURCE_REDIS_DB_SEARCH_RANGE: String(DB),
      STREAM_DISCOVERY_PATTERNS: `obs-none-${id}-*`,
      TARGET_REDIS_KEY_PREFIX: `obsk${id}:`,
      KAFKA_BOOTSTRAP_SERVERS: '127.0.0.1:1',
    });
    daemons.push(d);
    const url = await d.url;
    let ready = { status: 0, text: '' };
    // Once both Redis servers are connected, Kafka is the only part named.
    await waitFor('readyz to name only kafka', async () => {
      ready = await get(`${url}/readyz`);
      return ready.text.startsWith('kafka:') && ready.text.trim().split('\n').length === 1;
    });
    assert.equal(ready.status, 503);
    assert.match(ready.text, /^kafka: disconnected/);
    assert.doesNotMatch(ready.text, /source|target/);
    assert.equal((await get(`${url}/healthz`)).status, 200);
    const status = JSON.parse((await get(`${url}/api/status`)).text) as {
      readiness: { ready: boolean; parts: { name: string; ok: boolean }[] };
    };
    assert.equal(status.readiness.ready, false);
    assert.deepEqual(
      status.readiness.parts.filter((p) => !p.ok).map((p) => p.name),
      ['kafka'],
    );
    const metrics = (await get(`${url}/metrics`)).text;
    assert.equal(metric(metrics, 'rks_connection_up', { component: 'kafka' }), 0);
    assert.equal(await d.stop(), 0, d.output());
  });

  it('never writes a secret: Redis and Kafka passwords and the HTTP token stay out of logs and endpoints', async () => {
    const id = uid();
    const sourcePassword = `src-secret-${id}`;
    const token = `token-secret-${id}`;
    const sasl = stackEnv('sasl');
    prefixes.push(`obss${id}:`);
    const d = startDaemon({
      ...sasl,
      LOG_LEVEL: 'debug',
      // The source Redis has no password: AUTH fails, so the connection error is logged.
      SOURCE_REDIS_PASSWORD: sourcePassword,
      SOURCE_REDIS_DB_SEARCH_RANGE: String(DB),
      STREAM_DISCOVERY_PATTERNS: `obs-none-${id}-*`,
      TARGET_REDIS_KEY_PREFIX: `obss${id}:`,
      HTTP_AUTH_TOKEN: token,
    });
    daemons.push(d);
    const url = await d.url;
    await waitFor('the failed source login to be logged', async () =>
      d.output().includes('cannot connect to the source Redis'),
    );
    await waitFor('Kafka (SASL) to connect', async () => d.output().includes('connected to Kafka'));
    const api = (await get(`${url}/api/status`)).text;
    const metrics = (await get(`${url}/metrics`)).text;
    const ingest = await fetch(`${url}/v1/messages`, {
      method: 'POST',
      headers: { authorization: 'Bearer wrong', 'content-type': 'application/json' },
      body: '{}',
    });
    const ingestText = await ingest.text();
    assert.equal(ingest.status, 401);
    assert.equal(await d.stop(), 0, d.output());
    assert.match(api, /cannot connect to the source Redis/, 'the error is in the dashboard ring');
    const everything = [d.output(), api, metrics, ingestText].join('\n');
    for (const secret of [sourcePassword, token, sasl.KAFKA_SASL_PASSWORD as string, KAFKA_USERS.scram512.password])
      assert.equal(everything.includes(secret), false, `secret ${secret} was written`);
  });
});
