/**
 * The chaos scenarios. Each runs the real daemon against a sandbox stack of its own (see
 * run.ts: RKS_STACK_DIR / RKS_STACK_PORT_OFFSET), writes load with the checker, injects one
 * fault, recovers, and waits until every written entry is in Kafka. Pass = lost 0.
 */
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { connectRedis, type RedisConnection } from '../../src/redis/client.js';
import { loadConfig } from '../../src/config/config.js';
import { STACK_PORTS, stackEnv, startServer, stopServer } from '../../src/stack/index.js';
import { Checker, type CheckerReport } from './checker.js';
import { chaosEnv, ServiceProcess } from './harness.js';
import { TcpProxy } from './proxy.js';

export interface ChaosOptions {
  readonly messagesPerScenario: number;
  readonly ratePerSec: number;
  readonly outageMs: number;
  readonly drainTimeoutMs: number;
  readonly logDir: string;
  /** Messages buffered during a Kafka outage for the memory scenario (0: skip it). */
  readonly memoryMessages: number;
  /** KAFKA_EXACTLY_ONCE=true for every service (the checker reads read_committed either way). */
  readonly exactlyOnce?: boolean;
}

/** The scenarios the exactly-once column runs: outage, crash, takeover, restart, and k. */
export const EXACTLY_ONCE_SCENARIOS = ['a', 'b', 'f', 'h', 'k'];

export interface ScenarioResult extends CheckerReport {
  readonly id: string;
  readonly title: string;
  readonly drainSeconds: number;
  readonly peakRssMb: number;
  readonly notes: string[];
}

interface Ctx {
  readonly opts: ChaosOptions;
  readonly runId: string;
  readonly checker: Checker;
  readonly notes: string[];
  readonly services: ServiceProcess[];
  source: RedisConnection;
  target: RedisConnection;
  recoveredAt: number;
  env(extra?: Record<string, string>): Record<string, string>;
  /** Starts a service; waits for its "running" line unless `wait` is false. */
  service(name: string, extra?: Record<string, string>, opts?: { wait?: boolean }): Promise<ServiceProcess>;
  /** Starts the writer; resolves when all entries are written. */
  load(count?: number, rate?: number): Promise<void>;
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** Waits until the writer is `fraction` done (by entries written). */
async function atFraction(ctx: Ctx, fraction: number, count = ctx.opts.messagesPerScenario): Promise<void> {
  while (ctx.checker.written < count * fraction) await sleep(50);
}

export const SCENARIOS: { id: string; title: string; run(ctx: Ctx): Promise<void> }[] = [
  {
    id: 'a',
    title: 'Kafka stopped during load, then started',
    async run(ctx) {
      await ctx.service('svc');
      const writing = ctx.load();
      await atFraction(ctx, 0.3);
      await stopServer('kafka');
      await sleep(ctx.opts.outageMs);
      await startServer('kafka');
      ctx.recoveredAt = Date.now();
      await writing;
    },
  },
  {
    id: 'b',
    title: 'service SIGKILLed during load, then restarted',
    async run(ctx) {
      const svc = await ctx.service('svc');
      const writing = ctx.load();
      await atFraction(ctx, 0.4);
      await svc.stop('SIGKILL');
      await sleep(1000);
      await ctx.service('svc');
      ctx.recoveredAt = Date.now();
      await writing;
    },
  },
  {
    id: 'c',
    title: 'target Redis restarted during load (AOF)',
    async run(ctx) {
      await ctx.service('svc');
      const writing = ctx.load();
      await atFraction(ctx, 0.4);
      await stopServer('target');
      await sleep(Math.min(ctx.opts.outageMs, 5000));
      await startServer('target');
      ctx.recoveredAt = Date.now();
      await writing;
    },
  },
  {
    id: 'd',
    title: 'source Redis restarted during load',
    async run(ctx) {
      await ctx.service('svc');
      const writing = ctx.load();
      await atFraction(ctx, 0.4);
      await stopServer('source');
      await sleep(Math.min(ctx.opts.outageMs, 5000));
      await startServer('source');
      ctx.recoveredAt = Date.now();
      await writing;
    },
  },
  {
    id: 'e',
    title: 'connections to Kafka and target cut by a TCP proxy, then restored',
    async run(ctx) {
      const kafkaProxy = new TcpProxy(STACK_PORTS.kafka.proxiedAdvertised, STACK_PORTS.kafka.proxied);
      const targetProxy = new TcpProxy(STACK_PORTS.target + 30, STACK_PORTS.target);
      await kafkaProxy.start();
      await targetProxy.start();
      try {
        await ctx.service('svc', {
          KAFKA_BOOTSTRAP_SERVERS: `127.0.0.1:${STACK_PORTS.kafka.proxiedAdvertised}`,
          TARGET_REDIS_PORT: String(STACK_PORTS.target + 30),
        });
        const writing = ctx.load();
        await atFraction(ctx, 0.3);
        kafkaProxy.cut();
        targetProxy.cut();
        await sleep(ctx.opts.outageMs);
        kafkaProxy.restore();
        targetProxy.restore();
        ctx.recoveredAt = Date.now();
        await writing;
        if (!(await ctx.checker.waitDelivered(ctx.opts.drainTimeoutMs))) ctx.notes.push('not drained');
      } finally {
        await Promise.all(ctx.services.map((s) => s.stop('SIGTERM')));
        await kafkaProxy.stop();
        await targetProxy.stop();
      }
    },
  },
  {
    id: 'f',
    title: 'three instances, one SIGKILLed for good: others claim its entries',
    async run(ctx) {
      await ctx.service('svc1');
      const victim = await ctx.service('svc2');
      await ctx.service('svc3');
      const writing = ctx.load();
      await atFraction(ctx, 0.4);
      await victim.stop('SIGKILL');
      ctx.recoveredAt = Date.now();
      await writing;
    },
  },
  {
    id: 'g',
    title: 'Kafka outage longer than TARGET_REDIS_TIME_TO_LIVE (2 s)',
    async run(ctx) {
      await ctx.service('svc', { TARGET_REDIS_TIME_TO_LIVE: '2' });
      const writing = ctx.load();
      await atFraction(ctx, 0.3);
      await stopServer('kafka');
      await sleep(Math.max(ctx.opts.outageMs, 6000));
      const key = await ctx.target.send(['SRANDMEMBER', `${ctx.runId}:unsynced_keys_set`]);
      if (Buffer.isBuffer(key)) {
        const ttl = Number(await ctx.target.send(['TTL', key]));
        ctx.notes.push(`unsynced key TTL during outage: ${ttl}`);
        if (ttl !== -1) throw new Error(`an unsynced key has a TTL (${ttl}) during the outage`);
      }
      await startServer('kafka');
      ctx.recoveredAt = Date.now();
      await writing;
    },
  },
  {
    id: 'h',
    title: 'SIGTERM during load: graceful drain, restart',
    async run(ctx) {
      const svc = await ctx.service('svc');
      const writing = ctx.load();
      await atFraction(ctx, 0.4);
      const code = await svc.stop('SIGTERM');
      ctx.notes.push(`exit code ${code}`);
      if (code !== 0) throw new Error(`graceful stop exited ${code}`);
      await ctx.service('svc');
      ctx.recoveredAt = Date.now();
      await writing;
    },
  },
  {
    id: 'j',
    title: 'the target link dies without a reset (open connections go silent)',
    async run(ctx) {
      const targetProxy = new TcpProxy(STACK_PORTS.target + 31, STACK_PORTS.target);
      await targetProxy.start();
      try {
        const svc = await ctx.service('svc', {
          TARGET_REDIS_PORT: String(STACK_PORTS.target + 31),
          TARGET_REDIS_REPLY_TIMEOUT_MS: '3000',
        });
        const writing = ctx.load();
        await atFraction(ctx, 0.3);
        targetProxy.freeze(); // no reset, no reply: only the reply deadline can tell
        ctx.recoveredAt = Date.now();
        await writing;
        if (!(await ctx.checker.waitDelivered(ctx.opts.drainTimeoutMs))) ctx.notes.push('not drained');
        const said = svc.output.includes('no reply for');
        ctx.notes.push(said ? 'service replaced the silent connections' : 'no silent connection seen');
      } finally {
        await Promise.all(ctx.services.map((s) => s.stop('SIGTERM')));
        await targetProxy.stop();
      }
    },
  },
  {
    id: 'i',
    title: 'target Redis reaches maxmemory: backpressure, then resume',
    async run(ctx) {
      const svc = await ctx.service('svc');
      const writing = ctx.load();
      await atFraction(ctx, 0.3);
      const info = String(await ctx.target.send(['INFO', 'memory']));
      const used = Number(/used_memory:(\d+)/.exec(info)?.[1] ?? 0);
      await ctx.target.send(['CONFIG', 'SET', 'maxmemory-policy', 'noeviction']);
      await ctx.target.send(['CONFIG', 'SET', 'maxmemory', String(used + 256 * 1024)]);
      try {
        await sleep(ctx.opts.outageMs);
      } finally {
        await ctx.target.send(['CONFIG', 'SET', 'maxmemory', '0']);
      }
      ctx.recoveredAt = Date.now();
      const said = svc.output.includes('maxmemory reached');
      ctx.notes.push(said ? 'service reported the full buffer' : 'no OOM observed');
      await writing;
    },
  },
];

/**
 * The case of issue 16: a backlog drained at full speed (a large in-flight window), the service
 * SIGKILLed, Kafka stopped while a second instance starts and takes the dead one's entries over.
 * At-least-once resends what was in Kafka but not yet marked (duplicates); exactly-once must not.
 * Not in the default run (`--only k`, or the exactly-once column).
 */
export const BURST_TAKEOVER_SCENARIO = {
  id: 'k',
  title: 'SIGKILL while draining a backlog at full speed; Kafka down while a second instance takes over',
  async run(ctx: Ctx): Promise<void> {
    // A backlog written first, drained at full speed: mid-drain at the kill, the in-flight
    // window is full.
    await ctx.load(Math.max(20_000, ctx.opts.messagesPerScenario * 4), 1_000_000);
    const first = await ctx.service('svc1');
    // Mid-drain by the source (entries are deleted once acknowledged), not by the checker's own
    // consumer, which may join the topic late.
    const left = async (): Promise<number> => {
      const lens = await Promise.all(ctx.checker.streamNames.map((n) => ctx.source.send(['XLEN', n])));
      return lens.reduce<number>((a, b) => a + Number(b), 0);
    };
    while ((await left()) > ctx.checker.written * 0.8) await sleep(5);
    await first.stop('SIGKILL');
    await stopServer('kafka');
    // Exactly-once start waits for Kafka (fencing needs it): do not wait for "running" here.
    await ctx.service('svc2', {}, { wait: false });
    await sleep(ctx.opts.outageMs);
    await startServer('kafka');
    ctx.recoveredAt = Date.now();
    // Done only once the dead one's entries were taken over and acknowledged (the source is
    // empty), and what that resent had time to reach the checker: that is where duplicates show.
    const deadline = Date.now() + ctx.opts.drainTimeoutMs;
    while ((await left()) > 0 && Date.now() < deadline) await sleep(200);
    if ((await left()) > 0) ctx.notes.push('source not drained');
    await sleep(3000);
  },
};

export const MEMORY_SCENARIO = {
  id: 'm',
  title: 'messages buffered in the target during a Kafka outage (RSS bound)',
  async run(ctx: Ctx): Promise<void> {
    await stopServer('kafka');
    const svc = await ctx.service('svc', { SOURCE_ACK_MODE: 'target', SYNC_RESEND_AFTER_MS: '0' });
    await ctx.load(ctx.opts.memoryMessages, 1_000_000);
    while (Number(await ctx.target.send(['SCARD', `${ctx.runId}:unsynced_keys_set`])) < ctx.checker.written)
      await sleep(500);
    ctx.notes.push(
      `${ctx.checker.written} buffered, peak RSS while buffering ${(svc.peakRssBytes / 2 ** 20).toFixed(0)} MB`,
    );
    await startServer('kafka');
    ctx.recoveredAt = Date.now();
  },
};

export async function runScenario(
  scenario: { id: string; title: string; run(ctx: Ctx): Promise<void> },
  opts: ChaosOptions,
): Promise<ScenarioResult> {
  const runId = `${scenario.id}${randomBytes(3).toString('hex')}`;
  const topic = `chaos-${runId}`;
  const checker = new Checker(runId, topic, 20, 40);
  const cfg = loadConfig({ configFile: null, env: stackEnv('plaintext') });
  const notes: string[] = [];
  const services: ServiceProcess[] = [];
  const conn = async (role: 'source' | 'target'): Promise<RedisConnection> =>
    connectRedis(role === 'source' ? cfg.source : cfg.target, { role, db: 0 });
  const ctx: Ctx = {
    opts,
    runId,
    checker,
    notes,
    services,
    source: await conn('source'),
    target: await conn('target'),
    recoveredAt: Date.now(),
    env: (extra = {}) =>
      chaosEnv(runId, topic, {
        ...(opts.exactlyOnce
          ? {
              KAFKA_EXACTLY_ONCE: 'true',
              KAFKA_PROGRESS_TOPIC: `chaos-progress-${runId}`,
              KAFKA_TRANSACTION_INTERVAL_MS: '100',
              // Shorter than the outages: the open transaction expires while Kafka is down, so
              // the abort path (records resent in a new transaction) is what the scenario runs.
              KAFKA_TRANSACTION_TIMEOUT_MS: '4000',
            }
          : {}),
        ...extra,
      }),
    async service(name, extra = {}, { wait = true } = {}) {
      const svc = new ServiceProcess(
        `${runId}-${name}`,
        ctx.env({ SOURCE_CONSUMER_NAME: name, ...extra }),
        opts.logDir,
      );
      services.push(svc);
      svc.start();
      if (wait) await svc.waitRunning();
      return svc;
    },
    load: (count = opts.messagesPerScenario, rate = opts.ratePerSec) => checker.write(() => ctx.source, count, rate),
  };
  await checker.startConsuming(ctx.env().KAFKA_BOOTSTRAP_SERVERS as string);
  let deliveredAt = Date.now();
  try {
    await scenario.run(ctx);
    const drained = await checker.waitDelivered(opts.drainTimeoutMs);
    deliveredAt = Date.now();
    if (!drained) notes.push(`not drained within ${opts.drainTimeoutMs / 1000} s`);
  } finally {
    await Promise.all(services.map((s) => s.stop('SIGTERM')));
    await checker.close();
  }
  const drainSeconds = (deliveredAt - ctx.recoveredAt) / 1000;
  const report = checker.report();
  for (const s of checker.streamNames) await ctx.source.send(['DEL', s]).catch(() => undefined);
  await ctx.source.close();
  await ctx.target.close();
  return {
    id: opts.exactlyOnce ? `${scenario.id}+eo` : scenario.id,
    title: opts.exactlyOnce ? `${scenario.title} (exactly-once)` : scenario.title,
    ...report,
    drainSeconds: Math.max(0, drainSeconds),
    peakRssMb: Math.max(0, ...services.map((s) => s.peakRssBytes)) / 2 ** 20,
    notes,
  };
}

export function logDirFor(root: string): string {
  return join(root, 'chaos');
}
