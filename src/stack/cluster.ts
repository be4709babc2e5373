/**
 * The Redis Cluster of the Cluster tests (six nodes on REPLICATED_PORTS.cluster), started, watched
 * and resharded by the tests themselves; the nodes' lifecycle (paths, start, ping, stop) is the
 * replicated sets' (replicated.ts).
 */
import { spawn, spawnSync } from 'node:child_process';
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { waitUntil } from '../util/retry.js';
import { REPLICATED_PORTS, STACK_HOST, stackDir } from './paths.js';
import { admin, dataNodeConfig, SET_PASSWORD, startNode, stopReplicated, type NodePaths } from './replicated.js';

/**
 * A fresh Redis Cluster of six nodes on REPLICATED_PORTS.cluster: three masters, three replicas
 * (`redis-cli --cluster create ... --cluster-replicas 1`), node timeout 2 s (a killed master is
 * replaced by its replica in about 3-5 s), password SET_PASSWORD on every node.
 */
export async function startCluster(): Promise<void> {
  await stopReplicated('cluster');
  rmSync(join(stackDir(), 'replicated', 'cluster'), { recursive: true, force: true });
  const ports = REPLICATED_PORTS.cluster;
  await Promise.all(ports.map((port) => startNode('cluster', port, (paths) => clusterNodeConfig(paths, port))));
  const r = spawnSync(
    'redis-cli',
    [
      '-a',
      SET_PASSWORD,
      '--no-auth-warning',
      '--cluster',
      'create',
      ...ports.map((p) => `${STACK_HOST}:${p}`),
      '--cluster-replicas',
      '1',
      '--cluster-yes',
    ],
    { encoding: 'utf8' },
  );
  if (r.status !== 0) throw new Error(`redis-cli --cluster create failed: ${r.stdout}\n${r.stderr}`);
  await waitClusterHealthy();
  await waitUntil('a replica for every master', async () => {
    const nodes = await clusterNodes();
    return nodes.filter((n) => !n.master).length === 3;
  });
  await waitClusterHealthy();
}

function clusterNodeConfig(paths: NodePaths, port: number): string {
  return dataNodeConfig(paths, port, [
    'cluster-enabled yes',
    `cluster-config-file "${join(paths.dir, 'nodes.conf')}"`,
    'cluster-node-timeout 2000',
    `requirepass ${SET_PASSWORD}`,
    `masterauth ${SET_PASSWORD}`,
  ]);
}

export interface ClusterNode {
  readonly id: string;
  readonly port: number;
  readonly master: boolean;
  readonly failed: boolean;
  /** Slots held (masters), e.g. 5461. */
  readonly slots: number;
}

/** CLUSTER NODES as one node sees it. */
export async function clusterNodes(): Promise<ClusterNode[]> {
  let last: unknown;
  for (const port of REPLICATED_PORTS.cluster) {
    try {
      const text = String(await admin(port, SET_PASSWORD, ['CLUSTER', 'NODES']));
      return text
        .trim()
        .split('\n')
        .map((line) => {
          const f = line.split(' ');
          const slots = f.slice(8).reduce((n, range) => {
            const m = /^(\d+)(?:-(\d+))?$/.exec(range);
            return m ? n + (m[2] === undefined ? 1 : Number(m[2]) - Number(m[1]) + 1) : n;
          }, 0);
          return {
            id: f[0] as string,
            port: Number((f[1] ?? '').split(':')[1]?.split('@')[0]),
            master: (f[2] ?? '').includes('master'),
            failed: /fail/.test(f[2] ?? ''),
            slots,
          };
        });
    } catch (err) {
      last = err;
    }
  }
  throw new Error(`no cluster node answered CLUSTER NODES (${String(last)})`);
}

/** Every node says cluster_state:ok and the three masters hold all 16384 slots, none failed. */
export async function waitClusterHealthy(timeoutMs = 60_000): Promise<void> {
  await waitUntil(
    'the cluster healthy (cluster_state:ok on every live node, 16384 slots on live masters)',
    async () => {
      const nodes = await clusterNodes();
      const masters = nodes.filter((n) => n.master && !n.failed);
      if (masters.reduce((a, n) => a + n.slots, 0) !== 16384) return false;
      for (const n of nodes.filter((x) => !x.failed)) {
        const info = String(await admin(n.port, SET_PASSWORD, ['CLUSTER', 'INFO']));
        if (!/cluster_state:ok/.test(info)) return false;
      }
      // Each master's replica in sync (WAIT 1 can succeed), when it has one.
      for (const m of masters) {
        const repl = String(await admin(m.port, SET_PASSWORD, ['INFO', 'replication']));
        if (/connected_slaves:[1-9]/.test(repl) && !/slave0:.*state=online/.test(repl)) return false;
      }
      return true;
    },
    timeoutMs,
  );
}

/** Moves `slots` slots from one master to another with redis-cli (live resharding). */
export function reshard(fromId: string, toId: string, slots: number): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = spawn(
      'redis-cli',
      [
        '-a',
        SET_PASSWORD,
        '--no-auth-warning',
        '--cluster',
        'reshard',
        `${STACK_HOST}:${REPLICATED_PORTS.cluster[0]}`,
        '--cluster-from',
        fromId,
        '--cluster-to',
        toId,
        '--cluster-slots',
        String(slots),
        '--cluster-yes',
        '--cluster-pipeline',
        '100',
      ],
      { stdio: ['ignore', 'pipe', 'pipe'] },
    );
    let out = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr.on('data', (d: Buffer) => (out += d.toString()));
    child.on('exit', (code) =>
      code === 0 ? resolve() : reject(new Error(`redis-cli --cluster reshard exited ${code}: ${out.slice(-2000)}`)),
    );
  });
}

/** The service's variables for a Redis Cluster target (replacing host/port). */
export function clusterEnv(): Record<string, string> {
  return {
    TARGET_REDIS_CLUSTER_NODES: REPLICATED_PORTS.cluster
      .slice(0, 3)
      .map((p) => `${STACK_HOST}:${p}`)
      .join(','),
    TARGET_REDIS_PASSWORD: SET_PASSWORD,
  };
}
