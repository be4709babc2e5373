/**
 * Redis Cluster scenarios: the target a cluster of six Debian redis-servers (three masters,
 * three replicas: src/stack/replicated.ts), the source the stack's standalone Redis, the stack's
 * Kafka as the sink, the real daemon (built package) in between, the checker writing load and
 * reading the topic independently.
 *
 *   x  a master SIGKILLed during load (its replica is promoted by the cluster; restarted after,
 *      it rejoins as a replica), with SOURCE_ACK_MODE=target and TARGET_REDIS_MIN_REPLICAS_ACKED=1
 *   r  resharding during load: 1500 slots moved from one master to another (redis-cli --cluster
 *      reshard: MIGRATE of live keys, ASK / MOVED for the service)
 */
import { randomBytes } from 'node:crypto';
import { loadConfig } from '../../src/config/config.js';
import { connectRedis } from '../../src/redis/client.js';
import {
  clusterEnv,
  clusterNodes,
  killNode,
  reshard,
  restartNode,
  startCluster,
  stopReplicated,
  waitClusterHealthy,
  waitUntil,
} from '../../src/stack/replicated.js';
import { Checker, type CheckerReport } from './checker.js';
import { chaosEnv, ServiceProcess } from './harness.js';

export interface ClusterOptions {
  readonly messages: number;
  readonly ratePerSec: number;
  readonly drainTimeoutMs: number;
  readonly logDir: string;
}

export interface ClusterResult extends CheckerReport {
  readonly id: string;
  readonly title: string;
  readonly faultSeconds: number;
  readonly drainSeconds: number;
  readonly notes: string[];
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

interface Scenario {
  readonly id: string;
  readonly title: string;
  readonly env: Record<string, string>;
  fault(notes: string[]): Promise<void>;
}

export const CLUSTER_SCENARIOS: readonly Scenario[] = [
  {
    id: 'x',
    title: 'cluster: a master SIGKILLed during load (replica promoted; ack after target, MIN_REPLICAS_ACKED=1)',
    env: {
      SOURCE_ACK_MODE: 'target',
      TARGET_REDIS_MIN_REPLICAS_ACKED: '1',
      TARGET_REDIS_REPLICA_ACK_TIMEOUT_MS: '500',
    },
    async fault(notes) {
      const victim = (await clusterNodes()).find((n) => n.master && n.slots > 0);
      if (!victim) throw new Error('no master to kill');
      await killNode('cluster', victim.port);
      const t0 = Date.now();
      await waitUntil(
        "the promotion of the killed master's replica",
        async () => {
          const nodes = await clusterNodes();
          const gone = nodes.find((n) => n.id === victim.id);
          return (gone?.failed ?? true) && nodes.filter((n) => n.master && !n.failed && n.slots > 0).length === 3;
        },
        30_000,
      );
      notes.push(`replica promoted ${((Date.now() - t0) / 1000).toFixed(1)} s after the kill`);
      await restartNode('cluster', victim.port);
      await waitClusterHealthy();
    },
  },
  {
    id: 'r',
    title: 'cluster: 1500 slots resharded during load',
    env: {},
    async fault(notes) {
      const masters = (await clusterNodes()).filter((n) => n.master && !n.failed && n.slots > 0);
      const [from, to] = masters as [(typeof masters)[0], (typeof masters)[0]];
      const t0 = Date.now();
      await reshard(from.id, to.id, 1500);
      notes.push(`1500 slots moved in ${((Date.now() - t0) / 1000).toFixed(1)} s`);
    },
  },
];

function serviceEnv(runId: string, topic: string, extra: Record<string, string>): Record<string, string> {
  return chaosEnv(
    runId,
    topic,
    { SYNC_RETRY_MAX_MS: '1000', SOURCE_CONSUMER_NAME: 'svc', ...extra },
    { drop: ['TARGET_REDIS_HOST', 'TARGET_REDIS_PORT'], env: clusterEnv() },
  );
}

export async function runClusterScenarios(
  opts: ClusterOptions,
  only?: readonly string[],
  /** false: the caller started the cluster (startCluster) and stops it. */
  manageCluster = true,
): Promise<ClusterResult[]> {
  if (manageCluster) await startCluster();
  const results: ClusterResult[] = [];
  try {
    for (const s of CLUSTER_SCENARIOS.filter((x) => !only || only.includes(x.id))) {
      process.stderr.write(`cluster: scenario ${s.id}: ${s.title}\n`);
      const r = await runOne(s, opts);
      process.stderr.write(
        `cluster: ${s.id}: written ${r.written} lost ${r.lost} duplicates ${r.duplicates} order ${r.orderViolations} drain ${r.drainSeconds.toFixed(1)} s ${r.notes.join('; ')}\n`,
      );
      results.push(r);
    }
  } finally {
    if (manageCluster) await stopReplicated('cluster');
  }
  return results;
}

async function runOne(s: Scenario, opts: ClusterOptions): Promise<ClusterResult> {
  const runId = `${s.id}${randomBytes(3).toString('hex')}`;
  const topic = `chaos-${runId}`;
  const env = serviceEnv(runId, topic, s.env);
  const checker = new Checker(runId, topic, 20, 40);
  const cfg = loadConfig({ configFile: null, env });
  const source = await connectRedis(cfg.source, { role: 'source', db: 0 });
  const notes: string[] = [];
  const svc = new ServiceProcess(`${runId}-svc`, env, opts.logDir);
  let faultAt = Date.now();
  let faultDone = Date.now();
  let deliveredAt = Date.now();
  await checker.startConsuming(env['KAFKA_BOOTSTRAP_SERVERS'] as string);
  try {
    svc.start();
    await svc.waitRunning();
    const writing = checker.write(() => source, opts.messages, opts.ratePerSec);
    while (checker.written < opts.messages * 0.3) await sleep(50);
    faultAt = Date.now();
    await s.fault(notes);
    faultDone = Date.now();
    await writing;
    const drained = await checker.waitDelivered(opts.drainTimeoutMs);
    deliveredAt = Date.now();
    if (!drained) notes.push(`not drained within ${opts.drainTimeoutMs / 1000} s`);
  } finally {
    await svc.stop('SIGTERM');
    await checker.close();
  }
  for (const name of checker.streamNames) await source.send(['DEL', name]).catch(() => undefined);
  await source.close();
  return {
    id: s.id,
    title: s.title,
    ...checker.report(),
    faultSeconds: (faultDone - faultAt) / 1000,
    drainSeconds: (deliveredAt - faultAt) / 1000,
    notes,
  };
}

export function clusterTable(results: readonly ClusterResult[]): string {
  return [
    '| scenario | written | delivered | lost | duplicates | order violations | fault lasted (s) | fault start to drained (s) | notes |',
    '|---|---|---|---|---|---|---|---|---|',
    ...results.map(
      (r) =>
        `| ${r.id}. ${r.title} | ${r.written} | ${r.delivered} | ${r.lost} | ${r.duplicates} | ${r.orderViolations} | ${r.faultSeconds.toFixed(1)} | ${r.drainSeconds.toFixed(1)} | ${r.notes.join('; ')} |`,
    ),
    '',
  ].join('\n');
}
