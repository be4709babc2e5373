import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { describeConfig, loadConfig, streamsByDb } from '../../src/config/config.js';
import { ConfigError } from '../../src/errors.js';
import { parseDbRange } from '../../src/config/field-values.js';
import { FIELDS } from '../../src/config/schema.js';

describe('configuration', () => {
  it('uses the spec defaults when nothing is set', () => {
    const cfg = loadConfig({ env: {}, configFile: null });
    assert.equal(cfg.target.timeToLiveSeconds, 3600);
    assert.equal(cfg.target.syncTtlSeconds, 604800);
    assert.equal(cfg.kafka.maxRequestSizeBytes, 20971520);
    assert.equal(cfg.kafka.maxConcurrentSends, 100);
    assert.deepEqual(cfg.source.dbSearchRange, [...Array(16).keys()]);
    assert.deepEqual(cfg.stream.discoveryPatterns, ['*-stream', 'device:*:stream']);
  });

  it('layers env.conf < environment < overrides, and keeps the topic map order', () => {
    const dir = mkdtempSync(join(tmpdir(), 'rks-'));
    const file = join(dir, 'env.conf');
    writeFileSync(
      file,
      `KAFKA_TOPIC=from-file\nSOURCE_REDIS_PORT=7000\nTARGET_REDIS_DB=3\nSTREAM_TARGET_TOPIC_MAP='{"device:*:stream": "a", "*-stream": "b"}'\n`,
    );
    const cfg = loadConfig({
      configFile: file,
      env: { SOURCE_REDIS_PORT: '7001', TARGET_REDIS_DB: '4' },
      overrides: { TARGET_REDIS_DB: '5' },
    });
    assert.equal(cfg.kafka.topic, 'from-file');
    assert.equal(cfg.source.port, 7001);
    assert.equal(cfg.target.db, 5);
    assert.deepEqual(cfg.stream.topicMap, [
      ['device:*:stream', 'a'],
      ['*-stream', 'b'],
    ]);
  });

  it('reads a secret from <VAR>_FILE and never prints it', () => {
    const dir = mkdtempSync(join(tmpdir(), 'rks-'));
    writeFileSync(join(dir, 'pw'), 's3cret\n');
    const env = { TARGET_REDIS_PASSWORD_FILE: join(dir, 'pw') };
    assert.equal(loadConfig({ env, configFile: null }).target.password, 's3cret');
    const lines = describeConfig({ env, configFile: null });
    assert.ok(lines.includes('TARGET_REDIS_PASSWORD=***'));
    assert.ok(!lines.join('\n').includes('s3cret'));
  });

  it('reports every invalid variable at once, naming it', () => {
    const env: Record<string, string> = {};
    for (const f of FIELDS) {
      if (f.kind === 'int') env[f.env] = 'not-a-number';
      if (f.kind === 'bool') env[f.env] = 'maybe';
      if (f.kind === 'enum') env[f.env] = 'bogus';
      if (f.kind === 'json-map') env[f.env] = '[1,2]';
      if (f.kind === 'db-range') env[f.env] = '5-2';
    }
    const err = (() => {
      try {
        loadConfig({ env, configFile: null });
      } catch (e) {
        return e;
      }
      return undefined;
    })();
    assert.ok(err instanceof ConfigError);
    for (const name of Object.keys(env))
      assert.ok(
        err.problems.some((p) => p.startsWith(name)),
        `a problem names ${name}`,
      );
    assert.equal(err.code, 'CONFIG_INVALID');
    assert.equal(err.retryable, false);
  });

  it('parses SOURCE_STREAMS once: "name" in the first DB of the search range, "name@db", a name may contain "@"', () => {
    const cfg = loadConfig({
      env: { SOURCE_STREAMS: 'a, b@3,user@example.com,x@y@12,a', SOURCE_REDIS_DB_SEARCH_RANGE: '5-7' },
      configFile: null,
    });
    assert.deepEqual(cfg.stream.streams, [
      { name: 'a', db: 5 },
      { name: 'b', db: 3 },
      { name: 'user@example.com', db: 5 },
      { name: 'x@y', db: 12 },
    ]);
    assert.deepEqual(
      [...streamsByDb(cfg.stream.streams)],
      [
        [5, ['a', 'user@example.com']],
        [3, ['b']],
        [12, ['x@y']],
      ],
    );
    assert.deepEqual(loadConfig({ env: {}, configFile: null }).stream.streams, []);
  });

  it('rejects a malformed SOURCE_STREAMS entry, naming the variable and the entry', () => {
    for (const [value, why] of [
      ['ok,@3', /"@3" has no stream name/],
      ['s@', /"s@" has no DB after "@"/],
      ['s@99999', /DB 99999 is out of range/],
    ] as const) {
      assert.throws(
        () => loadConfig({ env: { SOURCE_STREAMS: value }, configFile: null }),
        (err: unknown) =>
          err instanceof ConfigError && err.problems.some((p) => p.startsWith('SOURCE_STREAMS: ') && why.test(p)),
        value,
      );
    }
  });

  it('parses DB ranges and lists', () => {
    assert.deepEqual(parseDbRange('0-3,7'), [0, 1, 2, 3, 7]);
    assert.deepEqual(parseDbRange('5'), [5]);
    assert.equal(typeof parseDbRange('a-b'), 'string');
  });
});

describe('errors', () => {
  it('treats a retryable error as retryable whatever foreign error caused it, and any non-retryable link as final', async () => {
    const { DeliveryError, ConnectionError, isRetryable } = await import('../../src/errors.js');
    const lib = Object.assign(new Error('Local: Message timed out'), { code: -192 });
    assert.equal(isRetryable(new DeliveryError('timed out', { retryable: true, cause: lib })), true);
    assert.equal(isRetryable(new DeliveryError('refused', { retryable: false })), false);
    const inner = new ConnectionError('auth', { retryable: false });
    assert.equal(isRetryable(new DeliveryError('outer', { retryable: true, cause: inner })), false);
    assert.equal(isRetryable(lib), false);
  });
});
