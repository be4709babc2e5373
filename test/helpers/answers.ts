import type { RedisConnection, Reply } from '../../src/redis/client.js';
import { sleep } from '../../src/stack/process.js';

/** Sends `args` until a reply comes (the client reconnects, follows a failover meanwhile), at most `ms`. */
export async function untilAnswered(conn: RedisConnection, args: string[], ms: number): Promise<Reply> {
  const deadline = Date.now() + ms;
  for (;;) {
    try {
      return await conn.send(args);
    } catch (err) {
      if (Date.now() > deadline) throw err;
      await sleep(100);
    }
  }
}

/**
 * How `p` (a command just sent) fails: its rejection, or a string when it was answered or had not
 * settled within `boundMs` (so a command that keeps waiting fails a test instead of hanging it),
 * and the time that took.
 */
export async function failureOf(p: Promise<unknown>, boundMs = 60_000): Promise<{ err: unknown; tookMs: number }> {
  const t0 = Date.now();
  const err = await Promise.race([
    p.then(
      () => 'answered',
      (e: unknown) => e,
    ),
    sleep(boundMs).then(() => `still waiting after ${boundMs} ms`),
  ]);
  return { err, tookMs: Date.now() - t0 };
}
