/**
 * The real service process for the benchmark: `redis-kafka-sync run` compiled from the current
 * src/ (tsc, no type check, into node_modules/.cache/rks-bench so lint and format never see it)
 * and started with plain `node`, so its memory and CPU are the service's own and not those of a
 * TypeScript loader. Resource use comes from /proc: VmHWM (peak resident set) and utime+stime.
 */
import { spawn, execFileSync, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { cpSync, createWriteStream, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { kafkaPid } from '../src/stack/kafka-broker.js';
import { redisPid } from '../src/stack/redis-server.js';

const OUT_DIR = resolve('node_modules/.cache/rks-bench/dist');
/** Clock ticks per second of /proc/<pid>/stat (USER_HZ; 100 on Linux x86-64). */
const CLOCK_TICKS = Number(execFileSync('getconf', ['CLK_TCK']).toString().trim()) || 100;

let built: string | undefined;

/** Use an already built CLI entry (`--daemon`, e.g. an older build for before/after numbers). */
export function useDaemon(binPath: string): void {
  built = resolve(binPath);
}

/** Compiles src/ once per bench run; returns the path of the CLI entry. */
export function buildDaemon(): string {
  if (built) return built;
  rmSync(OUT_DIR, { recursive: true, force: true });
  execFileSync(
    process.execPath,
    [
      'node_modules/typescript/bin/tsc',
      '-p',
      'tsconfig.build.json',
      '--outDir',
      OUT_DIR,
      '--noCheck',
      '--declaration',
      'false',
      '--sourceMap',
      'false',
    ],
    { stdio: 'inherit' },
  );
  // Under node_modules no package.json of ours applies: say that these files are ES modules.
  writeFileSync(join(OUT_DIR, 'package.json'), '{ "type": "module" }\n');
  for (const dir of ['buffer/scripts', 'source/scripts', 'observability/dashboard']) {
    mkdirSync(join(OUT_DIR, dir), { recursive: true });
    cpSync(join('src', dir), join(OUT_DIR, dir), { recursive: true });
  }
  built = join(OUT_DIR, 'cli', 'bin.js');
  return built;
}

export interface ProcUsage {
  /** utime + stime, seconds. */
  cpuSeconds: number;
  /** VmHWM: peak resident set, bytes. */
  peakRssBytes: number;
  rssBytes: number;
}

/** The fields of /proc/<pid>/stat after the command name (which may hold spaces): field 3 first. */
function statFields(pid: number | string): string[] {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  return stat.slice(stat.lastIndexOf(')') + 2).split(' ');
}

export function procUsage(pid: number): ProcUsage {
  const rest = statFields(pid);
  const ticks = Number(rest[11]) + Number(rest[12]); // utime (field 14) + stime (15)
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const kb = (name: string): number => Number(new RegExp(`${name}:\\s+(\\d+) kB`).exec(status)?.[1] ?? 0) * 1024;
  return { cpuSeconds: ticks / CLOCK_TICKS, peakRssBytes: kb('VmHWM'), rssBytes: kb('VmRSS') };
}

/** CPU seconds so far of the sandbox's servers (the broker's JVM and both redis-servers). */
export interface StackCpu {
  kafka: number;
  source: number;
  target: number;
  /**
   * Of `kafka`: the JVM's JIT compiler threads (C1/C2 CompilerThread). A broker that has not yet
   * seen this kind of load keeps compiling its hot paths for minutes (up to 4 µs/msg of a drain
   * measured, 2026-12-06); a long-running remote broker has done so long ago.
   */
  kafkaJit: number;
  /** Of `source` and `target`: their forked children (AOF rewrites), see treeCpuSeconds. */
  sourceChildren: number;
  targetChildren: number;
}

/**
 * CPU seconds of a process with its children: its own (utime + stime), its finished and reaped
 * children's (cutime + cstime), and those of the children alive now. A redis-server forks a child
 * for every AOF rewrite (`auto-aof-rewrite-percentage`: the target makes one per 200 MB drain); that
 * child's CPU is the server's cost too, but shows in the parent's cutime only once it is reaped.
 * Between two samples each child is counted once: alive, then reaped, its time moves from the
 * children's sum to cutime. A child that dies between the two reads of one sample is missed.
 */
export function treeCpuSeconds(pid: number): number {
  return ownCpuSeconds(pid) + childrenCpuSeconds(pid);
}

/** utime + stime of a process (all its threads), seconds. */
function ownCpuSeconds(pid: number): number {
  const f = statFields(pid);
  return (Number(f[11]) + Number(f[12])) / CLOCK_TICKS;
}

/** CPU seconds of a process's children: the reaped ones (cutime + cstime) and those alive now. */
export function childrenCpuSeconds(pid: number): number {
  // utime, stime, cutime, cstime: fields 14-17.
  const withReaped = (f: string[]): number => Number(f[11]) + Number(f[12]) + Number(f[13]) + Number(f[14]);
  const own = statFields(pid);
  let ticks = Number(own[13]) + Number(own[14]);
  for (const child of childPids(pid)) {
    try {
      ticks += withReaped(statFields(child));
    } catch {
      // It ended since the list was read: its time is in the parent's cutime at the next sample.
    }
  }
  return ticks / CLOCK_TICKS;
}

function childPids(pid: number): number[] {
  const pids: number[] = [];
  for (const task of readdirSync(`/proc/${pid}/task`)) {
    try {
      const list = readFileSync(`/proc/${pid}/task/${task}/children`, 'utf8').trim();
      if (list) pids.push(...list.split(' ').map(Number));
    } catch {
      // The thread ended.
    }
  }
  return pids;
}

export function stackCpu(): StackCpu {
  const broker = kafkaPid();
  // Each server's children are listed once per sample: its share and its tree's total from one reading.
  const tree = (pid: number | undefined): { all: number; children: number } => {
    if (pid === undefined) return { all: Number.NaN, children: Number.NaN };
    const children = childrenCpuSeconds(pid);
    return { all: ownCpuSeconds(pid) + children, children };
  };
  const source = tree(redisPid('source'));
  const target = tree(redisPid('target'));
  return {
    kafka: broker === undefined ? Number.NaN : treeCpuSeconds(broker),
    source: source.all,
    target: target.all,
    kafkaJit: broker === undefined ? Number.NaN : jitCpuSeconds(broker),
    sourceChildren: source.children,
    targetChildren: target.children,
  };
}

/** The last ticks seen of each JIT compiler thread, by "pid/tid" (the JVM stops idle ones). */
const jitTicks = new Map<string, number>();

/**
 * CPU seconds so far of a JVM's JIT compiler threads ("C1 CompilerThre..." / "C2 CompilerThre..."),
 * summed over every such thread this process has seen: a thread the JVM has stopped since keeps
 * its last reading, so the sum never goes back. A lower bound: the time a thread ran between the
 * last reading and its end is missed.
 */
export function jitCpuSeconds(pid: number): number {
  for (const task of readdirSync(`/proc/${pid}/task`)) {
    try {
      if (!/^C\d CompilerThre/.test(readFileSync(`/proc/${pid}/task/${task}/comm`, 'utf8'))) continue;
      const f = statFields(`${pid}/task/${task}`);
      jitTicks.set(`${pid}/${task}`, Number(f[11]) + Number(f[12]));
    } catch {
      // The thread ended: its last reading stays.
    }
  }
  let ticks = 0;
  for (const [key, t] of jitTicks) if (key.startsWith(`${pid}/`)) ticks += t;
  return ticks / CLOCK_TICKS;
}

/** CPU seconds of each server between two samples, divided by `per` (messages, seconds, ...). */
export function stackCpuPer(a: StackCpu, b: StackCpu, per: number): StackCpu {
  const d = (x: number, y: number): number => (y - x) / per;
  return {
    kafka: d(a.kafka, b.kafka),
    source: d(a.source, b.source),
    target: d(a.target, b.target),
    kafkaJit: d(a.kafkaJit, b.kafkaJit),
    sourceChildren: d(a.sourceChildren, b.sourceChildren),
    targetChildren: d(a.targetChildren, b.targetChildren),
  };
}

/** Per-million-message CPU of each server between two samples. */
export function stackCpuPerMillion(a: StackCpu, b: StackCpu, messages: number): StackCpu {
  return stackCpuPer(a, b, messages / 1e6);
}

/**
 * NODE_OPTIONS of the bench's services: none, as in the Docker image, so that `run` applies its
 * own heap settings (SYNC_HEAP_SEMI_SPACE_MB; `--set NODE_OPTIONS=--max-semi-space-size=N` overrides).
 */
export const SERVICE_NODE_OPTIONS = '';

/**
 * The variables of a bench service: the sandbox's endpoints, DB 0 only, streams matching
 * `pattern`, records to `topic`, no HTTP server; `overrides` (`--set`) last.
 */
export function serviceEnv(
  stack: Record<string, string>,
  runId: string,
  pattern: string,
  topic: string,
  overrides: Record<string, string> = {},
): Record<string, string> {
  return {
    ...stack,
    SOURCE_REDIS_DB_SEARCH_RANGE: '0',
    STREAM_DISCOVERY_PATTERNS: pattern,
    SOURCE_CONSUMER_NAME: `bench-${runId}`,
    KAFKA_TOPIC: topic,
    HTTP_ADDRESS: 'off',
    LOG_LEVEL: 'info',
    // As the Docker image runs it (docker/Dockerfile): not the bench's own NODE_OPTIONS.
    NODE_OPTIONS: SERVICE_NODE_OPTIONS,
    ...overrides,
  };
}

export class Daemon {
  private child: ChildProcess | undefined;
  private out = '';

  constructor(
    private readonly env: Record<string, string>,
    /** Extra node flags, e.g. --cpu-prof. */
    private readonly nodeFlags: readonly string[] = [],
    /** Where to append the daemon's log lines (kept only in memory, the last 100 kB, without). */
    private readonly logFile?: string,
  ) {}

  get pid(): number {
    const pid = this.child?.pid;
    if (pid === undefined) throw new Error('daemon not started');
    return pid;
  }

  get output(): string {
    return this.out;
  }

  /** Starts the process; resolves when it logged "running" (its read loops have started). */
  async start(timeoutMs = 60_000): Promise<void> {
    const bin = buildDaemon();
    const child = spawn(process.execPath, [...this.nodeFlags, bin, 'run', '--config', '/dev/null'], {
      env: { ...process.env, ...this.env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const file = this.logFile ? createWriteStream(this.logFile, { flags: 'a' }) : undefined;
    child.on('exit', () => file?.end());
    const onData = (d: Buffer): void => {
      file?.write(d);
      this.out = (this.out + d.toString()).slice(-100_000);
    };
    child.stdout?.on('data', onData);
    child.stderr?.on('data', onData);
    this.child = child;
    const deadline = Date.now() + timeoutMs;
    while (!this.out.includes('"msg":"running"')) {
      if (child.exitCode !== null) throw new Error(`daemon exited early:\n${this.out.slice(-2000)}`);
      if (Date.now() > deadline) throw new Error(`daemon did not start:\n${this.out.slice(-2000)}`);
      await new Promise((r) => setTimeout(r, 20));
    }
  }

  usage(): ProcUsage {
    return procUsage(this.pid);
  }

  /** SIGTERM (graceful stop) and wait for the exit. */
  async stop(): Promise<number | null> {
    const child = this.child;
    if (!child || child.exitCode !== null || child.signalCode !== null) return child?.exitCode ?? null;
    const exited = once(child, 'exit') as Promise<[number | null]>;
    child.kill('SIGTERM');
    const timer = setTimeout(() => child.kill('SIGKILL'), 30_000);
    const [code] = await exited;
    clearTimeout(timer);
    return code;
  }
}
