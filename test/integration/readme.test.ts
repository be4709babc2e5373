import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { before, describe, it } from 'node:test';
import { stackEnv } from '../../src/stack/index.js';
import { consume, ensureStack, uid } from '../helpers/real-stack.js';

const run = promisify(execFile);
const readme = readFileSync('README.md', 'utf8');

describe('the README', () => {
  before(async () => {
    await ensureStack();
  });

  it('has a configuration table equal to the schema', async () => {
    const { stdout } = await run(process.execPath, ['--import', 'tsx', 'scripts/gen-config-table.ts']);
    const start = readme.indexOf('<!-- config-table:start -->\n');
    const end = readme.indexOf('<!-- config-table:end -->');
    assert.ok(start > 0 && end > start, 'README has the table markers');
    assert.equal(readme.slice(start + '<!-- config-table:start -->\n'.length, end), stdout);
  });

  it('library example runs as written against the stack (with the built package)', async () => {
    const m = /## Library\n\n```ts\n([\s\S]*?)```/.exec(readme);
    assert.ok(m, 'README has the library example');
    const dir = join('test-artifacts', `readme-${uid()}`);
    mkdirSync(dir, { recursive: true });
    const file = join(dir, 'example.mjs');
    // TypeScript-only syntax is absent from the example, so it runs as an ES module as is.
    writeFileSync(file, m[1] as string);
    const id = uid();
    const { stdout } = await run(process.execPath, ['example.mjs'], {
      cwd: dir,
      env: { ...process.env, ...stackEnv('plaintext'), TARGET_REDIS_KEY_PREFIX: `readme${id}:`, LOG_LEVEL: 'warn' },
      timeout: 60_000,
    });
    assert.match(stdout, /Processed \d+ messages from streams/);
    assert.match(stdout, /Sent readme[0-9a-f]+:msg:your-target-topic:/);
    assert.match(stdout, /Synced 0 previously unsynced messages/);
    const records = await consume(
      ['your-target-topic'],
      (all) => all.some((r) => String(r.value) === '{"data":"example"}'),
      20_000,
    );
    assert.ok(records.some((r) => String(r.key) === 'device123'));
  });
});
