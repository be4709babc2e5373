/**
 * The shared pre-write deadline (src/redis/command-deadline.ts): commands sent within one slot
 * share one signal, which is aborted only once the deadline has passed for the last of them, and
 * a deadline abort is reported as a retryable connection failure naming the endpoint.
 */
import assert from 'node:assert/strict';
import { afterEach, beforeEach, describe, it, mock } from 'node:test';
import { AbortError } from '@redis/client';
import {
  DEADLINE_SLOT_MS,
  deadlineSignal,
  PRE_WRITE_DEADLINE_MS,
  unsentError,
} from '../../src/redis/command-deadline.js';
import { isRetryableRedisError, redisErrorKind } from '../../src/redis/errors.js';

describe('the shared pre-write deadline', () => {
  // Each test starts well after the last one's slots (the module keeps its current slot).
  let now = 1_000_000;
  beforeEach(() => {
    now += 100_000;
    mock.timers.enable({ apis: ['setTimeout', 'Date'], now });
  });
  afterEach(() => mock.timers.reset());

  it('gives the commands of one slot one signal, and the next slot a new one', () => {
    const first = deadlineSignal();
    mock.timers.tick(DEADLINE_SLOT_MS - 1);
    assert.equal(deadlineSignal(), first, 'same slot, same signal');
    mock.timers.tick(1);
    const second = deadlineSignal();
    assert.notEqual(second, first, 'a new slot');
  });

  it('aborts a slot only after the deadline of its last command, never before the first one had its 5 s', () => {
    const signal = deadlineSignal();
    mock.timers.tick(PRE_WRITE_DEADLINE_MS);
    assert.equal(
      signal.aborted,
      false,
      'a command sent at the start of the slot has had its 5 s, one sent at its end has not',
    );
    mock.timers.tick(DEADLINE_SLOT_MS - 1);
    assert.equal(signal.aborted, false);
    mock.timers.tick(1);
    assert.equal(signal.aborted, true, 'aborted once the whole slot had its 5 s');
  });

  it("reports node-redis's AbortError as a retryable connection failure naming the endpoint; other errors pass through", () => {
    let caught: unknown;
    try {
      unsentError('target Redis redis://10.0.0.5:6379 (db 0)', new AbortError());
    } catch (err) {
      caught = err;
    }
    assert.ok(caught instanceof Error);
    assert.match(caught.message, /redis:\/\/10\.0\.0\.5:6379 \(db 0\): a command waited 5-6 s without being sent/);
    assert.equal(redisErrorKind(caught), 'connection');
    assert.equal(isRetryableRedisError(caught), true);
    assert.equal(isRetryableRedisError(new AbortError()), true, 'the bare AbortError too');
    const other = new Error('WRONGTYPE Operation against a key holding the wrong kind of value');
    assert.throws(
      () => unsentError('x', other),
      (e) => e === other,
    );
  });
});
