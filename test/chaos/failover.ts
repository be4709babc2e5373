/**
 * Failover scenarios: the source and the target each behind Redis Sentinel (one master, one
 * replica, three Sentinels: src/stack/replicated.ts), the real daemon (built package) reading
 * and buffering through them, the stack's Kafka as the sink, and the checker (checker.ts)
 * writing load and reading the topic independently.
 *
 *   t  SENTINEL FAILOVER of the target during load (SOURCE_ACK_MODE=kafka)
 *   k  target master SIGKILLed during load, SOURCE_ACK_MODE=target, TARGET_REDIS_MIN_REPLICAS_ACKED=1
 *   s  SENTINEL FAILOVER of the source during load
 *
 * Each reports lost / duplicates / order violations, and what the service showed while it
 * lasted: /readyz not ready with "failover in progress", the failover in the log and in
 * rks_redis_failovers_total. The checker's writer confirms each chunk with `WAIT 1` on the
 * source (a write the source master had not replicated is not counted as written: that loss is
 * the writer's, not the service's).
 */
import { randomBytes } from 'node:crypto';
import { loadConfig } from '../../src/config/config.js';
import { connectRedis, type RedisConnection } from '../../src/redis/client.js';
import {
  killNode,
  restartNode,
  sentinelEnv,
  sentinelFailover,
  sentinelMaster,
  startSentinelSet,
  stopReplicated,
  waitUntil,
} from '../../src/stack/replicated.js';
import { Checker, type CheckerReport } from './checker.js';
import { chaosEnv, ServiceProcess } from './harness.js';

export interface FailoverOptions {
  readonly messages: number;
  readonly ratePerSec: number;
  readonly drainTimeoutMs: number;
  readonly logDir: string;
}

export interface FailoverResult extends CheckerReport {
  readonly id: string;
  readonly title: string;
  /** Seconds from the fault to the service following the new master (its log). */
  readonly switchSeconds: number | undefined;
  /** Seconds from the fault to the last entry delivered. */
  readonly drainSeconds: number;
  /** Seconds from the writer's last write (it stalls while the source has no replica) to the last delivery. */
  readonly afterLastWriteSeconds: number;
  readonly readyzDuringFailover: string | undefined;
  readonly failoversMetric: number | undefined;
  readonly loggedFailover: boolean;
  readonly notes: string[];
}

interface Scenario {
  readonly id: string;
  readonly title: string;
  readonly role: 'source' | 'target';
  readonly env: Record<string, string>;
  fault(): Promise<void>;
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

export const FAILOVER_SCENARIOS: readonly Scenario[] = [
  {
    id: 't',
    title: 'target: SENTINEL FAILOVER during load (ack after Kafka)',
    role: 'target',
    env: {},
    fault: () => sentinelFailover('target'),
  },
  {
    id: 'k',
    title: 'target: master SIGKILLed during load (ack after target, MIN_REPLICAS_ACKED=1)',
    role: 'target',
    env: {
      SOURCE_ACK_MODE: 'target',
      TARGET_REDIS_MIN_REPLICAS_ACKED: '1',
      TARGET_REDIS_REPLICA_ACK_TIMEOUT_MS: '500',
    },
    async fault() {
      const master = await sentinelMaster('target');
      await killNode('target', master);
      // Back after the promotion: the Sentinels turn it into a replica of the new master, so the
      // next scenario again has a replica to fail over to.
      void waitUntil('the target promotion', async () => (await sentinelMaster('target')) !== master, 30_000)
        .then(() => restartNode('target', master))
        .catch((err: unknown) =>
          process.stderr.write(`failover: restarting the old target master failed: ${String(err)}\n`),
        );
    },
  },
  {
    id: 's',
    title: 'source: SENTINEL FAILOVER during load',
    role: 'source',
    env: {},
    fault: () => sentinelFailover('source'),
  },
];

/** Service environment: stack Kafka, both Redis roles through their Sentinels. */
function serviceEnv(runId: string, topic: string, extra: Record<string, string>): Record<string, string> {
  return chaosEnv(
    runId,
    topic,
    { SYNC_RETRY_MAX_MS: '1000', HTTP_ADDRESS: '127.0.0.1:0', SOURCE_CONSUMER_NAME: 'svc', ...extra },
    {
      drop: ['SOURCE_REDIS_HOST', 'SOURCE_REDIS_PORT', 'TARGET_REDIS_HOST', 'TARGET_REDIS_PORT'],
      env: { ...sentinelEnv('source', 'SOURCE'), ...sentinelEnv('target', 'TARGET') },
    },
  );
}

/** A source connection through the Sentinels whose writes count only once a replica has them. */
function confirmedWriter(conn: RedisConnection): RedisConnection {
  let pending: Promise<unknown> | undefined;
  return {
    get endpoint() {
      return conn.endpoint;
    },
    db: conn.db,
    isReady: () => conn.isReady(),
    close: () => conn.close(),
    onError: (l) => conn.onError(l),
    // The checker pipelines one chunk of XADDs in one tick: one WAIT after them covers all.
    async send(args) {
      const reply = await conn.send(args);
      pending ??= conn.send(['WAIT', '1', '2000']).finally(() => (pending = undefined));
      const acked = Number(await pending);
      if (acked < 1) throw new Error('the write reached no replica');
      return reply;
    },
  };
}

export async function runFailoverScenarios(opts: FailoverOptions, only?: readonly string[]): Promise<FailoverResult[]> {
  await Promise.all([startSentinelSet('source'), startSentinelSet('target')]);
  const results: FailoverResult[] = [];
  try {
    for (const s of FAILOVER_SCENARIOS.filter((x) => !only || only.includes(x.id))) {
      process.stderr.write(`failover: scenario ${s.id}: ${s.title}\n`);
      const r = await runOne(s, opts);
      process.stderr.write(
        `failover: ${s.id}: written ${r.written} lost ${r.lost} duplicates ${r.duplicates} (writer ${r.writerDuplicates ?? 0}) order ${r.orderViolations} switch ${r.switchSeconds?.toFixed(1)} s drain ${r.drainSeconds.toFixed(1)} s readyz "${r.readyzDuringFailover}" metric ${r.failoversMetric}\n`,
      );
      results.push(r);
    }
  } finally {
    await Promise.all([stopReplicated('source'), stopReplicated('target')]);
  }
  return results;
}

async function runOne(s: Scenario, opts: FailoverOptions): Promise<FailoverResult> {
  const runId = `${s.id}${randomBytes(3).toString('hex')}`;
  const topic = `chaos-${runId}`;
  const env = serviceEnv(runId, topic, s.env);
  const checker = new Checker(runId, topic, 10, 20);
  const cfg = loadConfig({ configFile: null, env });
  const source = confirmedWriter(await connectRedis(cfg.source, { role: 'source', db: 0 }));
  const notes: string[] = [];
  const svc = new ServiceProcess(`${runId}-svc`, env, opts.logDir);
  let readyz: string | undefined;
  let faultAt = Date.now();
  let deliveredAt = Date.now();
  let writtenAt = Date.now();
  let metricValue: number | undefined;
  await checker.startConsuming(env['KAFKA_BOOTSTRAP_SERVERS'] as string);
  try {
    svc.start();
    await svc.waitRunning();
    const url = /"url":"(http:\/\/[^"]+)"/.exec(svc.output)?.[1];
    if (!url) throw new Error(`no HTTP url in the service log:\n${svc.output.slice(-2000)}`);
    const writing = checker.write(() => source, opts.messages, opts.ratePerSec);
    while (checker.written < opts.messages * 0.35) await sleep(50);
    // /readyz is polled all through the failover: the first not-ready answer is kept.
    let polling = true;
    const poller = (async () => {
      while (polling) {
        try {
          const res = await fetch(`${url}/readyz`);
          const text = await res.text();
          if (res.status !== 200 && readyz === undefined)
            readyz = `${res.status} ${text.replace(/\s+/g, ' ').slice(0, 300)}`;
        } catch {
          // the service is busy; the next poll tells
        }
        await sleep(25);
      }
    })();
    faultAt = Date.now();
    await s.fault();
    await writing;
    writtenAt = Date.now();
    const drained = await checker.waitDelivered(opts.drainTimeoutMs);
    deliveredAt = Date.now();
    polling = false;
    await poller;
    if (!drained) notes.push(`not drained within ${opts.drainTimeoutMs / 1000} s`);
    const metrics = await (await fetch(`${url}/metrics`)).text();
    const m = new RegExp(`^rks_redis_failovers_total\\{role="${s.role}"\\} (\\d+)`, 'm').exec(metrics);
    metricValue = m ? Number(m[1]) : undefined;
  } finally {
    await svc.stop('SIGTERM');
    await checker.close();
  }
  const doneLine = svc.output.split('\n').find((l) => l.includes('failover done') && l.includes(`"role":"${s.role}"`));
  const doneTime = doneLine ? Number(/"time":(\d+)/.exec(doneLine)?.[1]) : undefined;
  for (const name of checker.streamNames) await source.send(['DEL', name]).catch(() => undefined);
  await source.close();
  return {
    id: s.id,
    title: s.title,
    ...checker.report(),
    switchSeconds: doneTime ? (doneTime - faultAt) / 1000 : undefined,
    drainSeconds: (deliveredAt - faultAt) / 1000,
    afterLastWriteSeconds: (deliveredAt - writtenAt) / 1000,
    readyzDuringFailover: readyz,
    failoversMetric: metricValue,
    loggedFailover: doneLine !== undefined && svc.output.includes('master lost'),
    notes,
  };
}

export function failoverTable(results: readonly FailoverResult[]): string {
  return [
    '| scenario | written | delivered | lost | duplicates (writer re-sent) | order violations | switch (s) | fault to drained (s) | last write to drained (s) | /readyz during failover | failovers metric |',
    '|---|---|---|---|---|---|---|---|---|---|---|',
    ...results.map(
      (r) =>
        `| ${r.id}. ${r.title} | ${r.written} | ${r.delivered} | ${r.lost} | ${r.duplicates} (${r.writerDuplicates ?? 0}) | ${r.orderViolations} | ${r.switchSeconds?.toFixed(1) ?? '-'} | ${r.drainSeconds.toFixed(1)} | ${r.afterLastWriteSeconds.toFixed(1)} | ${(r.readyzDuringFailover ?? 'always ready').slice(0, 60)} | ${r.failoversMetric ?? '-'} |`,
    ),
    '',
  ].join('\n');
}
