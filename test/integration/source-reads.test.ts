/**
 * SourceDb's reads against the real source Redis: a backlog in many streams is read in windows
 * (BACKLOG_READ_COUNT entries of each of count/BACKLOG_READ_COUNT streams), every entry once and
 * in id order per stream; a stream outside the backlog is read after one pass; a read of every
 * stream that brings less than half a batch starts no backlog.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { RedisConnection } from '../../src/redis/client.js';
import { BACKLOG_READ_COUNT, SourceDb, type SourceEntry } from '../../src/source/streams.js';
import { ensureStack, redis, stackConfig, uid } from '../helpers/real-stack.js';

const COUNT = 1000;
const STREAMS = 100;
const PER_STREAM = 120;

/** Entries per stream in one read's reply. */
function perStream(entries: readonly SourceEntry[]): Map<string, number> {
  const n = new Map<string, number>();
  for (const e of entries) n.set(e.stream, (n.get(e.stream) ?? 0) + 1);
  return n;
}

function seq(e: SourceEntry): number {
  return Number(e.id.split('-')[0]);
}

describe('source reads of many streams', () => {
  let commands: RedisConnection;
  let reads: RedisConnection;
  const made: string[] = [];
  before(async () => {
    await ensureStack();
    commands = await redis('source');
    reads = await redis('source');
  });
  after(async () => {
    if (made.length > 0) await commands.send(['DEL', ...made]);
    await commands.close();
    await reads.close();
  });

  async function streams(n: number, entries: number): Promise<string[]> {
    const prefix = `reads:${uid()}`;
    const names = Array.from({ length: n }, (_, i) => `${prefix}:${String(i).padStart(3, '0')}`);
    made.push(...names);
    // Entry ids 1-0, 2-0, ...: the id says its position in its stream.
    await Promise.all(
      names.flatMap((s) =>
        Array.from({ length: entries }, (_, j) => commands.send(['XADD', s, `${j + 1}-0`, 'n', String(j + 1)])),
      ),
    );
    return names;
  }

  function sourceDb(): SourceDb {
    return new SourceDb(0, commands, reads, stackConfig({ SOURCE_CONSUMER_GROUP: `g-${uid()}` }).source);
  }

  it('reads a backlog in many streams in windows, every entry once and in order per stream', async () => {
    const names = await streams(STREAMS, PER_STREAM);
    const src = sourceDb();
    await src.setStreams(names);
    const first = await src.readBatch(COUNT, 10);
    assert.equal(first.entries.length, COUNT, 'the read of every stream is full');
    assert.ok([...perStream(first.entries).values()].every((c) => c === COUNT / STREAMS));
    assert.equal(src.inBacklog, true);

    const second = await src.readBatch(COUNT, 10);
    const window = perStream(second.entries);
    assert.equal(window.size, COUNT / BACKLOG_READ_COUNT, 'count / BACKLOG_READ_COUNT streams');
    assert.ok(
      [...window.values()].every((c) => c === BACKLOG_READ_COUNT),
      'BACKLOG_READ_COUNT entries of each',
    );
    assert.equal(second.fresh, true);

    const all = [...first.entries, ...second.entries];
    for (let i = 0; i < 100; i += 1) {
      const { entries } = await src.readBatch(COUNT, 10);
      if (entries.length === 0) break;
      assert.ok(entries.length <= COUNT, 'never more than count');
      all.push(...entries);
    }
    assert.equal(all.length, STREAMS * PER_STREAM, 'every entry read');
    const last = new Map<string, number>();
    for (const e of all) {
      assert.equal(seq(e), (last.get(e.stream) ?? 0) + 1, `${e.stream}: in order, none twice, none skipped`);
      last.set(e.stream, seq(e));
    }
    assert.equal(src.inBacklog, false, 'the backlog ended');
  });

  it('reads a stream outside the backlog within one pass over it', async () => {
    const names = await streams(STREAMS, PER_STREAM);
    const [quiet] = await streams(1, 1);
    const src = sourceDb();
    await src.setStreams([...names, quiet as string]);
    // Its one entry is taken by the first read; the next one comes while the backlog pass runs.
    await src.readBatch(COUNT, 10);
    assert.equal(src.inBacklog, true);
    await commands.send(['XADD', quiet as string, '2-0', 'n', '2']);
    const pass = Math.ceil(STREAMS / (COUNT / BACKLOG_READ_COUNT));
    let seen = -1;
    for (let i = 0; i <= pass && seen < 0; i += 1) {
      const { entries } = await src.readBatch(COUNT, 10);
      if (entries.some((e) => e.stream === quiet && e.id === '2-0')) seen = i;
    }
    assert.equal(seen, pass, `read by the read of every stream after the pass's ${pass} windows`);
  });

  it('reads every stream at once when a read is not full (no backlog)', async () => {
    const names = await streams(STREAMS, 3);
    const src = sourceDb();
    await src.setStreams(names);
    const first = await src.readBatch(COUNT, 10);
    assert.equal(first.entries.length, STREAMS * 3);
    assert.equal(src.inBacklog, false);
    assert.equal((await src.readBatch(COUNT, 10)).entries.length, 0);
  });
});
