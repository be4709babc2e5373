/**
 * Finding work again: what crashed instances, failed deliveries and outages left behind.
 *
 *   claim loop   every SOURCE_CLAIM_IDLE_MS/3: refresh the idle time of our own in-flight
 *                entries (XCLAIM JUSTID to ourselves, so others never take what we are still
 *                delivering), then XAUTOCLAIM entries idle > SOURCE_CLAIM_IDLE_MS in other
 *                consumers (a crashed instance) and submit them (lane `claims`)
 *   resync pass  SSCAN the unsynced set; messages not in flight here and older than
 *                SYNC_RESEND_AFTER_MS are read back (oldest first within a page) and sent again
 *                (lane `resync`, already buffered: not written again); their ack is XACK+XDEL of
 *                their source entries (already done when SOURCE_ACK_MODE=target)
 * Keys in the unsynced set whose message no longer exists are dropped from the set.
 * Order: claimed and resent messages are not ordered with the readers' (documented).
 * Exactly-once (KAFKA_EXACTLY_ONCE): a claim first fences the dead owners and marks what their
 * committed transactions hold; a resync pass first marks what any instance's committed
 * transactions hold (exactly-once.ts). Both then only send what no transaction committed.
 */
import type { TargetBuffer } from '../buffer/store.js';
import { errorMessage } from '../errors.js';
import { ackEntries, submitEntries, type ReaderContext } from '../source/reader.js';
import type { SourceDbs } from '../source/source-dbs.js';
import type { StreamMapping } from '../source/stream-message.js';
import { sleep } from '../util/retry.js';
import { batchOf, type Batch, type Message } from './batch.js';
import type { ProgressCheck } from './exactly-once.js';
import type { SubmitHandle } from './lane.js';

/** SSCAN COUNT of a resync pass: big pages keep the pass from being bound by round trips. */
const RESYNC_PAGE = 5000;

export interface RedeliveryContext extends ReaderContext {
  readonly buffer: TargetBuffer;
  readonly sources: SourceDbs;
  readonly mapping: StreamMapping;
  readonly signal: AbortSignal;
  /** KAFKA_EXACTLY_ONCE: the progress check before a takeover and before each resync pass. */
  readonly exactlyOnce?: ProgressCheck | undefined;
}

export async function runClaimLoop(ctx: RedeliveryContext): Promise<void> {
  const { cfg, log, signal } = ctx;
  const every = Math.max(1000, Math.floor(cfg.source.claimIdleMs / 3));
  const lane = ctx.pipeline.lane('claims');
  while (!signal.aborted) {
    await sleep(every, signal);
    await touchOwnPending(ctx).catch((err: unknown) =>
      log.warn({ err: errorMessage(err) }, 'refreshing the idle time of in-flight entries failed'),
    );
    for (const src of ctx.sources.all()) {
      for (const stream of src.streamNames) {
        if (signal.aborted) return;
        try {
          if (ctx.exactlyOnce) {
            // Fence the dead owners (their open transactions abort), then mark what their
            // committed transactions hold: the claim's marker check acks those without resending.
            const owners = await src.idleOwners(stream, cfg.source.claimIdleMs, cfg.source.batchSize);
            if (owners.length === 0) continue;
            await ctx.exactlyOnce.beforeTakeover(owners);
          }
          const claimed = await src.claim(stream, cfg.source.claimIdleMs, cfg.source.batchSize);
          if (claimed.length === 0) continue;
          log.info({ db: src.db, stream, count: claimed.length }, 'claimed entries left pending by another consumer');
          const handle = await submitEntries(ctx, lane, src, claimed, ctx.mapping, 'claim');
          await handle?.admitted;
        } catch (err) {
          log.warn({ db: src.db, stream, err: errorMessage(err) }, 'claiming pending entries failed');
        }
      }
    }
  }
}

/**
 * Entries this instance is still delivering (Kafka slow or down) must not look abandoned to the
 * others: XCLAIM ... JUSTID to ourselves resets their idle time, so XAUTOCLAIM elsewhere only
 * takes entries of a consumer that really stopped.
 */
export async function touchOwnPending(ctx: RedeliveryContext): Promise<void> {
  const byStream = new Map<string, { db: number; stream: string; ids: string[] }>();
  for (const m of ctx.pipeline.inFlight.messages()) {
    const o = m.origin;
    if (o.kind !== 'stream') continue;
    const k = `${o.db}/${o.stream}`;
    let group = byStream.get(k);
    if (!group) byStream.set(k, (group = { db: o.db, stream: o.stream, ids: [] }));
    group.ids.push(m.id);
  }
  for (const { db, stream, ids } of byStream.values()) await ctx.sources.peek(db)?.touch(stream, ids);
}

export async function runResyncLoop(ctx: RedeliveryContext): Promise<void> {
  const { cfg, log, signal } = ctx;
  while (!signal.aborted) {
    await sleep(cfg.sync.resyncIntervalMs, signal);
    if (signal.aborted) return;
    try {
      const n = await resyncPass(ctx, { minAgeMs: cfg.sync.resendAfterMs });
      if (n > 0) log.info({ delivered: n }, 'resync delivered buffered messages');
    } catch (err) {
      log.warn({ err: errorMessage(err) }, 'resync pass failed; retrying next interval');
    }
  }
}

/**
 * One pass over the unsynced set: resends messages not in flight here and older than `minAgeMs`,
 * waits for their delivery, and returns how many this pass delivered.
 */
export async function resyncPass(
  ctx: RedeliveryContext,
  opts: { minAgeMs?: number; defaultTopic?: string } = {},
): Promise<number> {
  const { buffer, pipeline } = ctx;
  const minAge = opts.minAgeMs ?? 0;
  // Exactly-once: what committed transactions hold is marked first, so the pass never sees it.
  if (ctx.exactlyOnce) await ctx.exactlyOnce.refresh();
  const lane = pipeline.lane('resync');
  const handles: SubmitHandle[] = [];
  let cursor = '0';
  do {
    const page = await buffer.scanUnsynced(cursor, RESYNC_PAGE);
    cursor = page.cursor;
    const keys = page.keys.filter((k) => !pipeline.inFlight.has(k));
    if (keys.length === 0) continue;
    const stored = await buffer.fetch(keys);
    await buffer.forget(keys.filter((_, i) => stored[i] === undefined));
    const now = Date.now();
    const due = stored.filter(
      (m): m is NonNullable<typeof m> =>
        m !== undefined && now - m.createdMs >= minAge && !pipeline.inFlight.has(m.key),
    );
    if (due.length === 0) continue;
    // SSCAN pages come in no order; within a page, oldest first keeps most of each device's order.
    due.sort((x, y) => x.createdMs - y.createdMs || (x.key < y.key ? -1 : x.key > y.key ? 1 : 0));
    let messages = due.map((m) =>
      pipeline.format.rebuild(m.topic === '' && opts.defaultTopic ? { ...m, topic: opts.defaultTopic } : m, m.parts),
    );
    if (ctx.exactlyOnce) messages = await unowned(ctx, messages);
    if (messages.length === 0) continue;
    const handle = lane.submit(resyncBatch(ctx, messages));
    handles.push(handle);
    await handle.admitted;
  } while (cursor !== '0' && !ctx.signal.aborted);
  await Promise.all(handles.map((h) => h.settled));
  return handles.reduce((n, h) => n + h.tally.delivered, 0);
}

/**
 * Exactly-once: of the messages due, those no one else may still be sending. A stream entry still
 * pending in the group belongs to its consumer (it resends it on restart, or the claim loop takes
 * it over after fencing it): skipped. Of the rest, those marked synced meanwhile are dropped (an
 * owner marks before it acks, so an entry no longer pending whose message is unmarked was never
 * committed).
 */
async function unowned(ctx: RedeliveryContext, due: Message[]): Promise<Message[]> {
  const byStream = new Map<string, { db: number; stream: string; ids: string[] }>();
  for (const m of due) {
    if (m.origin.kind !== 'stream') continue;
    const k = `${m.origin.db}/${m.origin.stream}`;
    let g = byStream.get(k);
    if (!g) byStream.set(k, (g = { db: m.origin.db, stream: m.origin.stream, ids: [] }));
    g.ids.push(m.id);
  }
  const pending = new Set<string>();
  for (const [k, g] of byStream) {
    const src = await ctx.sources.get(g.db);
    for (const id of await src.pendingIds(g.stream, g.ids)) pending.add(`${k}/${id}`);
  }
  const free = due.filter(
    (m) => m.origin.kind !== 'stream' || !pending.has(`${m.origin.db}/${m.origin.stream}/${m.id}`),
  );
  if (free.length === 0) return free;
  const synced = await ctx.buffer.synced(free.map((m) => m.key));
  return free.filter((_, i) => !synced[i]);
}

/** Resent messages: their ack is XACK (+XDEL) of the stream entries they came from, by DB. */
function resyncBatch(ctx: RedeliveryContext, messages: readonly Message[]): Batch {
  return {
    ...batchOf('resync', messages, { buffered: true }),
    ack: async (ms) => {
      const byDb = new Map<number, { stream: string; id: string }[]>();
      for (const m of ms) {
        if (m.origin.kind !== 'stream') continue;
        let list = byDb.get(m.origin.db);
        if (!list) byDb.set(m.origin.db, (list = []));
        list.push({ stream: m.origin.stream, id: m.id });
      }
      for (const [db, list] of byDb) await ackEntries(await ctx.sources.get(db), list, ctx.metrics);
    },
  };
}
