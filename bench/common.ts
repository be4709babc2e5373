/**
 * Shared pieces of the benchmark: the sandbox's configuration, Redis connections, the message
 * shape every measurement uses, Kafka topic housekeeping, and small statistics helpers.
 *
 * The message shape is fixed so that the ceilings and the pipeline move the same bytes: a stream
 * entry `device_id d<n%1000>, seq <n>, ts <XADD wall time ms>, data <payload>` whose payload is
 * one of PAYLOAD_POOL random alphanumeric strings of the chosen size (valid UTF-8, so the envelope
 * has no base64 fields; the pool is larger than lz4's 64 KB window, so compression gains little
 * across messages, as with real device data). The Kafka record is what `streamMessage`
 * makes of that entry: the JSON envelope, the device id as key, the rks-* headers.
 *
 * Only the bench's own sandbox (RKS_STACK_DIR=.stack-bench, ports +200) is ever flushed.
 */
import { randomBytes } from 'node:crypto';
import { readdirSync, readFileSync } from 'node:fs';
import { cpus, freemem, loadavg, totalmem } from 'node:os';
import Kafka from '@confluentinc/kafka-javascript';
import { loadConfig, type Config } from '../src/config/config.js';
import { errorMessage } from '../src/errors.js';
import { connectRedis, type RedisConnection } from '../src/redis/client.js';
import { KeyFormat } from '../src/buffer/key-format.js';
import { GlobMap } from '../src/util/glob.js';
import { MessageFormat } from '../src/engine/batch.js';
import { streamMessage, type StreamMapping } from '../src/source/stream-message.js';
import type { SinkMessage } from '../src/sink/producer.js';
import { pipelineRaw, type RawTarget } from './resp.js';

export const PAYLOAD_POOL = 1000;

/** Variables pointing at the bench sandbox (src/stack's stackEnv, passed in by run.ts). */
export interface BenchEnv {
  readonly stack: Record<string, string>;
  readonly runId: string;
  /** Partitions of the latency phase's topics (`--partitions`, default LATENCY_PARTITIONS). */
  readonly partitions?: number;
}

/** The latency topics' partitions by default: the broker's default (num.partitions=3). */
export const LATENCY_PARTITIONS = 3;

export function benchConfig(env: BenchEnv, overrides: Record<string, string> = {}): Config {
  return loadConfig({
    configFile: null,
    env: { ...env.stack, LOG_LEVEL: 'warn', HTTP_ADDRESS: 'off', ...overrides },
  });
}

export async function redisOf(env: BenchEnv, role: 'source' | 'target', db = 0): Promise<RedisConnection> {
  const cfg = benchConfig(env);
  return connectRedis(role === 'source' ? cfg.source : cfg.target, { role, db, connectTimeoutMs: 10_000 });
}

/**
 * Deletes everything in the bench sandbox's source and target Redis (never the main stack's).
 * `rewriteAof`: also rewrite the append-only files from the empty data set, as at the end of a
 * run: its last phase (recovery: 1,000,000 keys) otherwise leaves GBs of AOF that the next
 * `stack up` replays first.
 */
export async function flushSandbox(env: BenchEnv, { rewriteAof = false } = {}): Promise<void> {
  for (const role of ['source', 'target'] as const) {
    const c = await redisOf(env, role);
    try {
      await c.send(['FLUSHALL']);
      if (!rewriteAof) continue;
      // A rewrite Redis started by itself (auto-aof-rewrite-percentage, after a drain's growth)
      // is refused with "already in progress" and was forked before FLUSHALL: wait for it, then
      // ask again, so the files written last start from the empty data set.
      for (let tries = 0; ; tries += 1) {
        await untilAofRewriteDone(c, 60_000);
        try {
          await c.send(['BGREWRITEAOF']);
          break;
        } catch (err) {
          if (tries >= 5 || !/already in progress/i.test(errorMessage(err))) throw err;
        }
      }
      await untilAofRewriteDone(c, 60_000);
    } finally {
      await c.close();
    }
  }
}

/**
 * Waits until `c`'s server has no AOF rewrite running or scheduled; false when `timeoutMs`
 * passed first.
 */
export async function untilAofRewriteDone(c: RedisConnection, timeoutMs: number): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    const info = String(await c.send(['INFO', 'persistence']));
    if (!/aof_rewrite_in_progress:1|aof_rewrite_scheduled:1/.test(info)) return true;
    await sleep(100);
  }
  return false;
}

export function payloadPool(size: number, count = PAYLOAD_POOL): Buffer[] {
  const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789';
  return Array.from({ length: count }, () => {
    const raw = randomBytes(size);
    for (let i = 0; i < size; i += 1) raw[i] = alphabet.charCodeAt((raw[i] as number) % alphabet.length);
    return raw;
  });
}

/** The fields of entry `n` (flat name/value list, as XADD takes them). */
export function entryFields(n: number, pool: readonly Buffer[], tsMs: number = Date.now()): (string | Buffer)[] {
  return ['device_id', `d${n % 1000}`, 'seq', String(n), 'ts', String(tsMs), 'data', pool[n % pool.length] as Buffer];
}

export function streamNames(runId: string, label: string, count: number): string[] {
  return Array.from({ length: count }, (_, i) => `bench-${runId}-${label}-${i}-stream`);
}

/** Where the raw RESP writer connects for a role (the sandbox's address). */
export function rawTarget(env: BenchEnv, role: 'source' | 'target', db = 0): RawTarget {
  const p = role === 'source' ? 'SOURCE' : 'TARGET';
  return { host: env.stack[`${p}_REDIS_HOST`] as string, port: Number(env.stack[`${p}_REDIS_PORT`]), db };
}

/**
 * XADDs `count` entries round-robin over `streams` through the raw pipelined writer (chunks of
 * 1000 commands, 4 chunks in flight): what the source server takes. Returns entries per second.
 */
export function prefill(
  env: BenchEnv,
  streams: readonly string[],
  count: number,
  pool: readonly Buffer[],
): Promise<number> {
  const now = Date.now();
  return pipelineRaw(rawTarget(env, 'source'), count, (n) => [
    'XADD',
    streams[n % streams.length] as string,
    '*',
    ...entryFields(n, pool, now),
  ]);
}

/** The Kafka records the pipeline makes of entries 0..count-1 (same envelope, key, headers). */
export function sinkMessages(
  cfg: Config,
  topic: string,
  streams: readonly string[],
  count: number,
  pool: readonly Buffer[],
): SinkMessage[] {
  const keys = new KeyFormat(cfg.target.keyPrefix);
  const mapping: StreamMapping = {
    topics: new GlobMap<string>([]),
    defaultTopic: topic,
    keyField: cfg.kafka.keyField,
    encoding: cfg.source.encoding,
  };
  const baseMs = Date.now();
  return Array.from({ length: count }, (_, n) => {
    const fields = entryFields(n, pool, baseMs).map((f) => (Buffer.isBuffer(f) ? f : Buffer.from(f)));
    const entry = { db: 0, stream: streams[n % streams.length] as string, id: `${baseMs + n}-0`, fields };
    const m = streamMessage(entry, new MessageFormat(keys, cfg.kafka.recordHeaders), mapping);
    return { topic: m.topic, kafkaKey: m.kafkaKey, payload: m.payload, headers: m.headers };
  });
}

/** Deletes topics (best effort: a failure only leaves disk space used in the sandbox). */
export async function deleteTopics(env: BenchEnv, topics: readonly string[]): Promise<void> {
  if (topics.length === 0) return;
  const admin = Kafka.AdminClient.create({
    'bootstrap.servers': env.stack['KAFKA_BOOTSTRAP_SERVERS'] as string,
    'client.id': 'rks-bench-admin',
  });
  try {
    await Promise.all(topics.map((t) => new Promise<void>((resolve) => admin.deleteTopic(t, 10_000, () => resolve()))));
  } finally {
    admin.disconnect();
  }
}

/** INFO commandstats of one command: calls and server µs spent in them (scripts' inner calls too). */
export interface CommandStat {
  calls: number;
  usec: number;
}

/** INFO commandstats as command -> calls and µs. */
export async function commandStats(conn: RedisConnection): Promise<Map<string, CommandStat>> {
  const text = String(await conn.send(['INFO', 'commandstats']));
  const out = new Map<string, CommandStat>();
  for (const m of text.matchAll(/^cmdstat_([^:]+):calls=(\d+),usec=(\d+)/gm))
    out.set(m[1] as string, { calls: Number(m[2]), usec: Number(m[3]) });
  return out;
}

/** AOF rewrites the server made since it started (`INFO persistence`, aof_rewrites). */
export async function aofRewrites(conn: RedisConnection): Promise<number> {
  const text = String(await conn.send(['INFO', 'persistence']));
  return Number(/^aof_rewrites:(\d+)/m.exec(text)?.[1] ?? Number.NaN);
}

/** One command's cost over a run, per message. */
export interface CommandCost {
  command: string;
  callsPerMsg: number;
  usPerCall: number;
  usPerMsg: number;
}

/**
 * The service's commands between two samples, per message, most expensive first (the bench's
 * own polling left out). A script's µs include the commands it runs, which are listed too: the
 * server's total is the sum over the commands not run by a script, see `serverUsPerMsg`.
 */
export function commandCosts(
  before: Map<string, CommandStat>,
  after: Map<string, CommandStat>,
  messages: number,
): CommandCost[] {
  const out: CommandCost[] = [];
  for (const [command, a] of after) {
    if (BENCH_COMMANDS.has(command)) continue;
    const b = before.get(command) ?? { calls: 0, usec: 0 };
    const calls = a.calls - b.calls;
    if (calls <= 0) continue;
    const usec = a.usec - b.usec;
    out.push({ command, callsPerMsg: calls / messages, usPerCall: usec / calls, usPerMsg: usec / messages });
  }
  return out.sort((x, y) => y.usPerMsg - x.usPerMsg);
}

/**
 * Commands the service runs inside its scripts (read from the .lua files) or transactions
 * (MULTI/EXEC of TargetBuffer.put): their µs are already in the EVALSHA's or EXEC's.
 */
export const INNER_COMMANDS: ReadonlySet<string> = (() => {
  const out = new Set<string>(['mset', 'sadd']);
  for (const dir of ['../src/buffer/scripts', '../src/source/scripts']) {
    const url = new URL(`${dir}/`, import.meta.url);
    for (const f of readdirSync(url)) {
      if (!f.endsWith('.lua')) continue;
      const body = readFileSync(new URL(f, url), 'utf8');
      for (const m of body.matchAll(/redis\.p?call\('([A-Za-z]+)'/g)) out.add((m[1] as string).toLowerCase());
    }
  }
  return out;
})();

/**
 * Server µs per message in commands, each µs counted once: the commands the service sends
 * (scripts and EXEC include what they run). A command sent both directly and from a script
 * (SET of the last-sync time, at most once a second; SREM of vanished keys) counts as inner.
 */
export function serverUsPerMsg(costs: readonly CommandCost[]): number {
  return costs.filter((c) => !INNER_COMMANDS.has(c.command)).reduce((n, c) => n + c.usPerMsg, 0);
}

/** Commands the bench itself sends while watching a run; left out of commands per message. */
const BENCH_COMMANDS = new Set([
  'info',
  'xlen',
  'scard',
  'ping',
  'client|setname',
  'select',
  'hello',
  'flushall',
  'config|resetstat',
]);

export function percentile(sorted: readonly number[], p: number): number {
  if (sorted.length === 0) return Number.NaN;
  const i = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return sorted[i] as number;
}

export function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

export function load1(): number {
  return loadavg()[0] ?? 0;
}

export interface Machine {
  cpus: number;
  cpuModel: string;
  memTotalGb: number;
  memFreeGb: number;
  node: string;
  loadAtStart: number[];
}

export function machine(): Machine {
  return {
    cpus: cpus().length,
    cpuModel: cpus()[0]?.model ?? 'unknown',
    memTotalGb: totalmem() / 2 ** 30,
    memFreeGb: freemem() / 2 ** 30,
    node: process.version,
    loadAtStart: loadavg(),
  };
}

export function log(line: string): void {
  process.stderr.write(`bench: ${line}\n`);
}
