/**
 * Start-up work of the engine, in process (SyncEngine, the library):
 *
 *  - Recovery: the target holds `keys` messages (layout version 2) without markers and without the unsynced
 *    set (what a lost set looks like; written by the raw pipelined writer, not timed);
 *    `SyncEngine.start()` is timed (connecting the target pool + rebuilding the set; Kafka
 *    connects in the background), the engine's own log line gives the rebuild alone, and the
 *    set's size is checked afterwards.
 *  - Discovery: `streams` empty streams spread over DBs 0-15; the engine's discovery loop runs
 *    with STREAM_AUTO_DISCOVERY=true, and its own "discovery cycle" debug lines give each cycle's
 *    time: the first one (connecting 16 DBs, creating every consumer group) and the steady ones.
 */
import { readFileSync } from 'node:fs';
import { Writable } from 'node:stream';
import { encodeMessage } from '../src/buffer/message-layout.js';
import { SyncEngine } from '../src/engine/engine.js';
import { createLogger } from '../src/observability/logger.js';
import type { RedisConnection, Reply } from '../src/redis/client.js';
import {
  benchConfig,
  commandCosts,
  commandStats,
  type CommandCost,
  flushSandbox,
  load1,
  log,
  payloadPool,
  rawTarget,
  redisOf,
  sleep,
  type BenchEnv,
  untilAofRewriteDone,
} from './common.js';
import { Daemon, serviceEnv, stackCpu } from './daemon.js';
import { pipelineRaw } from './resp.js';

export interface RecoveryResult {
  keys: number;
  recovered: number;
  startMs: number;
  /** The engine's own measure of the rebuild (its "recovery: rebuilt the unsynced set" line). */
  recoveryMs: number;
  /** CPU µs per key over start(): the target Redis, and this process (the engine's client side). */
  targetCpuUsPerKey: number;
  clientCpuUsPerKey: number;
  /** Target commands per key and µs per call over start() (INFO commandstats). */
  targetCommands: CommandCost[];
  load: number;
}

export async function recovery(env: BenchEnv, keys: number): Promise<RecoveryResult> {
  await flushSandbox(env);
  const topic = `bench-${env.runId}-recovery`;
  const pool = payloadPool(100);
  const now = Date.now();
  try {
    // The layout the service writes (version 2: one String per message).
    await pipelineRaw(rawTarget(env, 'target'), keys, (n) => [
      'SET',
      `msg:${topic}:${now}-${n}:s0:bench-${env.runId}-rec-stream`,
      encodeMessage(topic, Buffer.from(`d${n % 1000}`), pool[n % pool.length] as Buffer, now),
    ]);
    log(`recovery: wrote ${keys} unsynced messages`);
    const target = await redisOf(env, 'target');
    // Writing the keys grew the AOF: let the rewrite it triggers happen now, not during the timed
    // start (its forked child takes one of the two cores while it writes the ~280 MB file).
    await settleAof(target);
    const lines = logLines('recovery: rebuilt the unsynced set');
    const engine = new SyncEngine(benchConfig(env, { KAFKA_TOPIC: topic }), createLogger('info', lines.sink));
    const stats0 = await commandStats(target);
    const load0 = load1();
    const cpu0 = stackCpu();
    const client0 = process.cpuUsage();
    const t0 = performance.now();
    await engine.start();
    const startMs = performance.now() - t0;
    const client = process.cpuUsage(client0);
    const cpu1 = stackCpu();
    const targetCommands = commandCosts(stats0, await commandStats(target), keys);
    await target.close();
    const recovered = await engine.target.unsyncedCount();
    await engine.stop();
    return {
      keys,
      recovered,
      startMs,
      recoveryMs: lines.found[0]?.['ms'] ?? Number.NaN,
      targetCpuUsPerKey: ((cpu1.target - cpu0.target) / keys) * 1e6,
      clientCpuUsPerKey: (client.user + client.system) / keys,
      targetCommands,
      load: Math.max(load0, load1()),
    };
  } finally {
    await flushSandbox(env);
  }
}

/** Rewrites the AOF now and waits until no rewrite is running or scheduled. */
async function settleAof(conn: RedisConnection): Promise<void> {
  await conn.send(['BGREWRITEAOF']).catch(() => undefined); // "already in progress" is fine
  if (!(await untilAofRewriteDone(conn, 120_000)))
    log('recovery: the AOF rewrite did not finish within 120 s; timing anyway');
}

/** A log destination that keeps the fields of the lines with message `msg`. */
function logLines(msg: string): { sink: Writable; found: Record<string, number>[] } {
  const found: Record<string, number>[] = [];
  const sink = new Writable({
    write(chunk: Buffer, _enc, done) {
      for (const line of chunk.toString().split('\n')) {
        if (line.includes(`"msg":"${msg}"`)) found.push(JSON.parse(line) as Record<string, number>);
      }
      done();
    },
  });
  return { sink, found };
}

export interface DiscoveryResult {
  streams: number;
  dbs: number;
  firstCycleMs: number;
  steadyCycleMs: number;
  found: number;
  load: number;
}

export async function discovery(env: BenchEnv, streams: number, dbs = 16): Promise<DiscoveryResult> {
  await flushSandbox(env);
  const pattern = `bench-${env.runId}-disc-*-stream`;
  for (let db = 0; db < dbs; db += 1) {
    const c = await redisOf(env, 'source', db);
    const ops: Promise<Reply>[] = [];
    for (let i = db; i < streams; i += dbs) {
      const name = `bench-${env.runId}-disc-${i}-stream`;
      ops.push(c.send(['XADD', name, '*', 'f', 'v']), c.send(['XTRIM', name, 'MAXLEN', '0']));
    }
    await Promise.all(ops);
    await c.close();
  }
  log(`discovery: created ${streams} empty streams in ${dbs} DBs`);
  const { sink, found: cycles } = logLines('discovery cycle');
  const cfg = benchConfig(env, {
    SOURCE_REDIS_DB_SEARCH_RANGE: `0-${dbs - 1}`,
    STREAM_AUTO_DISCOVERY: 'true',
    STREAM_DISCOVERY_INTERVAL: '1',
    STREAM_DISCOVERY_PATTERNS: pattern,
    SOURCE_CONSUMER_NAME: `bench-${env.runId}`,
    KAFKA_TOPIC: `bench-${env.runId}-discovery`,
  });
  const engine = new SyncEngine(cfg, createLogger('debug', sink));
  const load0 = load1();
  try {
    await engine.start();
    engine.runForever();
    const deadline = Date.now() + 120_000;
    while (cycles.length < 4 && Date.now() < deadline) await sleep(100);
  } finally {
    await engine.stop();
    await flushSandbox(env);
  }
  const [first, ...rest] = cycles;
  if (!first || rest.length === 0) throw new Error(`discovery: only ${cycles.length} cycles logged`);
  const steady = rest.map((c) => c['ms'] as number).sort((a, b) => a - b);
  return {
    streams,
    dbs,
    firstCycleMs: first['ms'] as number,
    steadyCycleMs: steady[Math.floor(steady.length / 2)] as number,
    found: first['streams'] as number,
    load: Math.max(load0, load1()),
  };
}

export interface IdleResult {
  /** VmRSS this long after "running", MB. */
  rssMb: { atMs: number; mb: number }[];
  /** VmHWM at the end: the start-up peak, MB. */
  peakRssMb: number;
  /** Anonymous (heap, malloc, stacks) and file-backed (node binary, shared libraries) RSS at the end, MB. */
  anonMb: number;
  fileMb: number;
  load: number;
}

/**
 * Idle memory of the real service process: started (as in the drain phase) on streams that do
 * not exist, its resident set sampled for `ms` after "running". The daemon gives its young
 * generation back only once idle for SYNC_HEAP_IDLE_TRIM_MS (10 s) or V8's memory reducer has
 * run (~5 s), so the early samples show the start-up peak.
 */
export async function idle(env: BenchEnv, ms: number, overrides: Record<string, string> = {}): Promise<IdleResult> {
  const daemon = new Daemon(
    serviceEnv(env.stack, env.runId, `bench-${env.runId}-idle-*-none`, `bench-${env.runId}-idle`, overrides),
  );
  await daemon.start();
  const load0 = load1();
  const t0 = performance.now();
  const rssMb: { atMs: number; mb: number }[] = [];
  try {
    for (const at of [1000, 5000, 10_000, 20_000, 30_000, 60_000].filter((x) => x <= ms)) {
      await sleep(Math.max(0, at - (performance.now() - t0)));
      rssMb.push({ atMs: at, mb: daemon.usage().rssBytes / 2 ** 20 });
    }
    const status = readFileSync(`/proc/${daemon.pid}/status`, 'utf8');
    const kb = (name: string): number => Number(new RegExp(`${name}:\\s+(\\d+) kB`).exec(status)?.[1] ?? 0) / 1024;
    return {
      rssMb,
      peakRssMb: daemon.usage().peakRssBytes / 2 ** 20,
      anonMb: kb('RssAnon'),
      fileMb: kb('RssFile'),
      load: Math.max(load0, load1()),
    };
  } finally {
    await daemon.stop();
  }
}
