/**
 * A minimal pipelined RESP writer over a raw socket, for filling Redis fast and for measuring
 * what the server itself can take (like redis-benchmark -P): commands are encoded into one
 * Buffer per chunk, `window` chunks are in flight, and replies are only counted (a reply parser
 * that skips simple strings, integers, bulk strings and arrays). The first error reply fails the
 * run. This is bench tooling; the service talks to Redis through node-redis only.
 */
import { connect, type Socket } from 'node:net';

export type Arg = string | Buffer;

/** Appends the RESP encoding of `cmd` to `out` (a command's parts, to concat or writev). */
export function encode(cmd: readonly Arg[], out: Buffer[] = []): Buffer[] {
  out.push(Buffer.from(`*${cmd.length}\r\n`));
  for (const a of cmd) {
    const b = typeof a === 'string' ? Buffer.from(a) : a;
    out.push(Buffer.from(`$${b.length}\r\n`), b, CRLF);
  }
  return out;
}
const CRLF = Buffer.from('\r\n');

/** Counts complete top-level replies in a byte stream (no values kept). */
class ReplyCounter {
  count = 0;
  error: string | undefined;
  private buf: Buffer = Buffer.alloc(0);
  /** Elements still expected per open array level. */
  private stack: number[] = [];

  feed(chunk: Buffer): void {
    this.buf = this.buf.length === 0 ? chunk : Buffer.concat([this.buf, chunk]);
    let pos = 0;
    for (;;) {
      const eol = this.buf.indexOf(CRLF, pos);
      if (eol < 0) break;
      const type = this.buf[pos];
      const head = this.buf.toString('latin1', pos + 1, eol);
      let next = eol + 2;
      if (type === 0x24 /* $ */) {
        const n = Number(head);
        if (n >= 0) {
          if (this.buf.length < next + n + 2) break;
          next += n + 2;
        }
        this.done();
      } else if (type === 0x2a /* * */) {
        const n = Number(head);
        if (n > 0) this.stack.push(n);
        else this.done();
      } else {
        if (type === 0x2d /* - */) this.error ??= head;
        this.done();
      }
      pos = next;
    }
    this.buf = this.buf.subarray(pos);
  }

  private done(): void {
    for (;;) {
      const top = this.stack.length - 1;
      if (top < 0) {
        this.count += 1;
        return;
      }
      const left = (this.stack[top] as number) - 1;
      if (left > 0) {
        this.stack[top] = left;
        return;
      }
      this.stack.pop();
    }
  }
}

export interface RawTarget {
  host: string;
  port: number;
  db: number;
}

/** One raw connection: write encoded commands, count their replies. */
export class RawConnection {
  private readonly counter = new ReplyCounter();
  private wake: () => void = () => undefined;
  private closed = false;
  /** Commands written so far (the SELECT included). */
  written = 0;

  private constructor(private readonly socket: Socket) {
    socket.setNoDelay(true);
    socket.on('data', (d: Buffer) => {
      this.counter.feed(d);
      this.wake();
    });
    socket.on('close', () => {
      this.closed = true;
      this.wake();
    });
  }

  static async open(target: RawTarget): Promise<RawConnection> {
    const socket = connect({ host: target.host, port: target.port });
    await new Promise<void>((resolve, reject) => {
      socket.once('connect', () => resolve());
      socket.once('error', reject);
    });
    const c = new RawConnection(socket);
    c.write([['SELECT', String(target.db)]]);
    await c.waitReplies(1);
    return c;
  }

  get replies(): number {
    return this.counter.count;
  }

  /** Writes commands in one go; resolves at once unless the socket buffer is full. */
  async write(cmds: readonly (readonly Arg[])[]): Promise<void> {
    const parts: Buffer[] = [];
    for (const c of cmds) encode(c, parts);
    this.written += cmds.length;
    if (!this.socket.write(Buffer.concat(parts))) await new Promise((r) => this.socket.once('drain', r));
  }

  waitReplies(n: number): Promise<void> {
    return new Promise((resolve, reject) => {
      const check = (): void => {
        if (this.counter.error) reject(new Error(`Redis replied ${this.counter.error}`));
        else if (this.counter.count >= n) resolve();
        else if (this.closed) reject(new Error('Redis closed the connection'));
      };
      this.wake = check;
      check();
    });
  }

  close(): void {
    this.socket.destroy();
  }
}

/**
 * Sends `count` commands made by `make(i)`, `chunk` per write, at most `window` chunks awaiting
 * replies. Returns commands per second (from the first write to the last reply).
 */
export async function pipelineRaw(
  target: RawTarget,
  count: number,
  make: (i: number) => readonly Arg[],
  chunk = 1000,
  window = 4,
): Promise<number> {
  const conn = await RawConnection.open(target);
  try {
    const t0 = performance.now();
    let sent = 0;
    while (sent < count) {
      const end = Math.min(count, sent + chunk);
      const cmds: (readonly Arg[])[] = [];
      for (let i = sent; i < end; i += 1) cmds.push(make(i));
      await conn.write(cmds);
      sent = end;
      // Replies include the SELECT's.
      if (conn.written - conn.replies > chunk * window) await conn.waitReplies(conn.written - chunk * window);
    }
    await conn.waitReplies(conn.written);
    return count / ((performance.now() - t0) / 1000);
  } finally {
    conn.close();
  }
}
