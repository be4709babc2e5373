/**
 * The reply deadline's rule (redis/reply-watch.ts), on a clock the test moves (`check(now)`):
 * a stall is commands waiting with no reply for the timeout; replies, an empty wait and blocking
 * commands' own time are not; one stall is reported once; connections of one endpoint share it.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { blockingMs, ReplyWatch } from '../../src/redis/reply-watch.js';

/** A reply the test settles by hand. */
function pending(): { promise: Promise<string>; reply: () => Promise<void> } {
  let resolve!: (v: string) => void;
  const promise = new Promise<string>((r) => (resolve = r));
  return {
    promise,
    reply: async () => {
      resolve('OK');
      await promise;
      await Promise.resolve(); // the watch's own settle callback
    },
  };
}

/** A watch of 1000 ms for `body`, with the silences it reported; closed afterwards. */
async function watching(body: (w: ReplyWatch, stalls: number[]) => void | Promise<void>): Promise<void> {
  const stalls: number[] = [];
  const w = new ReplyWatch(1000, (ms) => stalls.push(ms));
  try {
    await body(w, stalls);
  } finally {
    w.close();
  }
}

describe('ReplyWatch', () => {
  it('reports a stall once commands waited the timeout without any reply, and only once', () =>
    watching((w, stalls) => {
      const t0 = Date.now();
      void w.track(['SET', 'k', 'v'], pending().promise);
      w.check(t0 + 500);
      assert.equal(stalls.length, 0, 'not yet');
      w.check(t0 + 1500);
      assert.equal(stalls.length, 1);
      assert.ok((stalls[0] as number) >= 1000, 'the silence is reported');
      w.check(t0 + 1600);
      assert.equal(stalls.length, 1, 'one report per stall');
    }));

  it('after a restart (the client was replaced) the clock starts again', () =>
    watching((w, stalls) => {
      void w.track(['GET', 'k'], pending().promise);
      w.check(Date.now() + 1500);
      w.restart();
      const t1 = Date.now();
      w.check(t1 + 500);
      assert.equal(stalls.length, 1);
      w.check(t1 + 1500);
      assert.equal(stalls.length, 2, 'still silent on the new client: reported again');
    }));

  it('never reports a connection with nothing waiting, nor one whose replies keep coming', () =>
    watching(async (w, stalls) => {
      w.check(Date.now() + 10_000);
      assert.equal(stalls.length, 0, 'idle');
      const a = pending();
      void w.track(['SET', 'a', '1'], a.promise);
      void w.track(['SET', 'b', '1'], pending().promise);
      await a.reply();
      // b still waits, but a reply came just now: the link works.
      w.check(Date.now() + 500);
      assert.equal(stalls.length, 0);
      w.check(Date.now() + 1500);
      assert.equal(stalls.length, 1, 'b waited the timeout after the last reply');
    }));

  it('gives a blocking command its BLOCK time on top; BLOCK 0 is never a stall while it waits', () =>
    watching((w, stalls) => {
      const t0 = Date.now();
      void w.track(
        ['XREADGROUP', 'GROUP', 'g', 'c', 'COUNT', '10', 'BLOCK', '5000', 'STREAMS', 's', '>'],
        pending().promise,
      );
      w.check(t0 + 5500);
      assert.equal(stalls.length, 0, 'within BLOCK + timeout');
      w.check(t0 + 6500);
      assert.equal(stalls.length, 1);
      const forever = new ReplyWatch(1000, (ms) => stalls.push(ms));
      try {
        void forever.track(['XREAD', 'BLOCK', '0', 'STREAMS', 's', '$'], pending().promise);
        forever.check(Date.now() + 3_600_000);
        assert.equal(stalls.length, 1, 'BLOCK 0 waits as long as it likes');
      } finally {
        forever.close();
      }
    }));

  it('a stall replaces the other connections of the endpoint that heard nothing within the timeout', async () => {
    const stalled: string[] = [];
    const a = new ReplyWatch(1000, () => stalled.push('a'), 'target:6379');
    const idle = new ReplyWatch(1000, () => stalled.push('idle'), 'target:6379');
    const fresh = new ReplyWatch(1000, () => stalled.push('fresh'), 'target:6379');
    const elsewhere = new ReplyWatch(1000, () => stalled.push('elsewhere'), 'source:6379');
    try {
      const t0 = Date.now();
      void a.track(['SET', 'k', 'v'], pending().promise);
      await new Promise((r) => setTimeout(r, 30));
      await (async () => {
        const r = pending();
        void fresh.track(['PING'], r.promise);
        await r.reply(); // `fresh` heard from the server ~30 ms after t0
      })();
      a.check(t0 + 1015);
      assert.deepEqual(stalled.sort(), ['a', 'idle'], 'the idle one of the same endpoint goes with it');
    } finally {
      for (const w of [a, idle, fresh, elsewhere]) w.close();
    }
  });

  it('timeout 0 watches nothing', () => {
    const stalls: number[] = [];
    const w = new ReplyWatch(0, (ms) => stalls.push(ms));
    void w.track(['SET', 'k', 'v'], pending().promise);
    w.check(Date.now() + 3_600_000);
    assert.equal(stalls.length, 0);
    w.close();
  });
});

describe('blockingMs', () => {
  it('reads BLOCK of XREAD / XREADGROUP and the timeout of WAIT / WAITAOF', () => {
    assert.equal(blockingMs(['XREADGROUP', 'GROUP', 'g', 'c', 'BLOCK', '2000', 'STREAMS', 's', '>']), 2000);
    assert.equal(blockingMs(['XREAD', 'COUNT', '5', 'STREAMS', 'BLOCK', '0']), 0, 'a stream named BLOCK is a stream');
    assert.equal(
      blockingMs(['XREADGROUP', 'GROUP', 'BLOCK', 'c', 'COUNT', '1', 'STREAMS', 's', '>']),
      0,
      'so is a group',
    );
    assert.equal(blockingMs(['XREAD', 'BLOCK', '0', 'STREAMS', 's', '$']), Number.POSITIVE_INFINITY);
    assert.equal(blockingMs(['WAIT', '1', '500']), 500);
    assert.equal(blockingMs(['WAITAOF', '1', '0', '250']), 250);
    assert.equal(blockingMs(['WAIT', '1', '0']), Number.POSITIVE_INFINITY);
    assert.equal(blockingMs(['EVALSHA', 'abc', '0']), 0);
  });
});
