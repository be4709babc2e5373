/**
 * Proves the local sandbox is real: both Redis servers answer and keep data across a restart,
 * and Kafka delivers with acks=all + idempotence over every listener and SASL mechanism, while
 * bad credentials and an untrusted CA are refused. Starts the stack if needed (idempotent) and
 * leaves it running. Every test uses its own key/topic names.
 */
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { before, describe, test } from 'node:test';
import Kafka from '@confluentinc/kafka-javascript';
import type { DeliveryReport, GlobalConfig, KafkaConsumer, Message, Producer } from '@confluentinc/kafka-javascript';
import { createClient } from '@redis/client';
import {
  KAFKA_USERS,
  STACK_HOST,
  STACK_PORTS,
  stackEnv,
  stackStatus,
  stackUp,
  startServer,
  stopServer,
  tlsPaths,
} from '../../src/stack/index.js';
import { redisPaths } from '../../src/stack/paths.js';
import { sleep, spawnDetached, writePidFile } from '../../src/stack/process.js';
import { waitForRedis } from '../../src/stack/redis-server.js';

const unique = (label: string): string => `stack-test-${label}-${randomUUID().slice(0, 8)}`;

function redisClient(port: number) {
  return createClient({ socket: { host: STACK_HOST, port, reconnectStrategy: false } });
}

async function withRedis<T>(port: number, fn: (client: ReturnType<typeof redisClient>) => Promise<T>): Promise<T> {
  const client = redisClient(port);
  client.on('error', () => undefined);
  await client.connect();
  try {
    return await fn(client);
  } finally {
    client.destroy();
  }
}

// ---- Kafka helpers (raw librdkafka API, as the service uses it) ----

const bootstrap = (port: number): string => `${STACK_HOST}:${port}`;

type Client = Producer | KafkaConsumer;

function connect(client: Client, timeoutMs: number): Promise<void> {
  return new Promise((resolve, reject) => {
    client.connect({ timeout: timeoutMs }, (err) => {
      if (err) reject(new Error(err.message));
      else resolve();
    });
  });
}

/** Disconnect if connected; a client whose connect failed has already been torn down. */
function disconnect(client: Client): Promise<void> {
  if (!client.isConnected()) return Promise.resolve();
  return new Promise((resolve) => client.disconnect(() => resolve()));
}

function produceOne(producer: Producer, topic: string, value: string): Promise<DeliveryReport> {
  return new Promise((resolve, reject) => {
    producer.once('delivery-report', (err, report) => {
      if (err) reject(new Error(`delivery failed: ${err.message}`));
      else resolve(report);
    });
    producer.produce(topic, null, Buffer.from(value), topic);
  });
}

function consumeBatch(consumer: KafkaConsumer): Promise<Message[]> {
  return new Promise((resolve, reject) => {
    consumer.consume(10, (err, messages) => {
      if (err) reject(new Error(err.message));
      else resolve(messages);
    });
  });
}

/** Produce one message with acks=all + idempotence, then read it back from its offset. */
async function roundTrip(label: string, conn: GlobalConfig): Promise<void> {
  const topic = unique(label);
  const value = `hello over ${label} ${randomUUID()}`;
  const producer = new Kafka.Producer({
    ...conn,
    'enable.idempotence': true,
    'request.required.acks': -1,
    dr_cb: true,
    'message.timeout.ms': 15_000,
    'socket.timeout.ms': 5_000,
  });
  const consumer = new Kafka.KafkaConsumer(
    { ...conn, 'group.id': topic, 'enable.auto.commit': false, 'socket.timeout.ms': 5_000 },
    { 'auto.offset.reset': 'earliest' },
  );
  try {
    await connect(producer, 10_000);
    producer.setPollInterval(20);
    const report = await produceOne(producer, topic, value);
    assert.equal(report.topic, topic);

    await connect(consumer, 10_000);
    consumer.setDefaultConsumeTimeout(200);
    consumer.assign([{ topic, partition: report.partition, offset: report.offset }]);
    const deadline = Date.now() + 15_000;
    let found: Message | undefined;
    while (found === undefined && Date.now() < deadline) {
      found = (await consumeBatch(consumer)).find((m) => m.value?.toString() === value);
    }
    assert.ok(found, `message produced to ${topic} was not consumed back within 15 s`);
    assert.equal(found.key?.toString(), topic);
  } finally {
    await Promise.all([disconnect(producer), disconnect(consumer)]);
  }
}

/**
 * Connecting must fail; returns every error text librdkafka reported meanwhile. The reason
 * ("SASL authentication error: Authentication failed ...", "certificate verify failed") is only
 * in the FAIL log lines; `event.error` carries just the generic code text. Events reach us only
 * while the client is polled, so poll during the (failing) metadata request.
 */
async function failedConnectErrors(conn: GlobalConfig): Promise<string> {
  const producer = new Kafka.Producer({
    ...conn,
    'socket.timeout.ms': 2_000,
    'message.timeout.ms': 2_000,
    'reconnect.backoff.max.ms': 1_000,
  });
  const errors: string[] = [];
  producer.on('event.error', (err) => errors.push(err.message));
  producer.on('event.log', (log: { severity: number; message: string }) => {
    if (log.severity <= 3) errors.push(log.message);
  });
  const poller = setInterval(() => {
    if (producer.isConnected()) producer.poll();
  }, 50);
  try {
    await connect(producer, 3_000);
    assert.fail('connecting was expected to fail but succeeded');
  } catch (err) {
    if (err instanceof assert.AssertionError) throw err;
    errors.push(err instanceof Error ? err.message : String(err));
  } finally {
    clearInterval(poller);
    await disconnect(producer);
  }
  return errors.join('\n');
}

const tls = tlsPaths();
const kafkaPorts = STACK_PORTS.kafka;

describe('the local stack', () => {
  before(() => stackUp(), { timeout: 10 * 60_000 });

  test('status reports source, target and kafka up and accepting connections', async () => {
    const status = await stackStatus();
    for (const server of status.servers) {
      assert.equal(server.state, 'up', `${server.name} is not up`);
      assert.equal(server.accepting, true, `${server.name} does not accept connections`);
      assert.ok(server.pid !== null && server.pid > 0);
    }
  });

  test('stackUp is idempotent: a second call keeps the same processes', async () => {
    const pids = (await stackStatus()).servers.map((s) => s.pid);
    await stackUp();
    assert.deepEqual(
      (await stackStatus()).servers.map((s) => s.pid),
      pids,
    );
  });

  test('stackEnv points at the sandbox for each listener (ports shifted by RKS_STACK_PORT_OFFSET)', () => {
    const off = Number(process.env['RKS_STACK_PORT_OFFSET'] ?? 0);
    assert.deepEqual(stackEnv(), {
      SOURCE_REDIS_HOST: '127.0.0.1',
      SOURCE_REDIS_PORT: String(16379 + off),
      TARGET_REDIS_HOST: '127.0.0.1',
      TARGET_REDIS_PORT: String(16380 + off),
      KAFKA_BOOTSTRAP_SERVERS: `127.0.0.1:${19092 + off}`,
      KAFKA_SECURITY_PROTOCOL: 'PLAINTEXT',
    });
    const sasl = stackEnv('sasl');
    assert.equal(sasl['KAFKA_BOOTSTRAP_SERVERS'], `127.0.0.1:${19094 + off}`);
    assert.equal(sasl['KAFKA_SECURITY_PROTOCOL'], 'SASL_PLAINTEXT');
    assert.equal(sasl['KAFKA_SASL_MECHANISM'], 'SCRAM-SHA-512');
    assert.equal(sasl['KAFKA_SASL_USERNAME'], 'rks-scram512');
    assert.equal(sasl['KAFKA_SASL_PASSWORD'], 'rks-scram512-secret');
    const ssl = stackEnv('ssl');
    assert.equal(ssl['KAFKA_BOOTSTRAP_SERVERS'], `127.0.0.1:${19095 + off}`);
    assert.equal(ssl['KAFKA_SECURITY_PROTOCOL'], 'SSL');
    assert.equal(ssl['KAFKA_SSL_CA_LOCATION'], tls.caCert);
  });

  describe('Redis', () => {
    for (const name of ['source', 'target'] as const) {
      test(`the ${name} Redis answers a SET/GET round trip`, async () => {
        const key = unique(name);
        await withRedis(STACK_PORTS[name], async (redis) => {
          await redis.set(key, 'value-1', { expiration: { type: 'EX', value: 60 } });
          assert.equal(await redis.get(key), 'value-1');
        });
      });
    }

    test('the target Redis runs with appendonly yes and appendfsync everysec', async () => {
      await withRedis(STACK_PORTS.target, async (redis) => {
        assert.deepEqual(await redis.configGet('appendonly'), { appendonly: 'yes' });
        assert.deepEqual(await redis.configGet('appendfsync'), { appendfsync: 'everysec' });
      });
    });

    test('the target keeps a key across stopServer and startServer (AOF)', async () => {
      const key = unique('aof');
      await withRedis(STACK_PORTS.target, (redis) => redis.set(key, 'survives'));
      const before = (await stackStatus()).servers.find((s) => s.name === 'target');
      await stopServer('target');
      const stopped = (await stackStatus()).servers.find((s) => s.name === 'target');
      assert.equal(stopped?.state, 'down');
      await startServer('target');
      const after = (await stackStatus()).servers.find((s) => s.name === 'target');
      assert.notEqual(after?.pid, before?.pid, 'target was not restarted');
      await withRedis(STACK_PORTS.target, async (redis) => {
        assert.equal(await redis.get(key), 'survives');
        await redis.del(key);
      });
    });
  });

  test(
    'a target still loading its AOF after the ready timeout is waited for, not reported dead',
    { timeout: 90_000 },
    async () => {
      // 3,000 keys in the AOF's base, loaded 1 ms each (key-load-delay) with events served every
      // KB: the restarted server answers LOADING for ~3 s, three times the 1 s ready timeout given.
      const prefix = unique('loading');
      await withRedis(STACK_PORTS.target, async (redis) => {
        await redis.mSet(Array.from({ length: 3000 }, (_, i): [string, string] => [`${prefix}:${i}`, `value-${i}`]));
        await redis.sendCommand(['BGREWRITEAOF']);
        while ((await redis.info('persistence')).includes('aof_rewrite_in_progress:1')) await sleep(50);
      });
      await stopServer('target');
      const paths = redisPaths('target');
      const pid = spawnDetached({
        command: 'redis-server',
        args: [paths.configFile, '--key-load-delay', '1000', '--loading-process-events-interval-bytes', '1024'],
        cwd: paths.dir,
        logFile: paths.logFile,
      });
      writePidFile(paths.pidFile, pid);
      let loadingSeen = false;
      try {
        const watcher = (async () => {
          for (let i = 0; i < 40 && !loadingSeen; i += 1) {
            await sleep(100);
            try {
              await withRedis(STACK_PORTS.target, (redis) => redis.ping());
            } catch (err) {
              if (err instanceof Error && err.message.startsWith('LOADING')) loadingSeen = true;
            }
          }
        })();
        const started = Date.now();
        await waitForRedis('target', pid, { readyMs: 1_000 });
        const waitedMs = Date.now() - started;
        await watcher;
        assert.ok(loadingSeen, 'the restarted target never answered LOADING: the test did not exercise the wait');
        assert.ok(waitedMs > 1_000, `the target was ready after ${waitedMs} ms, within the ready timeout`);
        await withRedis(STACK_PORTS.target, async (redis) => assert.equal(await redis.exists(`${prefix}:2999`), 1));
      } finally {
        // Back to the stack's own server (no load delay), started the usual way, without the keys.
        await stopServer('target');
        await startServer('target');
        await withRedis(STACK_PORTS.target, async (redis) => {
          for await (const keys of redis.scanIterator({ MATCH: `${prefix}:*`, COUNT: 1000 })) {
            if (keys.length > 0) await redis.unlink(keys);
          }
        });
      }
    },
  );

  describe('Kafka', { timeout: 60_000 }, () => {
    test('round trip over PLAINTEXT', () =>
      roundTrip('plaintext', { 'bootstrap.servers': bootstrap(kafkaPorts.plaintext) }));

    for (const user of Object.values(KAFKA_USERS)) {
      test(`round trip over SASL_PLAINTEXT with ${user.mechanism}`, () =>
        roundTrip(`sasl-${user.mechanism.toLowerCase()}`, {
          'bootstrap.servers': bootstrap(kafkaPorts.saslPlaintext),
          'security.protocol': 'sasl_plaintext',
          'sasl.mechanisms': user.mechanism,
          'sasl.username': user.username,
          'sasl.password': user.password,
        }));
    }

    test('round trip over SSL verifying the broker with the sandbox CA', () =>
      roundTrip('ssl', {
        'bootstrap.servers': bootstrap(kafkaPorts.ssl),
        'security.protocol': 'ssl',
        'ssl.ca.location': tls.caCert,
        'enable.ssl.certificate.verification': true,
      }));

    test('round trip over SSL with a client certificate (mutual TLS)', () =>
      roundTrip('mtls', {
        'bootstrap.servers': bootstrap(kafkaPorts.ssl),
        'security.protocol': 'ssl',
        'ssl.ca.location': tls.caCert,
        'ssl.certificate.location': tls.clientCert,
        'ssl.key.location': tls.clientKey,
        'enable.ssl.certificate.verification': true,
      }));

    test('round trip over SASL_SSL with SCRAM-SHA-512', () =>
      roundTrip('sasl-ssl', {
        'bootstrap.servers': bootstrap(kafkaPorts.saslSsl),
        'security.protocol': 'sasl_ssl',
        'ssl.ca.location': tls.caCert,
        'enable.ssl.certificate.verification': true,
        'sasl.mechanisms': 'SCRAM-SHA-512',
        'sasl.username': KAFKA_USERS.scram512.username,
        'sasl.password': KAFKA_USERS.scram512.password,
      }));

    test('a wrong SASL password is refused with an authentication error', async () => {
      const errors = await failedConnectErrors({
        'bootstrap.servers': bootstrap(kafkaPorts.saslPlaintext),
        'security.protocol': 'sasl_plaintext',
        'sasl.mechanisms': 'SCRAM-SHA-512',
        'sasl.username': KAFKA_USERS.scram512.username,
        'sasl.password': 'not-the-password',
      });
      assert.match(errors, /authentication failure/i);
      assert.match(errors, /SASL authentication error: Authentication failed/i);
    });

    test('a broker certificate from an untrusted CA fails verification', async () => {
      const errors = await failedConnectErrors({
        'bootstrap.servers': bootstrap(kafkaPorts.ssl),
        'security.protocol': 'ssl',
        'ssl.ca.location': tls.untrustedCaCert,
        'enable.ssl.certificate.verification': true,
      });
      assert.match(errors, /ssl error/i);
      assert.match(errors, /SSL handshake failed: .*certificate verify failed/i);
    });
  });
});
