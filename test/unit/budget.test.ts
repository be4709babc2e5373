import assert from 'node:assert/strict';
import { getEventListeners } from 'node:events';
import { describe, test } from 'node:test';
import { Budget } from '../../src/util/retry.js';

describe('in-flight budget', () => {
  test('makes a caller wait until a release frees room, and leaves no listener on the stop signal', async () => {
    const budget = new Budget(2, 1000);
    const stop = new AbortController();
    assert.equal(await budget.acquire(600, stop.signal), true);
    let admitted = false;
    const waiting = budget.acquire(600, stop.signal).then((ok) => (admitted = ok));
    await new Promise((r) => setImmediate(r));
    assert.equal(admitted, false, '600 + 600 bytes exceed the 1000-byte budget');
    assert.equal(getEventListeners(stop.signal, 'abort').length, 1);
    budget.release(600);
    await waiting;
    assert.equal(admitted, true);
    assert.equal(budget.bytes, 600);
    // A waiter per batch over days of running must not pile up listeners on the stop signal.
    assert.equal(getEventListeners(stop.signal, 'abort').length, 0);
  });

  test('is busy from a quarter of either limit on (the marks and acks then do not linger)', () => {
    const budget = new Budget(8, 1000);
    assert.equal(budget.busy, false);
    budget.tryAcquire(249);
    assert.equal(budget.busy, false, '249 of 1000 bytes, 1 of 8 items');
    budget.tryAcquire(1);
    assert.equal(budget.busy, true, 'a quarter of the bytes');
    budget.release(250);
    budget.release(0);
    for (let i = 0; i < 2; i += 1) budget.tryAcquire(1);
    assert.equal(budget.busy, true, 'a quarter of the items');
  });

  test('gives up waiting when the signal aborts, and admits an oversized item when idle', async () => {
    const budget = new Budget(1, 1000);
    const stop = new AbortController();
    assert.equal(await budget.acquire(5000, stop.signal), true, 'oversized but nothing in flight');
    const waiting = budget.acquire(10, stop.signal);
    stop.abort();
    assert.equal(await waiting, false);
    assert.equal(budget.items, 1);
  });
});
