/**
 * Scratch (issue 13, sync markers layout 2): recovery time when most buffered messages are
 * synced (marked, TTL running) and a few are not, for the checkout this file is run from or,
 * with RKS_ROOT, another checkout's src (an A/B of the marker layouts). Uses the bench stack's
 * target (flushed).
 *   RKS_STACK_DIR=.stack-bench RKS_STACK_PORT_OFFSET=200 node --import tsx bench/recover-synced.ts [synced] [unsynced]
 */
import { benchConfig } from './common.js';
import { procUsage } from './daemon.js';
import { redisPid } from '../src/stack/redis-server.js';
import { stackEnv } from '../src/stack/index.js';
import { connectRedis } from '../src/redis/client.js';
import type * as StoreModule from '../src/buffer/store.js';

const SYNCED = Number(process.argv[2] ?? 500_000);
const UNSYNCED = Number(process.argv[3] ?? 100_000);
const root = process.env['RKS_ROOT'] ?? new URL('..', import.meta.url).pathname;
const { TargetBuffer } = (await import(`${root}/src/buffer/store.ts`)) as typeof StoreModule;

const cfg = benchConfig({ stack: stackEnv('plaintext'), runId: 'recsync' });
const conn = await connectRedis(cfg.target, { role: 'target', db: 0 });
const pid = redisPid('target') as number;
await conn.send(['FLUSHALL']);
const buffer = new TargetBuffer([conn], cfg.target);
const now = Date.now();
const payload = Buffer.alloc(100, 120);
const msg = (n: number, stream: string) => ({
  key: buffer.keys.messageKey({ topic: 't', id: `${now}-${n}`, origin: { kind: 'stream', db: 0, stream } }),
  topic: 't',
  kafkaKey: Buffer.from('k'),
  payload,
});
for (let i = 0; i < SYNCED + UNSYNCED; i += 1000) {
  const batch = Array.from({ length: Math.min(1000, SYNCED + UNSYNCED - i) }, (_, j) =>
    msg(i + j, `s${(i / 1000) % 10}`),
  );
  await buffer.put(batch, conn, { fresh: true });
  if (i < SYNCED)
    await buffer.markSynced(
      batch.map((m) => m.key),
      conn,
    );
}
await conn.send(['DEL', buffer.keys.unsyncedSet]);
for (;;) {
  const info = String(await conn.send(['INFO', 'persistence']));
  if (!/aof_rewrite_in_progress:1/.test(info) && !/rdb_bgsave_in_progress:1/.test(info)) break;
  await new Promise((r) => setTimeout(r, 500));
}
const s0 = procUsage(pid).cpuSeconds;
const c0 = process.cpuUsage();
const t0 = performance.now();
const found = await buffer.recover();
const ms = performance.now() - t0;
const cc = process.cpuUsage(c0);
console.log(
  `${root}: ${SYNCED} synced + ${UNSYNCED} unsynced: recovered ${found} in ${ms.toFixed(0)} ms, target CPU ${((procUsage(pid).cpuSeconds - s0) * 1000).toFixed(0)} ms, client CPU ${((cc.user + cc.system) / 1000).toFixed(0)} ms`,
);
await conn.send(['FLUSHALL']);
await conn.close();
