import assert from 'node:assert/strict';
import { describe, it, mock } from 'node:test';
import { loadConfig } from '../../src/config/config.js';
import { silentLogger } from '../../src/observability/logger.js';
import { KafkaSink } from '../../src/sink/producer.js';
import { backoffMs, retryWithBackoff } from '../../src/util/retry.js';

describe('the retry policy (SYNC_RETRY_BASE_MS .. SYNC_RETRY_MAX_MS)', () => {
  it('waits between half and all of the capped exponential delay (equal jitter), never more than the cap', () => {
    const base = 100;
    const max = 5000;
    for (let attempt = 0; attempt < 40; attempt += 1) {
      const exp = Math.min(max, base * 2 ** attempt);
      assert.equal(
        backoffMs(attempt, base, max, () => 0),
        exp / 2,
        `lowest delay of attempt ${attempt}`,
      );
      assert.equal(
        backoffMs(attempt, base, max, () => 0.999999),
        Math.round(exp / 2 + (0.999999 * exp) / 2),
      );
      assert.ok(backoffMs(attempt, base, max, () => 0.999999) <= max, 'never above SYNC_RETRY_MAX_MS');
      for (let i = 0; i < 20; i += 1) {
        const d = backoffMs(attempt, base, max);
        assert.ok(d >= exp / 2 && d <= exp, `attempt ${attempt}: ${d} in [${exp / 2}, ${exp}]`);
      }
    }
  });

  it('spreads the delays of clients failing together (the jitter is there), and survives huge attempt numbers', () => {
    const delays = new Set(Array.from({ length: 50 }, () => backoffMs(5, 100, 60_000)));
    assert.ok(delays.size > 10, `50 draws give ${delays.size} distinct delays`);
    assert.equal(
      backoffMs(1e9, 100, 60_000, () => 0),
      30_000,
    );
  });

  it('is the policy of the Kafka connect loop: its waits are backoffMs of the given base and cap, jittered', async (t) => {
    const delays: number[] = [];
    // sleep() waits with setTimeout: record the delay asked for and go on at once (no real time).
    t.mock.method(globalThis, 'setTimeout', (fn: () => void, ms: number) => {
      delays.push(ms);
      setImmediate(fn);
      return 0;
    });
    t.mock.method(Math, 'random', () => 0.25);
    const cfg = loadConfig({ env: {}, configFile: null });
    let attempts = 0;
    const sink = new (class extends KafkaSink {
      override connectOnce(): Promise<void> {
        attempts += 1;
        return attempts <= 6 ? Promise.reject(new Error('broker down')) : Promise.resolve();
      }
    })(cfg.kafka, silentLogger);
    await sink.connect(undefined, { baseMs: 300, maxMs: 4000 });
    mock.restoreAll();
    assert.equal(attempts, 7);
    assert.deepEqual(
      delays,
      [0, 1, 2, 3, 4, 5].map((n) => backoffMs(n, 300, 4000, () => 0.25)),
      'one jittered wait after each failed attempt',
    );
  });
});

describe('retryWithBackoff (the Kafka connect loops)', () => {
  it('tries until an attempt succeeds, telling each failure with its attempt number', async () => {
    const told: number[] = [];
    let calls = 0;
    await retryWithBackoff(
      async () => {
        calls += 1;
        if (calls < 3) throw new Error(`down ${calls}`);
      },
      { baseMs: 1, maxMs: 2 },
      (_err, attempt) => told.push(attempt),
      () => false,
    );
    assert.equal(calls, 3);
    assert.deepEqual(told, [0, 1]);
  });

  it('stops trying once stopped() says so, or the signal aborts', async () => {
    let calls = 0;
    let closed = false;
    await retryWithBackoff(
      () => {
        calls += 1;
        closed = calls === 2;
        return Promise.reject(new Error('down'));
      },
      { baseMs: 1, maxMs: 1 },
      () => undefined,
      () => closed,
    );
    assert.equal(calls, 2);
    const stop = new AbortController();
    stop.abort();
    await retryWithBackoff(
      () => Promise.reject(new Error('never tried')),
      { baseMs: 1, maxMs: 1 },
      () => assert.fail('not tried'),
      () => false,
      stop.signal,
    );
  });
});
