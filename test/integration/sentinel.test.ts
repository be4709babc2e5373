/**
 * Source and target behind Redis Sentinel, on real servers: for each role one master, one
 * replica and three Sentinels (Debian's redis-server / redis-sentinel on loopback sandbox ports,
 * started and stopped here: src/stack/replicated.ts), the stack's Kafka as the sink, the daemon
 * (built package) in between. The failover scenarios (test/chaos/failover.ts) write load, fail
 * over the target (SENTINEL FAILOVER; master SIGKILLed with TARGET_REDIS_MIN_REPLICAS_ACKED=1
 * and SOURCE_ACK_MODE=target) and the source, and check that nothing is lost end to end.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { promisify } from 'node:util';
import { after, before, describe, it } from 'node:test';
import { loadConfig } from '../../src/config/config.js';
import { connectRedis } from '../../src/redis/client.js';
import { failoverState } from '../../src/redis/topology.js';
import { stackEnv } from '../../src/stack/index.js';
import { REPLICATED_PORTS } from '../../src/stack/paths.js';
import { ensureTls } from '../../src/stack/tls.js';
import { tlsPaths } from '../../src/stack/index.js';
import {
  MASTER_NAME,
  SENTINEL_PASSWORD,
  SET_PASSWORD,
  startTlsSentinel,
  sentinelEnv,
  sentinelFailover,
  sentinelMaster,
  startSentinelSet,
  stopReplicated,
  waitUntil,
} from '../../src/stack/replicated.js';
import { failoverTable, runFailoverScenarios } from '../chaos/failover.js';
import { ensureStack } from '../helpers/real-stack.js';

const run = promisify(execFile);

describe('Redis Sentinel (source and target)', () => {
  before(async () => {
    await ensureStack();
  });

  it('refuses TARGET_REDIS_SENTINELS next to TARGET_REDIS_HOST with exit code 2, naming both', async () => {
    const err = await run(process.execPath, ['--import', 'tsx', 'src/cli/bin.ts', 'run', '--config', '/dev/null'], {
      env: {
        ...process.env,
        ...stackEnv('plaintext'),
        TARGET_REDIS_SENTINELS: '127.0.0.1:26379',
        TARGET_REDIS_SENTINEL_MASTER: 'mymaster',
      },
    }).then(
      () => assert.fail('the daemon started'),
      (e: { code: number; stderr: string }) => e,
    );
    assert.equal(err.code, 2);
    assert.match(err.stderr, /TARGET_REDIS_SENTINELS and TARGET_REDIS_HOST\/TARGET_REDIS_PORT: set one or the other/);
  });

  describe('a connection through the Sentinels', () => {
    before(async () => startSentinelSet('target'));
    after(async () => stopReplicated('target'));

    it('follows a SENTINEL FAILOVER to the promoted replica, and every acknowledged write is on the new master with WAIT 1', async () => {
      const cfg = loadConfig({ configFile: null, env: sentinelEnv('target', 'TARGET') });
      const conn = await connectRedis(cfg.target, { role: 'target', db: 0 });
      try {
        const first = await sentinelMaster('target');
        assert.match(conn.endpoint, new RegExp(`at 127\\.0\\.0\\.1:${first}$`));
        const before = failoverState('target').failovers;
        let acked = 0;
        let failed = 0;
        let stop = false;
        // Each INCR counts only once a replica confirmed it (what TARGET_REDIS_MIN_REPLICAS_ACKED does).
        const writer = (async () => {
          while (!stop) {
            try {
              await conn.send(['INCR', 'rks-sentinel-test']);
              if (Number(await conn.send(['WAIT', '1', '500'])) >= 1) acked += 1;
            } catch {
              failed += 1;
              await new Promise((r) => setTimeout(r, 20));
            }
          }
        })();
        await waitUntil('some writes', async () => acked > 50);
        await sentinelFailover('target');
        await waitUntil('the promotion', async () => (await sentinelMaster('target')) !== first);
        const promoted = await sentinelMaster('target');
        await waitUntil('the connection on the promoted master', async () => conn.endpoint.endsWith(`:${promoted}`));
        await waitUntil('writes on the new master', async () => {
          const n = acked;
          await new Promise((r) => setTimeout(r, 300));
          return acked > n + 20;
        });
        stop = true;
        await writer;
        assert.equal(failoverState('target').failovers, before + 1, 'one failover counted');
        // INCR acknowledged and confirmed by a replica before the switch survived it.
        const value = Number(String(await conn.send(['GET', 'rks-sentinel-test'])));
        assert.ok(
          value >= acked,
          `counter ${value} holds all ${acked} confirmed increments (${failed} failed meanwhile)`,
        );
        assert.equal(String(await conn.send(['ROLE']).then((r) => (r as Buffer[])[0])), 'master');
      } finally {
        await conn.close();
      }
    });
  });

  describe('TLS to the Sentinels', () => {
    before(async () => {
      await ensureTls();
      const t = tlsPaths();
      await startTlsSentinel({ cert: t.brokerCert, key: t.brokerKey, ca: t.caCert });
    });
    after(async () => stopReplicated('tls'));

    it('asks a TLS-only Sentinel and uses the TLS-only master it names, trusting *_REDIS_TLS_CA_LOCATION', async () => {
      const { master, sentinel } = REPLICATED_PORTS.tls;
      const env = {
        TARGET_REDIS_SENTINELS: `127.0.0.1:${sentinel}`,
        TARGET_REDIS_SENTINEL_MASTER: MASTER_NAME,
        TARGET_REDIS_SENTINEL_PASSWORD: SENTINEL_PASSWORD,
        TARGET_REDIS_PASSWORD: SET_PASSWORD,
        TARGET_REDIS_TLS: 'true',
        TARGET_REDIS_TLS_CA_LOCATION: tlsPaths().caCert,
      };
      const conn = await connectRedis(loadConfig({ configFile: null, env }).target, {
        role: 'target',
        db: 0,
        connectTimeoutMs: 5000,
      });
      try {
        assert.match(conn.endpoint, new RegExp(`at 127\\.0\\.0\\.1:${master}$`));
        assert.equal(String(await conn.send(['SET', 'rks-tls-sentinel', 'ok'])), 'OK');
      } finally {
        await conn.close();
      }
      // Without the CA the Sentinel's certificate is refused: TLS really is on that hop.
      const untrusted = loadConfig({
        configFile: null,
        env: { ...env, TARGET_REDIS_TLS_CA_LOCATION: tlsPaths().untrustedCaCert },
      });
      await assert.rejects(
        connectRedis(untrusted.target, { role: 'target', db: 0, connectTimeoutMs: 3000 }),
        /no Sentinel answered/,
      );
    });
  });

  it('the daemon loses nothing through failovers of the target and the source under load', async () => {
    const results = await runFailoverScenarios({
      messages: 3000,
      ratePerSec: 600,
      drainTimeoutMs: 90_000,
      logDir: 'test-artifacts/failover',
    });
    const text = failoverTable(results);
    mkdirSync('test-artifacts', { recursive: true });
    writeFileSync('test-artifacts/failover.md', text);
    process.stdout.write(`# ${text.split('\n').join('\n# ')}\n`);
    assert.equal(results.length, 3);
    for (const r of results) {
      assert.ok(r.written > 0, `${r.id}: load written`);
      assert.equal(r.lost, 0, `${r.id} (${r.title}) lost ${r.lost}`);
      assert.equal(r.delivered, r.written, `${r.id}: everything delivered`);
      assert.ok(r.loggedFailover, `${r.id}: the failover is in the service log`);
      assert.ok((r.failoversMetric ?? 0) >= 1, `${r.id}: rks_redis_failovers_total counted it`);
    }
    for (const id of ['t', 'k']) {
      const r = results.find((x) => x.id === id);
      assert.match(r?.readyzDuringFailover ?? '', /^503 .*target: .*failover in progress/, `${id}: /readyz said so`);
    }
  });
});
