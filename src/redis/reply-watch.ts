/**
 * A reply deadline per connection (SOURCE_REDIS_REPLY_TIMEOUT_MS / TARGET_REDIS_REPLY_TIMEOUT_MS):
 * notices a peer that stopped answering while commands wait for it.
 *
 * Why: a link that dies without a reset (a route dropped, a NAT mapping or a firewall state
 * gone, a VM paused) leaves the socket open. TCP keepalive probes only idle sockets; a socket with
 * a command written and unanswered waits for TCP's retransmission timeout (Linux `tcp_retries2`,
 * about 15 minutes), and node-redis waits with it: the pipeline would stall that long. A hung
 * server (stopped, stuck in a fork) looks the same from here.
 *
 * Invariants
 *  - Stalled means: commands are waiting and no reply at all (value or error) has come for the
 *    timeout. Progress is any reply, or the send that starts a wait after none was waiting, so a
 *    slow stream of replies is never a stall; a connection with nothing waiting never stalls.
 *  - A blocking command (XREAD / XREADGROUP with BLOCK, WAIT, WAITAOF) may stay silent for its
 *    own time: the deadline is that much later (a zero, "forever", is not watched until it ends).
 *  - `onStalled` is called once per stall, and the watch starts over from that moment; the
 *    connection replaces its client (the old one is destroyed, so what waited on it fails
 *    retryable and its callers retry: every buffer and source write is harmless to repeat).
 *  - Connections to one endpoint share its fate (`group`): when one stalls, every other one of
 *    the group that has had no reply within the timeout is replaced with it. Otherwise a pool
 *    used in turn would meet its dead connections one stall after the other.
 *  - One timer for every watch of the process (1 s, unref'd): no timer per command.
 *
 * Used by the standalone connections (client.ts) and the Sentinel ones (sentinel.ts, which
 * connects to the master anew). Not by the cluster client, whose node sockets node-redis manages:
 * there node-redis's `socketTimeout` does the same job per node socket (client.ts newCluster).
 */

/** What a connection does when its peer went silent: replace its client, say why. */
export type StallHandler = (silentMs: number) => void;

const TICK_MS = 1000;
/** Every watch of the process, by group (endpoint). */
const groups = new Map<string, Set<ReplyWatch>>();
let ticker: NodeJS.Timeout | undefined;

function tick(): void {
  const now = Date.now();
  for (const members of groups.values()) for (const w of members) w.check(now);
}

/** Whether a connection with this `<ROLE>_REDIS_REPLY_TIMEOUT_MS` is watched (0 or absent: never). */
export function isWatched(timeoutMs: number | undefined): boolean {
  return (timeoutMs ?? 0) > 0;
}

export class ReplyWatch {
  private waiting = 0;
  private progressAt = Date.now();
  /** The last reply (or the start): what an idle connection of a stalled group is judged by. */
  private repliedAt = Date.now();
  /** A blocking command may be silent until then (Infinity: one waits forever). */
  private blockedUntil = 0;
  private blockingForever = 0;

  constructor(
    private readonly timeoutMs: number,
    private readonly onStalled: StallHandler,
    /** The endpoint: connections of one group share a stall (see the invariants). */
    private readonly group = '',
  ) {
    if (!isWatched(timeoutMs)) return;
    let members = groups.get(group);
    if (!members) groups.set(group, (members = new Set()));
    members.add(this);
    ticker ??= setInterval(tick, TICK_MS).unref();
  }

  /** Whether this watch watches (`isWatched` of its timeout). */
  get active(): boolean {
    return isWatched(this.timeoutMs);
  }

  /** Watches one command's reply; returns `reply` unchanged. */
  track<T>(args: readonly (string | Buffer)[], reply: Promise<T>): Promise<T> {
    if (!isWatched(this.timeoutMs)) return reply;
    const now = Date.now();
    if (this.waiting === 0) this.progressAt = now;
    this.waiting += 1;
    const blockMs = blockingMs(args);
    if (blockMs === Number.POSITIVE_INFINITY) this.blockingForever += 1;
    else if (blockMs > 0) this.blockedUntil = Math.max(this.blockedUntil, now + blockMs);
    const done = (): void => {
      this.waiting -= 1;
      if (blockMs === Number.POSITIVE_INFINITY) this.blockingForever -= 1;
      this.progressAt = this.repliedAt = Date.now();
    };
    reply.then(done, done);
    return reply;
  }

  /** Called by the process's ticker; public for tests. */
  check(now: number): void {
    if (this.waiting === 0 || this.blockingForever > 0) return;
    if (now - Math.max(this.progressAt, this.blockedUntil) < this.timeoutMs) return;
    this.stall(now, now - this.progressAt);
    for (const other of groups.get(this.group) ?? []) {
      if (other !== this && now - other.repliedAt >= other.timeoutMs) other.stall(now, now - other.repliedAt);
    }
  }

  /** Reports the stall and starts the clock again at `now` (the client is being replaced). */
  private stall(now: number, silentMs: number): void {
    this.restart(now);
    this.onStalled(silentMs);
  }

  /** The clock starts again (a replaced client; tests). */
  restart(now = Date.now()): void {
    this.progressAt = this.repliedAt = now;
  }

  close(): void {
    const members = groups.get(this.group);
    members?.delete(this);
    if (members?.size === 0) groups.delete(this.group);
    if (groups.size === 0 && ticker) {
      clearInterval(ticker);
      ticker = undefined;
    }
  }
}

/** How long a command may legitimately stay silent: its BLOCK / timeout argument, in ms. */
export function blockingMs(args: readonly (string | Buffer)[]): number {
  const name = String(args[0] ?? '').toUpperCase();
  if (name === 'XREADGROUP' || name === 'XREAD') {
    // After `GROUP <group> <consumer>` (names that may read BLOCK), up to STREAMS (stream names).
    for (let i = name === 'XREADGROUP' ? 4 : 1; i + 1 < args.length; i += 1) {
      if (String(args[i]).toUpperCase() === 'BLOCK') {
        const ms = Number(String(args[i + 1]));
        return ms === 0 ? Number.POSITIVE_INFINITY : ms;
      }
      if (String(args[i]).toUpperCase() === 'STREAMS') break;
    }
    return 0;
  }
  if (name === 'WAIT' || name === 'WAITAOF') {
    const ms = Number(String(args[args.length - 1]));
    return ms === 0 ? Number.POSITIVE_INFINITY : ms;
  }
  return 0;
}
