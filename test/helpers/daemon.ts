/**
 * Helpers of the observability tests (metrics, health, dashboard, ingest, status): a daemon
 * (`redis-kafka-sync run`) spawned against the stack with its HTTP server on a free port, whose
 * URL is read from its "HTTP server listening" log line.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { asArray, asBuffer, type RedisConnection } from '../../src/redis/client.js';
import { stackEnv } from '../../src/stack/index.js';
import { waitUntil } from '../../src/util/retry.js';

export interface Daemon {
  readonly child: ChildProcess;
  /** Everything the daemon wrote on stdout and stderr so far. */
  output(): string;
  /** Resolves with the HTTP base URL once the server listens. */
  readonly url: Promise<string>;
  /** SIGTERM, then waits for the exit; returns the exit code. */
  stop(): Promise<number | null>;
}

export function startDaemon(env: Record<string, string>): Daemon {
  const child = spawn(process.execPath, ['--import', 'tsx', 'src/cli/bin.ts', 'run'], {
    env: {
      ...process.env,
      ...stackEnv('plaintext'),
      LOG_LEVEL: 'info',
      STREAM_TARGET_TOPIC_MAP: '{}',
      HTTP_ADDRESS: '127.0.0.1:0',
      ...env,
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  let resolveUrl!: (u: string) => void;
  let rejectUrl!: (e: Error) => void;
  const url = new Promise<string>((res, rej) => ((resolveUrl = res), (rejectUrl = rej)));
  url.catch(() => undefined);
  const onData = (d: Buffer): void => {
    out += d.toString();
    const m = /"url":"(http:\/\/[^"]+)"/.exec(out);
    if (m) resolveUrl(m[1] as string);
  };
  child.stdout?.on('data', onData);
  child.stderr?.on('data', onData);
  child.on('exit', (code) => rejectUrl(new Error(`daemon exited (${code}) before listening:\n${out}`)));
  return {
    child,
    output: () => out,
    url,
    async stop() {
      if (child.exitCode !== null || child.signalCode !== null) return child.exitCode;
      const exited = once(child, 'exit');
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), 15_000);
      const [code] = (await exited) as [number | null];
      clearTimeout(timer);
      return code;
    },
  };
}

/** Polls `cond` every 250 ms until true (throws after `timeoutMs`, with the last error). */
export function waitFor(
  what: string,
  cond: () => Promise<boolean>,
  timeoutMs = 30_000,
  intervalMs = 250,
): Promise<void> {
  return waitUntil(what, cond, timeoutMs, intervalMs);
}

/** The value of one Prometheus sample, e.g. metric(text, 'rks_messages_sent_total', {topic: 't'}). */
export function metric(text: string, name: string, labels: Record<string, string> = {}): number | undefined {
  for (const line of text.split('\n')) {
    if (!line.startsWith(name)) continue;
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(.*)\})? (\S+)$/.exec(line);
    if (!m || m[1] !== name) continue;
    const have = new Map([...(m[3] ?? '').matchAll(/(\w+)="((?:[^"\\]|\\.)*)"/g)].map((x) => [x[1], x[2]]));
    if (Object.entries(labels).every(([k, v]) => have.get(k) === v)) return Number(m[4]);
  }
  return undefined;
}

/** Deletes every key of the target under `prefix` (a test's buffer, markers, dead letters). */
export async function deletePrefix(target: RedisConnection, prefix: string): Promise<void> {
  let cursor = '0';
  do {
    const [next, keys] = asArray(await target.send(['SCAN', cursor, 'MATCH', `${prefix}*`, 'COUNT', '1000']));
    cursor = asBuffer(next).toString();
    const names = asArray(keys).map((k) => asBuffer(k));
    if (names.length > 0) await target.send(['DEL', ...names]);
  } while (cursor !== '0');
}
