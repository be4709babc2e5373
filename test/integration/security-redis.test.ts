/**
 * Redis security, against redis-servers this test starts itself in a temporary folder (ports
 * from 16390 up, away from the shared stack), through `connectRedis` with a Config made by
 * `loadConfig` from SOURCE_REDIS_* / TARGET_REDIS_* variables:
 *   server "optional": a plain port and a TLS port (tls-auth-clients optional), ACL users
 *                      default (password only) and alice (username + password);
 *   server "required": a TLS port that requires a client certificate (tls-auth-clients yes).
 * The server certificate (CN/SAN localhost, 127.0.0.1, ::1) is made here with openssl and
 * signed by the sandbox CA; the sandbox client certificate (same CA) is the mTLS client.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { loadConfig, type Config } from '../../src/config/config.js';
import { ConnectionError } from '../../src/errors.js';
import { asText, connectRedis, type RedisConnection } from '../../src/redis/client.js';
import { tlsPaths } from '../../src/stack/index.js';
import { ensureTls } from '../../src/stack/tls.js';
import { uid } from '../helpers/real-stack.js';
import { freePort, startServer, stopServer, type TestServer } from '../helpers/redis-server.js';

const HOST = 'localhost';
const ALICE = { username: 'alice', password: 'alice-secret' };
const DEFAULT_PASSWORD = 'default-secret';
const FAILING_CONNECT_MS = 2_000;
const tls = tlsPaths();

function openssl(args: string[], cwd: string): void {
  const r = spawnSync('openssl', args, { cwd, encoding: 'utf8' });
  assert.equal(r.status, 0, `openssl ${args[0]} failed: ${r.stderr}`);
}

/** A server certificate for localhost signed by the sandbox CA. */
function makeServerCert(dir: string): { cert: string; key: string } {
  writeFileSync(
    join(dir, 'ext.cnf'),
    [
      '[v3]',
      'basicConstraints = critical,CA:FALSE',
      'keyUsage = critical,digitalSignature,keyEncipherment',
      'extendedKeyUsage = serverAuth',
      'subjectAltName = DNS:localhost,IP:127.0.0.1,IP:::1',
      '',
    ].join('\n'),
  );
  openssl(
    [
      'req',
      '-new',
      '-newkey',
      'ec',
      '-pkeyopt',
      'ec_paramgen_curve:prime256v1',
      '-nodes',
      '-subj',
      '/CN=localhost',
    ].concat(['-keyout', 'server.key', '-out', 'server.csr']),
    dir,
  );
  openssl(
    ['x509', '-req', '-sha256', '-in', 'server.csr', '-CA', tls.caCert, '-CAkey', tls.caKey, '-days', '2'].concat([
      '-set_serial',
      `0x${randomBytes(8)
        .toString('hex')
        .replace(/^[89a-f]/, '1')}`,
      '-extfile',
      'ext.cnf',
      '-extensions',
      'v3',
      '-out',
      'server.pem',
    ]),
    dir,
  );
  return { cert: join(dir, 'server.pem'), key: join(dir, 'server.key') };
}

type Role = 'source' | 'target';
const PREFIX: Record<Role, 'SOURCE' | 'TARGET'> = { source: 'SOURCE', target: 'TARGET' };

/** A Config whose `role` endpoint has these settings, given as variable suffixes (TLS, PORT...). */
function configFor(role: Role, settings: Record<string, string>): Config {
  const env: Record<string, string> = {};
  for (const [suffix, value] of Object.entries(settings)) env[`${PREFIX[role]}_REDIS_${suffix}`] = value;
  return loadConfig({ configFile: '/dev/null', env: { [`${PREFIX[role]}_REDIS_HOST`]: HOST, ...env } });
}

async function connectAs(role: Role, settings: Record<string, string>, timeoutMs = 5_000): Promise<RedisConnection> {
  const cfg = configFor(role, settings);
  return connectRedis(role === 'source' ? cfg.source : cfg.target, { role, db: 0, connectTimeoutMs: timeoutMs });
}

/** Runs a write and a read as the connected user; always closes the connection. */
async function whoamiAfterRoundTrip(conn: RedisConnection): Promise<string> {
  const key = `security-redis-${uid()}`;
  try {
    await conn.send(['SET', key, 'v', 'EX', '60']);
    assert.equal(asText(await conn.send(['GET', key])), 'v');
    await conn.send(['DEL', key]);
    return asText(await conn.send(['ACL', 'WHOAMI']));
  } finally {
    await conn.close();
  }
}

async function connectError(role: Role, settings: Record<string, string>): Promise<ConnectionError> {
  let conn: RedisConnection | undefined;
  try {
    conn = await connectAs(role, settings, FAILING_CONNECT_MS);
  } catch (err) {
    assert.ok(err instanceof ConnectionError, `a ConnectionError naming the endpoint, got: ${String(err)}`);
    return err;
  }
  await conn.close();
  return assert.fail(`connecting as ${role} with ${JSON.stringify({ ...settings, PASSWORD: '***' })} succeeded`);
}

describe('Redis TLS and ACL settings against redis-servers started by this test', () => {
  let dir: string;
  let optional: TestServer | undefined;
  let required: TestServer | undefined;
  let plainPort: number;
  let tlsPort: number;
  let mtlsPort: number;

  before(async () => {
    const probe = spawnSync('redis-server', ['--version'], { encoding: 'utf8' });
    assert.equal(probe.status, 0, 'redis-server is installed (apt-get install redis-server)');
    await ensureTls();
    dir = mkdtempSync(join(tmpdir(), 'rks-redis-tls-'));
    const server = makeServerCert(dir);
    writeFileSync(
      join(dir, 'users.acl'),
      `user default on >${DEFAULT_PASSWORD} ~* &* +@all\nuser ${ALICE.username} on >${ALICE.password} ~* &* +@all\n`,
    );
    const tlsLines = [`tls-cert-file ${server.cert}`, `tls-key-file ${server.key}`, `tls-ca-cert-file ${tls.caCert}`];
    plainPort = await freePort();
    tlsPort = await freePort();
    mtlsPort = await freePort();
    const acl = `aclfile ${join(dir, 'users.acl')}`;
    optional = await startServer(dir, 'optional', [
      acl,
      `port ${plainPort}`,
      `tls-port ${tlsPort}`,
      ...tlsLines,
      'tls-auth-clients optional',
    ]);
    required = await startServer(dir, 'required', [
      acl,
      'port 0',
      `tls-port ${mtlsPort}`,
      ...tlsLines,
      'tls-auth-clients yes',
    ]);
  });

  after(async () => {
    await stopServer(optional);
    await stopServer(required);
    if (dir !== undefined) rmSync(dir, { recursive: true, force: true });
  });

  for (const role of ['source', 'target'] as const) {
    describe(`as the ${role} Redis`, () => {
      it('connects over rediss verified with the CA as an ACL user with username and password', async () => {
        const conn = await connectAs(role, {
          PORT: String(tlsPort),
          TLS: 'true',
          TLS_CA_LOCATION: tls.caCert,
          USERNAME: ALICE.username,
          PASSWORD: ALICE.password,
        });
        assert.equal(conn.endpoint, `${role} Redis rediss://${HOST}:${tlsPort}`);
        assert.equal(await whoamiAfterRoundTrip(conn), ALICE.username);
      });

      it('authenticates the default user with only a password', async () => {
        const conn = await connectAs(role, { PORT: String(plainPort), PASSWORD: DEFAULT_PASSWORD });
        assert.equal(await whoamiAfterRoundTrip(conn), 'default');
      });

      it('presents the client certificate to a server that requires one', async () => {
        const conn = await connectAs(role, {
          PORT: String(mtlsPort),
          TLS: 'true',
          TLS_CA_LOCATION: tls.caCert,
          TLS_CERTIFICATE_LOCATION: tls.clientCert,
          TLS_KEY_LOCATION: tls.clientKey,
          USERNAME: ALICE.username,
          PASSWORD: ALICE.password,
        });
        assert.equal(await whoamiAfterRoundTrip(conn), ALICE.username);
      });

      it('fails naming the endpoint when the server requires a client certificate and none is configured', async () => {
        const err = await connectError(role, {
          PORT: String(mtlsPort),
          TLS: 'true',
          TLS_CA_LOCATION: tls.caCert,
          USERNAME: ALICE.username,
          PASSWORD: ALICE.password,
        });
        assert.ok(err.message.startsWith(`${role} Redis rediss://${HOST}:${mtlsPort}`), err.message);
      });

      it('does not connect to a server whose certificate is not signed by the configured CA, naming the endpoint', async () => {
        const err = await connectError(role, {
          PORT: String(tlsPort),
          TLS: 'true',
          TLS_CA_LOCATION: tls.untrustedCaCert,
          USERNAME: ALICE.username,
          PASSWORD: ALICE.password,
        });
        assert.ok(err.message.startsWith(`${role} Redis rediss://${HOST}:${tlsPort}`), err.message);
      });

      it('fails on a wrong password with an error naming the endpoint and the password variable', async () => {
        const err = await connectError(role, {
          PORT: String(tlsPort),
          TLS: 'true',
          TLS_CA_LOCATION: tls.caCert,
          USERNAME: ALICE.username,
          PASSWORD: 'wrong-password',
        });
        assert.ok(err.message.startsWith(`${role} Redis rediss://${HOST}:${tlsPort}`), err.message);
        assert.match(err.message, new RegExp(`${PREFIX[role]}_REDIS_PASSWORD`));
        assert.doesNotMatch(err.message, /wrong-password/, 'never prints the password');
      });

      it('says the cause (authentication failed / certificate verification failed) of a refused connection', async () => {
        const wrongPassword = await connectError(role, {
          PORT: String(plainPort),
          USERNAME: ALICE.username,
          PASSWORD: 'wrong-password',
        });
        assert.match(wrongPassword.message, /WRONGPASS|authentication failed/i);
        const wrongCa = await connectError(role, {
          PORT: String(tlsPort),
          TLS: 'true',
          TLS_CA_LOCATION: tls.untrustedCaCert,
        });
        assert.match(wrongCa.message, /certificate/i);
      });
    });
  }
});
