/**
 * Service processes for the chaos suite: the real daemon (`node bin/redis-kafka-sync.js run`,
 * the built package) started with a scenario's environment, its log written to a file, its
 * resident memory sampled from /proc, and killed with the signal a scenario asks for.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { createWriteStream, mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { stackEnv } from '../../src/stack/index.js';

export class ServiceProcess {
  child: ChildProcess | undefined;
  peakRssBytes = 0;
  private sampler: NodeJS.Timeout | undefined;
  private log = '';

  constructor(
    readonly name: string,
    readonly env: Record<string, string>,
    readonly logDir: string,
  ) {}

  start(): void {
    mkdirSync(this.logDir, { recursive: true });
    const file = createWriteStream(join(this.logDir, `${this.name}.log`), { flags: 'a' });
    const child = spawn(process.execPath, ['bin/redis-kafka-sync.js', 'run', '--config', '/dev/null'], {
      env: { ...process.env, ...this.env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const onData = (d: Buffer): void => {
      file.write(d);
      this.log = (this.log + d.toString()).slice(-200_000);
    };
    child.stdout?.on('data', onData);
    child.stderr?.on('data', onData);
    child.on('exit', () => file.end());
    this.child = child;
    this.sampler = setInterval(() => this.sample(), 250);
  }

  private sample(): void {
    const pid = this.child?.pid;
    if (pid === undefined || this.child?.exitCode !== null) return;
    try {
      const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
      if (m) this.peakRssBytes = Math.max(this.peakRssBytes, Number(m[1]) * 1024);
    } catch {
      // exited between the check and the read
    }
  }

  get output(): string {
    return this.log;
  }

  async waitRunning(timeoutMs = 60_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (Date.now() < deadline) {
      if (this.log.includes('"msg":"running"')) return;
      if (this.child?.exitCode !== null) throw new Error(`${this.name} exited early:\n${this.log.slice(-2000)}`);
      await new Promise((r) => setTimeout(r, 100));
    }
    throw new Error(`${this.name} did not start within ${timeoutMs} ms:\n${this.log.slice(-2000)}`);
  }

  /** Sends `signal` and waits for the exit; returns the exit code (null when killed by signal). */
  async stop(signal: NodeJS.Signals = 'SIGTERM', timeoutMs = 15_000): Promise<number | null> {
    const child = this.child;
    if (!child || child.exitCode !== null || child.signalCode !== null) return child?.exitCode ?? null;
    const exited = once(child, 'exit') as Promise<[number | null]>;
    child.kill(signal);
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    const [code] = await exited;
    clearTimeout(timer);
    if (this.sampler) clearInterval(this.sampler);
    return code;
  }
}

/**
 * The service variables every chaos suite shares (the main, failover and cluster suites): the
 * sandbox stack, discovery of the run's streams, the run's topic and key prefix, and short
 * claim/resync/retry times so faults heal within a scenario. `topology` replaces the Redis
 * endpoints (Sentinels, a cluster): the stack's host/port of those roles are dropped first.
 */
export function chaosEnv(
  runId: string,
  topic: string,
  extra: Record<string, string> = {},
  topology: { readonly drop?: readonly string[]; readonly env?: Record<string, string> } = {},
): Record<string, string> {
  const base = stackEnv('plaintext');
  for (const k of topology.drop ?? []) delete base[k];
  return {
    ...base,
    ...topology.env,
    SOURCE_REDIS_DB_SEARCH_RANGE: '0',
    STREAM_AUTO_DISCOVERY: 'true',
    STREAM_DISCOVERY_INTERVAL: '1',
    STREAM_DISCOVERY_PATTERNS: `chaos-${runId}-*`,
    STREAM_TARGET_TOPIC_MAP: '{}',
    KAFKA_TOPIC: topic,
    TARGET_REDIS_KEY_PREFIX: `${runId}:`,
    SOURCE_BLOCK_MS: '200',
    SOURCE_CLAIM_IDLE_MS: '5000',
    SYNC_RESYNC_INTERVAL_MS: '2000',
    SYNC_RESEND_AFTER_MS: '10000',
    SYNC_RETRY_MAX_MS: '2000',
    LOG_LEVEL: 'info',
    HTTP_ADDRESS: 'off',
    ...extra,
  };
}
