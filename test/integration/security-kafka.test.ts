/**
 * Kafka security against the sandbox broker's real listeners, through the project's own
 * KafkaSink built from a Config that loadConfig made from KAFKA_* variables:
 *   SSL 19095 (CA verification, optional client certificate), MTLS 19099 (an SSL listener with
 *   ssl.client.auth=required: mutual TLS), SASL_PLAINTEXT 19094 and SASL_SSL 19096 (PLAIN,
 *   SCRAM-SHA-256, SCRAM-SHA-512).
 * A success delivers one record (acks=all); a failure must say why: certificate verification
 * or authentication, and the variables to check.
 */
import assert from 'node:assert/strict';
import { before, describe, it } from 'node:test';
import { loadConfig } from '../../src/config/config.js';
import { ConnectionError } from '../../src/errors.js';
import { silentLogger } from '../../src/observability/logger.js';
import { KafkaSink } from '../../src/sink/producer.js';
import { KAFKA_USERS, STACK_HOST, STACK_PORTS, tlsPaths } from '../../src/stack/index.js';
import { ensureStack, uid } from '../helpers/real-stack.js';

type User = (typeof KAFKA_USERS)[keyof typeof KAFKA_USERS];
const tls = tlsPaths();
/** A failing attempt lasts this long: librdkafka retries until the metadata request times out. */
const FAILING_CONNECT_MS = 4_000;

function sslEnv(port: number, ca: string): Record<string, string> {
  return { KAFKA_BOOTSTRAP_SERVERS: `${STACK_HOST}:${port}`, KAFKA_SSL_CA_LOCATION: ca };
}

function saslEnv(protocol: 'SASL_PLAINTEXT' | 'SASL_SSL', user: User, password: string = user.password) {
  const port = protocol === 'SASL_SSL' ? STACK_PORTS.kafka.saslSsl : STACK_PORTS.kafka.saslPlaintext;
  return {
    KAFKA_BOOTSTRAP_SERVERS: `${STACK_HOST}:${port}`,
    KAFKA_SECURITY_PROTOCOL: protocol,
    KAFKA_SASL_MECHANISM: user.mechanism,
    KAFKA_SASL_USERNAME: user.username,
    KAFKA_SASL_PASSWORD: password,
    ...(protocol === 'SASL_SSL' ? { KAFKA_SSL_CA_LOCATION: tls.caCert } : {}),
  };
}

function sinkFor(env: Record<string, string>): KafkaSink {
  const cfg = loadConfig({
    configFile: '/dev/null',
    env: { KAFKA_LINGER_MS: '0', KAFKA_MESSAGE_TIMEOUT_MS: '15000', ...env },
  });
  return new KafkaSink(cfg.kafka, silentLogger);
}

/** Connects with these settings and delivers one record; the sink is closed whatever happens. */
async function deliver(env: Record<string, string>): Promise<void> {
  const sink = sinkFor(env);
  try {
    await sink.connectOnce(15_000);
    const [outcome] = await sink.sendBatch([
      { topic: `security-${uid()}`, kafkaKey: Buffer.from('key'), payload: Buffer.from('value'), headers: [] },
    ]);
    assert.equal(outcome, undefined, `delivery failed: ${String(outcome)}`);
  } finally {
    await sink.close();
  }
}

/** The ConnectionError of a connection attempt that must fail; the sink is closed after. */
async function connectError(env: Record<string, string>): Promise<ConnectionError> {
  const sink = sinkFor(env);
  try {
    await sink.connectOnce(FAILING_CONNECT_MS);
  } catch (err) {
    assert.ok(err instanceof ConnectionError, `a ConnectionError, got ${String(err)}`);
    return err;
  } finally {
    await sink.close();
  }
  return assert.fail(`connecting with ${JSON.stringify({ ...env, KAFKA_SASL_PASSWORD: '***' })} succeeded`);
}

describe('Kafka security settings against the real broker listeners', () => {
  before(async () => {
    await ensureStack();
  });

  describe('SSL (port 19095)', () => {
    it('delivers when KAFKA_SSL_CA_LOCATION holds the CA that signed the broker certificate', async () => {
      await deliver({ ...sslEnv(STACK_PORTS.kafka.ssl, tls.caCert), KAFKA_SECURITY_PROTOCOL: 'SSL' });
    });

    it('delivers with mutual TLS when a client certificate and key are configured', async () => {
      await deliver({
        ...sslEnv(STACK_PORTS.kafka.ssl, tls.caCert),
        KAFKA_SECURITY_PROTOCOL: 'SSL',
        KAFKA_SSL_CERTIFICATE_LOCATION: tls.clientCert,
        KAFKA_SSL_KEY_LOCATION: tls.clientKey,
      });
    });

    it('refuses a client key that does not belong to the client certificate, naming ssl.key.location', async () => {
      const err = await connectError({
        ...sslEnv(STACK_PORTS.kafka.ssl, tls.caCert),
        KAFKA_SECURITY_PROTOCOL: 'SSL',
        KAFKA_SSL_CERTIFICATE_LOCATION: tls.clientCert,
        KAFKA_SSL_KEY_LOCATION: tls.brokerKey,
      });
      assert.match(err.message, /ssl\.key\.location/);
      assert.match(err.message, /key values mismatch/);
    });

    it('fails with "certificate verification failed" naming KAFKA_SSL_CA_LOCATION when the CA is the wrong one', async () => {
      const err = await connectError({
        ...sslEnv(STACK_PORTS.kafka.ssl, tls.untrustedCaCert),
        KAFKA_SECURITY_PROTOCOL: 'SSL',
      });
      assert.match(err.message, /^Kafka SSL 127\.0\.0\.1:\d+: TLS certificate verification failed/);
      assert.match(err.message, /KAFKA_SSL_CA_LOCATION/);
      assert.match(err.message, /librdkafka: .*certificate verify failed/);
      assert.equal(err.retryable, true);
    });

    it('says the security protocol probably does not match when PLAINTEXT meets the SSL listener and SSL the PLAINTEXT one', async () => {
      const errors = await Promise.all([
        connectError({ KAFKA_BOOTSTRAP_SERVERS: `${STACK_HOST}:${STACK_PORTS.kafka.ssl}` }),
        connectError({ ...sslEnv(STACK_PORTS.kafka.plaintext, tls.caCert), KAFKA_SECURITY_PROTOCOL: 'SSL' }),
      ]);
      for (const err of errors) assert.match(err.message, /KAFKA_SECURITY_PROTOCOL probably does not match/);
    });
  });

  describe('mutual TLS (port 19099, ssl.client.auth=required)', () => {
    const mtls = (extra: Record<string, string>): Record<string, string> => ({
      ...sslEnv(STACK_PORTS.kafka.mtls, tls.caCert),
      KAFKA_SECURITY_PROTOCOL: 'SSL',
      ...extra,
    });

    it('delivers with a client certificate signed by the CA the broker trusts', async () => {
      await deliver(mtls({ KAFKA_SSL_CERTIFICATE_LOCATION: tls.clientCert, KAFKA_SSL_KEY_LOCATION: tls.clientKey }));
    });

    it('refuses a client without a certificate, saying the broker rejected the client certificate', async () => {
      const err = await connectError(mtls({}));
      assert.match(err.message, /^Kafka SSL 127\.0\.0\.1:\d+: the broker rejected the client certificate/);
      assert.match(err.message, /requires mutual TLS also refuses a client that sends none/);
      assert.match(err.message, /KAFKA_SSL_CERTIFICATE_LOCATION and KAFKA_SSL_KEY_LOCATION/);
      assert.match(err.message, /librdkafka: .*(certificate required|handshake failure|bad certificate)/i);
    });

    it('refuses a client certificate signed by another CA, saying the broker rejected it', async () => {
      const err = await connectError(
        mtls({
          KAFKA_SSL_CERTIFICATE_LOCATION: tls.untrustedClientCert,
          KAFKA_SSL_KEY_LOCATION: tls.untrustedClientKey,
        }),
      );
      assert.match(err.message, /^Kafka SSL 127\.0\.0\.1:\d+: the broker rejected the client certificate/);
      assert.match(err.message, /librdkafka: .*(unknown ca|certificate unknown|bad certificate)/i);
    });

    it('the SSL listener (requested) lets the same certificate-less client in: only MTLS proves mutual TLS', async () => {
      await deliver({ ...sslEnv(STACK_PORTS.kafka.ssl, tls.caCert), KAFKA_SECURITY_PROTOCOL: 'SSL' });
    });
  });

  describe('SASL_PLAINTEXT (port 19094)', () => {
    for (const user of Object.values(KAFKA_USERS)) {
      it(`delivers as a ${user.mechanism} user`, async () => {
        await deliver(saslEnv('SASL_PLAINTEXT', user));
      });
    }
  });

  describe('SASL_SSL (port 19096)', () => {
    for (const user of Object.values(KAFKA_USERS)) {
      it(`delivers as a ${user.mechanism} user over TLS verified with the sandbox CA`, async () => {
        await deliver(saslEnv('SASL_SSL', user));
      });
    }

    it('fails with "certificate verification failed" before authenticating when the CA is the wrong one', async () => {
      const err = await connectError({
        ...saslEnv('SASL_SSL', KAFKA_USERS.scram512),
        KAFKA_SSL_CA_LOCATION: tls.untrustedCaCert,
      });
      assert.match(err.message, /TLS certificate verification failed/);
    });
  });

  it('fails with "authentication failed" naming the SASL variables for a wrong password, for every mechanism and listener', async () => {
    const attempts = [
      saslEnv('SASL_PLAINTEXT', KAFKA_USERS.plain, 'wrong-password'),
      saslEnv('SASL_PLAINTEXT', KAFKA_USERS.scram256, 'wrong-password'),
      saslEnv('SASL_SSL', KAFKA_USERS.scram512, 'wrong-password'),
    ];
    const errors = await Promise.all(attempts.map((env) => connectError(env)));
    for (const [i, err] of errors.entries()) {
      const mechanism = attempts[i]?.KAFKA_SASL_MECHANISM;
      assert.match(err.message, /SASL authentication failed/, `${mechanism}: ${err.message}`);
      assert.match(err.message, /KAFKA_SASL_USERNAME, KAFKA_SASL_PASSWORD/);
      assert.match(err.message, /^Kafka SASL_(PLAINTEXT|SSL) 127\.0\.0\.1:\d+: /, 'names the endpoint');
      assert.doesNotMatch(err.message, /wrong-password/, 'never prints the password');
    }
  });
});
