import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { before, describe, it } from 'node:test';
import { stackEnv } from '../../src/stack/index.js';
import { consume, ensureStack, header, redis, uid } from '../helpers/real-stack.js';

const run = promisify(execFile);
const cli = (args: string[], env: Record<string, string> = {}, input?: string) => {
  const child = run(process.execPath, ['--import', 'tsx', 'src/cli/bin.ts', ...args], {
    env: { ...process.env, ...stackEnv('plaintext'), ...env },
  });
  if (input !== undefined) {
    child.child.stdin?.end(input);
  }
  return child;
};

describe('the command line', () => {
  before(async () => {
    await ensureStack();
  });

  it('`send` buffers, sends and marks a message, printing its key (stdin body)', async () => {
    const id = uid();
    const topic = `cli-send-${id}`;
    const { stdout } = await cli(
      ['send', '--config', '/dev/null', '-t', topic, '-d', 'dev-7'],
      { TARGET_REDIS_KEY_PREFIX: `cs${id}:` },
      'from stdin',
    );
    const key = stdout.trim();
    assert.match(key, new RegExp(`^cs${id}:msg:${topic}:[0-9a-f-]+:d:dev-7$`));
    const target = await redis('target');
    try {
      assert.ok(Number(await target.send(['TTL', key])) > 0, 'marked synced');
    } finally {
      await target.close();
    }
    const [rec] = await consume([topic], (all) => all.length >= 1, 15_000);
    assert.equal(String(rec?.value), 'from stdin');
    assert.equal(header(rec!, 'rks-buffer-key'), key);
  });

  it('`config` prints the effective configuration with secrets redacted, flags over environment over file', async () => {
    const { stdout } = await cli(
      ['config', '--config', 'env.conf', '--set', 'KAFKA_TOPIC=from-flag', '--set', 'KAFKA_SASL_PASSWORD=hunter2'],
      {
        KAFKA_TOPIC: 'from-env',
        TARGET_REDIS_DB: '3',
      },
    );
    assert.match(stdout, /^KAFKA_TOPIC=from-flag$/m);
    assert.match(stdout, /^TARGET_REDIS_DB=3$/m);
    assert.match(stdout, /^STREAM_DISCOVERY_INTERVAL=10$/m, 'from env.conf');
    assert.match(stdout, /^KAFKA_SASL_PASSWORD=\*\*\*$/m);
    assert.doesNotMatch(stdout, /hunter2/);
  });

  it('usage errors exit 2', async () => {
    await assert.rejects(cli(['stack', 'stop', 'nonsense']), (err: { code?: number }) => err.code === 2);
  });
});
