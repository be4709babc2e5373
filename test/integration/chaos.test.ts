/**
 * The chaos suite with a smaller load (what CI runs): every fault scenario must end with
 * nothing lost. The full run (`npm run chaos`) uses >= 200,000 messages; see docs/reliability.md.
 * It runs against a sandbox stack of its own (.stack-chaos, ports + 100): stopping its servers
 * never disturbs the main stack.
 */
import assert from 'node:assert/strict';
import { mkdirSync, writeFileSync } from 'node:fs';
import { describe, it } from 'node:test';

process.env.RKS_STACK_DIR = '.stack-chaos';
process.env.RKS_STACK_PORT_OFFSET = String(Number(process.env.RKS_STACK_PORT_OFFSET ?? 0) + 100);

describe('chaos (CI load)', () => {
  it('loses nothing in any fault scenario (Kafka, target, source down; SIGKILL, SIGTERM; cut connections; a link gone silent; claims; TTL; maxmemory; buffered backlog)', async () => {
    const { runChaos, table } = await import('../chaos/run.js');
    const summary = await runChaos({ ci: true });
    const text = table(summary);
    mkdirSync('test-artifacts', { recursive: true });
    writeFileSync('test-artifacts/chaos.md', text);
    process.stdout.write(`# ${text.split('\n').join('\n# ')}\n`);
    assert.equal(summary.results.length, 11);
    for (const r of summary.results) {
      assert.equal(r.lost, 0, `scenario ${r.id} (${r.title}) lost ${r.lost}`);
      assert.equal(r.delivered, r.written, `scenario ${r.id} delivered everything`);
      assert.ok(r.written > 0, `scenario ${r.id} wrote load`);
    }
    // A graceful stop must not reorder: batches read ahead but not produced when the stop came
    // stay pending, and no later batch may overtake them (src/engine/pipeline.ts, `after`).
    const graceful = summary.results.find((r) => r.id === 'h');
    assert.equal(graceful?.orderViolations, 0, 'per-device order kept through a SIGTERM during load');
    const silent = summary.results.find((r) => r.id === 'j');
    assert.ok(
      silent?.notes.includes('service replaced the silent connections'),
      'the frozen target link was noticed by the reply deadline',
    );
    const oom = summary.results.find((r) => r.id === 'i');
    assert.ok(
      oom?.notes.includes('service reported the full buffer'),
      'the maxmemory scenario hit and reported backpressure',
    );
  });

  it('with KAFKA_EXACTLY_ONCE=true: the crash, outage (its transaction expires and aborts), takeover, restart and burst-takeover (k) scenarios lose nothing and duplicate nothing (read_committed)', async () => {
    const { runChaos, table } = await import('../chaos/run.js');
    const summary = await runChaos({ ci: true, exactlyOnce: true });
    const text = table(summary);
    mkdirSync('test-artifacts', { recursive: true });
    writeFileSync('test-artifacts/chaos-exactly-once.md', text);
    process.stdout.write(`# ${text.split('\n').join('\n# ')}\n`);
    assert.deepEqual(
      summary.results.map((r) => r.id),
      ['a+eo', 'b+eo', 'f+eo', 'h+eo', 'k+eo'],
    );
    for (const r of summary.results) {
      assert.equal(r.lost, 0, `scenario ${r.id} lost ${r.lost}`);
      assert.equal(r.duplicates, 0, `scenario ${r.id}: ${r.duplicates} duplicates seen by a read_committed consumer`);
      assert.ok(r.written > 0, `scenario ${r.id} wrote load`);
    }
    for (const id of ['a+eo', 'h+eo'])
      assert.equal(
        summary.results.find((r) => r.id === id)?.orderViolations,
        0,
        `${id}: per-device order kept (aborted transactions resent in order)`,
      );
  });
});
