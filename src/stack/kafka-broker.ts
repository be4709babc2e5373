/**
 * The sandbox's Apache Kafka broker: one JVM running `kafka.Kafka server.properties` in KRaft
 * combined mode, from the cached Maven jars.
 *
 * Invariants:
 * - The data dir is formatted exactly once (when meta.properties is absent). Reformatting would
 *   drop every topic and the SCRAM users, so stop/start never does it.
 * - Our broker is recognised by its command line containing our server.properties path.
 * - "Ready" means a client metadata request on the PLAINTEXT listener succeeded, not merely that
 *   the port is open: the port opens before the broker has caught up with the metadata log.
 */
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import Kafka from '@confluentinc/kafka-javascript';
import { ensureKafkaJars } from './kafka-jars.js';
import { log4jProperties, scramFormatArgs, serverProperties } from './kafka-config.js';
import { javaCommand } from './prereqs.js';
import {
  acceptsConnections,
  ownedPid,
  removePidFile,
  runCommand,
  sleep,
  spawnDetached,
  tailFile,
  terminate,
  writePidFile,
} from './process.js';
import { kafkaLibsDir, kafkaPaths, STACK_HOST, STACK_PORTS, tlsPaths } from './paths.js';
import { ensureTls } from './tls.js';

const READY_TIMEOUT_MS = 90_000;
const POLL_MS = 250;
/** A controlled shutdown of a single node usually takes a few seconds, sometimes ~10. */
const STOP_TIMEOUT_MS = 45_000;

const JVM_FLAGS = [
  '-Xms256m',
  '-Xmx512m',
  '-server',
  '-XX:+UseG1GC',
  '-XX:MaxGCPauseMillis=20',
  '-XX:InitiatingHeapOccupancyPercent=35',
  '-XX:+ExplicitGCInvokesConcurrent',
  '-Djava.awt.headless=true',
];

export function kafkaPid(): number | undefined {
  const paths = kafkaPaths();
  return ownedPid(paths.pidFile, paths.propertiesFile);
}

function classpathArgs(): string[] {
  const paths = kafkaPaths();
  // java expands the trailing '*' itself; no shell is involved.
  return ['-cp', `${kafkaLibsDir()}/*`, `-Dlog4j2.configurationFile=${paths.log4jFile}`];
}

/** 16 random bytes as 22 chars of base64url, like `StorageTool random-uuid`. */
function newClusterId(): string {
  for (;;) {
    const id = randomBytes(16).toString('base64url');
    // A leading '-' would be read as a command-line flag by StorageTool.
    if (!id.startsWith('-')) return id;
  }
}

async function formatIfNeeded(log: (line: string) => void): Promise<void> {
  const paths = kafkaPaths();
  if (existsSync(paths.metaProperties)) return;
  // A data dir without meta.properties is a failed earlier format: start clean.
  if (existsSync(paths.dataDir) && readdirSync(paths.dataDir).length > 0) {
    rmSync(paths.dataDir, { recursive: true, force: true });
  }
  mkdirSync(paths.dataDir, { recursive: true });
  log(`formatting the Kafka data dir ${paths.dataDir}`);
  const result = await runCommand(javaCommand(), [
    '-Xmx256m',
    ...classpathArgs(),
    'kafka.tools.StorageTool',
    'format',
    '-t',
    newClusterId(),
    '-c',
    paths.propertiesFile,
    ...scramFormatArgs(),
  ]);
  if (result.status !== 0 || !existsSync(paths.metaProperties)) {
    const output = (result.error?.message ?? `${result.stdout}\n${result.stderr}`).trim();
    throw new Error(`formatting the Kafka data dir ${paths.dataDir} failed:\n${output}`);
  }
}

/** One metadata request on PLAINTEXT; resolves true when the broker answered with itself. */
function metadataAnswers(timeoutMs: number): Promise<boolean> {
  return new Promise((resolve) => {
    const producer = new Kafka.Producer({
      'bootstrap.servers': `${STACK_HOST}:${STACK_PORTS.kafka.plaintext}`,
      'socket.timeout.ms': timeoutMs,
      'reconnect.backoff.ms': 100,
      'reconnect.backoff.max.ms': 250,
      log_level: 0,
    });
    producer.on('event.error', () => undefined);
    producer.connect({ timeout: timeoutMs }, (err, metadata) => {
      // A failed connect has already torn the client down; disconnecting again may never call back.
      if (err) {
        resolve(false);
        return;
      }
      const ok = metadata.brokers.some((b) => b.port === STACK_PORTS.kafka.plaintext);
      producer.disconnect(() => resolve(ok));
    });
  });
}

function timeoutMessage(pid: number, why: string): string {
  const { logFile, stdoutFile } = kafkaPaths();
  return (
    `Kafka (pid ${pid}) ${why}. Last 30 lines of ${logFile}:\n${tailFile(logFile, 30)}\n` +
    `JVM output: ${stdoutFile}\n${tailFile(stdoutFile, 10)}`
  );
}

async function waitForKafka(pid: number): Promise<void> {
  const deadline = Date.now() + READY_TIMEOUT_MS;
  while (Date.now() < deadline) {
    if (kafkaPid() !== pid) throw new Error(timeoutMessage(pid, 'exited during start-up'));
    if (await acceptsConnections(STACK_PORTS.kafka.plaintext, STACK_HOST, POLL_MS)) {
      if (await metadataAnswers(5_000)) return;
    }
    await sleep(POLL_MS);
  }
  throw new Error(timeoutMessage(pid, `did not answer a metadata request within ${READY_TIMEOUT_MS / 1000} s`));
}

/** Start the broker unless this stack's broker already runs; resolves when it is ready. */
export async function startKafka(log: (line: string) => void): Promise<{ pid: number; started: boolean }> {
  const running = kafkaPid();
  if (running !== undefined) {
    await waitForKafka(running);
    return { pid: running, started: false };
  }
  const paths = kafkaPaths();
  // Independent first-run steps (Maven copy, openssl): overlap them.
  const [, madeTls] = await Promise.all([ensureKafkaJars(log), ensureTls()]);
  if (madeTls) log(`created test certificates in ${tlsPaths().dir}`);
  mkdirSync(dirname(paths.logFile), { recursive: true });
  writeFileSync(paths.propertiesFile, serverProperties(paths, tlsPaths()));
  writeFileSync(paths.log4jFile, log4jProperties(paths));
  await formatIfNeeded(log);
  const pid = spawnDetached({
    command: javaCommand(),
    args: [...JVM_FLAGS, ...classpathArgs(), 'kafka.Kafka', paths.propertiesFile],
    cwd: paths.dir,
    logFile: paths.stdoutFile,
  });
  writePidFile(paths.pidFile, pid);
  await waitForKafka(pid);
  return { pid, started: true };
}

export async function stopKafka(
  signal: 'SIGTERM' | 'SIGKILL' = 'SIGTERM',
): Promise<{ pid: number | undefined; how: 'exited' | 'killed' | 'not running' }> {
  const paths = kafkaPaths();
  const pid = kafkaPid();
  if (pid === undefined) {
    removePidFile(paths.pidFile);
    return { pid: undefined, how: 'not running' };
  }
  const how = await terminate(pid, { signal, timeoutMs: STOP_TIMEOUT_MS });
  removePidFile(paths.pidFile);
  return { pid, how };
}
