/**
 * Process plumbing for the sandbox: detached servers tracked by PID files, ports, commands.
 *
 * Invariants:
 * - A PID file is trusted only while that PID is alive AND its command line still contains
 *   the marker we expect (e.g. our own server.properties path). PIDs get reused; we never
 *   signal a process we cannot prove we started.
 * - Servers are spawned detached, in their own session, with stdout/stderr appended to a log
 *   file, so they outlive the CLI process and a Ctrl-C in the terminal does not reach them.
 * - A zombie (exited, not yet reaped) counts as dead: kill(pid, 0) still succeeds on it.
 */
import { spawn, spawnSync } from 'node:child_process';
import { closeSync, existsSync, openSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createConnection, createServer } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';

export { sleep };

export function readPidFile(pidFile: string): number | undefined {
  if (!existsSync(pidFile)) return undefined;
  const pid = Number.parseInt(readFileSync(pidFile, 'utf8').trim(), 10);
  return Number.isInteger(pid) && pid > 1 ? pid : undefined;
}

export function writePidFile(pidFile: string, pid: number): void {
  writeFileSync(pidFile, `${pid}\n`);
}

export function removePidFile(pidFile: string): void {
  rmSync(pidFile, { force: true });
}

/** The command line of a live process, or undefined when it is gone or a zombie. */
export function processCmdline(pid: number): string | undefined {
  const procDir = `/proc/${pid}`;
  if (existsSync('/proc/self/cmdline')) {
    try {
      const stat = readFileSync(`${procDir}/stat`, 'utf8');
      // Field 3, after the parenthesised command name (which may itself contain spaces).
      const state = stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3);
      if (state === 'Z' || state === 'X') return undefined;
      return readFileSync(`${procDir}/cmdline`, 'utf8').split('\0').join(' ').trim();
    } catch {
      return undefined;
    }
  }
  // No procfs (macOS): ask ps, which prints nothing and fails for a missing PID.
  const ps = spawnSync('ps', ['-o', 'stat=,command=', '-p', String(pid)], { encoding: 'utf8' });
  const line = ps.status === 0 ? ps.stdout.trim() : '';
  if (line === '' || line.startsWith('Z')) return undefined;
  return line.replace(/^\S+\s+/, '');
}

/** The PID recorded in pidFile if that process is alive and its cmdline contains `marker`. */
export function ownedPid(pidFile: string, marker: string): number | undefined {
  const pid = readPidFile(pidFile);
  if (pid === undefined) return undefined;
  const cmdline = processCmdline(pid);
  return cmdline !== undefined && cmdline.includes(marker) ? pid : undefined;
}

export interface SpawnDetachedOptions {
  command: string;
  args: readonly string[];
  cwd: string;
  logFile: string;
  env?: NodeJS.ProcessEnv;
}

/** Start a server that outlives us; its output is appended to logFile. Returns its PID. */
export function spawnDetached(opts: SpawnDetachedOptions): number {
  const fd = openSync(opts.logFile, 'a');
  try {
    const child = spawn(opts.command, [...opts.args], {
      cwd: opts.cwd,
      detached: true,
      stdio: ['ignore', fd, fd],
      env: opts.env ?? process.env,
    });
    // A spawn failure (ENOENT) is reported asynchronously; the caller sees it as "not ready"
    // and the process check fails fast. Swallow it here so it is not an uncaught exception.
    child.on('error', () => undefined);
    child.unref();
    if (child.pid === undefined) {
      throw new Error(`could not start ${opts.command}: is it installed and on PATH?`);
    }
    return child.pid;
  } finally {
    closeSync(fd);
  }
}

export function isAlive(pid: number): boolean {
  return processCmdline(pid) !== undefined;
}

/**
 * SIGTERM (or the given signal), wait up to timeoutMs for the process to exit, then SIGKILL.
 * Returns how it ended.
 */
export async function terminate(
  pid: number,
  opts: { signal?: 'SIGTERM' | 'SIGKILL'; timeoutMs: number },
): Promise<'exited' | 'killed'> {
  const signal = opts.signal ?? 'SIGTERM';
  try {
    process.kill(pid, signal);
  } catch {
    return 'exited';
  }
  const deadline = Date.now() + opts.timeoutMs;
  while (Date.now() < deadline) {
    if (!isAlive(pid)) return 'exited';
    await sleep(100);
  }
  try {
    process.kill(pid, 'SIGKILL');
  } catch {
    return 'exited';
  }
  while (isAlive(pid)) await sleep(50);
  return 'killed';
}

/**
 * True when nothing listens on host:port. Binding is the only reliable test: a connect probe
 * misses a listener that does not accept yet, and a listener on 0.0.0.0 blocks us too.
 */
export function isPortFree(port: number, host: string): Promise<boolean> {
  return new Promise((resolve) => {
    const server = createServer();
    server.once('error', () => resolve(false));
    server.listen({ port, host, exclusive: true }, () => {
      server.close(() => resolve(true));
    });
  });
}

/** True when a TCP connection to host:port is accepted within timeoutMs. */
export function acceptsConnections(port: number, host: string, timeoutMs = 500): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = createConnection({ port, host });
    const done = (ok: boolean): void => {
      socket.destroy();
      resolve(ok);
    };
    socket.setTimeout(timeoutMs, () => done(false));
    socket.once('connect', () => done(true));
    socket.once('error', () => done(false));
  });
}

export interface CommandResult {
  status: number | null;
  stdout: string;
  stderr: string;
  /** Set when the program could not be started at all (e.g. ENOENT). */
  error?: Error;
}

/** Run a program to completion, capturing its output; never throws. */
export function runCommand(
  command: string,
  args: readonly string[],
  opts: { cwd?: string; env?: NodeJS.ProcessEnv; inherit?: boolean } = {},
): Promise<CommandResult> {
  return new Promise((resolve) => {
    const child = spawn(command, [...args], {
      cwd: opts.cwd,
      env: opts.env ?? process.env,
      stdio: ['ignore', opts.inherit ? 'inherit' : 'pipe', opts.inherit ? 'inherit' : 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout?.setEncoding('utf8').on('data', (chunk: string) => (stdout += chunk));
    child.stderr?.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
    child.once('error', (error) => resolve({ status: null, stdout, stderr, error }));
    child.once('close', (status) => resolve({ status, stdout, stderr }));
  });
}

/** The last `lines` lines of a text file ('' when it does not exist). */
export function tailFile(file: string, lines: number): string {
  if (!existsSync(file)) return '';
  const text = readFileSync(file, 'utf8').replace(/\n$/, '');
  return text.split('\n').slice(-lines).join('\n');
}
