import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { loadConfig } from '../../src/config/config.js';
import { ConfigError } from '../../src/errors.js';

function problems(env: Record<string, string>): string[] {
  try {
    loadConfig({ env, configFile: null });
    return [];
  } catch (err) {
    assert.ok(err instanceof ConfigError);
    return [...err.problems];
  }
}

describe('Sentinel configuration', () => {
  it('reads the Sentinels, the master name and their own credentials (password from _FILE)', () => {
    const dir = mkdtempSync(join(tmpdir(), 'rks-'));
    writeFileSync(join(dir, 'pw'), 'sentinel-secret\n');
    const cfg = loadConfig({
      configFile: null,
      env: {
        TARGET_REDIS_SENTINELS: '10.0.0.1:26379, [::1]:26380',
        TARGET_REDIS_SENTINEL_MASTER: 'buffer',
        TARGET_REDIS_SENTINEL_USERNAME: 'watcher',
        TARGET_REDIS_SENTINEL_PASSWORD_FILE: join(dir, 'pw'),
        TARGET_REDIS_MIN_REPLICAS_ACKED: '1',
      },
    });
    assert.deepEqual(cfg.target.sentinel, {
      nodes: [
        { host: '10.0.0.1', port: 26379 },
        { host: '::1', port: 26380 },
      ],
      masterName: 'buffer',
      username: 'watcher',
      password: 'sentinel-secret',
    });
    assert.equal(cfg.target.minReplicasAcked, 1);
    assert.equal(cfg.target.replicaAckTimeoutMs, 1000);
    assert.equal(cfg.source.sentinel, undefined, 'the source stays host/port');
  });

  it('refuses host or port set next to the Sentinels, for either role', () => {
    const p = problems({
      SOURCE_REDIS_SENTINELS: '127.0.0.1:26379',
      SOURCE_REDIS_SENTINEL_MASTER: 'm',
      SOURCE_REDIS_PORT: '6380',
    });
    assert.deepEqual(p, [
      "SOURCE_REDIS_SENTINELS and SOURCE_REDIS_PORT: set one or the other (with Sentinels the master's address is asked of them)",
    ]);
    const t = problems({
      TARGET_REDIS_SENTINELS: '127.0.0.1:26379',
      TARGET_REDIS_SENTINEL_MASTER: 'm',
      TARGET_REDIS_HOST: 'x',
    });
    assert.match(t.join('\n'), /TARGET_REDIS_SENTINELS and TARGET_REDIS_HOST: set one or the other/);
  });

  it('requires the master name and host:port Sentinels, and a master name only with Sentinels', () => {
    assert.match(
      problems({ TARGET_REDIS_SENTINELS: '127.0.0.1:26379' }).join('\n'),
      /TARGET_REDIS_SENTINEL_MASTER: required/,
    );
    assert.match(
      problems({ TARGET_REDIS_SENTINELS: 'sentinel-without-port', TARGET_REDIS_SENTINEL_MASTER: 'm' }).join('\n'),
      /TARGET_REDIS_SENTINELS: "sentinel-without-port" is not host:port/,
    );
    assert.match(problems({ TARGET_REDIS_SENTINEL_MASTER: 'm' }).join('\n'), /set without TARGET_REDIS_SENTINELS/);
  });

  it('refuses key capture with a source behind Sentinels (it would not follow a failover)', () => {
    const p = problems({
      SOURCE_REDIS_SENTINELS: '127.0.0.1:26379',
      SOURCE_REDIS_SENTINEL_MASTER: 'm',
      KEY_SYNC_ENABLED: 'true',
      KEY_SYNC_PATTERNS: '*',
    });
    assert.match(p.join('\n'), /KEY_SYNC_ENABLED=true with SOURCE_REDIS_SENTINELS/);
  });
});
