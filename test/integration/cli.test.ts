import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { before, describe, it } from 'node:test';
import { stackEnv } from '../../src/stack/index.js';
import { startDaemon } from '../helpers/daemon.js';
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

/** The CLI with only PATH/HOME of this process's environment, so no stray variable of the caller counts. */
const cleanCli = (args: string[], env: Record<string, string> = {}) =>
  run(process.execPath, ['--import', 'tsx', 'src/cli/bin.ts', ...args], {
    env: { PATH: process.env['PATH'] ?? '/usr/bin:/bin', HOME: process.env['HOME'] ?? tmpdir(), ...env },
  });

type Failed = { code?: number; stderr?: string };

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

  it('`config` warns about a misspelled variable of env.conf or the environment, naming the closest known one; `--strict` exits 2', async () => {
    const file = join(mkdtempSync(join(tmpdir(), 'rks-cli-')), 'env.conf');
    writeFileSync(file, 'SOURCE_REDIS_PROT=6380\nKAFKA_TOPIC=t\n');
    const warned = await cleanCli(['config', '--config', file], { SYNC_RETRY_BASE: '5' });
    assert.match(
      warned.stderr,
      /^config warning: SOURCE_REDIS_PROT \(in .*env\.conf\) .*did you mean SOURCE_REDIS_PORT\?/m,
    );
    assert.match(
      warned.stderr,
      /^config warning: SYNC_RETRY_BASE \(in the environment\) .*did you mean SYNC_RETRY_BASE_MS\?/m,
    );
    assert.match(warned.stdout, /^SOURCE_REDIS_PORT=6379$/m, 'the misspelled value is not used');

    await assert.rejects(cleanCli(['config', '--strict', '--config', file]), (err: Failed) => {
      assert.equal(err.code, 2);
      assert.match(err.stderr ?? '', /^config error: SOURCE_REDIS_PROT .*did you mean SOURCE_REDIS_PORT\?/m);
      return true;
    });
    await assert.rejects(
      cleanCli(['run', '--strict', '--config', '/dev/null'], { KAFKA_TOPICS: 'x' }),
      (err: Failed) => {
        assert.equal(err.code, 2, 'run --strict stops before connecting anything');
        assert.match(
          err.stderr ?? '',
          /^config error: KAFKA_TOPICS \(in the environment\) .*did you mean KAFKA_TOPIC\?/m,
        );
        return true;
      },
    );
    const clean = await cleanCli(['config', '--strict', '--config', '/dev/null'], {
      KAFKA_TOPIC: 't',
      RKS_STACK_DIR: '/x',
    });
    assert.equal(clean.stderr, '', 'a clean configuration passes --strict without a word');
  });

  it('`run` logs a misspelled variable as a warning in its own log and runs on', async () => {
    const daemon = startDaemon({ SOURCE_REDIS_PROT: '6380', HTTP_ADDRESS: '127.0.0.1:0' });
    try {
      await daemon.url;
      const line = daemon
        .output()
        .split('\n')
        .find((l) => l.includes('SOURCE_REDIS_PROT'));
      assert.ok(line, `a log line names the variable:\n${daemon.output()}`);
      assert.match(line, /"level":40/);
      assert.match(line, /did you mean SOURCE_REDIS_PORT\?/);
    } finally {
      await daemon.stop();
    }
  });

  it('usage errors exit 2', async () => {
    await assert.rejects(cli(['stack', 'stop', 'nonsense']), (err: { code?: number }) => err.code === 2);
  });
});
