/**
 * The connected source DBs, by number: each gets its two connections (commands, blocking reads)
 * once, on first use. Concurrent first uses of one DB share one connect (never two pairs of
 * connections, one of them left open).
 */
import type { Config } from '../config/config.js';
import type { RedisConnection } from '../redis/client.js';
import { SourceDb } from './streams.js';

export type ConnectSource = (db: number) => Promise<RedisConnection>;

export class SourceDbs {
  private readonly connecting = new Map<number, Promise<SourceDb>>();
  private readonly ready = new Map<number, SourceDb>();

  constructor(
    private readonly cfg: Config['source'],
    private readonly connect: ConnectSource,
    /** How long each DB's acks wait to be grouped (Pipeline.ackLingerMs), asked at each ack. */
    private readonly ackLingerMs: () => number = () => 0,
  ) {}

  /** The SourceDb of a DB, connecting it on first use. */
  get(db: number): Promise<SourceDb> {
    const ready = this.ready.get(db);
    if (ready) return Promise.resolve(ready);
    let p = this.connecting.get(db);
    if (!p) {
      p = (async () => {
        const commands = await this.connect(db);
        let reads: RedisConnection;
        try {
          reads = await this.connect(db);
        } catch (err) {
          await commands.close();
          throw err;
        }
        const src = new SourceDb(db, commands, reads, this.cfg, this.ackLingerMs);
        this.ready.set(db, src);
        return src;
      })();
      this.connecting.set(db, p);
      // A failed connect is tried again by the next use.
      p.catch(() => this.connecting.delete(db));
    }
    return p;
  }

  /** Connected now, without connecting (monitoring, claims, touch). */
  peek(db: number): SourceDb | undefined {
    return this.ready.get(db);
  }

  all(): SourceDb[] {
    return [...this.ready.values()];
  }

  /** Every connection of every DB connected so far. */
  connections(): RedisConnection[] {
    return this.all().flatMap((s) => [s.commands, s.reads]);
  }
}
