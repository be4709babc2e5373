/**
 * convert-truststore against stores made here by keytool (and openssl for the legacy case):
 * the PEM files must parse with openssl, the key must belong to its certificate, and the
 * converted CA (and client certificate) must work against the sandbox's real Kafka SSL listener
 * through the project's own KafkaSink.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { loadConfig } from '../../src/config/config.js';
import { silentLogger } from '../../src/observability/logger.js';
import { convertStore, TruststoreError } from '../../src/security/truststore.js';
import { KafkaSink } from '../../src/sink/producer.js';
import { STACK_HOST, STACK_PORTS, tlsPaths } from '../../src/stack/index.js';
import { repoRoot } from '../../src/stack/paths.js';
import { ensureStack, uid } from '../helpers/real-stack.js';

const STORE_PASSWORD = 'store-secret-1';
const CLI = join(repoRoot(), 'src', 'cli', 'bin.ts');

function run(command: string, args: readonly string[], env: NodeJS.ProcessEnv = {}): string {
  const r = spawnSync(command, [...args], { encoding: 'utf8', env: { ...process.env, ...env } });
  assert.equal(r.status, 0, `${command} ${args.join(' ')} failed: ${r.stderr}`);
  return r.stdout;
}

function keytool(...args: string[]): void {
  run('keytool', [...args, '-storepass:env', 'RKS_TEST_STOREPASS'], { RKS_TEST_STOREPASS: STORE_PASSWORD });
}

function subjectOf(pemFile: string): string {
  return run('openssl', ['x509', '-noout', '-subject', '-in', pemFile]).trim();
}

/** Connects a KafkaSink to the sandbox's SSL listener with these files and delivers one record. */
async function deliverOverSsl(files: { ca: string; cert?: string; key?: string }): Promise<void> {
  const cfg = loadConfig({
    env: {
      KAFKA_BOOTSTRAP_SERVERS: `${STACK_HOST}:${STACK_PORTS.kafka.ssl}`,
      KAFKA_SECURITY_PROTOCOL: 'SSL',
      KAFKA_SSL_CA_LOCATION: files.ca,
      ...(files.cert !== undefined ? { KAFKA_SSL_CERTIFICATE_LOCATION: files.cert } : {}),
      ...(files.key !== undefined ? { KAFKA_SSL_KEY_LOCATION: files.key } : {}),
      KAFKA_LINGER_MS: '0',
      KAFKA_MESSAGE_TIMEOUT_MS: '10000',
    },
  });
  const sink = new KafkaSink(cfg.kafka, silentLogger);
  try {
    await sink.connectOnce(15_000);
    const [outcome] = await sink.sendBatch([
      { topic: `truststore-${uid()}`, kafkaKey: Buffer.from('k'), payload: Buffer.from('v'), headers: [] },
    ]);
    assert.equal(outcome, undefined, `delivery over SSL failed: ${String(outcome)}`);
  } finally {
    await sink.close();
  }
}

describe('convert-truststore turns Java key and trust stores into PEM files', () => {
  let dir: string;
  const tls = tlsPaths();
  before(async () => {
    await ensureStack();
    dir = mkdtempSync(join(tmpdir(), 'rks-truststore-test-'));
  });
  after(() => {
    rmSync(dir, { recursive: true, force: true });
  });

  it('writes only ca.pem for a JKS truststore holding the sandbox CA, and that ca.pem verifies the Kafka SSL listener', async () => {
    const store = join(dir, `trust-${uid()}.jks`);
    keytool(
      '-importcert',
      '-noprompt',
      '-alias',
      'sandbox-ca',
      '-file',
      tls.caCert,
      '-keystore',
      store,
      '-storetype',
      'JKS',
    );
    const out = join(dir, `out-${uid()}`);
    const result = await convertStore({ input: store, password: STORE_PASSWORD, outDir: out });
    assert.equal(result.type, 'jks');
    assert.deepEqual(
      result.files.map((f) => f.kind),
      ['ca'],
    );
    assert.equal(existsSync(join(out, 'client.pem')), false);
    assert.equal(existsSync(join(out, 'client.key')), false);
    assert.equal(subjectOf(join(out, 'ca.pem')), subjectOf(tls.caCert));
    await deliverOverSsl({ ca: join(out, 'ca.pem') });
  });

  it('writes client.pem and a private client.key that belong together for a keystore made by keytool -genkeypair', async () => {
    const store = join(dir, `keys-${uid()}.jks`);
    keytool(
      '-genkeypair',
      '-alias',
      'me',
      '-keyalg',
      'RSA',
      '-keysize',
      '2048',
      '-dname',
      'CN=rks-truststore-test',
      '-validity',
      '30',
      '-keystore',
      store,
      '-storetype',
      'JKS',
      '-keypass:env',
      'RKS_TEST_STOREPASS',
    );
    const out = join(dir, `out-${uid()}`);
    const result = await convertStore({ input: store, password: STORE_PASSWORD, outDir: out });
    assert.deepEqual(
      result.files.map((f) => f.kind),
      ['certificate', 'key'],
      'a self-signed key pair has no CA to write',
    );
    assert.match(subjectOf(join(out, 'client.pem')), /CN ?= ?rks-truststore-test/);
    const certKey = run('openssl', ['x509', '-noout', '-pubkey', '-in', join(out, 'client.pem')]);
    const keyKey = run('openssl', ['pkey', '-pubout', '-in', join(out, 'client.key')]);
    assert.equal(certKey, keyKey, 'client.key is the key of client.pem');
    assert.equal(statSync(join(out, 'client.key')).mode & 0o077, 0, 'client.key is readable by its owner only');
  });

  it('converts a keystore holding the sandbox client certificate into files that connect to Kafka with mutual TLS', async () => {
    const p12 = join(dir, `client-${uid()}.p12`);
    run(
      'openssl',
      [
        'pkcs12',
        '-export',
        '-in',
        tls.clientCert,
        '-inkey',
        tls.clientKey,
        '-certfile',
        tls.caCert,
        '-name',
        'client',
        '-out',
        p12,
        '-passout',
        'env:RKS_TEST_STOREPASS',
      ],
      { RKS_TEST_STOREPASS: STORE_PASSWORD },
    );
    const store = join(dir, `client-${uid()}.jks`);
    run(
      'keytool',
      [
        '-importkeystore',
        '-noprompt',
        '-srckeystore',
        p12,
        '-srcstoretype',
        'PKCS12',
        '-srcstorepass:env',
        'RKS_TEST_STOREPASS',
        '-destkeystore',
        store,
        '-deststoretype',
        'JKS',
        '-deststorepass:env',
        'RKS_TEST_STOREPASS',
      ],
      { RKS_TEST_STOREPASS: STORE_PASSWORD },
    );
    const out = join(dir, `out-${uid()}`);
    const result = await convertStore({ input: store, password: STORE_PASSWORD, outDir: out });
    assert.deepEqual(result.files.map((f) => f.kind).sort(), ['ca', 'certificate', 'key']);
    assert.equal(subjectOf(join(out, 'client.pem')), subjectOf(tls.clientCert));
    assert.equal(subjectOf(join(out, 'ca.pem')), subjectOf(tls.caCert), "the key entry's issuer goes to ca.pem");
    await deliverOverSsl({ ca: join(out, 'ca.pem'), cert: join(out, 'client.pem'), key: join(out, 'client.key') });
  });

  it('reads a PKCS12 store encrypted with legacy RC2/3DES by retrying openssl with -legacy', async () => {
    const p12 = join(dir, `legacy-${uid()}.p12`);
    run(
      'openssl',
      [
        'pkcs12',
        '-export',
        '-legacy',
        '-in',
        tls.clientCert,
        '-inkey',
        tls.clientKey,
        '-certfile',
        tls.caCert,
        '-out',
        p12,
        '-passout',
        'env:RKS_TEST_STOREPASS',
      ],
      { RKS_TEST_STOREPASS: STORE_PASSWORD },
    );
    const out = join(dir, `out-${uid()}`);
    const result = await convertStore({ input: p12, password: STORE_PASSWORD, outDir: out });
    assert.equal(result.type, 'pkcs12');
    assert.equal(result.legacy, true);
    assert.equal(subjectOf(join(out, 'client.pem')), subjectOf(tls.clientCert));
    assert.equal(subjectOf(join(out, 'ca.pem')), subjectOf(tls.caCert));
  });

  it('rejects a wrong password of a JKS and of a PKCS12 store, saying it is the password, and writes nothing', async () => {
    const jks = join(dir, `wrongpw-${uid()}.jks`);
    keytool('-importcert', '-noprompt', '-alias', 'ca', '-file', tls.caCert, '-keystore', jks, '-storetype', 'JKS');
    const p12 = join(dir, `wrongpw-${uid()}.p12`);
    keytool('-importcert', '-noprompt', '-alias', 'ca', '-file', tls.caCert, '-keystore', p12, '-storetype', 'PKCS12');
    for (const store of [jks, p12]) {
      const out = join(dir, `out-${uid()}`);
      await assert.rejects(
        convertStore({ input: store, password: 'not-the-password', outDir: out }),
        (err: unknown) => {
          assert.ok(err instanceof TruststoreError);
          assert.match(err.message, /wrong password/);
          assert.ok(err.message.includes(store), 'names the store');
          return true;
        },
      );
      assert.equal(existsSync(join(out, 'ca.pem')), false);
    }
  });

  it('asks for --alias when a store holds two private keys, and converts the one picked', async () => {
    const store = join(dir, `two-${uid()}.p12`);
    for (const alias of ['first', 'second']) {
      keytool(
        '-genkeypair',
        '-alias',
        alias,
        '-keyalg',
        'EC',
        '-dname',
        `CN=rks-${alias}`,
        '-validity',
        '30',
        '-keystore',
        store,
        '-storetype',
        'PKCS12',
      );
    }
    await assert.rejects(
      convertStore({ input: store, password: STORE_PASSWORD, outDir: join(dir, `out-${uid()}`) }),
      /2 private keys: pick one with --alias/,
    );
    const out = join(dir, `out-${uid()}`);
    await convertStore({ input: store, password: STORE_PASSWORD, outDir: out, alias: 'second' });
    assert.match(subjectOf(join(out, 'client.pem')), /CN ?= ?rks-second/);
  });

  it('asks for --key-password when the JKS key password differs from the store password, then uses it', async () => {
    const store = join(dir, `keypass-${uid()}.jks`);
    run(
      'keytool',
      [
        '-genkeypair',
        '-alias',
        'me',
        '-keyalg',
        'EC',
        '-dname',
        'CN=rks-keypass',
        '-validity',
        '30',
        '-keystore',
        store,
        '-storetype',
        'JKS',
        '-storepass:env',
        'RKS_TEST_STOREPASS',
        '-keypass:env',
        'RKS_TEST_KEYPASS',
      ],
      { RKS_TEST_STOREPASS: STORE_PASSWORD, RKS_TEST_KEYPASS: 'other-key-secret' },
    );
    await assert.rejects(
      convertStore({ input: store, password: STORE_PASSWORD, outDir: join(dir, `out-${uid()}`) }),
      /--key-password/,
    );
    const out = join(dir, `out-${uid()}`);
    await convertStore({ input: store, password: STORE_PASSWORD, keyPassword: 'other-key-secret', outDir: out });
    assert.match(subjectOf(join(out, 'client.pem')), /CN ?= ?rks-keypass/);
    run('openssl', ['pkey', '-noout', '-in', join(out, 'client.key')]);
  });

  it('refuses a file that is not a key store, naming it', async () => {
    const notAStore = join(dir, `notes-${uid()}.txt`);
    writeFileSync(notAStore, 'hello');
    await assert.rejects(
      convertStore({ input: notAStore, password: STORE_PASSWORD, outDir: join(dir, `out-${uid()}`) }),
      (err: unknown) =>
        err instanceof TruststoreError && err.message.includes(notAStore) && /not a JKS/.test(err.message),
    );
  });

  it('is run by the redis-kafka-sync convert-truststore command, reading the password from --password-file', () => {
    const store = join(dir, `cli-${uid()}.jks`);
    keytool('-importcert', '-noprompt', '-alias', 'ca', '-file', tls.caCert, '-keystore', store, '-storetype', 'JKS');
    const passwordFile = join(dir, `pw-${uid()}`);
    writeFileSync(passwordFile, `${STORE_PASSWORD}\n`);
    const out = join(dir, `out-${uid()}`);
    const cli = spawnSync(
      process.execPath,
      ['--import', 'tsx', CLI, 'convert-truststore', '--in', store, '--password-file', passwordFile, '--out', out],
      { encoding: 'utf8', cwd: repoRoot() },
    );
    assert.equal(cli.status, 0, cli.stderr);
    assert.match(cli.stdout, /read .* as JKS/);
    assert.match(cli.stdout, new RegExp(`wrote ${join(out, 'ca.pem')}: CN=redis-kafka-sync sandbox CA`));
    assert.match(cli.stdout, /KAFKA_SSL_CA_LOCATION/);
    assert.equal(readFileSync(join(out, 'ca.pem'), 'utf8'), readFileSync(tls.caCert, 'utf8'));
    const noPassword = spawnSync(
      process.execPath,
      ['--import', 'tsx', CLI, 'convert-truststore', '--in', store, '--out', out],
      { encoding: 'utf8', cwd: repoRoot() },
    );
    assert.equal(noPassword.status, 2);
    assert.match(noPassword.stderr, /--password or --password-file/);
  });
});
