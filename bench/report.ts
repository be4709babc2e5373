/**
 * The benchmark's output: markdown tables (machine and load, ceilings, drains with their ratio
 * to the producer ceiling of the same size, latency, start-up) and, last, the one summary line
 * `bench: drain <X> msg/s, ceiling <Y> msg/s, ratio <X/Y>` for 1 KB messages in one stream.
 */
import type { ProducerCeiling, RedisCeiling } from './ceilings.js';
import { INNER_COMMANDS, LATENCY_PARTITIONS, type Machine } from './common.js';
import type { DrainResult } from './drain.js';
import type { LatencyResult } from './latency.js';
import type { DiscoveryResult, IdleResult, RecoveryResult } from './startup.js';

export interface BenchReport {
  mode: 'full' | 'quick';
  startedAt: string;
  machine: Machine;
  loadAtEnd: number[];
  producer: ProducerCeiling[];
  redis: RedisCeiling[];
  drains: DrainResult[];
  latency: LatencyResult[];
  recovery?: RecoveryResult;
  discovery?: DiscoveryResult;
  idle?: IdleResult;
}

/** The last line's format; the smoke test parses it with this. */
export const SUMMARY_LINE = /^bench: drain (\d+) msg\/s, ceiling (\d+) msg\/s, ratio (\d+\.\d+)$/;

const int = (n: number): string => (Number.isFinite(n) ? Math.round(n).toLocaleString('en-US') : 'n/a');
const dec = (n: number, d = 2): string => (Number.isFinite(n) ? n.toFixed(d) : 'n/a');
const size = (b: number): string => (b >= 1000 ? `${b / 1000} KB` : `${b} B`);

/** Issue 13's goals (2 cores, everything on one machine, one run). */
export const GOALS = {
  drainMsgPerSec: 40_000,
  drainRatio: 0.6,
  cpuUsPerMsg: 45,
  peakRssMb: 180,
  idleRssMb: 100,
  latencyP99Ms: 20,
  latencyServiceCores: 0.15,
  recoveryMs: 5000,
} as const;

const verdict = (ok: boolean, what: string): string => `${what} ${ok ? 'met' : '**missed**'}`;

/** The goals a drain row is held to, each met or missed: rate and CPU for 1 KB, ratio for 100 B and 1 KB. */
export function drainGoals(d: DrainResult, ceiling: ProducerCeiling | undefined): string[] {
  const out: string[] = [];
  if (d.size === 1000)
    out.push(verdict(d.msgPerSec >= GOALS.drainMsgPerSec, `>= ${GOALS.drainMsgPerSec / 1000}k msg/s`));
  if ((d.size === 100 || d.size === 1000) && ceiling)
    out.push(verdict(d.msgPerSec >= GOALS.drainRatio * ceiling.msgPerSec, `ratio >= ${GOALS.drainRatio}`));
  if (d.size === 1000)
    out.push(verdict(d.cpuUsPerMsg.total <= GOALS.cpuUsPerMsg, `CPU <= ${GOALS.cpuUsPerMsg} µs/msg`));
  out.push(verdict(d.peakRssMb <= GOALS.peakRssMb, `peak RSS <= ${GOALS.peakRssMb} MB`));
  return out;
}

export function ceilingFor(r: BenchReport, bytes: number): ProducerCeiling | undefined {
  return r.producer.find((p) => p.size === bytes);
}

/** The topic's partitions in the row label when they are not the default (`--partitions`). */
function partitionsNote(l: LatencyResult): string {
  return l.partitions !== undefined && l.partitions !== LATENCY_PARTITIONS ? `, ${l.partitions} partitions` : '';
}

export function formatReport(r: BenchReport): string {
  const m = r.machine;
  const out: string[] = [];
  out.push(
    `## Benchmark (${r.mode}), ${r.startedAt}`,
    '',
    `Machine: ${m.cpus} CPUs (${m.cpuModel}), ${dec(m.memTotalGb, 1)} GB RAM (${dec(m.memFreeGb, 1)} GB free), Node ${m.node}; ` +
      `load average at start ${m.loadAtStart.map((l) => dec(l)).join(' ')}, at end ${r.loadAtEnd.map((l) => dec(l)).join(' ')}.`,
    '',
    '| ceiling | payload | record bytes | messages | rate (msg/s) | MB/s | CPU s / 1M msgs: client | broker |',
    '|---|---|---|---|---|---|---|---|',
    ...r.producer.map(
      (p) =>
        `| raw Kafka producer (acks=all, idempotent, lz4) | ${size(p.size)} | ${p.recordBytes} | ${int(p.messages)} | ${int(p.msgPerSec)} | ${dec(p.mbPerSec, 1)} | ${dec(p.cpuSecondsPerMillion, 1)} | ${dec(p.kafkaCpuPerMillion, 1)} |`,
    ),
    ...r.redis.flatMap((c) => [
      `| Redis server: XADD, pipelined 1000/write | ${size(c.size)} | | ${int(c.entries)} | ${int(c.xaddPerSec)} | | | |`,
      `| Redis server: XREADGROUP COUNT 1000, one at a time | ${size(c.size)} | | ${int(c.entries)} | ${int(c.xreadgroupPerSec)} | | | |`,
      `| Redis via the service's read path (node-redis, SourceDb.read) | ${size(c.size)} | | ${int(c.entries)} | ${int(c.serviceReadPerSec)} | | | |`,
      `| target Redis via the service's buffer path alone (put fresh: MULTI MSET SADD EXEC + mark_synced, one call at a time; CPU: target Redis) | ${size(c.size)} | | ${int(c.entries)} | ${int(c.targetBufferPerSec)} | | ${dec(c.targetCpuPerMillion, 1)} | |`,
    ]),
    '',
    '| drain (source -> target -> Kafka -> XACK+XDEL) | streams | messages | drain (msg/s) | ceiling (msg/s) | ratio | seconds | peak RSS (MB) | CPU µs/msg: service | source Redis (of it, AOF rewrite) | target Redis (of it, AOF rewrite) | broker (of it, JIT compiler) | all four | server µs/msg in commands: source | target | source cmds/msg | target cmds/msg | load (1 min) start-end | issue 13 goals |',
    '|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|',
    ...r.drains.map((d) => {
      const c = ceilingFor(r, d.size);
      const u = d.cpuUsPerMsg;
      return `| ${size(d.size)}${d.exactlyOnce ? ', exactly-once' : ''} | ${int(d.streams)} | ${int(d.messages)} | ${int(d.msgPerSec)} | ${c ? int(c.msgPerSec) : 'n/a'} | ${c ? dec(d.msgPerSec / c.msgPerSec) : 'n/a'} | ${dec(d.seconds, 1)} | ${int(d.peakRssMb)} | ${dec(u.service, 1)} | ${dec(u.source, 1)} (${dec(u.sourceRewrite, 1)}) | ${dec(u.target, 1)} (${dec(u.targetRewrite, 1)}) | ${dec(u.kafka, 1)} (${dec(u.kafkaJit, 1)}) | ${dec(u.total, 1)} | ${dec(d.sourceServerUsPerMsg, 1)} | ${dec(d.targetServerUsPerMsg, 1)} | ${dec(d.sourceCmdsPerMsg, 3)} | ${dec(d.targetCmdsPerMsg, 4)} | ${dec(d.loadStart)}-${dec(d.loadEnd)} | ${drainGoals(d, c).join(', ')} |`;
    }),
  );
  if (r.drains.length > 0) {
    out.push(
      '',
      "| drain: INFO commandstats per message | server | µs/msg in commands | calls per message x µs per call (`*`: run inside a script or MULTI/EXEC, its µs are in the outer command's) | AOF rewrites done in the drain (their children's CPU is in the server's µs/msg) |",
      '|---|---|---|---|---|',
      ...r.drains.flatMap((d) =>
        (['target', 'source'] as const).map((server) => {
          const costs = server === 'target' ? d.targetCommands : d.sourceCommands;
          const total = server === 'target' ? d.targetServerUsPerMsg : d.sourceServerUsPerMsg;
          const list = costs
            .map(
              (x) =>
                `${x.command.toUpperCase()}${INNER_COMMANDS.has(x.command) ? '*' : ''} ${dec(x.callsPerMsg, x.callsPerMsg < 0.1 ? 4 : 3)} x ${dec(x.usPerCall, x.usPerCall < 100 ? 2 : 0)}`,
            )
            .join('; ');
          const rewrites = d.aofRewrites[server];
          return `| ${size(d.size)} x ${int(d.streams)} | ${server} | ${dec(total, 1)} | ${list} | ${rewrites} |`;
        }),
      ),
    );
  }
  if (r.latency.length > 0) {
    out.push(
      '',
      '| latency XADD -> readable in Kafka | payload | offered (msg/s) | achieved (msg/s) | measured | received | p50 (ms) | p99 (ms) | p99.9 (ms) | max (ms) | p50 / p99 (ms) split at the broker append: XADD -> appended, appended -> received | service CPU: cores, µs/msg | servers, cores: source / target / broker (with the XADDs and the consumer of the bench) | load (1 min) | issue 13 goals |',
      '|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|',
      ...r.latency.map(
        (l) =>
          `| ${l.kind === 'floor' ? 'floor: raw producer -> consumer, no Redis, no service' : l.exactlyOnce ? '1 stream, KAFKA_EXACTLY_ONCE=true' : '1 stream'}${partitionsNote(l)} | ${size(l.size)} | ${int(l.ratePerSec)} | ${int(l.achievedRate)} | ${int(l.measured)} | ${int(l.received)} | ${int(l.p50)} | ${int(l.p99)} | ${int(l.p999)} | ${int(l.max)} | ${l.legs ? `${int(l.legs.toAppend[0])} / ${int(l.legs.toAppend[1])}, ${int(l.legs.fromAppend[0])} / ${int(l.legs.fromAppend[1])}` : 'n/a'} | ${l.serviceCores === undefined ? 'n/a' : `${dec(l.serviceCores)}, ${dec(l.serviceCpuUsPerMsg ?? Number.NaN, 1)}`} | ${l.serverCores ? `${dec(l.serverCores.source)} / ${dec(l.serverCores.target)} / ${dec(l.serverCores.kafka)}` : 'n/a'} | ${dec(l.load)} | ${l.kind === 'floor' ? '' : [verdict(l.p99 < GOALS.latencyP99Ms, `p99 < ${GOALS.latencyP99Ms} ms`), ...(l.serviceCores === undefined ? [] : [verdict(l.serviceCores <= GOALS.latencyServiceCores, `service <= ${GOALS.latencyServiceCores} core`)])].join(', ')} |`,
      ),
    );
  }
  const s: string[] = [];
  if (r.idle) {
    const last = r.idle.rssMb[r.idle.rssMb.length - 1];
    s.push(
      `| idle: the service with no streams, resident set after "running" | ${r.idle.rssMb.map((x) => `${x.atMs / 1000} s: ${int(x.mb)} MB`).join(', ')} | start-up peak (VmHWM) ${int(r.idle.peakRssMb)} MB | at the end: anonymous ${int(r.idle.anonMb)} MB, file-backed ${int(r.idle.fileMb)} MB; ${last ? verdict(last.mb <= GOALS.idleRssMb, `idle RSS <= ${GOALS.idleRssMb} MB`) : ''} | ${dec(r.idle.load)} |`,
    );
  }
  if (r.recovery)
    s.push(
      `| recovery: SyncEngine.start() with unsynced keys and no set | ${int(r.recovery.keys)} keys | ${int(r.recovery.startMs)} ms (rebuild ${int(r.recovery.recoveryMs)} ms; ${verdict(r.recovery.startMs < GOALS.recoveryMs, `< ${GOALS.recoveryMs / 1000} s`)}) | ${int(r.recovery.recovered)} recovered; CPU µs/key: target Redis ${dec(r.recovery.targetCpuUsPerKey)}, engine ${dec(r.recovery.clientCpuUsPerKey)}; target commands per key x µs per call: ${r.recovery.targetCommands.map((x) => `${x.command.toUpperCase()}${INNER_COMMANDS.has(x.command) ? '*' : ''} ${dec(x.callsPerMsg, 4)} x ${dec(x.usPerCall, x.usPerCall < 100 ? 2 : 0)}`).join('; ')} | ${dec(r.recovery.load)} |`,
    );
  if (r.discovery)
    s.push(
      `| discovery: first cycle (connect ${r.discovery.dbs} DBs, create groups) | ${int(r.discovery.streams)} streams | ${int(r.discovery.firstCycleMs)} ms | ${int(r.discovery.found)} found | ${dec(r.discovery.load)} |`,
      `| discovery: steady cycle (median) | ${int(r.discovery.streams)} streams | ${int(r.discovery.steadyCycleMs)} ms | | |`,
    );
  if (s.length > 0) out.push('', '| start-up | size | time | result | load (1 min) |', '|---|---|---|---|---|', ...s);
  return `${out.join('\n')}\n`;
}

export function summaryLine(r: BenchReport): string {
  const d = r.drains.find((x) => x.size === 1000 && x.streams === 1 && !x.exactlyOnce);
  const c = ceilingFor(r, 1000);
  if (!d || !c) return 'bench: drain 0 msg/s, ceiling 0 msg/s, ratio 0.00';
  return `bench: drain ${Math.round(d.msgPerSec)} msg/s, ceiling ${Math.round(c.msgPerSec)} msg/s, ratio ${(d.msgPerSec / c.msgPerSec).toFixed(2)}`;
}
