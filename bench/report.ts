/**
 * The benchmark's output: markdown tables (machine and load, ceilings, drains with their ratio
 * to the producer ceiling of the same size, latency, start-up) and, last, the one summary line
 * `bench: drain <X> msg/s, ceiling <Y> msg/s, ratio <X/Y>` for 1 KB messages in one stream.
 */
import type { ProducerCeiling, RedisCeiling } from './ceilings.js';
import type { Machine } from './common.js';
import type { DrainResult } from './drain.js';
import type { LatencyResult } from './latency.js';
import type { DiscoveryResult, RecoveryResult } from './startup.js';

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
}

/** The last line's format; the smoke test parses it with this. */
export const SUMMARY_LINE = /^bench: drain (\d+) msg\/s, ceiling (\d+) msg\/s, ratio (\d+\.\d+)$/;

const int = (n: number): string => (Number.isFinite(n) ? Math.round(n).toLocaleString('en-US') : 'n/a');
const dec = (n: number, d = 2): string => (Number.isFinite(n) ? n.toFixed(d) : 'n/a');
const size = (b: number): string => (b >= 1000 ? `${b / 1000} KB` : `${b} B`);

export function ceilingFor(r: BenchReport, bytes: number): ProducerCeiling | undefined {
  return r.producer.find((p) => p.size === bytes);
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
      `| target Redis via the service's buffer path alone (put_batch + mark_synced, one call at a time; CPU: target Redis) | ${size(c.size)} | | ${int(c.entries)} | ${int(c.targetBufferPerSec)} | | ${dec(c.targetCpuPerMillion, 1)} | |`,
    ]),
    '',
    '| drain (source -> target -> Kafka -> XACK+XDEL) | streams | messages | drain (msg/s) | ceiling (msg/s) | ratio | seconds | peak RSS (MB) | CPU s / 1M msgs: service | broker | source Redis | target Redis | source cmds/msg | target cmds/msg | load (1 min) |',
    '|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|',
    ...r.drains.map((d) => {
      const c = ceilingFor(r, d.size);
      return `| ${size(d.size)} | ${int(d.streams)} | ${int(d.messages)} | ${int(d.msgPerSec)} | ${c ? int(c.msgPerSec) : 'n/a'} | ${c ? dec(d.msgPerSec / c.msgPerSec) : 'n/a'} | ${dec(d.seconds, 1)} | ${int(d.peakRssMb)} | ${dec(d.cpuSecondsPerMillion, 1)} | ${dec(d.serverCpuPerMillion.kafka, 1)} | ${dec(d.serverCpuPerMillion.source, 1)} | ${dec(d.serverCpuPerMillion.target, 1)} | ${dec(d.sourceCmdsPerMsg, 3)} | ${dec(d.targetCmdsPerMsg, 4)} | ${dec(d.load)} |`;
    }),
  );
  if (r.latency.length > 0) {
    out.push(
      '',
      '| latency XADD -> readable in Kafka | payload | offered (msg/s) | achieved (msg/s) | measured | received | p50 (ms) | p99 (ms) | p99.9 (ms) | max (ms) | load (1 min) |',
      '|---|---|---|---|---|---|---|---|---|---|---|',
      ...r.latency.map(
        (l) =>
          `| ${l.kind === 'floor' ? 'floor: raw producer -> consumer, no Redis, no service' : '1 stream'} | ${size(l.size)} | ${int(l.ratePerSec)} | ${int(l.achievedRate)} | ${int(l.measured)} | ${int(l.received)} | ${int(l.p50)} | ${int(l.p99)} | ${int(l.p999)} | ${int(l.max)} | ${dec(l.load)} |`,
      ),
    );
  }
  const s: string[] = [];
  if (r.recovery)
    s.push(
      `| recovery: SyncEngine.start() with unsynced keys and no set | ${int(r.recovery.keys)} keys | ${int(r.recovery.startMs)} ms (rebuild ${int(r.recovery.recoveryMs)} ms) | ${int(r.recovery.recovered)} recovered | ${dec(r.recovery.load)} |`,
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
  const d = r.drains.find((x) => x.size === 1000 && x.streams === 1);
  const c = ceilingFor(r, 1000);
  if (!d || !c) return 'bench: drain 0 msg/s, ceiling 0 msg/s, ratio 0.00';
  return `bench: drain ${Math.round(d.msgPerSec)} msg/s, ceiling ${Math.round(c.msgPerSec)} msg/s, ratio ${(d.msgPerSec / c.msgPerSec).toFixed(2)}`;
}
