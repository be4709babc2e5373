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
      }
      assert.equal(report.producer.length, 3);
      assert.deepEqual(
        report.latency.map((l) => l.ratePerSec),
        [5000, 20_000],
      );
      for (const l of report.latency) assert.ok(l.received > 0 && Number.isFinite(l.p99), `latency at ${l.ratePerSec}`);
      assert.equal(report.recovery?.recovered, report.recovery?.keys, 'recovery found every unsynced key');
      assert.equal(report.discovery?.found, report.discovery?.streams, 'discovery found every stream');
    },
  );
});
