/**
 * Group commit: many callers' items, few calls. `add(items)` hands items to `flush`; while
 * `maxInFlight` calls are running, items added meanwhile wait and go together in the next call
 * (at most `maxItems` per call, more calls when more are waiting). With nothing running, a call
 * starts at once, or after the linger when there is one (items arriving meanwhile join it): fewer
 * round trips (and Redis calls) when busy, and with a linger also when batches come one by one.
 * The linger is asked each time a call would start at once (0: no wait).
 *
 * Contract
 *  - Every item reaches exactly one call of `flush`, in the order added; `add` settles with that
 *    call's outcome (a rejection rejects every caller whose items were in it: each retries its
 *    own items, which may then be grouped again).
 *  - A call carries items of several callers: `flush` must treat its items independently and be
 *    safe to repeat (marking synced, XACK/XDEL are).
 */
interface Waiting<T> {
  readonly items: readonly T[];
  readonly resolve: () => void;
  readonly reject: (err: unknown) => void;
}

export class Coalescer<T> {
  private queue: Waiting<T>[] = [];
  private queued = 0;
  private running = 0;
  private lingering: NodeJS.Timeout | undefined;

  constructor(
    private readonly flush: (items: T[]) => Promise<void>,
    private readonly maxInFlight = 1,
    private readonly maxItems = 10_000,
    /** How long (ms) a call that would start at once waits first (0: it starts at once). */
    private readonly linger: () => number = () => 0,
  ) {}

  add(items: readonly T[]): Promise<void> {
    if (items.length === 0) return Promise.resolve();
    return new Promise<void>((resolve, reject) => {
      this.queue.push({ items, resolve, reject });
      this.queued += items.length;
      if (this.running >= this.maxInFlight) return; // the running call's end starts the next one
      if (this.queued >= this.maxItems) return this.next();
      if (this.lingering) return; // the linger's end starts it
      const ms = this.linger();
      if (ms <= 0) this.next();
      else
        this.lingering = setTimeout(() => {
          this.lingering = undefined;
          this.next();
        }, ms);
    });
  }

  /** Items waiting for a call (not yet in one). */
  get waiting(): number {
    return this.queued;
  }

  private next(): void {
    if (this.lingering) {
      clearTimeout(this.lingering);
      this.lingering = undefined;
    }
    while (this.running < this.maxInFlight && this.queue.length > 0) {
      // Whole callers per call: a caller's items are never split across two calls, unless one
      // caller alone has more than maxItems (then it is one call of its own).
      const group: Waiting<T>[] = [];
      let n = 0;
      while (this.queue.length > 0) {
        const w = this.queue[0] as Waiting<T>;
        if (group.length > 0 && n + w.items.length > this.maxItems) break;
        group.push(w);
        n += w.items.length;
        this.queue.shift();
      }
      this.queued -= n;
      const items: T[] = [];
      for (const w of group) for (const item of w.items) items.push(item);
      this.running += 1;
      let call: Promise<void>;
      try {
        call = this.flush(items);
      } catch (err) {
        call = Promise.reject(err);
      }
      void call.then(
        () => this.done(group, undefined, true),
        (err: unknown) => this.done(group, err, false),
      );
    }
  }

  private done(group: readonly Waiting<T>[], err: unknown, ok: boolean): void {
    this.running -= 1;
    for (const w of group) {
      if (ok) w.resolve();
      else w.reject(err);
    }
    this.next();
  }
}
