/**
 * docker/docker-compose.no_swarm.yml brought up whole (source Redis, target Redis, Kafka, the
 * service) with `redis-kafka-sync manage compose up` (docker-compose, which builds the service
 * image from docker/Dockerfile), then entries written into its source Redis must reach its Kafka.
 *
 * The override file this test writes (test-artifacts/docker/compose.override.yml) changes only
 * what this machine needs: images that can be had (the stand-ins of scripts/docker-standins.sh
 * for redis:7.2-bookworm and apache/kafka, the stand-in base for the service's build), the host
 * network for every service (no bridge here), so ports on 127.0.0.1 from STACK_PORTS.docker and
 * the addresses that follow from them. Everything else (commands, Kafka settings, volumes,
 * healthchecks, depends_on: service_healthy) is the file's own.
 */
import assert from 'node:assert/strict';
import { copyFileSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import Kafka from '@confluentinc/kafka-javascript';
import type { Message } from '@confluentinc/kafka-javascript';
import { STACK_HOST, STACK_PORTS } from '../../src/stack/index.js';
import { uid } from '../helpers/real-stack.js';
import { connectRedis } from '../../src/redis/client.js';
import { loadConfig } from '../../src/config/config.js';
import {
  APP_IMAGE,
  ARTIFACTS,
  docker,
  dockerSkipReason,
  npmCaFile,
  ROOT,
  run,
  standins,
  waitFor,
  type Standins,
} from './docker.js';

const skip = await dockerSkipReason();
const d = STACK_PORTS.docker;
const h = STACK_HOST;
const COMPOSE_FILE = join(ROOT, 'docker', 'docker-compose.no_swarm.yml');
const OVERRIDE = join(ARTIFACTS, 'compose.override.yml');
const PROJECT = `rkscompose${process.env['RKS_STACK_PORT_OFFSET'] || '0'}`;
const SERVICES = ['source-redis', 'target-redis', 'kafka', 'redis-kafka-sync'];

function override(images: Standins): string {
  const redisService = (port: number, extra: string[]): string[] => [
    `    image: ${images.REDIS_IMAGE}`,
    '    network_mode: host',
    `    command: ${JSON.stringify(['redis-server', '--port', String(port), '--bind', h, '--appendonly', 'yes', '--appendfsync', 'everysec', ...extra])}`,
    '    healthcheck:',
    `      test: ${JSON.stringify(['CMD-SHELL', `redis-cli -h ${h} -p ${port} ping | grep -q PONG`])}`,
  ];
  return [
    '# Written by test/docker/compose.test.ts: what this machine needs, nothing else (see that file).',
    'services:',
    '  source-redis:',
    ...redisService(d.composeSource, []),
    '  target-redis:',
    ...redisService(d.composeTarget, ['--maxmemory-policy', 'noeviction']),
    '  kafka:',
    `    image: ${images.KAFKA_IMAGE}`,
    '    network_mode: host',
    '    environment:',
    `      KAFKA_CONTROLLER_QUORUM_VOTERS: 1@${h}:${d.composeKafkaController}`,
    `      KAFKA_LISTENERS: PLAINTEXT://${h}:${d.composeKafka},CONTROLLER://${h}:${d.composeKafkaController},HOST://${h}:${d.composeKafkaHost}`,
    `      KAFKA_ADVERTISED_LISTENERS: PLAINTEXT://${h}:${d.composeKafka},HOST://${h}:${d.composeKafkaHost}`,
    '    healthcheck:',
    `      test: ${JSON.stringify(['CMD-SHELL', `/opt/kafka/bin/kafka-broker-api-versions.sh --bootstrap-server ${h}:${d.composeKafka} > /dev/null 2>&1`])}`,
    '  redis-kafka-sync:',
    '    build:',
    '      network: host',
    '      args:',
    `        BASE_IMAGE: ${images.NODE_IMAGE}`,
    '    network_mode: host',
    '    environment:',
    `      SOURCE_REDIS_HOST: ${h}`,
    `      SOURCE_REDIS_PORT: ${d.composeSource}`,
    `      TARGET_REDIS_HOST: ${h}`,
    `      TARGET_REDIS_PORT: ${d.composeTarget}`,
    `      KAFKA_BOOTSTRAP_SERVERS: ${h}:${d.composeKafka}`,
    `      HTTP_ADDRESS: ${h}:${d.httpCompose}`,
    '',
  ].join('\n');
}

function manage(action: 'up' | 'down' | 'status', extra: string[] = []): Promise<{ stdout: string; stderr: string }> {
  return run(
    process.execPath,
    [
      'bin/redis-kafka-sync.js',
      'manage',
      'compose',
      action,
      '-f',
      COMPOSE_FILE,
      '-f',
      OVERRIDE,
      '-p',
      PROJECT,
      '--compose-command',
      'docker-compose',
      ...extra,
    ],
    { env: { ...process.env, RKS_IMAGE: APP_IMAGE }, timeoutMs: 20 * 60_000 },
  );
}

async function consumeFrom(bootstrap: string, topic: string, want: number, timeoutMs: number): Promise<Message[]> {
  const consumer = new Kafka.KafkaConsumer(
    { 'bootstrap.servers': bootstrap, 'group.id': `compose-test-${uid()}`, 'enable.auto.commit': false },
    { 'auto.offset.reset': 'earliest' },
  );
  await new Promise<void>((resolve, reject) => consumer.connect({ timeout: 10_000 }, (err) => (err ? reject(err) : resolve())));
  consumer.subscribe([topic]);
  const out: Message[] = [];
  const deadline = Date.now() + timeoutMs;
  try {
    while (out.length < want && Date.now() < deadline) {
      out.push(...(await new Promise<Message[]>((resolve) => consumer.consume(500, (err, m) => resolve(err ? [] : m)))));
    }
  } finally {
    await new Promise<void>((resolve) => consumer.disconnect(() => resolve()));
  }
  return out;
}

describe('docker-compose.no_swarm.yml, the whole file, through `manage compose`', { skip }, () => {
  const caCopy = join(ROOT, 'docker', 'npm-ca', 'npm-ca.pem');

  before(async () => {
    const images = await standins('all');
    mkdirSync(ARTIFACTS, { recursive: true });
    writeFileSync(OVERRIDE, override(images));
    // A leftover of an interrupted run would keep its volumes (and data).
    await manage('down', ['--volumes']).catch(() => undefined);
  });

  after(async () => {
    rmSync(caCopy, { force: true });
    if (skip === undefined) await manage('down', ['--volumes']).catch(() => undefined);
  });

  it('comes up (every service healthy, the service image built by compose) and syncs entries from its Redis to its Kafka', async () => {
    // The build's npm needs the machine's CA bundle, as scripts/docker-build.sh gives it.
    const cafile = await npmCaFile();
    if (cafile !== undefined) copyFileSync(cafile, caCopy);
    const started = Date.now();
    try {
      await manage('up');
    } finally {
      rmSync(caCopy, { force: true });
    }
    const upSeconds = (Date.now() - started) / 1000;

    const health = await waitFor(
      'every compose service to be healthy',
      async () => {
        const states: Record<string, string> = {};
        for (const service of SERVICES) {
          const id = await docker(['ps', '-aq', '--filter', `label=com.docker.compose.project=${PROJECT}`, '--filter', `label=com.docker.compose.service=${service}`]);
          states[service] = id === '' ? 'missing' : await docker(['inspect', '-f', '{{.State.Status}}/{{if .State.Health}}{{.State.Health.Status}}{{end}}', id]);
        }
        return Object.values(states).every((s) => s === 'running/healthy') ? states : undefined;
      },
      120_000,
      2000,
    );
    assert.deepEqual(Object.keys(health), SERVICES);

    const cfg = loadConfig({ configFile: null, env: { SOURCE_REDIS_HOST: h, SOURCE_REDIS_PORT: String(d.composeSource), TARGET_REDIS_HOST: h, TARGET_REDIS_PORT: String(d.composeTarget) } });
    const source = await connectRedis(cfg.source, { role: 'source', db: 0, connectTimeoutMs: 5000 });
    const n = 200;
    try {
      for (let i = 0; i < n; i += 1) await source.send(['XADD', 'device:7:stream', '*', 'device_id', '7', 'seq', String(i)]);
    } finally {
      await source.close();
    }
    // The file's defaults: topic default-sync-topic, discovery of device:*:stream every 10 s.
    const records = await consumeFrom(`${h}:${d.composeKafka}`, 'default-sync-topic', n, 90_000);
    const seqs = new Set(records.map((r) => (JSON.parse(String(r.value)) as { fields: { seq: string } }).fields.seq));
    assert.equal(seqs.size, n, `all ${n} entries reached the compose Kafka (got ${records.length} records)`);
    const status = await manage('status');
    process.stdout.write(`# compose up (build cached) + healthy: ${upSeconds.toFixed(0)} s\n${status.stdout.replace(/^/gm, '# ')}\n`);
  });
});
