import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ClientClosedError, SimpleError, SocketClosedUnexpectedlyError } from '@redis/client';
import { TargetBuffer } from '../../src/buffer/store.js';
import { loadConfig } from '../../src/config/config.js';
import { BufferFullError, ConnectionError, isRetryable, TargetRefusedError } from '../../src/errors.js';
import type { RedisConnection, Reply } from '../../src/redis/client.js';
import { isTransientRedisError, redisErrorKind, type RedisErrorKind } from '../../src/redis/errors.js';

/**
 * Replies as redis-server 7.0 sends them (captured from the real server: see
 * test/integration/redis-errors.test.ts, which checks the same against a live one), and the
 * Redis 6 wrapping of an error raised inside a script.
 */
const REPLIES: [string, RedisErrorKind, boolean][] = [
  ["OOM command not allowed when used memory > 'maxmemory'.", 'oom', true],
  ["OOM command not allowed when used memory > 'maxmemory'. script: 4f93..., on @user_script:1.", 'oom', true],
  ["NOGROUP No such key 'errs:nostream' or consumer group 'g' in XREADGROUP with GROUP option", 'nogroup', false],
  ['WRONGTYPE Operation against a key holding the wrong kind of value', 'wrongtype', false],
  [
    'WRONGTYPE Operation against a key holding the wrong kind of value script: 11a9..., on @user_script:1.',
    'wrongtype',
    false,
  ],
  ['NOSCRIPT No matching script. Please use EVAL.', 'noscript', false],
  ['BUSYGROUP Consumer Group name already exists', 'busygroup', false],
  ["READONLY You can't write against a read only replica.", 'readonly', true],
  ['LOADING Redis is loading the dataset in memory', 'loading', true],
  ['ERR user_script:1: boom script: 8290..., on @user_script:1.', 'script', false],
  [
    'ERR user_script:1: attempt to perform arithmetic on a nil value script: cd20..., on @user_script:1.',
    'script',
    false,
  ],
  ["ERR Error compiling script (new function): user_script:1: unexpected symbol near '<eof>'", 'script', false],
  ['ERR Error running script (call to f_1234): @user_script:1: user_script:1: boom', 'script', false],
  [
    'ERR Error running script (call to f_1234): @user_script:1: @user_script: 1: Wrong number of args calling Redis command From Lua script',
    'script',
    false,
  ],
  [
    'ERR Error running script (call to f_1234): @user_script:1: user_script:1: WRONGTYPE Operation against a key holding the wrong kind of value ',
    'wrongtype',
    false,
  ],
  ["ERR unknown command 'NOSUCHCMD', with args beginning with: ", 'other', false],
  ['ERR Function not found', 'other', false],
  ['MYERR custom', 'other', false],
  ['BUSY Redis is busy running a script. You can only call SCRIPT KILL or SHUTDOWN NOSCRIPT.', 'other', true],
  ["MASTERDOWN Link with MASTER is down and replica-serve-stale-data is set to 'no'.", 'other', true],
];

describe('Redis errors by reply prefix', () => {
  it('classifies real error replies by their prefix, also inside scripts (Redis 7 and the Redis 6 wrapping)', () => {
    for (const [message, kind, transient] of REPLIES) {
      const err = new SimpleError(message);
      assert.equal(redisErrorKind(err), kind, message);
      assert.equal(isTransientRedisError(err), transient, `transient: ${message}`);
    }
  });

  it('classifies a failure without a reply as connection, following the cause chain to a reply first', () => {
    const refused = Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:6379'), { code: 'ECONNREFUSED' });
    for (const err of [
      new ClientClosedError(),
      new SocketClosedUnexpectedlyError(),
      refused,
      new ConnectionError('target 127.0.0.1:6380 (db 0): Socket closed unexpectedly', { retryable: true }),
    ]) {
      assert.equal(redisErrorKind(err), 'connection', err.message);
      assert.ok(isTransientRedisError(err));
    }
    const wrapped = new ConnectionError('target 127.0.0.1:6380: failed', {
      cause: new SimpleError('OOM command not allowed'),
    });
    assert.equal(redisErrorKind(wrapped), 'oom', 'a wrapped reply is classified by the reply');
    assert.equal(redisErrorKind(new Error('expected an array reply, got string')), 'other');
    assert.equal(redisErrorKind('not an error'), 'other');
    assert.equal(isTransientRedisError(new Error('expected an array reply')), false);
  });
});

/** A RedisConnection (the project's interface) whose every command fails with `reply`. */
function failingConnection(reply: string): RedisConnection & { commands: string[][] } {
  const commands: string[][] = [];
  return {
    endpoint: 'target fake:6380',
    db: 2,
    commands,
    send(args): Promise<Reply> {
      commands.push(args.map(String));
      if (args[0] === 'TYPE')
        return Promise.resolve(Buffer.from(String(args[1]).endsWith('unsynced_keys_set') ? 'string' : 'none'));
      return Promise.reject(new SimpleError(reply));
    },
    isReady: () => true,
    close: async () => undefined,
    onError: () => undefined,
  };
}

describe('the target buffer reports a refusal for what it is', () => {
  const cfg = loadConfig({ env: { TARGET_REDIS_KEY_PREFIX: 'p:' }, configFile: null });
  const message = { key: 'p:msg:t:1-0:d:dev', topic: 't', kafkaKey: Buffer.from('dev'), payload: Buffer.from('x') };

  it('a script error: not retryable, naming the script, not a "connection error"', async () => {
    const buffer = new TargetBuffer(
      [failingConnection('ERR user_script:12: boom script: 1234, on @user_script:12.')],
      cfg.target,
    );
    await assert.rejects(buffer.put([message]), (err: unknown) => {
      assert.ok(err instanceof TargetRefusedError, String(err));
      assert.equal(isRetryable(err), false);
      assert.equal(err.code, 'TARGET_REFUSED');
      assert.match(err.message, /put_batch\.lua failed: ERR user_script:12: boom/);
      assert.doesNotMatch(err.name, /Connection/);
      return true;
    });
  });

  it('WRONGTYPE: not retryable, naming the key of the wrong type, what the buffer keeps there and what to do', async () => {
    const conn = failingConnection(
      'WRONGTYPE Operation against a key holding the wrong kind of value script: 99, on @user_script:1.',
    );
    const buffer = new TargetBuffer([conn], cfg.target);
    await assert.rejects(buffer.markSynced([message.key], conn), (err: unknown) => {
      assert.ok(err instanceof TargetRefusedError, String(err));
      assert.equal(isRetryable(err), false);
      assert.match(err.message, /p:unsynced_keys_set holds a string, where the buffer keeps a set/);
      assert.match(err.message, /TARGET_REDIS_KEY_PREFIX="p:" in TARGET_REDIS_DB=2/);
      return true;
    });
  });

  it('OOM stays a retryable BufferFullError and anything else a retryable ConnectionError', async () => {
    const full = new TargetBuffer(
      [failingConnection("OOM command not allowed when used memory > 'maxmemory'.")],
      cfg.target,
    );
    await assert.rejects(full.put([message]), (err: unknown) => err instanceof BufferFullError && isRetryable(err));
    const busy = new TargetBuffer([failingConnection('BUSY Redis is busy running a script.')], cfg.target);
    await assert.rejects(busy.put([message]), (err: unknown) => err instanceof ConnectionError && isRetryable(err));
  });
});
