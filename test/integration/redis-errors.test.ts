import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { TargetBuffer } from '../../src/buffer/store.js';
import { isRetryable, TargetRefusedError } from '../../src/errors.js';
import type { RedisConnection } from '../../src/redis/client.js';
import { redisErrorKind, type RedisErrorKind } from '../../src/redis/errors.js';
import { ensureStack, redis, stackConfig, uid } from '../helpers/real-stack.js';

/** The error `cmd` fails with on the real server. */
async function failure(conn: RedisConnection, cmd: string[]): Promise<unknown> {
  try {
    await conn.send(cmd);
  } catch (err) {
    return err;
  }
  throw new Error(`${cmd.join(' ')} did not fail`);
}

describe('Redis errors against the real redis-server', () => {
  let conn: RedisConnection;
  const id = uid();
  const k = (name: string): string => `rerr:${id}:${name}`;
  before(async () => {
    await ensureStack();
    conn = await redis('source', 4);
  });
  after(async () => {
    await conn.send(['DEL', k('str'), k('s'), k('big'), `rerr${id}:unsynced_keys_set`]);
    await conn.close();
  });

  it('classifies what the server really answers, by reply prefix', async () => {
    await conn.send(['SET', k('str'), 'x']);
    await conn.send(['XADD', k('s'), '*', 'a', '1']);
    await conn.send(['XGROUP', 'CREATE', k('s'), 'g', '0']);
    const cases: [string[], RedisErrorKind][] = [
      [['HGET', k('str'), 'f'], 'wrongtype'],
      [['XREADGROUP', 'GROUP', 'g', 'c', 'STREAMS', k('none'), '>'], 'nogroup'],
      [['XGROUP', 'CREATE', k('s'), 'g', '0'], 'busygroup'],
      [['EVALSHA', 'f'.repeat(40), '0'], 'noscript'],
      [['EVAL', "return redis.call('HGET', KEYS[1], 'f')", '1', k('str')], 'wrongtype'],
      [['EVAL', "error('boom')", '0'], 'script'],
      [['EVAL', 'local x = nil + 1', '0'], 'script'],
      [['EVAL', 'return (', '0'], 'script'],
      [['NOSUCHCMD'], 'other'],
    ];
    for (const [cmd, kind] of cases) {
      const err = await failure(conn, cmd);
      assert.equal(redisErrorKind(err), kind, `${cmd.join(' ')}: ${String(err)}`);
    }
    await conn.send(['CONFIG', 'SET', 'maxmemory', '1']);
    try {
      assert.equal(redisErrorKind(await failure(conn, ['SET', k('big'), 'y'])), 'oom');
      assert.equal(
        redisErrorKind(await failure(conn, ['EVAL', "return redis.call('SET', KEYS[1], 'y')", '1', k('big')])),
        'oom',
      );
    } finally {
      await conn.send(['CONFIG', 'SET', 'maxmemory', '0']);
    }
  });

  it('a buffer key of the wrong type fails the write for good, naming the key, instead of a retried "connection error"', async () => {
    const cfg = stackConfig({ TARGET_REDIS_KEY_PREFIX: `rerr${id}:` });
    const buffer = new TargetBuffer([conn], cfg.target);
    const key = buffer.keys.messageKey({ topic: 't', id: '1-0', origin: { kind: 'direct', deviceId: 'd' } });
    await conn.send(['SET', buffer.keys.unsyncedSet, 'not a set']);
    await assert.rejects(
      buffer.put([{ key, topic: 't', kafkaKey: Buffer.from('d'), payload: Buffer.from('x') }]),
      (err: unknown) => {
        assert.ok(err instanceof TargetRefusedError, String(err));
        assert.equal(isRetryable(err), false);
        assert.match(
          err.message,
          new RegExp(`rerr${id}:unsynced_keys_set holds a string, where the buffer keeps a set`),
        );
        assert.match(err.message, /delete or rename that key, or give the service a prefix or DB of its own/);
        return true;
      },
    );
    await conn.send(['DEL', buffer.keys.unsyncedSet, key]);
    assert.deepEqual(
      await buffer.put([{ key, topic: 't', kafkaKey: Buffer.from('d'), payload: Buffer.from('x') }]),
      [0],
      'once the foreign key is gone the same write succeeds',
    );
    await conn.send(['DEL', key]);
  });
});
