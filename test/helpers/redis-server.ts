/**
 * A redis-server of a test's own, in a folder of its own, for what the shared stack must not be
 * given (TLS and ACL settings, an eviction policy): started from a config file, ready once it
 * logs "Ready to accept connections", stopped with SIGTERM.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { isPortFree } from '../../src/stack/process.js';

const firstPort = 16390 + Number(process.env['RKS_STACK_PORT_OFFSET'] ?? 0);
let nextPort = firstPort;

/** A free port for a test's own server, from 16390 + RKS_STACK_PORT_OFFSET on (80 ports). */
export async function freePort(): Promise<number> {
  for (; nextPort < firstPort + 80; nextPort += 1) {
    if (await isPortFree(nextPort, '127.0.0.1')) return nextPort++;
  }
  throw new Error(`no free port in ${firstPort}-${firstPort + 79} for the test redis-servers`);
}

export interface TestServer {
  readonly child: ChildProcess;
  readonly log: string[];
}

/** Starts redis-server with `lines` after the defaults (no persistence, `dir`); needs a `port` line. */
export async function startServer(dir: string, name: string, lines: string[]): Promise<TestServer> {
  const conf = join(dir, `${name}.conf`);
  writeFileSync(
    conf,
    ['bind 127.0.0.1 -::1', 'daemonize no', 'logfile ""', 'save ""', 'appendonly no', `dir ${dir}`, ...lines, ''].join(
      '\n',
    ),
  );
  const child = spawn('redis-server', [conf], { stdio: ['ignore', 'pipe', 'pipe'] });
  const log: string[] = [];
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(
      () => reject(new Error(`redis-server ${name} not ready in 10 s:\n${log.join('')}`)),
      10_000,
    );
    const onData = (chunk: Buffer): void => {
      log.push(chunk.toString());
      if (log.join('').includes('Ready to accept connections')) {
        clearTimeout(timer);
        resolve();
      }
    };
    child.stdout?.on('data', onData);
    child.stderr?.on('data', onData);
    child.once('error', (err) => {
      clearTimeout(timer);
      reject(new Error(`cannot start redis-server: ${err.message}; install it (apt-get install redis-server)`));
    });
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`redis-server ${name} exited with ${String(code)}:\n${log.join('')}`));
    });
  });
  return { child, log };
}

export async function stopServer(server: TestServer | undefined): Promise<void> {
  const child = server?.child;
  if (child === undefined || child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  child.kill('SIGTERM');
  await exited;
}
