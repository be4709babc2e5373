import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { lingerGathers } from '../../src/source/reader.js';

describe('the read linger after a short read (SOURCE_READ_LINGER_MS)', () => {
  it('waits only when entries come fast enough for the wait to gather at least 2', () => {
    // 10 ms linger: 100 msg/s (one entry per 10 ms) would gather one entry, which the next
    // blocking read takes as it comes: no wait.
    assert.equal(lingerGathers(1, 10, 10), false);
    assert.equal(lingerGathers(2, 25, 10), false);
    // 200 msg/s gathers 2 in 10 ms: the boundary waits.
    assert.equal(lingerGathers(1, 5, 10), true);
    // 1,000 msg/s: one entry a millisecond after the last read, or 12 over a lingered read.
    assert.equal(lingerGathers(1, 1, 10), true);
    assert.equal(lingerGathers(12, 11.5, 10), true);
    // 5,000 msg/s with reads every ~11 ms.
    assert.equal(lingerGathers(55, 11, 10), true);
  });

  it('scales with the linger: 200 msg/s is too slow for a 5 ms linger', () => {
    assert.equal(lingerGathers(1, 5, 5), false);
    assert.equal(lingerGathers(1, 2.5, 5), true);
  });

  it('never waits with the linger off or an empty read; the first read (no earlier one) counts as fast', () => {
    assert.equal(lingerGathers(10, 1, 0), false);
    assert.equal(lingerGathers(0, 1, 10), false);
    assert.equal(lingerGathers(1, 0, 10), true);
  });
});
