/**
 * The local sandbox (`redis-kafka-sync stack ...`) as a programmatic API: a source Redis, a
 * target Redis and a single-node Kafka on fixed loopback ports, for the demo, integration tests,
 * chaos tests and benchmarks. Tests import this module directly.
 *
 * Invariants:
 * - We only ever signal processes this stack started (PID file + matching command line); a
 *   port held by anything else is reported, never taken over.
 * - `stackUp` and `startServer` resolve only once the servers answer (Redis PING, Kafka
 *   metadata), and are idempotent: a running server of this stack is left alone.
 * - Stopping keeps data (AOF, Kafka log dirs); only `stackDown({ purge: true })` deletes the stack
 *   dir, and only if it carries our marker file.
 * - Mutating calls hold a lock (a directory in the stack dir) so parallel test processes
 *   calling `stackUp` in their `before` hooks do not race each other for the ports.
 */
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { hasKafkaJars } from './kafka-jars.js';
import { kafkaPid, startKafka, stopKafka } from './kafka-broker.js';
import {
  KAFKA_USERS,
  SERVER_NAMES,
  STACK_HOST,
  STACK_PORTS,
  kafkaPaths,
  redisPaths,
  stackDir,
  stackMarkerPath,
  tlsPaths,
  type ServerName,
} from './paths.js';
import { ensurePrerequisites, type Prerequisite } from './prereqs.js';
import { acceptsConnections, isAlive, isPortFree, sleep } from './process.js';
import { redisPid, startRedis, stopRedis } from './redis-server.js';
import { hasTls } from './tls.js';

export { KAFKA_USERS, SERVER_NAMES, STACK_HOST, STACK_PORTS, stackDir, tlsPaths };
export type { ServerName, TlsPaths } from './paths.js';

export type Listener = 'plaintext' | 'sasl' | 'ssl' | 'mtls';
export type Log = (line: string) => void;

export interface StackOptions {
  /** Progress lines ("source: started pid ..."); silent when omitted. */
  log?: Log;
}

export interface ServerStatus {
  name: ServerName;
  state: 'up' | 'down';
  pid: number | null;
  /** Listener name -> port on 127.0.0.1. */
  ports: Record<string, number>;
  /** Whether the main port accepted a TCP connection just now. */
  accepting: boolean;
  logFile: string;
}

export interface StackStatus {
  stackDir: string;
  servers: ServerStatus[];
}

const LOCK_TIMEOUT_MS = 10 * 60_000;
const silent: Log = () => undefined;

function portsOf(name: ServerName): Record<string, number> {
  if (name === 'kafka') {
    const k = STACK_PORTS.kafka;
    return {
      plaintext: k.plaintext,
      controller: k.controller,
      sasl_plaintext: k.saslPlaintext,
      ssl: k.ssl,
      sasl_ssl: k.saslSsl,
      mtls: k.mtls,
      proxied: k.proxied,
    };
  }
  return { redis: STACK_PORTS[name] };
}

function mainPort(name: ServerName): number {
  return name === 'kafka' ? STACK_PORTS.kafka.plaintext : STACK_PORTS[name];
}

function pidOf(name: ServerName): number | undefined {
  return name === 'kafka' ? kafkaPid() : redisPid(name);
}

function logFileOf(name: ServerName): string {
  return name === 'kafka' ? kafkaPaths().logFile : redisPaths(name).logFile;
}

let inProcessChain: Promise<unknown> = Promise.resolve();

/** Serialise stack mutations within this process and across processes sharing the stack dir. */
function withLock<T>(fn: () => Promise<T>): Promise<T> {
  const run = inProcessChain.then(async () => {
    mkdirSync(stackDir(), { recursive: true });
    const lockDir = join(stackDir(), '.lock');
    const deadline = Date.now() + LOCK_TIMEOUT_MS;
    for (;;) {
      try {
        mkdirSync(lockDir);
        writeFileSync(join(lockDir, 'pid'), `${process.pid}\n`);
        break;
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
        const owner = Number.parseInt(readOwner(lockDir), 10);
        // An owner that died (or never wrote its pid after a crash) leaves a stale lock.
        if (!Number.isInteger(owner) || !isAlive(owner)) {
          rmSync(lockDir, { recursive: true, force: true });
          continue;
        }
        if (Date.now() > deadline) {
          throw new Error(`the stack in ${stackDir()} is locked by pid ${owner}; wait for it or stop it`);
        }
        await sleep(200);
      }
    }
    try {
      return await fn();
    } finally {
      rmSync(lockDir, { recursive: true, force: true });
    }
  });
  inProcessChain = run.catch(() => undefined);
  return run;
}

function readOwner(lockDir: string): string {
  try {
    return readFileSync(join(lockDir, 'pid'), 'utf8').trim();
  } catch {
    // Just created by another process that has not written its pid yet: treat as alive.
    return String(process.pid);
  }
}

function ensureStackDir(): void {
  mkdirSync(stackDir(), { recursive: true });
  if (!existsSync(stackMarkerPath())) {
    writeFileSync(
      stackMarkerPath(),
      'Local sandbox of redis-kafka-sync (stack up). `stack down --purge` deletes this folder.\n',
    );
  }
}

function prerequisitesFor(names: readonly ServerName[]): Prerequisite[] {
  const tools = new Set<Prerequisite>();
  for (const name of names) {
    if (name === 'kafka') {
      tools.add('java');
      if (!hasKafkaJars()) tools.add('mvn');
      if (!hasTls()) tools.add('openssl');
    } else {
      tools.add('redis-server');
    }
  }
  return [...tools];
}

/** Fail, naming the port, when a server of ours is not running but its port is taken. */
async function assertPortsFree(name: ServerName): Promise<void> {
  if (pidOf(name) !== undefined) return;
  for (const [listener, port] of Object.entries(portsOf(name))) {
    if (!(await isPortFree(port, STACK_HOST))) {
      throw new Error(
        `port ${port} (${name} ${listener}) on ${STACK_HOST} is in use by a process this stack ` +
          `did not start: stop it (find it with 'ss -ltnp | grep :${port}') and retry`,
      );
    }
  }
}

async function startOne(name: ServerName, log: Log): Promise<void> {
  const { pid, started } = name === 'kafka' ? await startKafka(log) : await startRedis(name);
  const ports = Object.values(portsOf(name)).join(',');
  log(`${name}: ${started ? 'started' : 'already running'}, pid ${pid}, ${STACK_HOST}:${ports}`);
}

async function startMany(names: readonly ServerName[], log: Log): Promise<void> {
  ensureStackDir();
  await ensurePrerequisites(prerequisitesFor(names), log);
  for (const name of names) await assertPortsFree(name);
  // Kafka takes seconds; the Redis servers start meanwhile.
  const results = await Promise.allSettled(names.map((name) => startOne(name, log)));
  const failed = results.find((r): r is PromiseRejectedResult => r.status === 'rejected');
  if (failed !== undefined) throw failed.reason;
}

/** Start whatever of source, target and Kafka is not running; resolves when all are ready. */
export function stackUp(opts: StackOptions = {}): Promise<void> {
  return withLock(() => startMany(SERVER_NAMES, opts.log ?? silent));
}

/** Start one server (keeping its data) and wait until it is ready. */
export function startServer(name: ServerName, opts: StackOptions = {}): Promise<void> {
  return withLock(() => startMany([name], opts.log ?? silent));
}

async function stopOne(name: ServerName, signal: 'SIGTERM' | 'SIGKILL', log: Log): Promise<void> {
  const { pid, how } = name === 'kafka' ? await stopKafka(signal) : await stopRedis(name, signal);
  log(how === 'not running' ? `${name}: not running` : `${name}: stopped pid ${pid} (${how})`);
}

/**
 * Stop one server of this stack, keeping its data. SIGTERM lets it shut down cleanly (Redis
 * fsyncs the AOF), escalating to SIGKILL after a timeout; SIGKILL simulates a crash.
 */
export function stopServer(name: ServerName, opts: { signal?: 'SIGTERM' | 'SIGKILL'; log?: Log } = {}): Promise<void> {
  if (!existsSync(stackDir())) return Promise.resolve();
  return withLock(() => stopOne(name, opts.signal ?? 'SIGTERM', opts.log ?? silent));
}

/** Stop every server this stack started; with purge, also delete the stack dir (all data). */
export function stackDown(opts: { purge?: boolean; log?: Log } = {}): Promise<void> {
  const log = opts.log ?? silent;
  const dir = stackDir();
  if (!existsSync(dir)) {
    log(`nothing to stop: ${dir} does not exist`);
    return Promise.resolve();
  }
  return withLock(async () => {
    await Promise.all(SERVER_NAMES.map((name) => stopOne(name, 'SIGTERM', log)));
    if (opts.purge) {
      if (!existsSync(stackMarkerPath())) {
        throw new Error(
          `refusing to delete ${dir}: it has no ${stackMarkerPath()} marker, so it may not be a stack dir`,
        );
      }
      // Everything but the lock we hold; the lock goes when withLock releases it.
      rmSync(dir, { recursive: true, force: true });
      log(`deleted ${dir}`);
    }
  });
}

/** What runs where. Never starts or stops anything. */
export async function stackStatus(): Promise<StackStatus> {
  const servers = await Promise.all(
    SERVER_NAMES.map(async (name): Promise<ServerStatus> => {
      const pid = pidOf(name);
      return {
        name,
        state: pid === undefined ? 'down' : 'up',
        pid: pid ?? null,
        ports: portsOf(name),
        accepting: await acceptsConnections(mainPort(name), STACK_HOST, 500),
        logFile: logFileOf(name),
      };
    }),
  );
  return { stackDir: stackDir(), servers };
}

/** Environment variables that point the service at the sandbox, for the chosen Kafka listener. */
export function stackEnv(listener: Listener = 'plaintext'): Record<string, string> {
  const env: Record<string, string> = {
    SOURCE_REDIS_HOST: STACK_HOST,
    SOURCE_REDIS_PORT: String(STACK_PORTS.source),
    TARGET_REDIS_HOST: STACK_HOST,
    TARGET_REDIS_PORT: String(STACK_PORTS.target),
  };
  if (listener === 'sasl') {
    return {
      ...env,
      KAFKA_BOOTSTRAP_SERVERS: `${STACK_HOST}:${STACK_PORTS.kafka.saslPlaintext}`,
      KAFKA_SECURITY_PROTOCOL: 'SASL_PLAINTEXT',
      KAFKA_SASL_MECHANISM: KAFKA_USERS.scram512.mechanism,
      KAFKA_SASL_USERNAME: KAFKA_USERS.scram512.username,
      KAFKA_SASL_PASSWORD: KAFKA_USERS.scram512.password,
    };
  }
  if (listener === 'mtls') {
    const tls = tlsPaths();
    return {
      ...env,
      KAFKA_BOOTSTRAP_SERVERS: `${STACK_HOST}:${STACK_PORTS.kafka.mtls}`,
      KAFKA_SECURITY_PROTOCOL: 'SSL',
      KAFKA_SSL_CA_LOCATION: tls.caCert,
      KAFKA_SSL_CERTIFICATE_LOCATION: tls.clientCert,
      KAFKA_SSL_KEY_LOCATION: tls.clientKey,
    };
  }
  if (listener === 'ssl') {
    return {
      ...env,
      KAFKA_BOOTSTRAP_SERVERS: `${STACK_HOST}:${STACK_PORTS.kafka.ssl}`,
      KAFKA_SECURITY_PROTOCOL: 'SSL',
      KAFKA_SSL_CA_LOCATION: tlsPaths().caCert,
    };
  }
  return {
    ...env,
    KAFKA_BOOTSTRAP_SERVERS: `${STACK_HOST}:${STACK_PORTS.kafka.plaintext}`,
    KAFKA_SECURITY_PROTOCOL: 'PLAINTEXT',
  };
}
