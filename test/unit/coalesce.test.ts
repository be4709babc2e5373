import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { Coalescer } from '../../src/util/coalesce.js';

/** A flush whose calls the test finishes by hand, in any order. */
function manualFlush(): {
  calls: { items: number[]; finish: (err?: Error) => void }[];
  flush: (items: number[]) => Promise<void>;
} {
  const calls: { items: number[]; finish: (err?: Error) => void }[] = [];
  return {
    calls,
    flush: (items) =>
      new Promise<void>((resolve, reject) => {
        calls.push({ items: [...items], finish: (err) => (err ? reject(err) : resolve()) });
      }),
  };
}

const settled = async (p: Promise<void>): Promise<'ok' | string> =>
  p.then(
    () => 'ok',
    (err: Error) => err.message,
  );

describe('Coalescer (group commit of marks and acks)', () => {
  it('starts a call at once when idle, and groups what comes while it runs into the next call, in order', async () => {
    const f = manualFlush();
    const c = new Coalescer(f.flush, 1, 100);
    const first = c.add([1, 2]);
    assert.deepEqual(
      f.calls.map((x) => x.items),
      [[1, 2]],
      'an idle coalescer adds no wait',
    );
    const second = c.add([3]);
    const third = c.add([4, 5]);
    assert.equal(f.calls.length, 1, 'nothing more is sent while the first call runs');
    assert.equal(c.waiting, 3);
    f.calls[0]?.finish();
    assert.equal(await settled(first), 'ok');
    assert.deepEqual(
      f.calls.map((x) => x.items),
      [
        [1, 2],
        [3, 4, 5],
      ],
      'the two waiting callers share one call',
    );
    f.calls[1]?.finish();
    assert.deepEqual(await Promise.all([settled(second), settled(third)]), ['ok', 'ok']);
    assert.equal(c.waiting, 0);
  });

  it('never splits a caller, caps a call at maxItems, and lets a caller larger than the cap go alone', async () => {
    const f = manualFlush();
    const c = new Coalescer(f.flush, 1, 4);
    void c.add([0]);
    const adds = [c.add([1, 2]), c.add([3, 4]), c.add([5, 6, 7, 8, 9, 10]), c.add([11])];
    for (let i = 0; i < 4; i += 1) {
      f.calls[i]?.finish();
      await new Promise((r) => setImmediate(r)); // the next call starts once this one settled
    }
    await Promise.all(adds);
    assert.deepEqual(
      f.calls.map((x) => x.items),
      [[0], [1, 2, 3, 4], [5, 6, 7, 8, 9, 10], [11]],
    );
  });

  it('rejects exactly the callers whose items were in the failed call; the next call goes on', async () => {
    const f = manualFlush();
    const c = new Coalescer(f.flush, 1, 100);
    const a = c.add([1]);
    const b = c.add([2]);
    const d = c.add([3]);
    f.calls[0]?.finish(new Error('target gone'));
    assert.equal(await settled(a), 'target gone');
    f.calls[1]?.finish();
    assert.deepEqual(await Promise.all([settled(b), settled(d)]), ['ok', 'ok']);
    const e = c.add([4]);
    f.calls[2]?.finish(new Error('again'));
    assert.equal(await settled(e), 'again');
  });

  it('runs up to maxInFlight calls side by side, and turns a flush that throws into a rejection', async () => {
    const f = manualFlush();
    const c = new Coalescer(f.flush, 2, 100);
    void c.add([1]);
    void c.add([2]);
    void c.add([3]);
    assert.deepEqual(
      f.calls.map((x) => x.items),
      [[1], [2]],
    );
    const throwing = new Coalescer<number>(() => {
      throw new Error('sync throw');
    });
    assert.equal(await settled(throwing.add([1])), 'sync throw');
    assert.equal(await settled(throwing.add([2])), 'sync throw', 'a failed call frees its slot');
  });

  it('with a linger, an idle call waits that long and takes what came meanwhile; a full group goes at once', (t) => {
    t.mock.timers.enable({ apis: ['setTimeout'] });
    const f = manualFlush();
    const c = new Coalescer(f.flush, 1, 4, () => 10);
    void c.add([1]);
    void c.add([2]);
    assert.equal(f.calls.length, 0, 'nothing is sent before the linger is over');
    t.mock.timers.tick(9);
    assert.equal(f.calls.length, 0);
    t.mock.timers.tick(1);
    assert.deepEqual(
      f.calls.map((x) => x.items),
      [[1, 2]],
    );
    const other = new Coalescer(f.flush, 1, 4, () => 10);
    void other.add([7, 8]);
    void other.add([9, 10]);
    assert.deepEqual(f.calls[1]?.items, [7, 8, 9, 10], 'maxItems waiting: no linger');
  });

  it('asks a linger function each time a call would start at once, and waits only when it says so', (t) => {
    t.mock.timers.enable({ apis: ['setTimeout'] });
    const f = manualFlush();
    let busy = true;
    let asked = 0;
    const c = new Coalescer(f.flush, 1, 100, () => {
      asked += 1;
      return busy ? 0 : 10;
    });
    void c.add([1]);
    assert.deepEqual(f.calls[0]?.items, [1], 'busy: no linger');
    void c.add([2]);
    assert.equal(asked, 1, 'not asked while a call runs');
    f.calls[0]?.finish();
    busy = false;
    return new Promise<void>((resolve) => setImmediate(resolve)).then(() => {
      assert.deepEqual(f.calls[1]?.items, [2], 'what waited for a running call goes at its end, no linger');
      f.calls[1]?.finish();
      return new Promise<void>((r) => setImmediate(r)).then(() => {
        void c.add([3]);
        assert.equal(f.calls.length, 2, 'idle and not busy: lingers');
        t.mock.timers.tick(10);
        assert.deepEqual(f.calls[2]?.items, [3]);
      });
    });
  });

  it('resolves an empty add without a call', async () => {
    const f = manualFlush();
    const c = new Coalescer(f.flush);
    await c.add([]);
    assert.equal(f.calls.length, 0);
  });
});
