/**
 * The sandbox's two Redis servers (source and target), run from the system `redis-server`.
 *
 * Each runs in the foreground (`daemonize no`) as a detached child of whoever called `up`, with
 * its output appended to redis.log and its PID in server.pid. Both use an append-only file
 * (appendfsync everysec) and no RDB snapshots, so stop/start keeps data: SIGTERM makes Redis
 * fsync the AOF before it exits.
 *
 * Invariant: the process title includes our redis.conf path (proc-title-template), which is how
 * a PID from server.pid is proved to be ours before we signal it.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { createClient } from '@redis/client';
import {
  acceptsConnections,
  ownedPid,
  removePidFile,
  sleep,
  spawnDetached,
  tailFile,
  terminate,
  writePidFile,
} from './process.js';
import { redisPaths, STACK_HOST, STACK_PORTS, type RedisPaths } from './paths.js';

export type RedisName = 'source' | 'target';

const READY_TIMEOUT_MS = 30_000;
/**
 * How long a server that answers LOADING (replaying its AOF: a target left with millions of
 * buffered messages takes minutes) is waited for: it is making progress, not failing.
 */
const LOADING_TIMEOUT_MS = 15 * 60_000;
const STOP_TIMEOUT_MS = 15_000;

function quote(value: string): string {
  return `"${value.replace(/\\/g, '\\\\').replace(/"/g, '\\"')}"`;
}

function redisConfig(name: RedisName, paths: RedisPaths): string {
  return [
    `# Written by 'redis-kafka-sync stack up' for the ${name} Redis; regenerated on every start.`,
    `bind ${STACK_HOST}`,
    `port ${STACK_PORTS[name]}`,
    'daemonize no',
    `dir ${quote(paths.dataDir)}`,
    'logfile ""',
    'appendonly yes',
    'appendfsync everysec',
    'save ""',
    // The config path in the title lets `down` prove a PID is this stack's server.
    `proc-title-template "{title} {listen-addr} {server-mode} ${paths.configFile.replace(/"/g, '')}"`,
    '',
  ].join('\n');
}

export function redisPid(name: RedisName): number | undefined {
  const paths = redisPaths(name);
  return ownedPid(paths.pidFile, paths.configFile);
}

/**
 * Resolves once PING answers; fails early if the process died, with the end of its log. A server
 * that answers LOADING is waited for up to `loadingMs` from the start instead of `readyMs`.
 * Exported for the stack's tests.
 */
export async function waitForRedis(
  name: RedisName,
  pid: number,
  { readyMs = READY_TIMEOUT_MS, loadingMs = LOADING_TIMEOUT_MS } = {},
): Promise<void> {
  const port = STACK_PORTS[name];
  const { logFile, pidFile, configFile } = redisPaths(name);
  const started = Date.now();
  let deadline = started + readyMs;
  let lastError = 'no answer yet';
  while (Date.now() < deadline) {
    if (ownedPid(pidFile, configFile) !== pid) {
      throw new Error(
        `${name} redis-server (pid ${pid}) exited during start-up; last lines of ${logFile}:\n` + tailFile(logFile, 20),
      );
    }
    if (await acceptsConnections(port, STACK_HOST, 250)) {
      const client = createClient({
        socket: { host: STACK_HOST, port, connectTimeout: 1000, reconnectStrategy: false },
      });
      client.on('error', () => undefined);
      try {
        await client.connect();
        if ((await client.ping()) === 'PONG') return;
      } catch (err) {
        lastError = err instanceof Error ? err.message : String(err);
        // LOADING while the AOF is replayed: keep polling, for longer.
        if (lastError.startsWith('LOADING')) deadline = Math.max(deadline, started + loadingMs);
      } finally {
        client.destroy();
      }
    }
    await sleep(100);
  }
  throw new Error(
    `${name} Redis on ${STACK_HOST}:${port} did not answer PING within ${(deadline - started) / 1000} s ` +
      `(${lastError}); see ${logFile}`,
  );
}

/**
 * Start one Redis unless this stack's server already runs. The caller has checked that the
 * port is free when it is not ours.
 */
export async function startRedis(name: RedisName): Promise<{ pid: number; started: boolean }> {
  const paths = redisPaths(name);
  const running = redisPid(name);
  if (running !== undefined) {
    await waitForRedis(name, running);
    return { pid: running, started: false };
  }
  mkdirSync(paths.dataDir, { recursive: true });
  writeFileSync(paths.configFile, redisConfig(name, paths));
  const pid = spawnDetached({
    command: 'redis-server',
    args: [paths.configFile],
    cwd: paths.dir,
    logFile: paths.logFile,
  });
  writePidFile(paths.pidFile, pid);
  await waitForRedis(name, pid);
  return { pid, started: true };
}

export async function stopRedis(
  name: RedisName,
  signal: 'SIGTERM' | 'SIGKILL' = 'SIGTERM',
): Promise<{ pid: number | undefined; how: 'exited' | 'killed' | 'not running' }> {
  const paths = redisPaths(name);
  const pid = redisPid(name);
  if (pid === undefined) {
    removePidFile(paths.pidFile);
    return { pid: undefined, how: 'not running' };
  }
  const how = await terminate(pid, { signal, timeoutMs: STOP_TIMEOUT_MS });
  removePidFile(paths.pidFile);
  return { pid, how };
}
