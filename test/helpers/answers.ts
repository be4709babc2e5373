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
