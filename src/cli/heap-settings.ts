/**
 * V8's heap settings of the daemon (`run`): SYNC_HEAP_SEMI_SPACE_MB, SYNC_HEAP_GROWING_PERCENT,
 * SYNC_HEAP_MARKING_START_PERCENT and the idle trim of SYNC_HEAP_IDLE_TRIM_MS. The library leaves its host process alone; only
 * `run` applies them.
 *
 * Why (docs/performance.md, issue 13, 2026-12-02, night): while draining, a batch's working set (its read
 * reply, entries, messages, commands) is a few MB. With a young generation smaller than that, most
 * of it outlives two scavenges and dies in the old generation, which V8 then collects only once it
 * has grown by its growing factor (2-4x what survived the last full collection): most of the peak
 * RSS. A semi-space of 8 MB lets the batch die young (V8's own default here, up to 32 MB, costs
 * 60-80 MB more at the peak); a growing factor of 2 (100 %) then bounds the old generation at
 * twice its live data for no more CPU than the default factor with a 4 MB young generation.
 *
 * Invariants
 *  - The operator's own V8 flags win: a `--max-semi-space-size` given on the command line or in
 *    NODE_OPTIONS is left as it is (the image's NODE_OPTIONS, a debugging session).
 *  - The semi-space size is fixed when V8 starts, so `run` applies it by replacing its own process
 *    image with the same command plus the flag (execve: same PID, same stdio, same signals; the
 *    flag in the new process's argv stops a second replacement). That happens before anything is
 *    connected or started, so nothing is lost or done twice.
 *  - The replaced process also gets MALLOC_ARENA_MAX=2 unless the variable is set: glibc's
 *    per-thread arenas (librdkafka's threads) hold freed memory apart, 5-10 MB of the peak.
 *  - The growing percent is read by V8 at every full collection: set in-process, no restart.
 *  - The marking start (2026-12-06): V8's own rule starts a full marking as soon as the room left
 *    before the old generation's limit is smaller than the young generation. With 8 MB
 *    semi-spaces and a growing factor of 2 that room (about the live heap, ~20 MB) is nearly always
 *    that small, so a drain marked the whole live heap every 150-300 ms: V8's helper threads took
 *    0.16-0.24 of a core. --incremental-marking-soft-trigger=50 starts it once half the room is
 *    used instead (the limit, so the peak, unchanged; read by V8 at each allocation step, so also
 *    set in-process).
 *  - Idle trim (IdleHeapTrim): without it, the young generation V8 grew to 8 MB semi-spaces
 *    (start-up, a drain) and the old generation's emptied pages stay resident when the service
 *    goes quiet (idle: 12-14 MB of young generation committed, 0.2 used; RSS 101 MB, and 158-167
 *    MB for as long as it stays quiet after a drain); an ordinary full collection gives none of
 *    it back. After SYNC_HEAP_IDLE_TRIM_MS with no message moved, one memory-reducing collection
 *    (V8's "last resort" flavour: everything collectable, the young generation shrunk, emptied
 *    pages released). Once per idle period (re-armed only by messages moved): a quiet service
 *    pays it once (30-40 ms of pause), a busy one never.
 *  - The collection function comes from a fresh vm context after enabling V8's gc extension at
 *    run time; the service's own global scope gets no `gc`. Measured side effect, kept on
 *    purpose: that context's creation wakes V8's memory reducer, which Node otherwise leaves
 *    asleep here. The reducer then does most of the work by itself, ~5 s after start and ~8 s
 *    after each drain (idle 84-86 MB, 113-130 MB after a drain, with or without the collection);
 *    the collection is the guarantee that it happens in every idle period (docs/performance.md).
 */
import { getHeapSpaceStatistics, setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import type { Config } from '../config/config.js';
import { errorMessage } from '../errors.js';

const SEMI_SPACE_FLAG = '--max-semi-space-size';

/** Whether `--max-semi-space-size` is already among this process's V8 flags (argv or NODE_OPTIONS). */
export function semiSpaceGiven(execArgv: readonly string[], nodeOptions: string | undefined): boolean {
  return v8FlagGiven(SEMI_SPACE_FLAG, execArgv, nodeOptions);
}

/**
 * The argv to re-execute this process with so that it runs with a semi-space of `semiSpaceMb`,
 * or undefined when nothing needs to change (0: V8's default; the flag already given).
 */
export function semiSpaceArgv(
  semiSpaceMb: number,
  proc: { readonly execPath: string; readonly execArgv: readonly string[]; readonly argv: readonly string[] },
  nodeOptions: string | undefined,
): string[] | undefined {
  if (semiSpaceMb <= 0 || semiSpaceGiven(proc.execArgv, nodeOptions)) return undefined;
  return [proc.execPath, `${SEMI_SPACE_FLAG}=${semiSpaceMb}`, ...proc.execArgv, ...proc.argv.slice(1)];
}

/** The environment of the replaced process: this one's, with MALLOC_ARENA_MAX=2 unless it is set. */
export function reexecEnv(env: NodeJS.ProcessEnv): NodeJS.ProcessEnv {
  return env.MALLOC_ARENA_MAX === undefined ? { ...env, MALLOC_ARENA_MAX: '2' } : env;
}

/** Whether a V8 flag is among the node flags given (argv or NODE_OPTIONS), with - or _ in its name. */
export function v8FlagGiven(flag: string, execArgv: readonly string[], nodeOptions: string | undefined): boolean {
  const name = flag.replace(/_/g, '-');
  const given = (a: string): boolean => {
    const n = a.split('=')[0]?.replace(/_/g, '-');
    return n === name;
  };
  return execArgv.some(given) || (nodeOptions ?? '').split(/\s+/).some(given);
}

/**
 * The V8 flags `run` sets in its own process (V8 reads them at every collection, so no restart):
 * the growing factor and the marking start, each unless 0 (V8's own) or given by the operator.
 */
export function inProcessFlags(
  cfg: Pick<Config, 'heapGrowingPercent' | 'heapMarkingStartPercent'>,
  execArgv: readonly string[],
  nodeOptions: string | undefined,
): string[] {
  const flags: string[] = [];
  const add = (flag: string, value: number): void => {
    if (value > 0 && !v8FlagGiven(flag, execArgv, nodeOptions)) flags.push(`${flag}=${value}`);
  };
  add('--heap-growing-percent', cfg.heapGrowingPercent);
  add('--incremental-marking-soft-trigger', cfg.heapMarkingStartPercent);
  return flags;
}

/**
 * Applies the heap settings of `cfg` to this process: may replace it (execve, never returns) to
 * set the semi-space size. Returns a warning to log when the platform cannot do that.
 */
export function applyHeapSettings(cfg: Config): string | undefined {
  const argv = semiSpaceArgv(cfg.heapSemiSpaceMb, process, process.env.NODE_OPTIONS);
  let warning: string | undefined;
  if (argv) {
    let why = 'this Node has no process.execve';
    try {
      if (typeof process.execve === 'function') process.execve(process.execPath, argv, reexecEnv(process.env));
    } catch (err) {
      why = `re-executing ${process.execPath} failed: ${errorMessage(err)}`;
    }
    warning =
      `SYNC_HEAP_SEMI_SPACE_MB=${cfg.heapSemiSpaceMb} is not applied (${why}); start the service with ` +
      `NODE_OPTIONS=${SEMI_SPACE_FLAG}=${cfg.heapSemiSpaceMb}, or set SYNC_HEAP_SEMI_SPACE_MB=0 for V8's default`;
  }
  for (const flag of inProcessFlags(cfg, process.execArgv, process.env.NODE_OPTIONS)) setFlagsFromString(flag);
  return warning;
}

/** V8's collection function with options, as the gc extension exposes it. */
type GcFunction = (options: { type: 'major'; execution: 'sync'; flavor: 'last-resort' }) => void;

/**
 * A memory-reducing full collection of this process's heap (V8's "last resort": everything
 * collectable, the young generation shrunk, its pages released). Enables V8's gc extension for
 * new contexts and takes the function from one such context, so nothing appears in this one.
 */
export function memoryReducingCollection(): () => void {
  setFlagsFromString('--expose-gc');
  const gc = runInNewContext('gc') as GcFunction;
  return () => gc({ type: 'major', execution: 'sync', flavor: 'last-resort' });
}

/** What one trim did: the young generation's committed MB and the RSS before and after, its pause. */
export interface HeapTrim {
  youngMbBefore: number;
  youngMbAfter: number;
  rssMbBefore: number;
  rssMbAfter: number;
  pauseMs: number;
}

const mb = (bytes: number): number => Math.round((bytes / 2 ** 20) * 10) / 10;
const youngMb = (): number =>
  mb(getHeapSpaceStatistics().find((s) => s.space_name === 'new_space')?.physical_space_size ?? 0);

/**
 * One memory-reducing collection per idle period (SYNC_HEAP_IDLE_TRIM_MS). Idle: `activity()`
 * (a count of messages moved) did not change over one whole period, so a trim comes between one
 * and two periods after the last message; the next change re-arms it. Armed at start (start-up
 * garbage). `check()` is one period's decision, called by the timer of `start()`.
 */
export class IdleHeapTrim {
  private last: number;
  private armed = true;
  private timer: NodeJS.Timeout | undefined;

  /** `periodMs` > 0. Config 0 means no trim: construct none (the default `collect` already wakes V8's memory reducer). */
  constructor(
    private readonly periodMs: number,
    private readonly activity: () => number,
    private readonly onTrim: (trim: HeapTrim) => void,
    private readonly collect: () => void = memoryReducingCollection(),
  ) {
    this.last = activity();
  }

  /** Checks once per period, on a timer that does not hold the process. */
  start(): void {
    if (this.timer) return;
    this.timer = setInterval(() => this.check(), this.periodMs);
    this.timer.unref();
  }

  stop(): void {
    clearInterval(this.timer);
    this.timer = undefined;
  }

  /** Trims when nothing moved since the last check and no trim was made since something did. */
  check(): HeapTrim | undefined {
    const now = this.activity();
    if (now !== this.last) {
      this.last = now;
      this.armed = true;
      return undefined;
    }
    if (!this.armed) return undefined;
    this.armed = false;
    const youngMbBefore = youngMb();
    const rssMbBefore = mb(process.memoryUsage.rss());
    const t0 = performance.now();
    this.collect();
    const trim: HeapTrim = {
      youngMbBefore,
      youngMbAfter: youngMb(),
      rssMbBefore,
      rssMbAfter: mb(process.memoryUsage.rss()),
      pauseMs: Math.round((performance.now() - t0) * 10) / 10,
    };
    this.onTrim(trim);
    return trim;
  }
}
