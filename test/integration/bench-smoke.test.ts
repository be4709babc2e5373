/**
 * Smoke test of the benchmark: `npm run bench -- --quick` runs end to end against its own sandbox
 * stack (.stack-bench, ports +200; stopped again here when this test started it) and prints its
 * tables and, last, the summary line with numbers. Nothing about speed is asserted: the load of
 * the machine decides that (docs/performance.md has the measured numbers and targets).
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { SUMMARY_LINE, type BenchReport } from '../../bench/report.js';

process.env.RKS_STACK_DIR = '.stack-bench';
process.env.RKS_STACK_PORT_OFFSET = String(Number(process.env.RKS_STACK_PORT_OFFSET ?? 0) + 200);

function runQuickBench(jsonFile: string): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, ['--import', 'tsx', 'bench/run.ts', '--quick', '--json', jsonFile], {
      env: process.env,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.on('exit', (code) => resolve({ code, stdout, stderr }));
  });
}

describe('benchmark (quick mode)', () => {
  const dir = mkdtempSync(join(tmpdir(), 'rks-bench-'));
  let stackWasUp = false;
  before(async () => {
    const { stackStatus } = await import('../../src/stack/index.js');
    stackWasUp = (await stackStatus()).servers.every((s) => s.state === 'up');
  });
  after(async () => {
    rmSync(dir, { recursive: true, force: true });
    if (!stackWasUp) {
      const { stackDown } = await import('../../src/stack/index.js');
      await stackDown();
    }
  });

  it(
    'prints the tables and last the line "bench: drain <X> msg/s, ceiling <Y> msg/s, ratio <X/Y>"',
    { timeout: 600_000 },
    async () => {
      const json = join(dir, 'bench.json');
      const { code, stdout, stderr } = await runQuickBench(json);
      assert.equal(code, 0, `bench failed:\n${stderr.slice(-3000)}`);
      const lines = stdout.trimEnd().split('\n');
      const m = SUMMARY_LINE.exec(lines[lines.length - 1] ?? '');
      assert.ok(m, `last line: ${lines[lines.length - 1]}`);
      const [drain, ceiling, ratio] = [Number(m[1]), Number(m[2]), Number(m[3])];
      assert.ok(drain > 0 && ceiling > 0 && ratio > 0, 'the summary has numbers');
      assert.ok(Math.abs(ratio - drain / ceiling) < 0.01, 'the ratio is drain / ceiling');
      for (const header of ['| ceiling |', '| drain (', '| latency ', '| start-up |'])
        assert.ok(
          lines.some((l) => l.startsWith(header)),
          `a table starting with "${header}"`,
        );

      const report = JSON.parse(readFileSync(json, 'utf8')) as BenchReport;
      assert.equal(report.mode, 'quick');
      assert.deepEqual(
        report.drains.map((d) => [d.size, d.streams]),
        [
          [100, 1],
          [100, 1000],
          [1000, 1],
          [1000, 1000],
          [10000, 1],
          [10000, 1000],
        ],
      );
      for (const d of report.drains) {
        assert.ok(d.msgPerSec > 0 && d.peakRssMb > 0 && d.cpuSecondsPerMillion > 0, `drain ${d.size} x ${d.streams}`);
        // The data model's cost, visible in every run: each process's CPU and both servers' commands.
        const u = d.cpuUsPerMsg;
        assert.ok(Math.abs(u.total - (u.service + u.source + u.target + u.kafka)) < 1e-6, 'the sum of the four');
        assert.ok(
          u.kafkaJit >= 0 && u.kafkaJit <= u.kafka,
          `the broker's JIT share (${u.kafkaJit}) is part of its ${u.kafka}`,
        );
        assert.ok(
          u.targetRewrite >= 0 && u.targetRewrite <= u.target,
          `the target's AOF rewrite share is part of its CPU`,
        );
        assert.ok(d.targetServerUsPerMsg > 0 && d.sourceServerUsPerMsg > 0, 'server µs per message');
        for (const cmd of ['evalsha', 'exec', 'mset'])
          assert.ok(
            d.targetCommands.some((c) => c.command === cmd && c.callsPerMsg > 0 && c.usPerCall > 0),
            `target ${cmd} in the commandstats of drain ${d.size} x ${d.streams}`,
          );
        assert.ok(d.sourceCommands.some((c) => c.command === 'xreadgroup'));
      }
      assert.ok(
        lines.some((l) => l.startsWith('| drain: INFO commandstats per message |')),
        'the commandstats table',
      );
      assert.ok(
        lines.some((l) => l.includes('issue 13 goals')),
        'the goals column',
      );
      assert.ok((report.idle?.rssMb.length ?? 0) > 0 && (report.idle?.peakRssMb ?? 0) > 0, 'idle RSS measured');
      assert.equal(report.producer.length, 3);
      // The floor at every rate, just before the service at that rate.
      assert.deepEqual(
        report.latency.map((l) => [l.kind ?? 'service', l.ratePerSec]),
        [
          ['floor', 5000],
          ['service', 5000],
          ['floor', 20_000],
          ['service', 20_000],
        ],
      );
      for (const l of report.latency) assert.ok(l.received > 0 && Number.isFinite(l.p99), `latency at ${l.ratePerSec}`);
      // Each server's CPU over the measured window: the service reads the source and writes the
      // target; the floor touches neither, and both rows use the broker.
      for (const l of report.latency) {
        const c = l.serverCores;
        assert.ok(c && c.kafka > 0, `broker CPU at ${l.kind ?? 'service'} ${l.ratePerSec}: ${JSON.stringify(c)}`);
        if (l.kind !== 'floor')
          assert.ok(c.source > 0 && c.target > 0, `Redis CPU at ${l.ratePerSec}: ${JSON.stringify(c)}`);
      }
      assert.equal(report.recovery?.recovered, report.recovery?.keys, 'recovery found every unsynced key');
      assert.equal(report.discovery?.found, report.discovery?.streams, 'discovery found every stream');
    },
  );
});

/**
 * The record value is built from the entry's bytes when it can be (src/source/envelope.ts, a
 * benchmark-driven change): it must stay byte-identical to JSON.stringify of the envelope object
 * for every entry, including the ones that take the slow path. Random entries, both paths.
 */
describe('the record value of a stream entry', () => {
  it('is byte for byte JSON.stringify(buildEnvelope(...)) for random entries, short and long, odd and plain', async () => {
    const { buildEnvelope, envelopeBytes } = await import('../../src/source/envelope.js');
    const pick = <T>(a: readonly T[]): T => a[Math.floor(Math.random() * a.length)] as T;
    const odd = ['"', '\\', '\n', '\u0000', 'é', '€', '😀', '\u2028', '\u007f', '__proto__', '1', '0x', ''];
    const oddBytes = [
      Buffer.from([0xed, 0xa0, 0x80]),
      Buffer.from([0xef, 0xbb, 0xbf]),
      Buffer.from([0xc3]),
      Buffer.from([0xff]),
    ];
    const piece = (): Buffer =>
      Math.random() < 0.95
        ? Buffer.from('abcdefgh'.slice(0, 1 + Math.floor(Math.random() * 8)))
        : Math.random() < 0.5
          ? Buffer.from(pick(odd))
          : pick(oddBytes);
    const field = (long: boolean): Buffer => {
      const b = Buffer.concat(
        Array.from({ length: long ? 10 + Math.floor(Math.random() * 300) : Math.floor(Math.random() * 4) }, piece),
      );
      const at = Math.floor(Math.random() * 4); // any alignment inside a larger buffer, as socket chunks are
      const big = Buffer.alloc(b.length + 8);
      b.copy(big, at);
      return big.subarray(at, at + b.length);
    };
    for (let k = 0; k < 20_000; k += 1) {
      const long = Math.random() < 0.5;
      const fields = Array.from({ length: Math.floor(Math.random() * 9) }, () => field(long));
      const encoding = pick(['utf-8', 'utf8', 'latin1', 'ascii'] as const);
      const stream = pick(['s', 'device:1:stream', 'é"\\', '\ud800x']);
      const id = `${k}-0`;
      const expected = Buffer.from(JSON.stringify(buildEnvelope(stream, k % 16, id, fields, encoding)));
      const got = envelopeBytes(stream, k % 16, id, fields, encoding);
      assert.ok(got.equals(expected), `entry ${k}: ${got.toString()} != ${expected.toString()}`);
    }
  });
});
