import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ConnectionError, isRetryable } from '../../src/errors.js';
import { classifyRedisError, isRetryableRedisError, needsRediscovery } from '../../src/redis/errors.js';

/** Like node-redis's ErrorReply / client errors: the class name and the reply text. */
class ErrorReply extends Error {}
class SocketClosedUnexpectedlyError extends Error {}

describe('Redis error classes', () => {
  it('treats what a failover produces as retryable and as a reason to look for the master again', () => {
    for (const reply of [
      "READONLY You can't write against a read only replica.",
      'LOADING Redis is loading the dataset in memory',
      'MASTERDOWN Link with MASTER is down and replica-serve-stale-data is set to no',
      'UNBLOCKED force unblock from blocking operation, instance state changed (master -> replica?)',
    ]) {
      const err = new ErrorReply(reply);
      assert.ok(isRetryableRedisError(err), reply);
      assert.ok(needsRediscovery(err), reply);
    }
    const gone = new SocketClosedUnexpectedlyError('Socket closed unexpectedly');
    assert.equal(classifyRedisError(gone), 'connection');
    assert.ok(needsRediscovery(gone));
  });

  it('names NOSCRIPT, OOM, NOGROUP and cluster redirections without asking for a new master', () => {
    assert.equal(classifyRedisError(new ErrorReply('NOSCRIPT No matching script. Please use EVAL.')), 'noscript');
    assert.equal(classifyRedisError(new ErrorReply("OOM command not allowed when used memory > 'maxmemory'.")), 'oom');
    assert.equal(classifyRedisError(new ErrorReply('NOGROUP No such key')), 'nogroup');
    assert.equal(classifyRedisError(new ErrorReply('MOVED 3999 127.0.0.1:6381')), 'cluster');
    assert.equal(needsRediscovery(new ErrorReply('NOSCRIPT No matching script.')), false);
    assert.equal(needsRediscovery(new ErrorReply('OOM command not allowed')), false);
  });

  it('finds the reply through a wrapper that names the endpoint, and through causes', () => {
    const wrapped = new ConnectionError("target Redis redis://127.0.0.1:6379: READONLY You can't write", {
      retryable: true,
    });
    assert.equal(classifyRedisError(wrapped), 'readonly');
    const caused = new ConnectionError('target Redis: buffer write failed', {
      retryable: true,
      cause: new ErrorReply('LOADING Redis is loading'),
    });
    assert.equal(classifyRedisError(caused), 'loading');
    assert.ok(isRetryable(caused));
  });

  it('says a wrong command is not retryable (retrying it unchanged cannot help)', () => {
    assert.equal(
      isRetryableRedisError(new ErrorReply('WRONGTYPE Operation against a key holding the wrong kind of value')),
      false,
    );
    assert.equal(
      isRetryableRedisError(new ErrorReply('ERR Error running script (call to f_x): @user_script:1: oops')),
      false,
    );
    assert.equal(isRetryableRedisError(new ErrorReply("CROSSSLOT Keys in request don't hash to the same slot")), false);
    assert.ok(isRetryableRedisError(new Error('something unexpected')), 'unknown: retried, never dropped');
  });
});
