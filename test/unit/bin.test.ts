/**
 * bin/redis-kafka-sync.js before the package is built or installed (what `npx redis-kafka-sync`
 * meets in a fresh clone): one message saying what to run, no stack trace.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { copyFileSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { repoRoot } from '../../src/stack/paths.js';

describe('bin/redis-kafka-sync.js in an unbuilt checkout', () => {
  const dir = mkdtempSync(join(tmpdir(), 'rks-bin-'));
  after(() => rmSync(dir, { recursive: true, force: true }));
  mkdirSync(join(dir, 'bin'));
  copyFileSync(join(repoRoot(), 'bin', 'redis-kafka-sync.js'), join(dir, 'bin', 'redis-kafka-sync.js'));
  const run = () =>
    spawnSync(process.execPath, [join(dir, 'bin', 'redis-kafka-sync.js'), 'stack', 'status'], { encoding: 'utf8' });

  it('without node_modules and dist: says to run npm ci and npm run build, exit 1, no stack trace', () => {
    const r = run();
    assert.equal(r.status, 1);
    assert.match(r.stderr, /^redis-kafka-sync: not built yet \(.*dist\/cli\/bin\.js is missing\)/);
    assert.match(r.stderr, /npm ci /);
    assert.match(r.stderr, /npm run build /);
    assert.doesNotMatch(r.stderr, /ERR_MODULE_NOT_FOUND|\n\s+at /);
  });

  it('with node_modules but no dist: says to run npm run build only', () => {
    mkdirSync(join(dir, 'node_modules'));
    const r = run();
    assert.equal(r.status, 1);
    assert.match(r.stderr, /npm run build /);
    assert.doesNotMatch(r.stderr, /npm ci /);
  });
});
