/**
 * Replicated Redis deployments for the Sentinel and Cluster tests, started and stopped by the
 * tests themselves from Debian's `redis-server` and `redis-sentinel`, on loopback ports of the
 * sandbox (REPLICATED_PORTS in paths.ts, shifted by RKS_STACK_PORT_OFFSET).
 *
 *   Sentinel set "target" / "source": one master, one replica, three Sentinels (quorum 2,
 *   down-after 1 s, so a killed master is replaced in about 2-4 s). Data nodes require
 *   SET_PASSWORD, Sentinels SENTINEL_PASSWORD: the tests exercise both credentials.
 *
 * Each node lives in <stack dir>/replicated/<set>/<port>/ (config, log, pid, data) and is started
 * afresh (its folder emptied) by `startSentinelSet`; `stopReplicated` stops every node of a set.
 * As in redis-server.ts, the config path in the process title proves a PID is ours. The Redis
 * Cluster of the Cluster tests (cluster.ts) uses these nodes' lifecycle; it is re-exported here.
 */
import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { createClient } from '@redis/client';
import { waitUntil } from '../util/retry.js';
import { ownedPid, removePidFile, sleep, spawnDetached, tailFile, terminate, writePidFile } from './process.js';
import { REPLICATED_PORTS, STACK_HOST, stackDir } from './paths.js';
import { spawnSync } from 'node:child_process';
import { PrerequisiteError } from '../errors.js';

export type SentinelSetName = 'target' | 'source';
export type ReplicatedName = SentinelSetName | 'cluster' | 'tls';

/** Sandbox secrets of throwaway servers, not credentials. */
export const SET_PASSWORD = 'rks-replicated-secret';
export const SENTINEL_PASSWORD = 'rks-sentinel-secret';
export const MASTER_NAME = 'rks-master';

export interface NodePaths {
  readonly dir: string;
  readonly configFile: string;
  readonly pidFile: string;
  readonly logFile: string;
}

function nodePaths(set: ReplicatedName, port: number): NodePaths {
  const dir = join(stackDir(), 'replicated', set, String(port));
  return {
    dir,
    configFile: join(dir, 'node.conf'),
    pidFile: join(dir, 'server.pid'),
    logFile: join(dir, 'node.log'),
  };
}

function allPorts(set: ReplicatedName): readonly number[] {
  if (set === 'cluster') return REPLICATED_PORTS.cluster;
  if (set === 'tls') return [REPLICATED_PORTS.tls.master, REPLICATED_PORTS.tls.sentinel];
  const p = REPLICATED_PORTS[set];
  return [p.master, p.replica, ...p.sentinels];
}

function title(paths: NodePaths): string {
  return `proc-title-template "{title} {listen-addr} {server-mode} ${paths.configFile}"`;
}

export function dataNodeConfig(paths: NodePaths, port: number, extra: readonly string[]): string {
  return [
    `bind ${STACK_HOST}`,
    `port ${port}`,
    'daemonize no',
    `dir "${paths.dir}"`,
    'logfile ""',
    'appendonly yes',
    'appendfsync everysec',
    'save ""',
    title(paths),
    ...extra,
    '',
  ].join('\n');
}

export async function startNode(
  set: ReplicatedName,
  port: number,
  config: (paths: NodePaths) => string,
  sentinel = false,
  tls?: TlsFiles,
): Promise<void> {
  const paths = nodePaths(set, port);
  mkdirSync(paths.dir, { recursive: true });
  writeFileSync(paths.configFile, config(paths));
  const pid = spawnDetached({
    command: sentinel ? 'redis-sentinel' : 'redis-server',
    args: [paths.configFile],
    cwd: paths.dir,
    logFile: paths.logFile,
  });
  writePidFile(paths.pidFile, pid);
  await waitPing(set, port, sentinel ? SENTINEL_PASSWORD : SET_PASSWORD, tls);
}

/** PEM files of a TLS node: its certificate and key, and the CA its clients trust. */
export interface TlsFiles {
  readonly cert: string;
  readonly key: string;
  readonly ca: string;
}

async function waitPing(set: ReplicatedName, port: number, password: string, tls?: TlsFiles): Promise<void> {
  const paths = nodePaths(set, port);
  const deadline = Date.now() + 20_000;
  let last = 'no answer';
  while (Date.now() < deadline) {
    if (ownedPid(paths.pidFile, paths.configFile) === undefined)
      throw new Error(
        `redis on ${STACK_HOST}:${port} exited at start; ${paths.logFile}:\n${tailFile(paths.logFile, 15)}`,
      );
    try {
      if ((await admin(port, password, ['PING'], tls)) === 'PONG') return;
    } catch (err) {
      last = err instanceof Error ? err.message : String(err);
    }
    await sleep(100);
  }
  throw new Error(`redis on ${STACK_HOST}:${port} did not answer PING in 20 s (${last}); see ${paths.logFile}`);
}

/** One command on a short-lived connection (admin use: tests and start-up). */
export async function admin(port: number, password: string, args: string[], tls?: TlsFiles): Promise<unknown> {
  const client = createClient({
    RESP: 2,
    password,
    socket: tls
      ? { host: STACK_HOST, port, connectTimeout: 1000, reconnectStrategy: false, tls: true, ca: readFileSync(tls.ca) }
      : { host: STACK_HOST, port, connectTimeout: 1000, reconnectStrategy: false },
  });
  client.on('error', () => undefined);
  try {
    await client.connect();
    return await client.sendCommand(args);
  } finally {
    client.destroy();
  }
}

export function requireSentinel(): void {
  if (spawnSync('redis-sentinel', ['--version']).status !== 0)
    throw new PrerequisiteError(
      'redis-sentinel is not installed: run scripts/setup.sh (or apt-get install redis-sentinel)',
    );
}

/** Starts a fresh Sentinel set: master, replica (in sync), three Sentinels that agree on the master. */
export async function startSentinelSet(set: SentinelSetName): Promise<void> {
  requireSentinel();
  await stopReplicated(set);
  rmSync(join(stackDir(), 'replicated', set), { recursive: true, force: true });
  const p = REPLICATED_PORTS[set];
  const auth = [`requirepass ${SET_PASSWORD}`, `masterauth ${SET_PASSWORD}`];
  await startNode(set, p.master, (paths) => dataNodeConfig(paths, p.master, auth));
  await startNode(set, p.replica, (paths) =>
    dataNodeConfig(paths, p.replica, [...auth, `replicaof ${STACK_HOST} ${p.master}`]),
  );
  for (const port of p.sentinels) {
    await startNode(
      set,
      port,
      (paths) =>
        [
          `bind ${STACK_HOST}`,
          `port ${port}`,
          'daemonize no',
          `dir "${paths.dir}"`,
          'logfile ""',
          title(paths),
          `requirepass ${SENTINEL_PASSWORD}`,
          `sentinel monitor ${MASTER_NAME} ${STACK_HOST} ${p.master} 2`,
          `sentinel auth-pass ${MASTER_NAME} ${SET_PASSWORD}`,
          `sentinel sentinel-pass ${SENTINEL_PASSWORD}`,
          `sentinel down-after-milliseconds ${MASTER_NAME} 1000`,
          `sentinel failover-timeout ${MASTER_NAME} 6000`,
          `sentinel parallel-syncs ${MASTER_NAME} 1`,
          '',
        ].join('\n'),
      true,
    );
  }
  await waitUntil(`the ${set} replica in sync and every Sentinel knowing both peers and the replica`, async () => {
    const info = String(await admin(p.replica, SET_PASSWORD, ['INFO', 'replication']));
    if (!/master_link_status:up/.test(info)) return false;
    for (const s of p.sentinels) {
      const m = (await admin(s, SENTINEL_PASSWORD, ['SENTINEL', 'MASTER', MASTER_NAME])) as string[];
      const field = (k: string): string | undefined => m[m.indexOf(k) + 1];
      if (Number(field('num-other-sentinels')) < 2 || Number(field('num-slaves')) < 1) return false;
    }
    return true;
  });
}

/**
 * A master and one Sentinel that speak TLS only (no plaintext port), for the test that the
 * service reaches Sentinels over TLS like the data nodes (`*_REDIS_TLS*`).
 */
export async function startTlsSentinel(tls: TlsFiles): Promise<void> {
  requireSentinel();
  await stopReplicated('tls');
  rmSync(join(stackDir(), 'replicated', 'tls'), { recursive: true, force: true });
  const { master, sentinel } = REPLICATED_PORTS.tls;
  const tlsLines = (port: number): string[] => [
    'port 0',
    `tls-port ${port}`,
    `tls-cert-file "${tls.cert}"`,
    `tls-key-file "${tls.key}"`,
    `tls-ca-cert-file "${tls.ca}"`,
    'tls-auth-clients no',
    'tls-replication yes',
  ];
  await startNode(
    'tls',
    master,
    (paths) =>
      // `port 0` (later in the file) overrides the plaintext port: TLS only.
      dataNodeConfig(paths, master, [`requirepass ${SET_PASSWORD}`, ...tlsLines(master)]),
    false,
    tls,
  );
  await startNode(
    'tls',
    sentinel,
    (paths) =>
      [
        `bind ${STACK_HOST}`,
        ...tlsLines(sentinel),
        'daemonize no',
        `dir "${paths.dir}"`,
        'logfile ""',
        title(paths),
        `requirepass ${SENTINEL_PASSWORD}`,
        `sentinel monitor ${MASTER_NAME} ${STACK_HOST} ${master} 1`,
        `sentinel auth-pass ${MASTER_NAME} ${SET_PASSWORD}`,
        '',
      ].join('\n'),
    true,
    tls,
  );
}

/** The master port the Sentinels agree on now (asks the first Sentinel that answers). */
export async function sentinelMaster(set: SentinelSetName): Promise<number> {
  for (const s of REPLICATED_PORTS[set].sentinels) {
    try {
      const r = (await admin(s, SENTINEL_PASSWORD, ['SENTINEL', 'GET-MASTER-ADDR-BY-NAME', MASTER_NAME])) as string[];
      return Number(r[1]);
    } catch {
      // next one
    }
  }
  throw new Error(`no Sentinel of the ${set} set answered`);
}

/** Asks a Sentinel to fail over now (a replica is promoted, the master demoted). */
export async function sentinelFailover(set: SentinelSetName): Promise<void> {
  await admin(REPLICATED_PORTS[set].sentinels[0], SENTINEL_PASSWORD, ['SENTINEL', 'FAILOVER', MASTER_NAME]);
}

/** The pid of a running data node of the set (undefined: not running). */
export function nodePid(set: ReplicatedName, port: number): number | undefined {
  const paths = nodePaths(set, port);
  return ownedPid(paths.pidFile, paths.configFile);
}

/** Kills one node (SIGKILL: no AOF flush beyond everysec, no goodbye to replicas or clients). */
export async function killNode(set: ReplicatedName, port: number): Promise<void> {
  const pid = nodePid(set, port);
  if (pid !== undefined) await terminate(pid, { signal: 'SIGKILL', timeoutMs: 5000 });
  removePidFile(nodePaths(set, port).pidFile);
}

/** Starts a killed data node again with its last config (Sentinel makes it a replica of the new master). */
export async function restartNode(set: ReplicatedName, port: number): Promise<void> {
  const paths = nodePaths(set, port);
  const pid = spawnDetached({
    command: 'redis-server',
    args: [paths.configFile],
    cwd: paths.dir,
    logFile: paths.logFile,
  });
  writePidFile(paths.pidFile, pid);
  await waitPing(set, port, SET_PASSWORD);
}

export async function stopReplicated(set: ReplicatedName): Promise<void> {
  await Promise.all(
    allPorts(set).map(async (port) => {
      const paths = nodePaths(set, port);
      const pid = ownedPid(paths.pidFile, paths.configFile);
      if (pid !== undefined) await terminate(pid, { signal: 'SIGTERM', timeoutMs: 10_000 });
      removePidFile(paths.pidFile);
    }),
  );
}

/** The service's variables for a role served by a Sentinel set (replacing host/port). */
export function sentinelEnv(set: SentinelSetName, role: 'SOURCE' | 'TARGET'): Record<string, string> {
  return {
    [`${role}_REDIS_SENTINELS`]: REPLICATED_PORTS[set].sentinels.map((p) => `${STACK_HOST}:${p}`).join(','),
    [`${role}_REDIS_SENTINEL_MASTER`]: MASTER_NAME,
    [`${role}_REDIS_SENTINEL_PASSWORD`]: SENTINEL_PASSWORD,
    [`${role}_REDIS_PASSWORD`]: SET_PASSWORD,
  };
}

/** The polling wait of the test servers (util/retry.ts), for the suites that drive them. */
export { waitUntil };
export { clusterEnv, clusterNodes, reshard, startCluster, waitClusterHealthy, type ClusterNode } from './cluster.js';
