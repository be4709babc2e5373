/**
 * `npm run bench`: throughput, latency, memory, CPU and start-up of the service against the
 * physical ceilings of the same machine, measured in the same run, on a sandbox stack of its own
 * (RKS_STACK_DIR=.stack-bench, ports +200) so flushing its Redis servers never touches the main
 * stack. Prints markdown tables on stdout and LAST the line
 * `bench: drain <X> msg/s, ceiling <Y> msg/s, ratio <X/Y>` (1 KB messages, one stream).
 * Progress goes to stderr.
 *
 *   npm run bench                      full run (1M-message backlogs; 10 KB: 100k), ~15-25 min
 *   npm run bench -- --quick           small sizes, under 2 minutes (the smoke test runs this)
 *   npm run bench -- --only drain      some phases: ceilings,drain,latency,idle,recovery,discovery
 *   npm run bench -- --sizes 1000 --streams 1 --set SOURCE_BATCH_SIZE=2000   tuning experiments
 *   npm run bench -- --messages 200000 backlog of every drain and producer ceiling
 *   npm run bench -- --profile DIR     the drained daemons write V8 CPU profiles into DIR
 *   npm run bench -- --logs DIR        the daemons of the drains and latency runs append their logs to DIR/<case>.log (DIR must exist)
 *   npm run bench -- --rates 5000      offered rates of the latency phase
 *   npm run bench -- --partitions 12   partitions of the latency phase's topics (default 3)
 *   npm run bench -- --daemon FILE     run this built CLI entry (e.g. an older dist/cli/bin.js)
 *   npm run bench -- --json FILE       also write the results as JSON
 *   npm run bench -- --exactly-once    every drain and latency case also with KAFKA_EXACTLY_ONCE=true
 *   npm run bench -- --down            stop the bench stack at the end
 */
import { randomBytes } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { loadavg } from 'node:os';
import { resolve } from 'node:path';
import type { BenchEnv } from './common.js';
import type { BenchReport } from './report.js';

// Its own sandbox: ports 200 above the main stack's (which may itself be shifted).
if (!process.env['RKS_STACK_DIR']) {
  process.env['RKS_STACK_DIR'] = '.stack-bench';
  process.env['RKS_STACK_PORT_OFFSET'] = String(Number(process.env['RKS_STACK_PORT_OFFSET'] ?? 0) + 200);
}

// Flushing the main stack's Redis servers would destroy other people's data.
if (resolve(process.env['RKS_STACK_DIR'] ?? '') === resolve('.stack')) {
  throw new Error('the bench flushes its Redis servers: point RKS_STACK_DIR at a sandbox, not .stack');
}

export const PHASES = ['ceilings', 'drain', 'latency', 'idle', 'recovery', 'discovery'] as const;
export type Phase = (typeof PHASES)[number];

export interface BenchOptions {
  quick: boolean;
  phases: readonly Phase[];
  sizes: readonly number[];
  streams: readonly number[];
  overrides: Record<string, string>;
  /** Backlog size of every drain and producer ceiling instead of the plan's. */
  messages?: number;
  profileDir?: string;
  /** Extra Node / V8 flags of the service process (`--node-flag`, repeatable), e.g. GC flags not allowed in NODE_OPTIONS. */
  nodeFlags?: readonly string[];
  logDir?: string;
  /** A built CLI entry to run instead of compiling src/ (before/after comparisons). */
  daemon?: string;
  /** Offered rates of the latency phase instead of the plan's. */
  rates?: number[];
  /** Partitions of the latency phase's topics (default LATENCY_PARTITIONS). */
  partitions?: number;
  /** Each drain and latency case runs again with KAFKA_EXACTLY_ONCE=true, next to the default. */
  exactlyOnce?: boolean;
}

interface Plan {
  messages: (size: number) => number;
  redisEntries: (size: number) => number;
  latencyRates: number[];
  latencyWarmupMs: number;
  latencyMeasureMs: number;
  recoveryKeys: number;
  discoveryStreams: number;
  idleMs: number;
}

const FULL: Plan = {
  messages: (s) => (s >= 10_000 ? 100_000 : 1_000_000),
  redisEntries: (s) => (s >= 10_000 ? 50_000 : 200_000),
  latencyRates: [5000, 20_000],
  latencyWarmupMs: 5000,
  latencyMeasureMs: 20_000,
  recoveryKeys: 1_000_000,
  discoveryStreams: 10_000,
  idleMs: 30_000,
};

const QUICK: Plan = {
  messages: (s) => (s >= 10_000 ? 4000 : 20_000),
  redisEntries: (s) => (s >= 10_000 ? 4000 : 20_000),
  latencyRates: [5000, 20_000],
  latencyWarmupMs: 1500,
  latencyMeasureMs: 3000,
  recoveryKeys: 50_000,
  discoveryStreams: 1000,
  idleMs: 5000,
};

export async function runBench(opts: BenchOptions): Promise<BenchReport> {
  const { stackUp, stackEnv } = await import('../src/stack/index.js');
  const { producerCeiling, redisCeiling } = await import('./ceilings.js');
  const { drain } = await import('./drain.js');
  const { latency } = await import('./latency.js');
  const { latencyFloor } = await import('./latency-floor.js');
  const { recovery, discovery, idle } = await import('./startup.js');
  const { buildDaemon, useDaemon } = await import('./daemon.js');
  const { flushSandbox, log, machine } = await import('./common.js');

  const plan = opts.quick ? QUICK : FULL;
  const report: BenchReport = {
    mode: opts.quick ? 'quick' : 'full',
    startedAt: new Date().toISOString(),
    machine: machine(),
    loadAtEnd: [],
    producer: [],
    redis: [],
    drains: [],
    latency: [],
  };
  log('stack up (.stack-bench)');
  await stackUp({ log: (l) => log(l) });
  const env: BenchEnv = {
    stack: stackEnv('plaintext'),
    runId: randomBytes(3).toString('hex'),
    ...(opts.partitions ? { partitions: opts.partitions } : {}),
  };
  const has = (p: Phase): boolean => opts.phases.includes(p);
  if (opts.daemon) useDaemon(opts.daemon);
  if (has('drain') || has('latency') || has('idle')) log(`daemon: ${buildDaemon()}`);
  const nodeFlags = [
    ...(opts.profileDir ? ['--cpu-prof', `--cpu-prof-dir=${resolve(opts.profileDir)}`] : []),
    ...(opts.nodeFlags ?? []),
  ];

  for (const size of opts.sizes) {
    const messages = opts.messages ?? plan.messages(size);
    if (has('ceilings')) {
      log(`ceiling: raw producer, ${messages} x ${size} B`);
      report.producer.push(await producerCeiling(env, size, messages));
      log(`ceiling: Redis XADD/XREADGROUP, ${plan.redisEntries(size)} x ${size} B`);
      report.redis.push(await redisCeiling(env, size, plan.redisEntries(size)));
    }
    if (has('drain')) {
      for (const streams of opts.streams) {
        for (const exactlyOnce of opts.exactlyOnce ? [false, true] : [false]) {
          const mode = exactlyOnce ? ', exactly-once' : '';
          log(`drain: ${messages} x ${size} B in ${streams} streams${mode}`);
          const d = await drain(
            env,
            { size, streams, messages, ...(exactlyOnce ? { exactlyOnce } : {}) },
            {
              overrides: exactlyOnce ? { ...opts.overrides, ...exactlyOnceVars(env) } : opts.overrides,
              nodeFlags,
              ...(opts.logDir ? { logDir: resolve(opts.logDir) } : {}),
            },
          );
          log(`drain: ${Math.round(d.msgPerSec)} msg/s, peak RSS ${Math.round(d.peakRssMb)} MB${mode}`);
          report.drains.push(d);
        }
      }
    }
  }
  if (has('latency')) {
    for (const rate of opts.rates ?? plan.latencyRates) {
      // The floor at every rate, just before the service at that rate: the two then share the
      // machine's phase (a stalling VM shows in both), and each rate has its own reference.
      log(`latency floor: raw producer -> consumer at ${rate} msg/s`);
      report.latency.push(await latencyFloor(env, rate, 1000, plan.latencyWarmupMs, plan.latencyMeasureMs));
      for (const exactlyOnce of opts.exactlyOnce ? [false, true] : [false]) {
        log(`latency: ${rate} msg/s offered${exactlyOnce ? ', exactly-once' : ''}`);
        report.latency.push(
          await latency(env, rate, 1000, plan.latencyWarmupMs, plan.latencyMeasureMs, {
            overrides: exactlyOnce ? { ...opts.overrides, ...exactlyOnceVars(env) } : opts.overrides,
            nodeFlags,
            exactlyOnce,
            ...(opts.logDir ? { logDir: resolve(opts.logDir) } : {}),
          }),
        );
      }
    }
  }
  if (has('idle')) {
    log(`idle: the service's resident set over ${plan.idleMs} ms`);
    report.idle = await idle(env, plan.idleMs, opts.overrides);
  }
  if (has('recovery')) {
    log(`recovery: ${plan.recoveryKeys} unsynced keys`);
    report.recovery = await recovery(env, plan.recoveryKeys);
  }
  if (has('discovery')) {
    log(`discovery: ${plan.discoveryStreams} streams in 16 DBs`);
    report.discovery = await discovery(env, plan.discoveryStreams);
  }
  report.loadAtEnd = loadavg();
  log('sandbox: emptied and its AOFs rewritten');
  await flushSandbox(env, { rewriteAof: true });
  return report;
}

/** The service variables of the exactly-once cases (a progress topic of the run's own). */
function exactlyOnceVars(env: BenchEnv): Record<string, string> {
  return { KAFKA_EXACTLY_ONCE: 'true', KAFKA_PROGRESS_TOPIC: `bench-${env.runId}-progress` };
}

function parseArgs(argv: readonly string[]): BenchOptions & { json?: string; down: boolean } {
  const value = (name: string): string | undefined => {
    const i = argv.indexOf(name);
    return i >= 0 ? argv[i + 1] : undefined;
  };
  const list = (name: string): string[] | undefined =>
    value(name)
      ?.split(',')
      .filter((s) => s !== '');
  const phases = (list('--only') ?? [...PHASES]) as Phase[];
  for (const p of phases) if (!PHASES.includes(p)) throw new Error(`--only: unknown phase "${p}"`);
  const overrides: Record<string, string> = {};
  const nodeFlags = argv.flatMap((a, i) => (a === '--node-flag' && argv[i + 1] ? [argv[i + 1] as string] : []));
  argv.forEach((a, i) => {
    if (a !== '--set') return;
    const [k, ...v] = (argv[i + 1] ?? '').split('=');
    if (k) overrides[k] = v.join('=');
  });
  const json = value('--json');
  const messages = value('--messages');
  const profileDir = value('--profile');
  const logDir = value('--logs');
  const daemon = value('--daemon');
  const rates = list('--rates')?.map(Number);
  const partitions = value('--partitions');
  return {
    quick: argv.includes('--quick'),
    phases,
    sizes: (list('--sizes') ?? ['100', '1000', '10000']).map(Number),
    streams: (list('--streams') ?? ['1', '1000']).map(Number),
    overrides,
    down: argv.includes('--down'),
    exactlyOnce: argv.includes('--exactly-once'),
    ...(json ? { json } : {}),
    ...(messages ? { messages: Number(messages) } : {}),
    ...(profileDir ? { profileDir } : {}),
    ...(nodeFlags.length > 0 ? { nodeFlags } : {}),
    ...(logDir ? { logDir } : {}),
    ...(daemon ? { daemon } : {}),
    ...(rates ? { rates } : {}),
    ...(partitions ? { partitions: Number(partitions) } : {}),
  };
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const args = parseArgs(process.argv.slice(2));
  const { formatReport, summaryLine } = await import('./report.js');
  let code = 0;
  try {
    const report = await runBench(args);
    if (args.json) writeFileSync(args.json, `${JSON.stringify(report, null, 2)}\n`);
    process.stdout.write(formatReport(report));
    process.stdout.write(`\n${summaryLine(report)}\n`);
  } catch (err) {
    process.stderr.write(`bench failed: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
    code = 1;
  }
  if (args.down) {
    const { stackDown } = await import('../src/stack/index.js');
    await stackDown({ log: (l) => process.stderr.write(`bench: ${l}\n`) });
  }
  process.exit(code);
}
