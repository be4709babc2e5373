/**
 * Where the local sandbox lives: ports, users, and every file path, in one place so the CLI,
 * the servers and the tests can never disagree about them.
 *
 * Layout (all under the stack dir, default `<repo>/.stack`, override `RKS_STACK_DIR`):
 *   .rks-stack                    marker: this folder belongs to the stack (guards --purge)
 *   source/ target/               redis.conf, redis.log, server.pid, data/ (AOF lives here)
 *   kafka/                        server.properties, log4j2.properties, server.pid, data/
 *                                 (KRaft log dir, formatted once), logs/server.log (log4j),
 *                                 kafka.out (JVM stdout/stderr: crashes before log4j starts)
 *   tls/                          CA, broker keystore, client cert, untrusted CA (see tls.ts)
 *   replicated/<set>/<node>/      servers of the Sentinel/Cluster tests (see replicated.ts)
 * The Kafka jars are cached outside the repo (see kafkaLibsDir) because they are ~80 MB
 * and shared by every checkout.
 *
 * Invariant: every path returned here is absolute, so a PID's cmdline can be compared with
 * what we would start, whatever the current directory of the caller.
 */
import { existsSync, readFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

export type ServerName = 'source' | 'target' | 'kafka';
export const SERVER_NAMES: readonly ServerName[] = ['source', 'target', 'kafka'];

export const STACK_HOST = '127.0.0.1';

/**
 * RKS_STACK_PORT_OFFSET (default 0) shifts every port, so a second sandbox (with its own
 * RKS_STACK_DIR) can run beside the first: the chaos suite uses one to stop servers freely.
 */
const PORT_OFFSET = portOffset();

function portOffset(): number {
  const raw = process.env['RKS_STACK_PORT_OFFSET'];
  if (raw === undefined || raw === '') return 0;
  const n = Number(raw);
  if (!Number.isInteger(n) || n < 0 || n > 10000) {
    throw new Error(`RKS_STACK_PORT_OFFSET=${raw}: must be an integer from 0 to 10000`);
  }
  return n;
}

export const STACK_PORTS = {
  source: 16379 + PORT_OFFSET,
  target: 16380 + PORT_OFFSET,
  kafka: {
    plaintext: 19092 + PORT_OFFSET,
    controller: 19093 + PORT_OFFSET,
    saslPlaintext: 19094 + PORT_OFFSET,
    ssl: 19095 + PORT_OFFSET,
    saslSsl: 19096 + PORT_OFFSET,
    /** PLAINTEXT listener that advertises `proxiedAdvertised`: fault tests put a TCP proxy there. */
    proxied: 19097 + PORT_OFFSET,
    proxiedAdvertised: 19098 + PORT_OFFSET,
    /** SSL listener with ssl.client.auth=required: mutual TLS, a client certificate is a must. */
    mtls: 19099 + PORT_OFFSET,
  },
  /**
   * The docker tests (test/docker): their containers use the host network, so every port they
   * listen on is taken from here. compose*: the services of docker-compose.no_swarm.yml;
   * swarm*: the Redis servers of the Swarm test; http*: the service's HTTP server in a container
   * (httpSwarm is a multiple of 10: replica n listens on httpSwarm + n).
   */
  docker: {
    composeSource: 16383 + PORT_OFFSET,
    composeTarget: 16384 + PORT_OFFSET,
    swarmSource: 16385 + PORT_OFFSET,
    swarmTarget: 16386 + PORT_OFFSET,
    composeKafka: 19080 + PORT_OFFSET,
    composeKafkaController: 19081 + PORT_OFFSET,
    httpRun: 19061 + PORT_OFFSET,
    httpCompose: 19062 + PORT_OFFSET,
    httpSwarm: 19070 + PORT_OFFSET,
  },
} as const;

/**
 * Servers the Sentinel and Cluster tests start and stop themselves (src/stack/replicated.ts),
 * beside the stack: 17900-17923 (+ offset; cluster bus ports are these + 10000). The range was
 * chosen so that for every offset in use (0, 100, 200, 300, 2000, 3000 and +100/+300 of those)
 * it meets none of the stack's ports, nor the 16390-16469 of the Redis TLS test.
 */
export const REPLICATED_PORTS = {
  target: { master: 17900 + PORT_OFFSET, replica: 17901 + PORT_OFFSET, sentinels: sentinelPorts(17902) },
  source: { master: 17905 + PORT_OFFSET, replica: 17906 + PORT_OFFSET, sentinels: sentinelPorts(17907) },
  cluster: Array.from({ length: 6 }, (_, i) => 17910 + i + PORT_OFFSET),
  /** A TLS-only master and Sentinel (TLS to the Sentinels, like to the data nodes). */
  tls: { master: 17916 + PORT_OFFSET, sentinel: 17917 + PORT_OFFSET },
} as const;

function sentinelPorts(first: number): readonly [number, number, number] {
  return [first + PORT_OFFSET, first + 1 + PORT_OFFSET, first + 2 + PORT_OFFSET];
}

/** SASL users of the broker. SCRAM users are written at format time (see kafka-broker.ts). */
export const KAFKA_USERS = {
  plain: { mechanism: 'PLAIN', username: 'rks-plain', password: 'rks-plain-secret' },
  scram256: { mechanism: 'SCRAM-SHA-256', username: 'rks-scram256', password: 'rks-scram256-secret' },
  scram512: { mechanism: 'SCRAM-SHA-512', username: 'rks-scram512', password: 'rks-scram512-secret' },
} as const;

/** Both src/stack and dist/stack sit two levels below the package root. */
export function repoRoot(): string {
  return resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');
}

export function stackDir(): string {
  const override = process.env['RKS_STACK_DIR'];
  return override !== undefined && override !== '' ? resolve(override) : join(repoRoot(), '.stack');
}

export function stackMarkerPath(): string {
  return join(stackDir(), '.rks-stack');
}

export function cacheDir(): string {
  const env = process.env;
  if (env['RKS_CACHE_DIR']) return resolve(env['RKS_CACHE_DIR']);
  const xdg = env['XDG_CACHE_HOME'] ? resolve(env['XDG_CACHE_HOME']) : join(homedir(), '.cache');
  return join(xdg, 'redis-kafka-sync');
}

export function kafkaPomPath(): string {
  return join(repoRoot(), 'kafka', 'pom.xml');
}

let cachedKafkaVersion: string | undefined;

/** Read from kafka/pom.xml so that bumping the pom also moves the jar cache. */
export function kafkaVersion(): string {
  if (cachedKafkaVersion !== undefined) return cachedKafkaVersion;
  const pom = kafkaPomPath();
  if (!existsSync(pom)) {
    throw new Error(`${pom} is missing: the Kafka jars are resolved from it; restore it from git`);
  }
  const match = /<kafka\.version>\s*([^<\s]+)\s*<\/kafka\.version>/.exec(readFileSync(pom, 'utf8'));
  if (match?.[1] === undefined) {
    throw new Error(`${pom} has no <kafka.version> property: add one (e.g. 4.1.1)`);
  }
  cachedKafkaVersion = match[1];
  return cachedKafkaVersion;
}

export function kafkaLibsDir(): string {
  return join(cacheDir(), `kafka-${kafkaVersion()}`, 'libs');
}

/** Written after a complete copy; a libs dir without it is half-copied and is redone. */
export function kafkaLibsMarker(): string {
  return join(cacheDir(), `kafka-${kafkaVersion()}`, 'libs.complete');
}

export interface ServerPaths {
  dir: string;
  dataDir: string;
  pidFile: string;
  /** Where a start-up failure is explained. */
  logFile: string;
}

export interface RedisPaths extends ServerPaths {
  configFile: string;
}

export interface KafkaPaths extends ServerPaths {
  propertiesFile: string;
  log4jFile: string;
  /** JVM stdout/stderr, for failures before log4j is configured. */
  stdoutFile: string;
  /** Present once the data dir is formatted; never format again after that. */
  metaProperties: string;
}

export function redisPaths(name: 'source' | 'target'): RedisPaths {
  const dir = join(stackDir(), name);
  return {
    dir,
    dataDir: join(dir, 'data'),
    pidFile: join(dir, 'server.pid'),
    logFile: join(dir, 'redis.log'),
    configFile: join(dir, 'redis.conf'),
  };
}

export function kafkaPaths(): KafkaPaths {
  const dir = join(stackDir(), 'kafka');
  const dataDir = join(dir, 'data');
  return {
    dir,
    dataDir,
    pidFile: join(dir, 'server.pid'),
    logFile: join(dir, 'logs', 'server.log'),
    stdoutFile: join(dir, 'kafka.out'),
    propertiesFile: join(dir, 'server.properties'),
    log4jFile: join(dir, 'log4j2.properties'),
    metaProperties: join(dataDir, 'meta.properties'),
  };
}

export interface TlsPaths {
  dir: string;
  caCert: string;
  caKey: string;
  brokerCert: string;
  brokerKey: string;
  brokerKeystore: string;
  clientCert: string;
  clientKey: string;
  untrustedCaCert: string;
  untrustedCaKey: string;
  /** A client certificate (clientAuth) signed by the untrusted CA: mutual TLS must refuse it. */
  untrustedClientCert: string;
  untrustedClientKey: string;
}

export function tlsPaths(): TlsPaths {
  const dir = join(stackDir(), 'tls');
  return {
    dir,
    caCert: join(dir, 'ca.pem'),
    caKey: join(dir, 'ca.key'),
    brokerCert: join(dir, 'broker.pem'),
    brokerKey: join(dir, 'broker.key'),
    brokerKeystore: join(dir, 'broker.p12'),
    clientCert: join(dir, 'client.pem'),
    clientKey: join(dir, 'client.key'),
    untrustedCaCert: join(dir, 'untrusted-ca.pem'),
    untrustedCaKey: join(dir, 'untrusted-ca.key'),
    untrustedClientCert: join(dir, 'untrusted-client.pem'),
    untrustedClientKey: join(dir, 'untrusted-client.key'),
  };
}

/** A local sandbox secret, not a credential: the keystore only guards a throwaway broker key. */
export const KEYSTORE_PASSWORD = 'rks-keystore-secret';
