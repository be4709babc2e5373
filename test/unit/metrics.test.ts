import assert from 'node:assert/strict';
import { Writable } from 'node:stream';
import { describe, it } from 'node:test';
import { Registry } from 'prom-client';
import { loadConfig } from '../../src/config/config.js';
import { memoryOf, PER_MESSAGE_OVERHEAD_BYTES } from '../../src/engine/batch.js';
import { countBy } from '../../src/observability/engine-metrics.js';
import { createLogger, formatLine, LogRing, recentEvents } from '../../src/observability/logger.js';
import { METRIC, SyncMetrics, type ScrapeSource, type StreamGroupState } from '../../src/observability/metrics.js';
import { metric } from '../helpers/daemon.js';

function fakeSource(groups: StreamGroupState[]): ScrapeSource & { groupsNow: StreamGroupState[] } {
  const src = {
    groupsNow: groups,
    backlog: async () => 42,
    groups: async () => src.groupsNow,
    connections: () => ({ source_redis: true, target_redis: true, kafka: false }),
    inFlight: () => ({ batches: 2, bytes: 2048 }),
    lastSyncMs: () => 1_700_000_000_000,
  };
  return src;
}

describe('SyncMetrics', () => {
  it('counts engine events in the injected registry, by stream and topic, and mirrors them in totals', async () => {
    const registry = new Registry();
    const m = new SyncMetrics(registry);
    m.entriesRead(3, 'device:1:stream', 10);
    m.buffered('t1', 9);
    m.sent('t1', 7);
    m.sent('t2', 1);
    m.sourceAcked(3, 'device:1:stream', 8);
    m.deadLettered('t1', 1);
    m.retry('buffer write', 2);
    m.deliveryLatency(0.02);
    m.transaction('committed', 0.012);
    m.transaction('committed', 0.004);
    m.transaction('aborted', 0.5);
    const text = await registry.metrics();
    assert.equal(metric(text, METRIC.entriesRead, { db: '3', stream: 'device:1:stream' }), 10);
    assert.equal(metric(text, METRIC.buffered, { topic: 't1' }), 9);
    assert.equal(metric(text, METRIC.sent, { topic: 't1' }), 7);
    assert.equal(metric(text, METRIC.sourceAcked, { db: '3', stream: 'device:1:stream' }), 8);
    assert.equal(metric(text, METRIC.deadLettered, { topic: 't1' }), 1);
    assert.equal(metric(text, METRIC.retries, { operation: 'buffer_write' }), 2);
    assert.equal(metric(text, `${METRIC.deliveryLatency}_count`), 1);
    assert.equal(metric(text, METRIC.transactions, { outcome: 'committed' }), 2);
    assert.equal(metric(text, METRIC.transactions, { outcome: 'aborted' }), 1);
    assert.equal(metric(text, `${METRIC.transactionSeconds}_count`), 2, 'commit latency of committed ones only');
    assert.deepEqual(m.totals, {
      read: 10,
      buffered: 9,
      sent: 8,
      acknowledged: 8,
      deadLettered: 1,
      retries: 2,
      pauses: 0,
      transactionsCommitted: 2,
      transactionsAborted: 1,
      lastCommitMs: 4,
    });
    assert.deepEqual(
      [...m.sentByTopic],
      [
        ['t1', 7],
        ['t2', 1],
      ],
    );
  });

  it('shows a reader in the paused gauge until its pause ends, once however often it is ended', async () => {
    const registry = new Registry();
    const m = new SyncMetrics(registry);
    const end = m.pause('target_full');
    m.pause('in_flight_budget')();
    let text = await registry.metrics();
    assert.equal(metric(text, METRIC.paused, { reason: 'target_full' }), 1);
    assert.equal(metric(text, METRIC.paused, { reason: 'in_flight_budget' }), 0);
    assert.equal(m.pausedCount, 1);
    end();
    end();
    text = await registry.metrics();
    assert.equal(metric(text, METRIC.paused, { reason: 'target_full' }), 0);
    assert.equal(metric(text, METRIC.pauses, { reason: 'target_full' }), 1);
    assert.equal(m.totals.pauses, 2);
  });

  it('reads scrape-time gauges from the bound source, and drops series of streams that went away', async () => {
    const registry = new Registry();
    const m = new SyncMetrics(registry);
    const gone: StreamGroupState = { db: 0, stream: 'gone', lag: 1, pending: 1, oldestPendingAgeMs: 1000 };
    const src = fakeSource([
      { db: 0, stream: 's', lag: 5, pending: 3, oldestPendingAgeMs: 2500 },
      { db: 1, stream: 'nolag', lag: undefined, pending: undefined, oldestPendingAgeMs: undefined },
      gone,
    ]);
    m.bind(src);
    let text = await registry.metrics();
    assert.equal(metric(text, METRIC.backlog), 42);
    assert.equal(metric(text, METRIC.groupLag, { db: '0', stream: 's' }), 5);
    assert.equal(metric(text, METRIC.groupPending, { db: '0', stream: 's' }), 3);
    assert.equal(metric(text, METRIC.oldestPendingAge, { db: '0', stream: 's' }), 2.5);
    assert.equal(metric(text, METRIC.groupLag, { db: '1', stream: 'nolag' }), undefined, 'unknown lag: no sample');
    assert.equal(metric(text, METRIC.connectionUp, { component: 'kafka' }), 0);
    assert.equal(metric(text, METRIC.connectionUp, { component: 'target_redis' }), 1);
    assert.equal(metric(text, METRIC.inFlightBytes), 2048);
    assert.equal(metric(text, METRIC.lastSync), 1_700_000_000);
    src.groupsNow = src.groupsNow.filter((g) => g !== gone);
    text = await registry.metrics();
    assert.equal(metric(text, METRIC.groupPending, { db: '0', stream: 'gone' }), undefined);
  });

  it('keeps registries apart: two instances in one process do not collide', async () => {
    const a = new SyncMetrics();
    const b = new SyncMetrics();
    a.sent('t', 1);
    assert.equal(metric(await b.registry.metrics(), METRIC.sent, { topic: 't' }), undefined);
    assert.equal(metric(await a.registry.metrics(), METRIC.sent, { topic: 't' }), 1);
  });

  it('says in the help of rks_in_flight_bytes what its value counts: payload, both keys and the per-message overhead', async () => {
    const registry = new Registry();
    new SyncMetrics(registry);
    const text = await registry.metrics();
    const help = /^# HELP rks_in_flight_bytes (.*)$/m.exec(text)?.[1] ?? '';
    const m = { key: 'msg:t:1-0:s0:s', topic: 't', kafkaKey: Buffer.from('dev'), payload: Buffer.from('12345') };
    assert.equal(memoryOf([m]), 5 + 3 + m.key.length + PER_MESSAGE_OVERHEAD_BYTES, 'what the gauge adds up');
    assert.match(help, /payload/);
    assert.match(help, /Kafka key/);
    assert.match(help, /buffer key/);
    assert.match(help, new RegExp(`${PER_MESSAGE_OVERHEAD_BYTES} B`), 'names the per-message overhead');
    assert.match(help, /KAFKA_MAX_IN_FLIGHT_BYTES/);
  });

  it('counts a batch once per label', () => {
    assert.deepEqual(
      [...countBy(['a', 'b', 'a'], (x) => x)],
      [
        ['a', 2],
        ['b', 1],
      ],
    );
  });
});

describe('the logger', () => {
  it('writes JSON with secrets redacted and copies warnings, not info, into the recent-events ring', () => {
    const lines: string[] = [];
    const out = new Writable({
      write(chunk: Buffer, _enc, done) {
        lines.push(chunk.toString());
        done();
      },
    });
    const marker = `m-${Math.random().toString(36).slice(2)}`;
    const log = createLogger('info', out);
    log.info({ marker }, 'an info line');
    log.warn({ marker, cfg: { password: 'hunter2' }, authToken: 'tok-secret' }, 'a warning');
    const joined = lines.join('');
    assert.match(joined, /"msg":"a warning"/);
    assert.doesNotMatch(joined, /hunter2|tok-secret/);
    const mine = recentEvents.list().filter((e) => e.detail.includes(marker));
    assert.deepEqual(
      mine.map((e) => [e.level, e.msg]),
      [['WARN', 'a warning']],
    );
    assert.doesNotMatch(mine[0]?.detail ?? '', /hunter2|tok-secret/);
  });

  it('formats a JSON line as a readable one for a terminal, and passes other text through', () => {
    const line = JSON.stringify({
      level: 40,
      time: Date.UTC(2024, 0, 1, 12, 0, 1),
      service: 's',
      msg: 'Kafka down',
      attempt: 3,
    });
    assert.match(formatLine(line), /^\d\d:\d\d:\d\d WARN {2}Kafka down {2}attempt=3\n$/);
    assert.equal(formatLine('plain text'), 'plain text\n');
  });

  it('keeps only the most recent events in the ring, newest first', () => {
    const ring = new LogRing(3);
    for (let i = 0; i < 5; i += 1) ring.push({ timeMs: i, level: 'WARN', msg: `e${i}`, detail: '' });
    assert.deepEqual(
      ring.list().map((e) => e.msg),
      ['e4', 'e3', 'e2'],
    );
  });
});

describe('HTTP_ADDRESS', () => {
  const load = (value: string): ReturnType<typeof loadConfig> =>
    loadConfig({ configFile: null, env: { HTTP_ADDRESS: value } });

  it('takes host:port, [ipv6]:port and off (no server)', () => {
    assert.deepEqual(load('127.0.0.1:9464').http.address, { host: '127.0.0.1', port: 9464 });
    assert.deepEqual(load('[::1]:0').http.address, { host: '::1', port: 0 });
    assert.equal(load('off').http.address, undefined);
    assert.equal(loadConfig({ configFile: null, env: {} }).http.maxBodyBytes, 1048576);
  });

  it('rejects anything else naming the variable', () => {
    assert.throws(() => load('9464'), /HTTP_ADDRESS: "9464" is not host:port/);
    assert.throws(() => load('localhost:70000'), /HTTP_ADDRESS/);
  });
});
