/**
 * V8's heap settings of the daemon (`run`): SYNC_HEAP_SEMI_SPACE_MB and SYNC_HEAP_GROWING_PERCENT.
 * The library leaves its host process alone; only `run` applies them.
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
 */
import { setFlagsFromString } from 'node:v8';
import type { Config } from '../config/config.js';
import { errorMessage } from '../errors.js';

const SEMI_SPACE_FLAG = '--max-semi-space-size';

/** Whether `--max-semi-space-size` is already among this process's V8 flags (argv or NODE_OPTIONS). */
export function semiSpaceGiven(execArgv: readonly string[], nodeOptions: string | undefined): boolean {
  const given = (a: string): boolean => a === SEMI_SPACE_FLAG || a.startsWith(`${SEMI_SPACE_FLAG}=`);
  return execArgv.some(given) || (nodeOptions ?? '').split(/\s+/).some(given);
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
  if (cfg.heapGrowingPercent > 0) setFlagsFromString(`--heap-growing-percent=${cfg.heapGrowingPercent}`);
  return warning;
}
