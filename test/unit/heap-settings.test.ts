import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { describe, it } from 'node:test';
import {
  IdleHeapTrim,
  inProcessFlags,
  reexecEnv,
  type HeapTrim,
  semiSpaceArgv,
  semiSpaceGiven,
} from '../../src/cli/heap-settings.js';

const proc = {
  execPath: '/usr/bin/node',
  execArgv: ['--import', 'tsx'],
  argv: ['/usr/bin/node', '/app/bin/redis-kafka-sync.js', 'run', '--config', 'sync.env'],
};

describe('the daemon heap settings (SYNC_HEAP_SEMI_SPACE_MB)', () => {
  it('re-executes the same command with the semi-space flag first, keeping the node flags and arguments', () => {
    assert.deepEqual(semiSpaceArgv(8, proc, undefined), [
      '/usr/bin/node',
      '--max-semi-space-size=8',
      '--import',
      'tsx',
      '/app/bin/redis-kafka-sync.js',
      'run',
      '--config',
      'sync.env',
    ]);
  });

  it('leaves a semi-space flag the operator gave alone (command line or NODE_OPTIONS), so it never re-executes twice', () => {
    const given = { ...proc, execArgv: ['--max-semi-space-size=16'] };
    assert.equal(semiSpaceArgv(8, given, undefined), undefined);
    assert.equal(semiSpaceArgv(8, proc, '--enable-source-maps --max-semi-space-size=4'), undefined);
    assert.equal(semiSpaceArgv(8, { ...proc, execArgv: ['--max-semi-space-size', '16'] }, undefined), undefined);
    // The argv it re-executes with counts as given.
    const again = semiSpaceArgv(8, proc, undefined) ?? [];
    assert.equal(semiSpaceGiven(again.slice(1, 4), undefined), true);
  });

  it('does nothing at 0 (V8 picks) and does not mistake other flags for the semi-space flag', () => {
    assert.equal(semiSpaceArgv(0, proc, undefined), undefined);
    assert.equal(semiSpaceGiven(['--max-old-space-size=512', '--min-semi-space-size=1'], '--max-semi-space'), false);
  });

  it('gives the replaced process MALLOC_ARENA_MAX=2 unless the operator set it', () => {
    assert.equal(reexecEnv({ PATH: '/bin' }).MALLOC_ARENA_MAX, '2');
    assert.equal(reexecEnv({ PATH: '/bin' }).PATH, '/bin');
    assert.equal(reexecEnv({ MALLOC_ARENA_MAX: '8' }).MALLOC_ARENA_MAX, '8');
  });
});

describe('the in-process V8 flags (SYNC_HEAP_GROWING_PERCENT, SYNC_HEAP_MARKING_START_PERCENT)', () => {
  const cfg = { heapGrowingPercent: 100, heapMarkingStartPercent: 50 };
  it('sets the growing factor and the marking start, each unless 0 (V8 decides)', () => {
    assert.deepEqual(inProcessFlags(cfg, [], undefined), [
      '--heap-growing-percent=100',
      '--incremental-marking-soft-trigger=50',
    ]);
    assert.deepEqual(inProcessFlags({ heapGrowingPercent: 0, heapMarkingStartPercent: 0 }, [], undefined), []);
  });

  it('leaves a flag the operator gave alone (command line or NODE_OPTIONS, - or _ in its name)', () => {
    assert.deepEqual(inProcessFlags(cfg, ['--incremental-marking-soft-trigger=80'], undefined), [
      '--heap-growing-percent=100',
    ]);
    assert.deepEqual(inProcessFlags(cfg, [], '--heap_growing_percent=300 --enable-source-maps'), [
      '--incremental-marking-soft-trigger=50',
    ]);
    // Another flag with the same beginning is not the flag.
    assert.equal(inProcessFlags(cfg, ['--incremental-marking-hard-trigger=90'], undefined).length, 2);
  });
});

describe('the idle heap trim (SYNC_HEAP_IDLE_TRIM_MS)', () => {
  // A fake of the collection and of the count of messages moved: check() is one idle period.
  const setup = (): { trim: IdleHeapTrim; collections: () => number; move: (n: number) => void } => {
    let moved = 0;
    let collections = 0;
    const trim = new IdleHeapTrim(
      1000,
      () => moved,
      () => undefined,
      () => (collections += 1),
    );
    return { trim, collections: () => collections, move: (n) => (moved += n) };
  };

  it('collects once when a whole period passed without a message moved, then not again while nothing moves', () => {
    const { trim, collections } = setup();
    const done = trim.check();
    assert.equal(collections(), 1);
    assert.ok(done && done.youngMbBefore >= 0 && done.rssMbAfter > 0, 'reports the sizes around the collection');
    for (let i = 0; i < 5; i += 1) assert.equal(trim.check(), undefined);
    assert.equal(collections(), 1, 'one collection per idle period');
  });

  it('never collects while messages move, and once more after they stop', () => {
    const { trim, collections, move } = setup();
    trim.check(); // the start-up garbage
    for (let i = 0; i < 5; i += 1) {
      move(1000);
      assert.equal(trim.check(), undefined, 'busy: no collection');
    }
    assert.equal(collections(), 1);
    assert.ok(trim.check(), 'idle again: one collection');
    assert.equal(trim.check(), undefined);
    assert.equal(collections(), 2);
  });

  it('the real collection gives the young generation back: a process whose young generation grew ends with a fraction of it', () => {
    // In a process of its own with 8 MB semi-spaces, as the daemon runs: surviving garbage grows
    // the young generation; the trim's collection must leave less than half of it committed.
    const script = `
      import { IdleHeapTrim } from ${JSON.stringify(new URL('../../src/cli/heap-settings.ts', import.meta.url).href)};
      let keep = [];
      for (let round = 0; round < 40; round += 1) {
        keep.push(Array.from({ length: 20000 }, (_, i) => ({ i, s: 'x'.repeat(i % 50) })));
        if (keep.length > 3) keep.shift();
      }
      keep = [];
      const done = new IdleHeapTrim(1000, () => 0, () => undefined).check();
      console.log(JSON.stringify(done));`;
    const out = execFileSync(
      process.execPath,
      ['--max-semi-space-size=8', '--import', 'tsx', '--input-type=module', '-e', script],
      { encoding: 'utf8' },
    );
    const done = JSON.parse(out.trim().split('\n').pop() ?? '{}') as HeapTrim;
    assert.ok(done.youngMbBefore >= 4, `the young generation grew (${done.youngMbBefore} MB)`);
    // An ordinary full collection keeps it all committed (16 -> 16 MB here); the trim's does not.
    assert.ok(
      done.youngMbAfter < done.youngMbBefore / 2,
      `after the trim ${done.youngMbAfter} of ${done.youngMbBefore} MB`,
    );
    assert.ok(done.rssMbAfter < done.rssMbBefore - 4, `resident ${done.rssMbBefore} -> ${done.rssMbAfter} MB`);
  });
});
