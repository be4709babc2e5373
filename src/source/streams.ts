/**
 * Source-side stream operations on one DB: discovery, consumer groups, reads, claims, acks.
 *
 * Contract with the engine: an entry returned by `read`/`claim` stays in this consumer's pending
 * list (PEL) until `ack` is called for it, which the engine does only after the entry is safe
 * (Kafka confirmed it, or the target holds it in SOURCE_ACK_MODE=target). A crash before that
 * leaves it pending: this consumer re-reads it on restart (id 0), or another instance claims it
 * after SOURCE_CLAIM_IDLE_MS (XAUTOCLAIM). Reads are binary-safe: field names and values are
 * Buffers.
 *
 * Backlog reads: a read of every stream asks each for count/streams entries, one each with 1,000
 * streams and the default batch, and every stream in a reply costs the servers and the service
 * again (a reply array, an XACK and an XDEL per stream per batch). When such a read brings at
 * least half a batch (a backlog in many streams: after an outage, every device's stream has
 * entries), the streams that gave all they were asked for are read in windows instead,
 * BACKLOG_READ_COUNT entries of each of count/BACKLOG_READ_COUNT streams, without BLOCK, one
 * window after the other. After one pass over them the next read is a read of every stream
 * again, so a stream that was not in the backlog waits at most one pass; a read of every stream
 * that brings less ends the backlog. Per stream, entries still come in id order (each read
 * continues after the last entry delivered).
 */
import type { Config } from '../config/config.js';
import { asArray, asBuffer, type RedisConnection, type Reply } from '../redis/client.js';
import { redisErrorKind } from '../redis/errors.js';
import { LuaScript } from '../redis/lua-script.js';
import { Coalescer } from '../util/coalesce.js';
import { GlobMap } from '../util/glob.js';

const ACK_ENTRIES = new LuaScript(new URL('./scripts/ack_entries.lua', import.meta.url));
/** The most entries one grouped ack carries (ack_entries.lua takes any number, in slices). */
const ACK_GROUP_ENTRIES = 10_000;
/** Entries asked of each stream by a backlog read (see the head of this file). */
export const BACKLOG_READ_COUNT = 50;

export interface SourceEntry {
  readonly db: number;
  readonly stream: string;
  readonly id: string;
  /** Flat [name, value, name, value, ...]; empty when the entry was deleted while pending. */
  readonly fields: readonly Buffer[];
}

export class SourceDb {
  /** Streams whose own pending entries have not all been re-read yet, with the resume id. */
  private readonly pendingCursor = new Map<string, string>();
  private readonly streams = new Set<string>();
  private readonly groupsReady = new Set<string>();
  /**
   * Acks of this DB go through one group commit: while one script call runs, the entries acked
   * meanwhile (other batches, other streams) wait and go together in the next call.
   */
  private readonly acks: Coalescer<{ readonly stream: string; readonly id: string }>;
  /** Streams that gave all they were asked for in the last read: read next in windows (backlog reads). */
  private backlog: string[] = [];
  /** Backlog reads left in this pass; at 0 the next read is of every stream. */
  private backlogReadsLeft = 0;

  constructor(
    readonly db: number,
    /** Non-blocking commands: discovery, group creation, acks, claims. */
    readonly commands: RedisConnection,
    /** Blocking reads only (XREADGROUP BLOCK holds the connection). */
    readonly reads: RedisConnection,
    private readonly cfg: Config['source'],
    /** How long an ack waits to be grouped (see `acks`; Pipeline.ackLingerMs). */
    ackLingerMs: () => number = () => 0,
  ) {
    this.acks = new Coalescer((entries) => this.ackNow(entries), 1, ACK_GROUP_ENTRIES, ackLingerMs);
  }

  get streamNames(): string[] {
    return [...this.streams];
  }

  /** Every stream key of this DB whose name matches one of the patterns (SCAN ... TYPE stream). */
  async discover(patterns: readonly string[]): Promise<string[]> {
    const match = new GlobMap(patterns.map((p) => [p, true] as const));
    const found: string[] = [];
    let cursor = '0';
    const serverPattern = patterns.length === 1 ? patterns[0] : undefined;
    do {
      const args = [
        'SCAN',
        cursor,
        ...(serverPattern ? ['MATCH', serverPattern] : []),
        'COUNT',
        '1000',
        'TYPE',
        'stream',
      ];
      const reply = asArray(await this.commands.send(args));
      cursor = asBuffer(reply[0]).toString();
      for (const k of asArray(reply[1])) {
        const name = asBuffer(k).toString('utf8');
        if (match.match(name)) found.push(name);
      }
    } while (cursor !== '0');
    return found;
  }

  /** Replaces the set of streams read; new ones get their group and a pending re-read. */
  async setStreams(names: readonly string[]): Promise<{ added: string[]; removed: string[] }> {
    const next = new Set(names);
    const added = names.filter((n) => !this.streams.has(n));
    const removed = [...this.streams].filter((n) => !next.has(n));
    for (const n of removed) {
      this.streams.delete(n);
      this.groupsReady.delete(n);
      this.pendingCursor.delete(n);
    }
    // Groups are created pipelined (10,000 new streams: one round trip, not 10,000); streams are
    // then added in order up to the first failure, as if they had been created one by one.
    const created = await Promise.allSettled(added.map((n) => this.ensureGroup(n)));
    created.forEach((r, i) => {
      if (r.status === 'rejected') throw r.reason;
      this.streams.add(added[i] as string);
      this.pendingCursor.set(added[i] as string, '0');
    });
    return { added, removed };
  }

  /** Creates the consumer group from the start of the stream (existing entries are data too). */
  async ensureGroup(stream: string, mkstream = false): Promise<void> {
    try {
      await this.commands.send([
        'XGROUP',
        'CREATE',
        stream,
        this.cfg.consumerGroup,
        '0',
        ...(mkstream ? ['MKSTREAM'] : []),
      ]);
    } catch (err) {
      if (redisErrorKind(err) !== 'busygroup') throw err;
    }
    this.groupsReady.add(stream);
  }

  /**
   * Reads up to `count` entries: first this consumer's own pending entries (left by a crash),
   * then new ones, blocking up to `blockMs` when there is nothing.
   */
  async read(count: number, blockMs: number): Promise<SourceEntry[]> {
    return (await this.readBatch(count, blockMs)).entries;
  }

  /**
   * `read`, saying where the entries came from. `fresh`: read as new (XREADGROUP `>`), so never
   * delivered to any consumer before and never buffered as synced (TargetBuffer.put's `fresh`);
   * false for re-read pending entries.
   */
  async readBatch(count: number, blockMs: number): Promise<{ entries: SourceEntry[]; fresh: boolean }> {
    const names = [...this.streams];
    if (names.length === 0) return { entries: [], fresh: true };
    const pending = names.filter((n) => this.pendingCursor.has(n));
    if (pending.length > 0) {
      const per = Math.max(1, Math.floor(count / pending.length));
      const ids = pending.map((n) => this.pendingCursor.get(n) as string);
      const entries = await this.xreadgroup(['COUNT', String(per), 'STREAMS', ...pending, ...ids]);
      for (const n of pending) {
        const mine = entries.filter((e) => e.stream === n);
        const last = mine[mine.length - 1];
        if (!last) this.pendingCursor.delete(n);
        else this.pendingCursor.set(n, last.id);
      }
      if (entries.length > 0) return { entries, fresh: false };
    }
    try {
      return { entries: await this.readNew(names, count, blockMs), fresh: true };
    } catch (err) {
      // The reply may have been lost with the connection (a failover, a restart) while Redis
      // recorded the entries as delivered to us: read our own pending entries first next time,
      // instead of leaving them to XAUTOCLAIM after SOURCE_CLAIM_IDLE_MS.
      if (redisErrorKind(err) === 'connection' || redisErrorKind(err) === 'readonly') this.rereadPending();
      throw err;
    }
  }

  /** True while backlog reads go on (see the head of this file): a short read then is no sign of a low rate. */
  get inBacklog(): boolean {
    return this.backlogReadsLeft > 0 && this.backlog.length > 0;
  }

  /**
   * New entries (`>`): the next backlog window while a backlog pass goes on, else one blocking
   * read of every stream (count/streams entries each), which starts a backlog pass when it brings
   * at least count/2 entries and more streams are read than count/BACKLOG_READ_COUNT.
   */
  private async readNew(names: readonly string[], count: number, blockMs: number): Promise<SourceEntry[]> {
    const windowCount = Math.min(BACKLOG_READ_COUNT, count);
    const windowStreams = Math.max(1, Math.floor(count / windowCount));
    if (this.inBacklog) {
      this.backlogReadsLeft -= 1;
      const window = this.backlog.splice(0, windowStreams).filter((n) => this.streams.has(n));
      if (window.length > 0) {
        const entries = await this.xreadgroup([
          'COUNT',
          String(windowCount),
          'STREAMS',
          ...window,
          ...window.map(() => '>'),
        ]);
        // Streams that gave all they were asked for may have more: to the end of the queue.
        for (const n of gaveAll(entries, windowCount)) this.backlog.push(n);
        if (entries.length > 0) return entries;
      }
    }
    const per = Math.max(1, Math.floor(count / names.length));
    const entries = await this.xreadgroup([
      'COUNT',
      String(per),
      'BLOCK',
      String(blockMs),
      'STREAMS',
      ...names,
      ...names.map(() => '>'),
    ]);
    // At least half a batch from a read asking little of each stream: a backlog in many streams.
    if (per < windowCount && entries.length * 2 >= count) {
      this.backlog = [...gaveAll(entries, per)];
      this.backlogReadsLeft = Math.ceil(this.backlog.length / windowStreams);
    } else {
      this.backlog = [];
      this.backlogReadsLeft = 0;
    }
    return entries;
  }

  /** Makes the next reads start with this consumer's own pending entries again (after a failure). */
  rereadPending(): void {
    for (const n of this.streams) this.pendingCursor.set(n, '0');
  }

  /** Claims entries idle longer than `minIdleMs` in other consumers (crashed instances). */
  async claim(stream: string, minIdleMs: number, count: number): Promise<SourceEntry[]> {
    const out: SourceEntry[] = [];
    let cursor = '0-0';
    do {
      const reply = asArray(
        await this.commands.send([
          'XAUTOCLAIM',
          stream,
          this.cfg.consumerGroup,
          this.cfg.consumerName,
          String(minIdleMs),
          cursor,
          'COUNT',
          String(count),
        ]),
      );
      cursor = asBuffer(reply[0]).toString();
      for (const e of asArray(reply[1])) out.push(toEntry(this.db, stream, e));
    } while (cursor !== '0-0' && out.length < count);
    return out;
  }

  /**
   * The other consumers holding entries idle longer than `minIdleMs` (XPENDING IDLE, up to
   * `count` entries looked at): whose entries a claim would take (exactly-once fences them first).
   */
  async idleOwners(stream: string, minIdleMs: number, count: number): Promise<string[]> {
    const reply = asArray(
      await this.commands.send([
        'XPENDING',
        stream,
        this.cfg.consumerGroup,
        'IDLE',
        String(minIdleMs),
        '-',
        '+',
        String(count),
      ]),
    );
    const owners = new Set<string>();
    for (const e of reply) {
      const owner = asBuffer(asArray(e)[1]).toString();
      if (owner !== this.cfg.consumerName) owners.add(owner);
    }
    return [...owners];
  }

  /** Which of `ids` are pending in the group (delivered to a consumer, not acknowledged). One XPENDING each, pipelined. */
  async pendingIds(stream: string, ids: readonly string[]): Promise<Set<string>> {
    const replies = await Promise.all(
      ids.map((id) => this.commands.send(['XPENDING', stream, this.cfg.consumerGroup, id, id, '1'])),
    );
    return new Set(ids.filter((_, i) => asArray(replies[i] as Reply).length > 0));
  }

  /** Resets the idle time of our own pending entries (XCLAIM JUSTID), in chunks. */
  async touch(stream: string, ids: readonly string[]): Promise<void> {
    for (let i = 0; i < ids.length; i += 1000) {
      const chunk = ids.slice(i, i + 1000);
      await this.commands.send([
        'XCLAIM',
        stream,
        this.cfg.consumerGroup,
        this.cfg.consumerName,
        '0',
        ...chunk,
        'JUSTID',
      ]);
    }
  }

  /**
   * XACK (and XDEL when configured) the given entries: one script call for all their streams
   * (ack_entries.lua), not two commands per stream, grouped with the other acks of the moment
   * (see `acks`). Rejects when the call carrying them failed; acking again is harmless.
   */
  ack(entries: readonly { readonly stream: string; readonly id: string }[]): Promise<void> {
    return this.acks.add(entries);
  }

  private async ackNow(entries: readonly { readonly stream: string; readonly id: string }[]): Promise<void> {
    if (entries.length === 0) return;
    const byStream = new Map<string, string[]>();
    for (const e of entries) {
      let ids = byStream.get(e.stream);
      if (!ids) byStream.set(e.stream, (ids = []));
      ids.push(e.id);
    }
    const counts: string[] = [];
    const ids: string[] = [];
    for (const list of byStream.values()) {
      counts.push(String(list.length));
      for (const id of list) ids.push(id);
    }
    await ACK_ENTRIES.run(
      this.commands,
      [...byStream.keys()],
      [this.cfg.consumerGroup, this.cfg.deleteAfterAck ? '1' : '0', ...counts, ...ids],
    );
  }

  /**
   * After a read failed (a stream deleted, re-created or replaced by another type): keeps only
   * keys that are still streams, recreates missing groups, and re-reads their pending entries.
   */
  async revalidate(): Promise<string[]> {
    const names = [...this.streams];
    const types = await Promise.all(names.map((n) => this.commands.send(['TYPE', n])));
    const dropped: string[] = [];
    for (let i = 0; i < names.length; i += 1) {
      const name = names[i] as string;
      const t = asBuffer(types[i] as Reply).toString();
      if (t !== 'stream') {
        this.streams.delete(name);
        this.groupsReady.delete(name);
        this.pendingCursor.delete(name);
        dropped.push(name);
      } else {
        await this.ensureGroup(name);
        this.pendingCursor.set(name, '0');
      }
    }
    return dropped;
  }

  private async xreadgroup(tail: string[]): Promise<SourceEntry[]> {
    const reply = await this.reads.send([
      'XREADGROUP',
      'GROUP',
      this.cfg.consumerGroup,
      this.cfg.consumerName,
      ...tail,
    ]);
    const out: SourceEntry[] = [];
    for (const s of asArray(reply)) {
      const [name, entries] = asArray(s);
      const stream = asBuffer(name).toString('utf8');
      for (const e of asArray(entries)) out.push(toEntry(this.db, stream, e));
    }
    return out;
  }
}

/** The streams with `count` entries in `entries` (a read's reply: each stream's entries together). */
function gaveAll(entries: readonly SourceEntry[], count: number): Set<string> {
  const n = new Map<string, number>();
  for (const e of entries) n.set(e.stream, (n.get(e.stream) ?? 0) + 1);
  const out = new Set<string>();
  for (const [stream, c] of n) if (c >= count) out.add(stream);
  return out;
}

function toEntry(db: number, stream: string, e: Reply): SourceEntry {
  const [id, fields] = asArray(e);
  return { db, stream, id: asBuffer(id).toString(), fields: asArray(fields).map((f) => asBuffer(f)) };
}
