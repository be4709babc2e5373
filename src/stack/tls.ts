/**
 * Test certificates for the broker's SSL and SASL_SSL listeners, made with openssl once per
 * stack dir (see paths.ts tlsPaths for the file names):
 * - ca.pem/ca.key: the sandbox CA; the broker trusts it for client certificates and clients
 *   use it to verify the broker.
 * - broker.pem/broker.key and broker.p12 (PKCS12 keystore for Kafka): CN=localhost,
 *   subjectAltName DNS:localhost, IP:127.0.0.1, serverAuth.
 * - client.pem/client.key: CN=rks-client, clientAuth, signed by the same CA (mutual TLS).
 * - untrusted-ca.pem/.key: an unrelated CA, for tests that must fail verification.
 * - untrusted-client.pem/.key: a client certificate signed by the unrelated CA (mutual TLS must
 *   refuse it).
 *
 * Invariant: the folder is complete or absent. Everything is generated in a temporary sibling
 * folder and renamed into place, so an interrupted run never leaves a CA that does not match
 * the keystore. Our own openssl config is passed explicitly so the system's openssl.cnf
 * (which differs between distributions) cannot add or duplicate extensions.
 */
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { basename, join } from 'node:path';
import { runCommand } from './process.js';
import { KEYSTORE_PASSWORD, tlsPaths, type TlsPaths } from './paths.js';

const OPENSSL_CONFIG = `
[req]
prompt = no
distinguished_name = dn_placeholder
[dn_placeholder]
CN = placeholder

[v3_ca]
basicConstraints = critical,CA:TRUE
keyUsage = critical,keyCertSign,cRLSign
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid:always

[v3_server]
basicConstraints = critical,CA:FALSE
keyUsage = critical,digitalSignature,keyEncipherment
extendedKeyUsage = serverAuth
subjectAltName = DNS:localhost,IP:127.0.0.1
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid,issuer

[v3_client]
basicConstraints = critical,CA:FALSE
keyUsage = critical,digitalSignature,keyEncipherment
extendedKeyUsage = clientAuth
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid,issuer
`;

const CA_DAYS = '3650';
const LEAF_DAYS = '825';

function tlsComplete(paths: TlsPaths): boolean {
  return [
    paths.caCert,
    paths.caKey,
    paths.brokerCert,
    paths.brokerKey,
    paths.brokerKeystore,
    paths.clientCert,
    paths.clientKey,
    paths.untrustedCaCert,
    paths.untrustedClientCert,
    paths.untrustedClientKey,
  ].every((file) => existsSync(file));
}

async function openssl(args: readonly string[], cwd: string): Promise<void> {
  const result = await runCommand('openssl', args, { cwd });
  if (result.error !== undefined || result.status !== 0) {
    const detail = (result.error?.message ?? result.stderr).trim().split('\n').slice(-3).join(' ');
    throw new Error(`openssl ${args[0] ?? ''} failed while making test certificates: ${detail}`);
  }
}

function serial(): string {
  // Positive 63-bit serial: unique per certificate so clients never see two certs with one id.
  const bytes = randomBytes(8);
  bytes[0] = (bytes[0] ?? 0) & 0x7f;
  return `0x${bytes.toString('hex')}`;
}

async function makeCa(dir: string, name: string, cn: string): Promise<void> {
  await openssl(
    [
      'req',
      '-x509',
      '-newkey',
      'rsa:2048',
      '-nodes',
      '-sha256',
      '-days',
      CA_DAYS,
      '-config',
      'openssl.cnf',
      '-extensions',
      'v3_ca',
      '-subj',
      `/CN=${cn}`,
      '-set_serial',
      serial(),
      '-keyout',
      `${name}.key`,
      '-out',
      `${name}.pem`,
    ],
    dir,
  );
}

async function makeLeaf(
  dir: string,
  name: string,
  cn: string,
  extensions: 'v3_server' | 'v3_client',
  issuer = 'ca',
): Promise<void> {
  await openssl(
    [
      'req',
      '-new',
      '-newkey',
      'rsa:2048',
      '-nodes',
      '-config',
      'openssl.cnf',
      '-subj',
      `/CN=${cn}`,
      '-keyout',
      `${name}.key`,
      '-out',
      `${name}.csr`,
    ],
    dir,
  );
  await openssl(
    [
      'x509',
      '-req',
      '-sha256',
      '-in',
      `${name}.csr`,
      '-CA',
      `${issuer}.pem`,
      '-CAkey',
      `${issuer}.key`,
      '-set_serial',
      serial(),
      '-days',
      LEAF_DAYS,
      '-extfile',
      'openssl.cnf',
      '-extensions',
      extensions,
      '-out',
      `${name}.pem`,
    ],
    dir,
  );
  rmSync(join(dir, `${name}.csr`), { force: true });
}

/** Create the certificates unless a complete set exists. Returns true when it made them. */
export async function ensureTls(): Promise<boolean> {
  const paths = tlsPaths();
  if (tlsComplete(paths)) return false;
  const tmp = `${paths.dir}.tmp-${process.pid}`;
  rmSync(tmp, { recursive: true, force: true });
  mkdirSync(tmp, { recursive: true });
  try {
    writeFileSync(join(tmp, 'openssl.cnf'), OPENSSL_CONFIG);
    await makeCa(tmp, 'ca', 'redis-kafka-sync sandbox CA');
    await makeLeaf(tmp, 'broker', 'localhost', 'v3_server');
    await makeLeaf(tmp, 'client', 'rks-client', 'v3_client');
    await makeCa(tmp, 'untrusted-ca', 'redis-kafka-sync untrusted CA');
    await makeLeaf(tmp, 'untrusted-client', 'rks-client', 'v3_client', 'untrusted-ca');
    await openssl(
      [
        'pkcs12',
        '-export',
        '-in',
        'broker.pem',
        '-inkey',
        'broker.key',
        '-certfile',
        'ca.pem',
        '-name',
        'broker',
        '-out',
        basename(paths.brokerKeystore),
        '-passout',
        `pass:${KEYSTORE_PASSWORD}`,
      ],
      tmp,
    );
    rmSync(paths.dir, { recursive: true, force: true });
    renameSync(tmp, paths.dir);
  } catch (err) {
    rmSync(tmp, { recursive: true, force: true });
    throw err;
  }
  return true;
}

export function hasTls(): boolean {
  return tlsComplete(tlsPaths());
}
