/**
 * Retry as one pure function plus a policy value (SYNC_RETRY_BASE_MS, SYNC_RETRY_MAX_MS), used by
 * every retry loop including the Kafka connect loop: exponential backoff, capped, with equal
 * jitter: attempt n waits a uniform random time in [e/2, e], e = min(max, base * 2^n), so clients
 * failing together spread out and none waits less than half its step. Callers count every attempt
 * in a metric; nothing here sleeps except `sleep`.
 */
export function backoffMs(attempt: number, baseMs: number, maxMs: number, random: () => number = Math.random): number {
  const exp = Math.min(maxMs, baseMs * 2 ** Math.min(attempt, 30));
  return Math.round(exp / 2 + (random() * exp) / 2);
}

export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal?.aborted) return resolve();
    const t = setTimeout(done, ms);
    function done(): void {
      clearTimeout(t);
      signal?.removeEventListener('abort', done);
      resolve();
    }
    signal?.addEventListener('abort', done, { once: true });
  });
}

/**
 * Calls `attempt` until it resolves, waiting `backoffMs` between tries; gives up quietly once
 * `signal` aborts or `stopped()` says so. `failed(err, n)` is told of each failure before the wait
 * (the Kafka sinks' connect loops log there).
 */
export async function retryWithBackoff(
  attempt: () => Promise<void>,
  policy: { readonly baseMs: number; readonly maxMs: number },
  failed: (err: unknown, attempt: number) => void,
  stopped: () => boolean,
  signal?: AbortSignal,
): Promise<void> {
  for (let n = 0; !signal?.aborted && !stopped(); n += 1) {
    try {
      await attempt();
      return;
    } catch (err) {
      failed(err, n);
      await sleep(backoffMs(n, policy.baseMs, policy.maxMs), signal);
    }
  }
}

/**
 * Resolves when the callback handed to `register` is called, or when `signal` aborts (at once if
 * it already has). Its abort listener is removed either way, so waits repeated over days do not
 * pile up listeners on a long-lived signal.
 */
export function untilWoken(register: (wake: () => void) => void, signal?: AbortSignal): Promise<void> {
  return new Promise<void>((resolve) => {
    if (signal?.aborted) return resolve();
    const done = (): void => {
      signal?.removeEventListener('abort', done);
      resolve();
    };
    signal?.addEventListener('abort', done, { once: true });
    register(done);
  });
}

/** A counting semaphore over two budgets (items and bytes): backpressure for in-flight work. */
export class Budget {
  private usedItems = 0;
  private usedBytes = 0;
  private waiters: (() => void)[] = [];
  constructor(
    private readonly maxItems: number,
    private readonly maxBytes: number,
  ) {}

  get items(): number {
    return this.usedItems;
  }
  get bytes(): number {
    return this.usedBytes;
  }
  /** A quarter or more of either limit is in use: work is queuing up, nothing should wait on purpose. */
  get busy(): boolean {
    return this.usedItems * 4 >= this.maxItems || this.usedBytes * 4 >= this.maxBytes;
  }

  /** Waits until one more item of `bytes` fits (an oversized item fits when nothing is in use). */
  async acquire(bytes: number, signal?: AbortSignal): Promise<boolean> {
    while (!this.fits(bytes)) {
      if (signal?.aborted) return false;
      await this.nextRelease(signal);
    }
    this.usedItems += 1;
    this.usedBytes += bytes;
    return true;
  }

  /** Takes one item of `bytes` when it fits now; false (nothing taken) otherwise. */
  tryAcquire(bytes: number): boolean {
    if (!this.fits(bytes)) return false;
    this.usedItems += 1;
    this.usedBytes += bytes;
    return true;
  }

  /** Resolves at the next release, or when `signal` aborts. */
  whenReleased(signal?: AbortSignal): Promise<void> {
    return this.nextRelease(signal);
  }

  /** True when an item of `bytes` would be admitted now (without waiting). */
  tryAcquireFits(bytes: number): boolean {
    return this.fits(bytes);
  }

  release(bytes: number): void {
    this.usedItems -= 1;
    this.usedBytes -= bytes;
    const w = this.waiters;
    this.waiters = [];
    for (const resolve of w) resolve();
  }

  /** Resolves when nothing is in use. */
  async drained(signal?: AbortSignal): Promise<void> {
    while (this.usedItems > 0 && !signal?.aborted) await this.nextRelease(signal);
  }

  /** Resolves at the next release or when `signal` aborts. */
  private nextRelease(signal?: AbortSignal): Promise<void> {
    return untilWoken((wake) => this.waiters.push(wake), signal);
  }

  private fits(bytes: number): boolean {
    if (this.usedItems === 0) return true;
    return this.usedItems < this.maxItems && this.usedBytes + bytes <= this.maxBytes;
  }
}

/**
 * Polls `cond` every `everyMs` until it is true; throws after `timeoutMs`, naming `what` and the
 * last error `cond` threw (an error counts as "not yet").
 */
export async function waitUntil(
  what: string,
  cond: () => Promise<boolean>,
  timeoutMs = 30_000,
  everyMs = 100,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  while (Date.now() < deadline) {
    try {
      if (await cond()) return;
    } catch (err) {
      last = err;
    }
    await sleep(everyMs);
  }
  throw new Error(`timed out waiting for ${what}${last ? ` (last error: ${String(last)})` : ''}`);
}
