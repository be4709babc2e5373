/**
 * docker/docker-compose.swarm.yml deployed with `redis-kafka-sync manage swarm deploy` on a
 * one-node swarm (`docker swarm init --advertise-addr 127.0.0.1` when none is active; left again
 * at the end), then removed with `manage swarm remove`.
 *
 * Its two replicas run against password-protected Redis servers started here (ports from
 * STACK_PORTS.docker) and the sandbox Kafka's SASL_SSL listener (SCRAM-SHA-512, the file's
 * defaults), with every password and the CA only as Docker secrets read through *_FILE.
 *
 * The override file (test-artifacts/docker/swarm.override.yml) puts the service on the `host`
 * network (no overlay here), gives replica n the HTTP port httpSwarm + n, and shortens stream
 * discovery to 2 s; everything else is the file's own.
 */
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { after, before, describe, it } from 'node:test';
import { loadConfig } from '../../src/config/config.js';
import { connectRedis, type RedisConnection } from '../../src/redis/client.js';
import { KAFKA_USERS, STACK_HOST, STACK_PORTS, tlsPaths } from '../../src/stack/index.js';
import { consume, ensureStack, uid } from '../helpers/real-stack.js';
import {
  APP_IMAGE,
  ARTIFACTS,
  buildAppImage,
  docker,
  dockerSkipReason,
  fetchText,
  metricSum,
  ROOT,
  run,
  standins,
  waitFor,
} from './docker.js';

const skip = await dockerSkipReason();
const d = STACK_PORTS.docker;
const h = STACK_HOST;
const STACK = `rksswarm${process.env['RKS_STACK_PORT_OFFSET'] || '0'}`;
const SERVICE = `${STACK}_redis-kafka-sync`;
const SWARM_FILE = join(ROOT, 'docker', 'docker-compose.swarm.yml');
const OVERRIDE = join(ARTIFACTS, 'swarm.override.yml');
const id = uid();
const SOURCE_PASSWORD = `source-${id}`;
const TARGET_PASSWORD = `target-${id}`;
const TOPIC = `swarm-${id}`;
const STREAMS = [0, 1, 2, 3].map((n) => `swarm${id}:${n}:stream`);
/** Entries written while replica 1 is caught with pending entries and killed. */
const KILL_PHASE = 1000;
const SECRETS: Record<string, () => string> = {
  rks_source_redis_password: () => SOURCE_PASSWORD,
  rks_target_redis_password: () => TARGET_PASSWORD,
  rks_kafka_sasl_password: () => KAFKA_USERS.scram512.password,
  // No client key is configured, so librdkafka does not use it; the secret must exist all the same.
  rks_kafka_ssl_key_password: () => 'unused',
  'rks_kafka_ca.pem': () => readFileSync(tlsPaths().caCert, 'utf8'),
};

function overrideFile(): string {
  if (d.httpSwarm % 10 !== 0) throw new Error(`STACK_PORTS.docker.httpSwarm ${d.httpSwarm} must be a multiple of 10`);
  return [
    '# Written by test/docker/3-swarm.test.ts (see there why).',
    "version: '3.8'",
    'services:',
    '  redis-kafka-sync:',
    '    environment:',
    `      HTTP_ADDRESS: '${h}:${d.httpSwarm / 10}{{.Task.Slot}}'`,
    "      STREAM_DISCOVERY_INTERVAL: '2'",
    'networks:',
    '  rks:',
    '    external: true',
    '    name: host',
    '',
  ].join('\n');
}

function replicaUrl(slot: number, path: string): string {
  return `http://${h}:${d.httpSwarm + slot}${path}`;
}

function manage(action: 'deploy' | 'remove' | 'status', env: Record<string, string> = {}) {
  const files = action === 'deploy' ? ['-f', SWARM_FILE, '-f', OVERRIDE, '--image', APP_IMAGE] : [];
  return run(
    process.execPath,
    ['bin/redis-kafka-sync.js', 'manage', 'swarm', action, '--stack-name', STACK, ...files],
    { env: { ...process.env, ...env }, timeoutMs: 120_000 },
  );
}

function startRedis(port: number, password: string): ChildProcess {
  const child = spawn(
    'redis-server',
    ['--port', String(port), '--bind', h, '--requirepass', password, '--save', '', '--appendonly', 'no'],
    { stdio: 'ignore' },
  );
  child.on('error', () => undefined);
  return child;
}

async function connect(port: number, password: string): Promise<RedisConnection> {
  const cfg = loadConfig({
    configFile: null,
    env: { SOURCE_REDIS_HOST: h, SOURCE_REDIS_PORT: String(port), SOURCE_REDIS_PASSWORD: password },
  });
  return waitFor(
    'a password-protected Redis',
    () => connectRedis(cfg.source, { role: 'source', db: 0, connectTimeoutMs: 2000 }),
    10_000,
  );
}

async function containersOf(slot?: number): Promise<string[]> {
  const out = await docker([
    'ps',
    '-q',
    '--filter',
    `label=com.docker.swarm.service.name=${SERVICE}`,
    ...(slot !== undefined ? ['--filter', `name=${SERVICE}.${slot}.`] : []),
  ]);
  return out === '' ? [] : out.split('\n');
}

async function readCount(slot: number): Promise<number | undefined> {
  const page = await fetchText(replicaUrl(slot, '/metrics'));
  return page === undefined ? undefined : metricSum(page, 'rks_source_entries_read_total');
}

async function pendingOf(source: RedisConnection, consumer?: string): Promise<number> {
  let total = 0;
  for (const stream of STREAMS) {
    const reply = (await source.send(
      consumer === undefined
        ? ['XPENDING', stream, 'redis-kafka-sync']
        : ['XPENDING', stream, 'redis-kafka-sync', '-', '+', '10000', consumer],
    )) as unknown[];
    total += consumer === undefined ? Number(reply[0]) : reply.length;
  }
  return total;
}

/** Writes `count` entries over the streams, numbered from `first`, in small paced batches. */
async function write(source: RedisConnection, first: number, count: number): Promise<void> {
  for (let i = first; i < first + count; i += 1) {
    await source.send(['XADD', STREAMS[i % STREAMS.length] as string, '*', 'seq', String(i)]);
    if (i % 20 === 19) await sleep(50);
  }
}

describe('docker-compose.swarm.yml on a one-node swarm, through `manage swarm`', { skip }, () => {
  const servers: ChildProcess[] = [];
  let initedSwarm = false;
  let source: RedisConnection | undefined;

  before(async () => {
    await ensureStack();
    const { NODE_IMAGE } = await standins('node');
    await buildAppImage(NODE_IMAGE);
    if ((await docker(['info', '-f', '{{.Swarm.LocalNodeState}}'])) !== 'active') {
      await docker(['swarm', 'init', '--advertise-addr', '127.0.0.1']);
      initedSwarm = true;
    }
    // A stack and secrets left by an interrupted run would block the secrets' creation.
    await manage('remove').catch(() => undefined);
    await waitFor(
      'no task of an earlier run',
      async () => ((await containersOf()).length === 0 ? true : undefined),
      60_000,
    );
    for (const [name, value] of Object.entries(SECRETS)) {
      await docker(['secret', 'rm', name]).catch(() => undefined);
      await docker(['secret', 'create', name, '-'], { input: value() });
    }
    servers.push(startRedis(d.swarmSource, SOURCE_PASSWORD), startRedis(d.swarmTarget, TARGET_PASSWORD));
    source = await connect(d.swarmSource, SOURCE_PASSWORD);
    await (await connect(d.swarmTarget, TARGET_PASSWORD)).close();
    // One entry per stream, so both replicas find every stream when they start.
    for (const stream of STREAMS) await source.send(['XADD', stream, '*', 'seq', 'start']);
    mkdirSync(ARTIFACTS, { recursive: true });
    writeFileSync(OVERRIDE, overrideFile());
  });

  after(async () => {
    await source?.close().catch(() => undefined);
    if (skip === undefined) {
      await manage('remove').catch(() => undefined);
      await waitFor(
        'the stack to be gone',
        async () => ((await containersOf()).length === 0 ? true : undefined),
        60_000,
      ).catch(() => undefined);
      for (const name of Object.keys(SECRETS)) await docker(['secret', 'rm', name]).catch(() => undefined);
      if (initedSwarm) await docker(['swarm', 'leave', '--force']).catch(() => undefined);
    }
    for (const s of servers) s.kill('SIGTERM');
  });

  it('deploys two replicas that share the work, read their secrets through *_FILE, lose nothing when one is killed, and are removed', async () => {
    const deployed = await manage('deploy', {
      SOURCE_REDIS_HOST: h,
      SOURCE_REDIS_PORT: String(d.swarmSource),
      TARGET_REDIS_HOST: h,
      TARGET_REDIS_PORT: String(d.swarmTarget),
      KAFKA_BOOTSTRAP_SERVERS: `${h}:${STACK_PORTS.kafka.saslSsl}`,
      KAFKA_SASL_USERNAME: KAFKA_USERS.scram512.username,
      KAFKA_TOPIC: TOPIC,
      STREAM_DISCOVERY_PATTERNS: `swarm${id}:*:stream`,
    });
    assert.match(
      deployed.stdout,
      /\+ RKS_IMAGE=\S+ docker stack deploy --compose-file \S+ --compose-file \S+ --with-registry-auth/,
    );

    // Both replicas up: /readyz answers 200 once Redis (passwords) and Kafka (SASL_SSL) connected.
    await waitFor(
      'both replicas ready',
      async () =>
        (await fetchText(replicaUrl(1, '/readyz'))) !== undefined &&
        (await fetchText(replicaUrl(2, '/readyz'))) !== undefined
          ? true
          : undefined,
      120_000,
      1000,
    );

    // Secrets: files owned by uid 10001, mode 0400 (the CA 0444), and only *_FILE variables.
    const [container] = await containersOf(1);
    assert.ok(container !== undefined);
    const inside = await docker([
      'exec',
      container,
      'sh',
      '-c',
      'stat -c "%n %u %a" /run/secrets/*; env | grep -E "_(FILE|PASSWORD)=" | sort',
    ]);
    for (const name of Object.keys(SECRETS))
      assert.match(inside, new RegExp(`/run/secrets/${name.replace('.', '\\.')} 10001 4[04]{2}`));
    assert.match(inside, /SOURCE_REDIS_PASSWORD_FILE=\/run\/secrets\/rks_source_redis_password/);
    assert.match(inside, /KAFKA_SASL_PASSWORD_FILE=\/run\/secrets\/rks_kafka_sasl_password/);
    assert.doesNotMatch(inside, /^(SOURCE_REDIS|TARGET_REDIS|KAFKA_SASL)_PASSWORD=/m, 'no password in the environment');

    // Sharing: the 4 + 400 entries are read once in all, and by both replicas.
    const src = source as RedisConnection;
    await write(src, 0, 400);
    const shares = await waitFor(
      'all entries read',
      async () => {
        const [a, b] = [await readCount(1), await readCount(2)];
        return a !== undefined && b !== undefined && a + b >= 404 ? [a, b] : undefined;
      },
      60_000,
    );
    assert.equal(
      (shares[0] ?? 0) + (shares[1] ?? 0),
      404,
      `each entry read by one replica only: ${shares.join(' + ')}`,
    );
    assert.ok((shares[0] ?? 0) > 0 && (shares[1] ?? 0) > 0, `both replicas read entries: ${shares.join(' + ')}`);

    // Kill replica 1's container while entries keep coming, at a moment it has entries pending:
    // frozen first (docker pause) so its pending entries cannot be acknowledged in between, then
    // SIGKILL. Swarm restarts the slot (restart_policy), whose consumer rks-1 takes them up.
    let writingDone = false;
    const writing = write(src, 400, KILL_PHASE).finally(() => (writingDone = true));
    let pendingAtKill = 0;
    while (!writingDone && pendingAtKill === 0) {
      if ((await pendingOf(src, 'rks-1')) === 0) continue;
      await docker(['pause', container]);
      pendingAtKill = await pendingOf(src, 'rks-1');
      if (pendingAtKill === 0) await docker(['unpause', container]);
    }
    if (pendingAtKill > 0) await docker(['kill', container]);
    await writing;
    assert.ok(pendingAtKill > 0, 'replica 1 was caught with entries pending while entries were written');
    const total = 400 + KILL_PHASE;
    const records = await waitFor(
      'every entry in Kafka',
      async () => {
        const all = await consume([TOPIC], (r) => new Set(r.map((m) => String(m.value))).size >= total + 4, 10_000);
        const seqs = new Set(all.map((m) => (JSON.parse(String(m.value)) as { fields: { seq: string } }).fields.seq));
        return seqs.size >= total + 1 ? seqs : undefined;
      },
      120_000,
      2000,
    );
    for (let i = 0; i < total; i += 1) assert.ok(records.has(String(i)), `entry ${i} reached Kafka`);
    assert.ok(records.has('start'));
    await waitFor(
      'no entry pending in the group',
      async () => ((await pendingOf(src)) === 0 ? true : undefined),
      90_000,
      1000,
    );
    await waitFor(
      'swarm to replace the killed task',
      async () => {
        const now = await containersOf(1);
        return now.length === 1 && now[0] !== container ? true : undefined;
      },
      60_000,
    );
    process.stdout.write(
      `# swarm: shares ${shares.join(' + ')}; rks-1 had ${pendingAtKill} pending entries when killed; none pending now\n`,
    );

    const removed = await manage('remove');
    assert.match(removed.stdout, /\+ docker stack rm /);
    await waitFor('the stack to be gone', async () => ((await containersOf()).length === 0 ? true : undefined), 60_000);
  });
});
