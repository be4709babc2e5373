/**
 * Drain throughput: a backlog prefilled in the source (pipelined XADD, not timed) is moved by
 * the real service process through the target buffer into Kafka, acknowledged and deleted.
 *
 * Timed from the daemon's "running" line (its read loops start; process start-up, connections
 * and recovery of an empty target come before and are reported apart as `startupMs`) until every
 * source stream is empty (XLEN 0: acknowledged and deleted) and the unsynced set is empty. The
 * process's CPU seconds over that span and its peak RSS (VmHWM) are read from /proc; Redis
 * commands per message are INFO commandstats deltas on each server, minus the bench's own polling.
 */
import { join } from 'node:path';
import {
  aofRewrites,
  benchConfig,
  commandCosts,
  commandStats,
  deleteTopics,
  flushSandbox,
  load1,
  log,
  payloadPool,
  prefill,
  redisOf,
  sleep,
  streamNames,
  serverUsPerMsg,
  type BenchEnv,
  type CommandCost,
} from './common.js';
import { Daemon, serviceEnv, stackCpu, stackCpuPerMillion, type StackCpu } from './daemon.js';

export interface DrainCase {
  size: number;
  streams: number;
  messages: number;
  /** The service ran with KAFKA_EXACTLY_ONCE=true (`--exactly-once`: each case runs both ways). */
  exactlyOnce?: boolean;
}

export interface DrainResult extends DrainCase {
  msgPerSec: number;
  seconds: number;
  startupMs: number;
  peakRssMb: number;
  cpuSecondsPerMillion: number;
  /** CPU seconds per 1M messages of the broker and the two Redis servers over the drain. */
  serverCpuPerMillion: StackCpu;
  /** CPU µs per message of each process and their sum (service + source + target + broker). */
  cpuUsPerMsg: {
    service: number;
    source: number;
    target: number;
    kafka: number;
    /** Of `kafka`: the broker's JIT compiler threads (its warm-up, daemon.ts StackCpu). */
    kafkaJit: number;
    /** Of `source` and `target`: their AOF rewrite children (daemon.ts StackCpu). */
    sourceRewrite: number;
    targetRewrite: number;
    total: number;
  };
  sourceCmdsPerMsg: number;
  targetCmdsPerMsg: number;
  /** INFO commandstats over the drain, per message (scripts' inner commands listed too). */
  sourceCommands: CommandCost[];
  targetCommands: CommandCost[];
  /** Server µs per message in commands (each µs once: see serverUsPerMsg). */
  sourceServerUsPerMsg: number;
  targetServerUsPerMsg: number;
  /** AOF rewrites each server started and finished over the drain (their forked children's CPU is in cpuUsPerMsg). */
  aofRewrites: { source: number; target: number };
  /** Load average (1 min) at the start and at the end of the drain. */
  loadStart: number;
  loadEnd: number;
  load: number;
}

export interface DrainOptions {
  /** Service variables on top of the sandbox's (tuning experiments). */
  readonly overrides?: Record<string, string>;
  /** Node flags of the daemon (e.g. --cpu-prof). */
  readonly nodeFlags?: readonly string[];
  /** A folder for the daemon's log (drain-<size>x<streams>.log). */
  readonly logDir?: string;
  readonly timeoutMs?: number;
}

export async function drain(env: BenchEnv, c: DrainCase, opts: DrainOptions = {}): Promise<DrainResult> {
  await flushSandbox(env);
  const label = `drain${c.size}x${c.streams}${c.exactlyOnce ? 'eo' : ''}`;
  const topic = `bench-${env.runId}-${label}`;
  const streams = streamNames(env.runId, label, c.streams);
  const source = await redisOf(env, 'source');
  const target = await redisOf(env, 'target');
  const cfg = benchConfig(env);
  try {
    const xadd = await prefill(env, streams, c.messages, payloadPool(c.size));
    log(`${label}: prefilled ${c.messages} entries in ${c.streams} streams (${Math.round(xadd)} XADD/s)`);
    const daemon = new Daemon(
      serviceEnv(env.stack, env.runId, `bench-${env.runId}-${label}-*-stream`, topic, opts.overrides),
      opts.nodeFlags,
      opts.logDir ? join(opts.logDir, `${label}.log`) : undefined,
    );
    const srcBefore = await commandStats(source);
    const tgtBefore = await commandStats(target);
    const aof0 = { source: await aofRewrites(source), target: await aofRewrites(target) };
    const spawnedAt = performance.now();
    await daemon.start();
    const t0 = performance.now();
    const cpu0 = daemon.usage().cpuSeconds;
    const servers0 = stackCpu();
    const loadStart = load1();
    const deadline = Date.now() + (opts.timeoutMs ?? 30 * 60_000);
    for (;;) {
      await sleep(100);
      if (await drained(source, target, streams, cfg.target.keyPrefix)) break;
      if (Date.now() > deadline) throw new Error(`${label}: not drained in time:\n${daemon.output.slice(-2000)}`);
    }
    const t1 = performance.now();
    const usage = daemon.usage();
    const servers1 = stackCpu();
    const srcAfter = await commandStats(source);
    const tgtAfter = await commandStats(target);
    const aof1 = { source: await aofRewrites(source), target: await aofRewrites(target) };
    const loadEnd = load1();
    const code = await daemon.stop();
    if (code !== 0) log(`${label}: daemon exited with ${code}:\n${daemon.output.slice(-2000)}`);
    const seconds = (t1 - t0) / 1000;
    const src = commandCosts(srcBefore, srcAfter, c.messages);
    const tgt = commandCosts(tgtBefore, tgtAfter, c.messages);
    const servers = stackCpuPerMillion(servers0, servers1, c.messages);
    const service = ((usage.cpuSeconds - cpu0) / c.messages) * 1e6;
    const calls = (costs: CommandCost[]): number => costs.reduce((n, x) => n + x.callsPerMsg, 0);
    return {
      ...c,
      msgPerSec: c.messages / seconds,
      seconds,
      startupMs: t0 - spawnedAt,
      peakRssMb: usage.peakRssBytes / 2 ** 20,
      cpuSecondsPerMillion: service,
      serverCpuPerMillion: servers,
      // CPU seconds per million messages are CPU µs per message.
      cpuUsPerMsg: {
        service,
        source: servers.source,
        target: servers.target,
        kafka: servers.kafka,
        kafkaJit: servers.kafkaJit,
        sourceRewrite: servers.sourceChildren,
        targetRewrite: servers.targetChildren,
        total: service + servers.source + servers.target + servers.kafka,
      },
      sourceCmdsPerMsg: calls(src),
      targetCmdsPerMsg: calls(tgt),
      sourceCommands: src,
      targetCommands: tgt,
      sourceServerUsPerMsg: serverUsPerMsg(src),
      targetServerUsPerMsg: serverUsPerMsg(tgt),
      aofRewrites: { source: aof1.source - aof0.source, target: aof1.target - aof0.target },
      loadStart,
      loadEnd,
      load: Math.max(loadStart, loadEnd),
    };
  } finally {
    await source.close();
    await target.close();
    await deleteTopics(env, [topic]);
    await flushSandbox(env);
  }
}

async function drained(
  source: Awaited<ReturnType<typeof redisOf>>,
  target: Awaited<ReturnType<typeof redisOf>>,
  streams: readonly string[],
  prefix: string,
): Promise<boolean> {
  if (Number(await target.send(['SCARD', `${prefix}unsynced_keys_set`])) !== 0) return false;
  // Cheap test on the last stream first; all of them only when it is empty.
  if (Number(await source.send(['XLEN', streams[streams.length - 1] as string])) !== 0) return false;
  const lens = await Promise.all(streams.map((s) => source.send(['XLEN', s])));
  if (!lens.every((l) => Number(l) === 0)) return false;
  return Number(await target.send(['SCARD', `${prefix}unsynced_keys_set`])) === 0;
}
