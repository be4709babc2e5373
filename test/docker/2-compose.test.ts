/**
 * docker/docker-compose.no_swarm.yml brought up whole (source Redis, target Redis, Kafka, the
 * service) with `redis-kafka-sync manage compose up` (docker-compose, which builds the service
 * image from docker/Dockerfile), then entries written into its source Redis must reach its Kafka.
 *
 * Nothing of the file is overridden: its variables point it at images that can be had here (the
 * stand-ins of scripts/docker-standins.sh for redis:7.2-bookworm and apache/kafka, and the
 * stand-in base for the service's build) and at ports from STACK_PORTS.docker. Every service
 * uses the host network and listens on 127.0.0.1, as the file says.
 */
import assert from 'node:assert/strict';
import { copyFileSync, rmSync } from 'node:fs';
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
const PROJECT = `rkscompose${process.env['RKS_STACK_PORT_OFFSET'] || '0'}`;
const SERVICES = ['source-redis', 'target-redis', 'kafka', 'redis-kafka-sync'];

/** The file's variables: images that can be had here, ports from the sandbox. */
function variables(images: Standins): Record<string, string> {
  return {
    RKS_REDIS_IMAGE: images.REDIS_IMAGE,
    RKS_KAFKA_IMAGE: images.KAFKA_IMAGE,
    RKS_BASE_IMAGE: images.NODE_IMAGE,
    RKS_IMAGE: APP_IMAGE,
    RKS_SOURCE_REDIS_PORT: String(d.composeSource),
    RKS_TARGET_REDIS_PORT: String(d.composeTarget),
    RKS_KAFKA_PORT: String(d.composeKafka),
    RKS_KAFKA_CONTROLLER_PORT: String(d.composeKafkaController),
    RKS_HTTP_PORT: String(d.httpCompose),
  };
}

let vars: Record<string, string> = {};

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
      '-p',
      PROJECT,
      '--compose-command',
      'docker-compose',
      ...extra,
    ],
    { env: { ...process.env, ...vars }, timeoutMs: 20 * 60_000 },
  );
}

async function consumeFrom(bootstrap: string, topic: string, want: number, timeoutMs: number): Promise<Message[]> {
  const consumer = new Kafka.KafkaConsumer(
    {
      'bootstrap.servers': bootstrap,
      'group.id': `compose-test-${uid()}`,
      'enable.auto.commit': false,
      // The service creates the topic on its first send, often after this subscribes: see it
      // within a second, not at the default 5-minute metadata refresh (seen: 0 records in 90 s).
      'topic.metadata.refresh.interval.ms': 1000,
    },
    { 'auto.offset.reset': 'earliest' },
  );
  await new Promise<void>((resolve, reject) =>
    consumer.connect({ timeout: 10_000 }, (err) => (err ? reject(err) : resolve())),
  );
  consumer.subscribe([topic]);
  const out: Message[] = [];
  const deadline = Date.now() + timeoutMs;
  try {
    while (out.length < want && Date.now() < deadline) {
      out.push(
        ...(await new Promise<Message[]>((resolve) => consumer.consume(500, (err, m) => resolve(err ? [] : m)))),
      );
    }
  } finally {
    await new Promise<void>((resolve) => consumer.disconnect(() => resolve()));
  }
  return out;
}

describe('docker-compose.no_swarm.yml, the whole file, through `manage compose`', { skip }, () => {
  const caCopy = join(ROOT, 'docker', 'npm-ca', 'npm-ca.pem');

  before(async () => {
    vars = variables(await standins('all'));
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
          const id = await docker([
            'ps',
            '-aq',
            '--filter',
            `label=com.docker.compose.project=${PROJECT}`,
            '--filter',
            `label=com.docker.compose.service=${service}`,
          ]);
          states[service] =
            id === ''
              ? 'missing'
              : await docker([
                  'inspect',
                  '-f',
                  '{{.State.Status}}/{{if .State.Health}}{{.State.Health.Status}}{{end}}',
                  id,
                ]);
        }
        return Object.values(states).every((s) => s === 'running/healthy') ? states : undefined;
      },
      120_000,
      2000,
    );
    assert.deepEqual(Object.keys(health), SERVICES);

    const cfg = loadConfig({
      configFile: null,
      env: {
        SOURCE_REDIS_HOST: h,
        SOURCE_REDIS_PORT: String(d.composeSource),
        TARGET_REDIS_HOST: h,
        TARGET_REDIS_PORT: String(d.composeTarget),
      },
    });
    const source = await connectRedis(cfg.source, { role: 'source', db: 0, connectTimeoutMs: 5000 });
    const n = 200;
    try {
      for (let i = 0; i < n; i += 1)
        await source.send(['XADD', 'device:7:stream', '*', 'device_id', '7', 'seq', String(i)]);
    } finally {
      await source.close();
    }
    // The file's defaults: topic default-sync-topic, discovery of device:*:stream every 10 s.
    const records = await consumeFrom(`${h}:${d.composeKafka}`, 'default-sync-topic', n, 90_000);
    const seqs = new Set(records.map((r) => (JSON.parse(String(r.value)) as { fields: { seq: string } }).fields.seq));
    if (seqs.size !== n) {
      // Say why: the service's own log (the containers are removed after the test).
      const id = await docker([
        'ps',
        '-aq',
        '--filter',
        `label=com.docker.compose.project=${PROJECT}`,
        '--filter',
        'label=com.docker.compose.service=redis-kafka-sync',
      ]);
      const logs = await run('docker', ['logs', '--tail', '60', id]).catch((err: unknown) => ({
        stdout: '',
        stderr: String(err),
      }));
      process.stdout.write(`# service log (last 60 lines):\n${`${logs.stdout}${logs.stderr}`.replace(/^/gm, '# ')}\n`);
    }
    assert.equal(seqs.size, n, `all ${n} entries reached the compose Kafka (got ${records.length} records)`);
    const status = await manage('status');
    process.stdout.write(
      `# manage compose up (image build cached, waits for healthy Redis and Kafka): ${upSeconds.toFixed(0)} s\n${status.stdout.replace(/^/gm, '# ')}\n`,
    );
  });
});
