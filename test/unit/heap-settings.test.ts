import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { reexecEnv, semiSpaceArgv, semiSpaceGiven } from '../../src/cli/heap-settings.js';

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
