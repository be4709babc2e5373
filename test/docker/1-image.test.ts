/**
 * The image: docker/Dockerfile built (classic builder) on the local stand-in for
 * node:24-bookworm-slim, then run with the host network against the sandbox stack.
 * Skipped, with the reason, when no Docker engine answers (scripts/dockerd.sh check).
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { STACK_HOST, STACK_PORTS, stackEnv } from '../../src/stack/index.js';
import { consume, ensureStack, redis, uid } from '../helpers/real-stack.js';
import {
  buildAppImage,
  docker,
  dockerSkipReason,
  fetchText,
  MB,
  metricSum,
  run,
  standins,
  waitFor,
  type BuiltImage,
} from './docker.js';

const skip = await dockerSkipReason();
if (skip !== undefined) process.stdout.write(`# docker tests skipped: ${skip}\n`);

/** The service's default SYNC_SHUTDOWN_TIMEOUT_MS: in-flight deliveries get this long on SIGTERM. */
const SHUTDOWN_TIMEOUT_MS = 8_000;
const MAX_GROWTH_MB = 150;

describe('the image (docker/Dockerfile on a stand-in for node:24-bookworm-slim)', { skip }, () => {
  let image: BuiltImage;
  const containers: string[] = [];

  before(async () => {
    await ensureStack();
    const { NODE_IMAGE } = await standins('node');
    image = await buildAppImage(NODE_IMAGE, true);
    process.stdout.write(
      `# image ${image.tag}: ${(image.bytes / MB).toFixed(1)} MB, base ${(image.baseBytes / MB).toFixed(1)} MB ` +
        `(+${((image.bytes - image.baseBytes) / MB).toFixed(1)} MB), built in ${image.seconds.toFixed(0)} s\n`,
    );
  });

  after(async () => {
    for (const name of containers) await docker(['rm', '-f', name]).catch(() => undefined);
  });

  it(`is at most ${MAX_GROWTH_MB} MB larger than its base image`, () => {
    const growth = (image.bytes - image.baseBytes) / MB;
    assert.ok(growth <= MAX_GROWTH_MB, `the image adds ${growth.toFixed(1)} MB to its base`);
  });

  it('runs as uid 10001, and holds neither the build-time CA bundle nor the Kafka client sources', async () => {
    assert.equal(await docker(['image', 'inspect', '-f', '{{.Config.User}}', image.tag]), '10001:10001');
    const out = await docker([
      'run',
      '--rm',
      '--network',
      'none',
      '--entrypoint',
      'sh',
      image.tag,
      '-c',
      'id -u; ls /app/node_modules/@confluentinc/kafka-javascript/build/Release /app/node_modules/@confluentinc/kafka-javascript/build/deps; ' +
        'ls -d /app/node_modules/@confluentinc/kafka-javascript/deps 2>&1; find / -xdev -name "npm-ca.pem" -o -path "/tmp/npm-ca*" 2>/dev/null; ' +
        "node -e \"require('@confluentinc/kafka-javascript'); console.log('kafka client loads')\"",
    ]);
    const lines = out.split('\n');
    assert.equal(lines[0], '10001', 'not root');
    assert.deepEqual(
      lines.filter((l) => /\.node$|\.so/.test(l)).sort(),
      ['confluent-kafka-javascript.node', 'librdkafka++.so.1', 'librdkafka.so.1'],
      'only the compiled module and the libraries it loads',
    );
    assert.ok(
      lines.some((l) => /kafka-javascript\/deps': No such file/.test(l)),
      `librdkafka's sources are gone: ${out}`,
    );
    assert.ok(!lines.some((l) => l.includes('npm-ca')), `no CA bundle of the build: ${out}`);
    assert.ok(lines.includes('kafka client loads'));
    const history = await docker(['history', '--no-trunc', '--format', '{{.CreatedBy}}', image.tag]);
    assert.doesNotMatch(history, /BEGIN CERTIFICATE|npm-ca/, 'nor in the metadata of its layers');
  });

  it('syncs from the sandbox Redis into Kafka, reports healthy, and stops cleanly on SIGTERM within the shutdown timeout', async () => {
    const id = uid();
    const name = `rks-image-test-${id}`;
    const topic = `docker-image-${id}`;
    const stream = `img${id}:1:stream`;
    const source = await redis('source');
    try {
      for (let i = 0; i < 100; i += 1) await source.send(['XADD', stream, '*', 'seq', String(i)]);
    } finally {
      await source.close();
    }
    const env = {
      ...stackEnv('plaintext'),
      KAFKA_TOPIC: topic,
      STREAM_DISCOVERY_PATTERNS: `img${id}:*:stream`,
      SOURCE_CONSUMER_GROUP: `img${id}`,
      TARGET_REDIS_KEY_PREFIX: `img${id}:`,
      HTTP_ADDRESS: `${STACK_HOST}:${STACK_PORTS.docker.httpRun}`,
    };
    containers.push(name);
    await docker([
      'run',
      '-d',
      '--name',
      name,
      '--network',
      'host',
      ...Object.entries(env).flatMap(([k, v]) => ['-e', `${k}=${v}`]),
      image.tag,
    ]);

    // Delivered (the topic exists from the first delivery on), as the container's /metrics says.
    const metricsUrl = `http://${STACK_HOST}:${STACK_PORTS.docker.httpRun}/metrics`;
    await waitFor(
      '100 deliveries in the metrics of the container',
      async () => {
        const page = await fetchText(metricsUrl);
        return page !== undefined && metricSum(page, 'rks_messages_sent_total') >= 100 ? true : undefined;
      },
      60_000,
    );
    const records = await consume([topic], (all) => all.length >= 100, 30_000);
    assert.equal(records.length, 100, 'every entry reached Kafka');
    const seqs = records.map((r) => Number((JSON.parse(String(r.value)) as { fields: { seq: string } }).fields.seq));
    assert.deepEqual(
      seqs.sort((a, b) => a - b),
      Array.from({ length: 100 }, (_, i) => i),
    );

    // The image's HEALTHCHECK (first probe after its 15 s interval) must find the service healthy.
    const health = await waitFor(
      'the health check',
      async () => {
        const s = await docker(['inspect', '-f', '{{.State.Health.Status}}', name]);
        return s === 'starting' ? undefined : s;
      },
      60_000,
      1000,
    );
    assert.equal(health, 'healthy', await docker(['inspect', '-f', '{{json .State.Health}}', name]));

    const started = Date.now();
    await docker(['stop', '--time', '30', name], { timeoutMs: 60_000 });
    const stopMs = Date.now() - started;
    const state = JSON.parse(await docker(['inspect', '-f', '{{json .State}}', name])) as {
      ExitCode: number;
      OOMKilled: boolean;
    };
    const { stdout, stderr } = await run('docker', ['logs', name]);
    const logs = `${stdout}${stderr}`;
    assert.equal(state.ExitCode, 0, `exit code 0 after SIGTERM; logs:\n${logs.slice(-2000)}`);
    assert.ok(
      stopMs < SHUTDOWN_TIMEOUT_MS + 4_000,
      `stopped in ${stopMs} ms (SIGTERM, not the SIGKILL of docker stop)`,
    );
    assert.match(logs, /"signal":"SIGTERM"/);
    process.stdout.write(`# SIGTERM to exit: ${stopMs} ms\n`);
  });
});
