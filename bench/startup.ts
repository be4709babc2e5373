/**
 * Start-up work of the engine, in process (SyncEngine, the library):
 *
 *  - Recovery: the target holds `keys` message hashes without markers and without the unsynced
 *    set (what a lost set looks like; written by pipelined HSET, not timed); `SyncEngine.start()`
 *    is timed (connecting the target pool + rebuilding the set; Kafka connects in the background)
 *    and the set's size is checked afterwards.
 *  - Discovery: `streams` empty streams spread over DBs 0-15; the engine's discovery loop runs
 *    with STREAM_AUTO_DISCOVERY=true, and its own "discovery cycle" debug lines give each cycle's
 *    time: the first one (connecting 16 DBs, creating every consumer group) and the steady ones.
 */
import { Writable } from 'node:stream';
import { SyncEngine } from '../src/engine/engine.js';
import { createLogger, silentLogger } from '../src/observability/logger.js';
import type { Reply } from '../src/redis/client.js';
import { benchConfig, flushSandbox, load1, log, payloadPool, redisOf, sleep, type BenchEnv } from './common.js';

export interface RecoveryResult {
  keys: number;
  recovered: number;
  startMs: number;
  load: number;
}

export async function recovery(env: BenchEnv, keys: number): Promise<RecoveryResult> {
  await flushSandbox(env);
  const target = await redisOf(env, 'target');
  const topic = `bench-${env.runId}-recovery`;
  const pool = payloadPool(100);
  try {
    const now = String(Date.now());
    let inFlight: Promise<Reply[]> | undefined;
    for (let start = 0; start < keys; start += 1000) {
      const ops: Promise<Reply>[] = [];
      for (let n = start; n < Math.min(keys, start + 1000); n += 1) {
        const key = `msg:${topic}:${now}-${n}:s0:bench-${env.runId}-rec-stream`;
        ops.push(
          target.send(['HSET', key, 'topic', topic, 'key', `d${n % 1000}`, 'payload', pool[n % 1000] as Buffer, 'created', now]),
        );
      }
      await inFlight;
      inFlight = Promise.all(ops);
    }
    await inFlight;
    log(`recovery: wrote ${keys} unsynced message hashes`);
    const cfg = benchConfig(env, { KAFKA_TOPIC: topic });
    const engine = new SyncEngine(cfg, silentLogger);
    const load0 = load1();
    const t0 = performance.now();
    await engine.start();
    const startMs = performance.now() - t0;
    const recovered = await engine.target.unsyncedCount();
    await engine.stop();
    return { keys, recovered, startMs, load: Math.max(load0, load1()) };
  } finally {
    await target.close();
    await flushSandbox(env);
  }
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
  const cycles: { ms: number; streams: number }[] = [];
  const sink = new Writable({
    write(chunk: Buffer, _enc, done) {
      for (const line of chunk.toString().split('\n')) {
        if (!line.includes('"discovery cycle"')) continue;
        const e = JSON.parse(line) as { ms: number; streams: number };
        cycles.push({ ms: e.ms, streams: e.streams });
      }
      done();
    },
  });
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
  const steady = rest.map((c) => c.ms).sort((a, b) => a - b);
  return {
    streams,
    dbs,
    firstCycleMs: first.ms,
    steadyCycleMs: steady[Math.floor(steady.length / 2)] as number,
    found: first.streams,
    load: Math.max(load0, load1()),
  };
}
