/**
 * Scratch measurement of the target-write levers (issue 13): each variant writes `N` messages in
 * batches of 1000 to the target Redis of the stack in RKS_STACK_DIR and reports the target
 * redis-server's CPU per message (utime+stime from /proc) and the client's.
 *
 *   RKS_STACK_DIR=... RKS_STACK_PORT_OFFSET=... node --import tsx bench/target-levers.ts [N] [size]
 */
import { benchConfig, payloadPool } from './common.js';
import { procUsage } from './daemon.js';
import { redisPid } from '../src/stack/redis-server.js';
import { stackEnv } from '../src/stack/index.js';
import { connectRedis, type RedisConnection, type Reply } from '../src/redis/client.js';

const N = Number(process.argv[2] ?? 100_000);
const SIZE = Number(process.argv[3] ?? 1000);
const BATCH = 1000;

const PUT_HASH_EXISTS = `
local st, un, n = {}, {}, (#KEYS - 1) / 2
for i = 1, n do
  if redis.call('EXISTS', KEYS[2*i+1]) == 1 then st[i] = 2 else
    redis.call('HSET', KEYS[2*i], 'topic', ARGV[3*i-1], 'key', ARGV[3*i], 'payload', ARGV[3*i+1], 'created', ARGV[1])
    un[#un+1] = KEYS[2*i]; st[i] = 0 end
end
redis.call('SADD', KEYS[1], unpack(un))
return st`;
const PUT_HASH = `
local n = (#KEYS - 1) / 2
local un = {}
for i = 1, n do
  redis.call('HSET', KEYS[2*i], 'topic', ARGV[3*i-1], 'key', ARGV[3*i], 'payload', ARGV[3*i+1], 'created', ARGV[1])
  un[i] = KEYS[2*i]
end
redis.call('SADD', KEYS[1], unpack(un))
return n`;
const PUT_STR_EXISTS = `
local st, un, n = {}, {}, (#KEYS - 1) / 2
for i = 1, n do
  if redis.call('EXISTS', KEYS[2*i+1]) == 1 then st[i] = 2 else
    redis.call('SET', KEYS[2*i], ARGV[i]); un[#un+1] = KEYS[2*i]; st[i] = 0 end
end
redis.call('SADD', KEYS[1], unpack(un))
return st`;
const PUT_STR_MSET = `
local kv, un, n = {}, {}, #KEYS - 1
for i = 1, n do kv[2*i-1] = KEYS[i+1]; kv[2*i] = ARGV[i]; un[i] = KEYS[i+1] end
redis.call('MSET', unpack(kv))
redis.call('SADD', KEYS[1], unpack(un))
return n`;
/** mark_synced's shape: per message its marker (SET with `expiry`) and its TTL (`expire`), then one SREM. */
const markScript = (expiry: string, expire: string): string => `
local n = (#KEYS - 1) / 2
local s = {}
for i = 1, n do
  redis.call('SET', KEYS[2*i+1], ARGV[3], ${expiry}, ARGV[2])
  redis.call(${expire}, KEYS[2*i], ARGV[1])
  s[i] = KEYS[2*i]
end
redis.call('SREM', KEYS[1], unpack(s))
return n`;
const MARK = markScript("'EX'", "'EXPIRE'");

interface Msg {
  key: string;
  marker: string;
  topic: string;
  kkey: string;
  payload: Buffer;
  value: Buffer;
}

function messages(base: number, from: number, count: number, pool: Buffer[]): Msg[] {
  return Array.from({ length: count }, (_, j) => {
    const n = from + j;
    const rest = `bench-topic:${base}-${n}:s0:bench-levers-stream`;
    const payload = pool[n % pool.length] as Buffer;
    const topic = 'bench-topic';
    const kkey = `d${n % 1000}`;
    const head = Buffer.alloc(1 + 8 + 2 + 4);
    head[0] = 2;
    head.writeBigUInt64BE(BigInt(Date.now()), 1);
    head.writeUInt16BE(topic.length, 9);
    head.writeUInt32BE(kkey.length, 11);
    const value = Buffer.concat([head, Buffer.from(topic), Buffer.from(kkey), payload]);
    return { key: `msg:${rest}`, marker: `synced:${rest}`, topic, kkey, payload, value };
  });
}

type Step = (c: RedisConnection, ms: Msg[]) => Promise<unknown>;

const evalScript = (body: string, keys: (string | Buffer)[], args: (string | Buffer)[]) =>
  ['EVAL', body, String(keys.length), ...keys, ...args] as (string | Buffer)[];

const puts: Record<string, Step> = {
  'lua hash + EXISTS marker (today)': (c, ms) =>
    c.send(
      evalScript(
        PUT_HASH_EXISTS,
        ['unsynced_keys_set', ...ms.flatMap((m) => [m.key, m.marker])],
        [String(Date.now()), ...ms.flatMap((m) => [m.topic, m.kkey, m.payload])],
      ),
    ),
  'lua hash, no EXISTS (fresh)': (c, ms) =>
    c.send(
      evalScript(
        PUT_HASH,
        ['unsynced_keys_set', ...ms.flatMap((m) => [m.key, m.marker])],
        [String(Date.now()), ...ms.flatMap((m) => [m.topic, m.kkey, m.payload])],
      ),
    ),
  'lua string + EXISTS marker': (c, ms) =>
    c.send(
      evalScript(
        PUT_STR_EXISTS,
        ['unsynced_keys_set', ...ms.flatMap((m) => [m.key, m.marker])],
        ms.map((m) => m.value),
      ),
    ),
  'lua string, one MSET + SADD (fresh)': (c, ms) =>
    c.send(
      evalScript(
        PUT_STR_MSET,
        ['unsynced_keys_set', ...ms.map((m) => m.key)],
        ms.map((m) => m.value),
      ),
    ),
  'MULTI MSET SADD EXEC, string (fresh)': (c, ms) =>
    Promise.all([
      c.send(['MULTI']),
      c.send(['MSET', ...ms.flatMap((m) => [m.key, m.value])]),
      c.send(['SADD', 'unsynced_keys_set', ...ms.map((m) => m.key)]),
      c.send(['EXEC']),
    ]),
  'MULTI HSET x n SADD EXEC, hash (fresh)': (c, ms) => {
    const now = String(Date.now());
    return Promise.all([
      c.send(['MULTI']),
      ...ms.map((m) => c.send(['HSET', m.key, 'topic', m.topic, 'key', m.kkey, 'payload', m.payload, 'created', now])),
      c.send(['SADD', 'unsynced_keys_set', ...ms.map((m) => m.key)]),
      c.send(['EXEC']),
    ]);
  },
};

const marks: Record<string, Step> = {
  'lua SET EX + EXPIRE + SREM (today)': (c, ms) =>
    c.send(evalScript(MARK, ['unsynced_keys_set', ...ms.flatMap((m) => [m.key, m.marker])], ['86400', '3600', '1'])),
  'MULTI SET EX x n, EXPIRE x n, SREM, EXEC': (c, ms) =>
    Promise.all([
      c.send(['MULTI']),
      ...ms.flatMap((m) => [c.send(['SET', m.marker, '1', 'EX', '3600']), c.send(['EXPIRE', m.key, '86400'])]),
      c.send(['SREM', 'unsynced_keys_set', ...ms.map((m) => m.key)]),
      c.send(['EXEC']),
    ]),
};

const MARK_DERIVED = `
local n = #KEYS - 1
local cut = #ARGV[4] + 1
for i = 2, #KEYS do
  redis.call('SET', ARGV[5] .. string.sub(KEYS[i], cut), ARGV[3], 'EX', ARGV[2])
  redis.call('EXPIRE', KEYS[i], ARGV[1])
end
redis.call('SREM', KEYS[1], unpack(KEYS, 2))
return n`;
marks['lua, marker key derived in the script'] = (c, ms) =>
  c.send(
    evalScript(MARK_DERIVED, ['unsynced_keys_set', ...ms.map((m) => m.key)], ['86400', '3600', '1', 'msg:', 'synced:']),
  );

// Absolute expiry times: Redis 7 propagates SET EX / EXPIRE to the AOF and replicas rewritten
// as SET PXAT / PEXPIREAT (a new argument vector per command); written absolute, nothing is rewritten.
const MARK_ABSOLUTE = markScript("'PXAT'", "'PEXPIREAT'");
marks['lua SET PXAT + PEXPIREAT + SREM (absolute)'] = (c, ms) => {
  const now = Date.now();
  return c.send(
    evalScript(
      MARK_ABSOLUTE,
      ['unsynced_keys_set', ...ms.flatMap((m) => [m.key, m.marker])],
      [String(now + 86_400_000), String(now + 3_600_000), '1'],
    ),
  );
};

// Marker sets (layout 2, kept): one Set per stream and 10-minute window holds the entry ids marked
// synced (one SADD and one EXPIRE per set and batch instead of a SET EX per message).
const MARK_BUCKET = `
local n = #KEYS - 2
for i = 3, #KEYS do
  redis.call('EXPIRE', KEYS[i], ARGV[1])
end
for i = 3, #ARGV, 1000 do
  redis.call('SADD', KEYS[2], unpack(ARGV, i, math.min(i + 999, #ARGV)))
end
redis.call('EXPIRE', KEYS[2], ARGV[2])
redis.call('SREM', KEYS[1], unpack(KEYS, 3))
return n`;
marks['lua EXPIRE + one SADD per marker set + SREM (layout 2)'] = (c, ms) =>
  c.send(
    evalScript(
      MARK_BUCKET,
      [
        'unsynced_keys_set',
        `synced:bench-topic:w${Math.floor(base / 600_000)}:s0:bench-levers-stream`,
        ...ms.map((m) => m.key),
      ],
      ['86400', '3600', ...ms.map((m) => m.key.split(':')[2] as string)],
    ),
  );

const cpuOf = (pid: number): number => procUsage(pid).cpuSeconds;

async function measure(c: RedisConnection, pid: number, step: Step, batches: Msg[][]): Promise<string> {
  const s0 = cpuOf(pid);
  const c0 = process.cpuUsage();
  const t0 = performance.now();
  for (const b of batches) await step(c, b);
  const secs = (performance.now() - t0) / 1000;
  const cc = process.cpuUsage(c0);
  const srv = ((cpuOf(pid) - s0) / N) * 1e6;
  const cli = ((cc.user + cc.system) / 1e6 / N) * 1e6;
  return `server ${srv.toFixed(1)} µs/msg, client ${cli.toFixed(1)} µs/msg, ${Math.round(N / secs)} msg/s`;
}

async function commandstats(c: RedisConnection): Promise<string> {
  const text = String((await c.send(['INFO', 'commandstats'])) as Reply);
  return [...text.matchAll(/^cmdstat_([^:]+):calls=(\d+),usec=(\d+)/gm)]
    .filter((m) => !['info', 'flushall', 'config|resetstat', 'select', 'client|setname'].includes(m[1] as string))
    .map((m) => `${m[1]} ${(Number(m[2]) / N).toFixed(3)}/msg ${(Number(m[3]) / Number(m[2])).toFixed(2)}µs`)
    .join(', ');
}

const cfg = benchConfig({ stack: stackEnv('plaintext'), runId: 'levers' });
const conn = await connectRedis(cfg.target, { role: 'target', db: 0 });
const pid = redisPid('target') as number;
const pool = payloadPool(SIZE);
const base = Date.now();
const batches: Msg[][] = [];
for (let i = 0; i < N; i += BATCH) batches.push(messages(base, i, BATCH, pool));
const only = process.env['LEVERS'];
for (const [name, put] of Object.entries(puts)) {
  for (const [mname, mark] of Object.entries(marks)) {
    if (only && !`${name} / ${mname}`.includes(only)) continue;
    await conn.send(['FLUSHALL']);
    await conn.send(['CONFIG', 'RESETSTAT']);
    const p = await measure(conn, pid, put, batches);
    const ps = await commandstats(conn);
    await conn.send(['CONFIG', 'RESETSTAT']);
    const m = await measure(conn, pid, mark, batches);
    const msx = await commandstats(conn);
    const mem = /used_memory:(\d+)/.exec(String(await conn.send(['INFO', 'memory'])))?.[1];
    console.log(
      `${name} / ${mname}\n  put:  ${p}\n        ${ps}\n  mark: ${m}\n        ${msx}\n  used_memory after: ${(Number(mem) / N).toFixed(0)} B/msg`,
    );
  }
}
await conn.send(['FLUSHALL']);
await conn.close();
