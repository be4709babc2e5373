/**
 * Scratch: target Redis CPU per key of recovery variants over 1M unsynced keys (issue 13).
 *   RKS_STACK_DIR=... RKS_STACK_PORT_OFFSET=... node --import tsx bench/recover-levers.ts [keys]
 */
import { readFileSync } from 'node:fs';
import { execFileSync } from 'node:child_process';
import { benchConfig, payloadPool, rawTarget } from './common.js';
import { procUsage } from './daemon.js';
import { pipelineRaw } from './resp.js';
import { redisPid } from '../src/stack/redis-server.js';
import { stackEnv } from '../src/stack/index.js';
import { connectRedis, asArray, asBuffer, type Reply } from '../src/redis/client.js';
import { encodeMessage } from '../src/buffer/message-layout.js';
import { TargetBuffer } from '../src/buffer/store.js';

const N = Number(process.argv[2] ?? 1_000_000);
const env = { stack: stackEnv('plaintext'), runId: 'reclev' };
const cfg = benchConfig(env);
const conn = await connectRedis(cfg.target, { role: 'target', db: 0 });
const pid = redisPid('target') as number;
await conn.send(['FLUSHALL']);
const pool = payloadPool(100);
const now = Date.now();
await pipelineRaw(rawTarget(env, 'target'), N, (n) => [
  'SET',
  `msg:t:${now}-${n}:s0:bench-reclev-stream`,
  encodeMessage('t', Buffer.from(`d${n % 1000}`), pool[n % pool.length] as Buffer, now),
]);
const old = execFileSync('git', ['show', '7707e59:src/buffer/scripts/recover.lua']).toString();
const cur = readFileSync(new URL('../src/buffer/scripts/recover.lua', import.meta.url), 'utf8');
const noMarker = `local f = {}
for i = 1, (#KEYS - 1) / 2 do if redis.call('PTTL', KEYS[2*i]) == -1 then f[#f+1] = KEYS[2*i] end end
for i = 1, #f, 1000 do redis.call('SADD', KEYS[1], unpack(f, i, math.min(i + 999, #f))) end
return #f`;
const nothing = `return 0`;
const shas = new Map<string, string>();
for (const [k, body] of Object.entries({ old, cur, noMarker, nothing }))
  shas.set(k, String(asBuffer((await conn.send(['SCRIPT', 'LOAD', body])) as Reply)));

async function pass(label: string, script: string | undefined, page: number, inFlight = 2): Promise<void> {
  await conn.send(['DEL', 'unsynced_keys_set']);
  const c0 = procUsage(pid).cpuSeconds;
  const u0 = process.cpuUsage();
  const t0 = performance.now();
  let cursor = '0';
  const calls: Promise<Reply>[] = [];
  let next: Promise<Reply> | undefined = conn.send(['SCAN', '0', 'MATCH', 'msg:*', 'COUNT', String(page)]);
  let found = 0;
  while (next) {
    const reply = asArray(await next);
    cursor = asBuffer(reply[0]).toString();
    next = cursor === '0' ? undefined : conn.send(['SCAN', cursor, 'MATCH', 'msg:*', 'COUNT', String(page)]);
    if (!script) continue;
    const keys: string[] = ['unsynced_keys_set'];
    for (const k of asArray(reply[1])) {
      const key = asBuffer(k).toString();
      keys.push(key, `synced:${key.slice(4)}`);
    }
    calls.push(conn.send(['EVALSHA', shas.get(script) as string, String(keys.length), ...keys]));
    if (calls.length >= inFlight) found += Number(await calls.shift());
  }
  for (const c of calls) found += Number(await c);
  const ms = performance.now() - t0;
  const u = process.cpuUsage(u0);
  const srv = ((procUsage(pid).cpuSeconds - c0) / N) * 1e6;
  console.log(
    `${label}: ${Math.round(ms)} ms, target ${srv.toFixed(2)} µs/key, client ${((u.user + u.system) / N).toFixed(2)} µs/key, found ${found}`,
  );
}
const only = process.env['RECOVER_AB'];
for (let r = 0; r < (only ? 4 : 2); r += 1) {
  if (only === 'pages') {
    for (const page of [1000, 2000, 5000, 10000]) await pass(`SCAN + new recover.lua, COUNT ${page}`, 'cur', page);
    continue;
  }
  if (only) {
    await pass('SCAN + old recover.lua (EXISTS per key)', 'old', 5000);
    await pass('SCAN + new recover.lua (MGET)', 'cur', 5000);
    continue;
  }
  await pass('SCAN only, COUNT 5000', undefined, 5000);
  await pass('SCAN + script doing nothing (args only)', 'nothing', 5000);
  await pass('SCAN + PTTL/SADD only (no marker check)', 'noMarker', 5000);
  await pass('SCAN + old recover.lua (EXISTS per key)', 'old', 5000);
  await pass('SCAN + new recover.lua (MGET)', 'cur', 5000);
  await pass('SCAN + new recover.lua, COUNT 20000', 'cur', 20000);
}
const buffer = new TargetBuffer([conn], cfg.target);
await conn.send(['DEL', 'unsynced_keys_set']);
const t0 = performance.now();
const c0 = procUsage(pid).cpuSeconds;
console.log(
  `TargetBuffer.recover: ${await buffer.recover()} in ${Math.round(performance.now() - t0)} ms, target ${(((procUsage(pid).cpuSeconds - c0) / N) * 1e6).toFixed(2)} µs/key`,
);
await conn.send(['FLUSHALL']);
await conn.close();
