/**
 * What node-redis costs per round trip against a bare socket: 20,000 `SET k v` one after the
 * other (each awaited before the next, as the service's per-batch round trips are), through the
 * service's own connection (connectRedis: node-redis, Buffer replies) and through a net.Socket
 * that writes the encoded command and waits for its reply. Client CPU (process.cpuUsage) and wall
 * time per round trip, three rounds back to back. This sizes the "own RESP client on the hot
 * path" lever of issue #13: the difference is what such a client could save per trip, at best.
 *
 *   bash scripts/with-node.sh node --import tsx bench/client-roundtrip.ts [host:port]   (default: the main stack's source Redis)
 *
 * It writes the key `rks-bench:roundtrip` into DB 0 of that Redis and deletes it at the end.
 */
import { connect } from 'node:net';
import { loadConfig } from '../src/config/config.js';
import { connectRedis } from '../src/redis/client.js';
import { STACK_HOST, STACK_PORTS } from '../src/stack/index.js';
import { encode } from './resp.js';

const [host = STACK_HOST, port = String(STACK_PORTS.source)] = (process.argv[2] ?? '').split(':').filter(Boolean);
const cfg = loadConfig({ configFile: null, env: { SOURCE_REDIS_HOST: host, SOURCE_REDIS_PORT: port } });
const N = 20_000;
const WARM = 2_000;
const KEY = 'rks-bench:roundtrip';

interface PerTrip {
  cpuUs: number;
  wallUs: number;
}

async function timed(trip: () => Promise<unknown>): Promise<PerTrip> {
  for (let i = 0; i < WARM; i += 1) await trip();
  const cpu0 = process.cpuUsage();
  const t0 = performance.now();
  for (let i = 0; i < N; i += 1) await trip();
  const cpu = process.cpuUsage(cpu0);
  return { cpuUs: (cpu.user + cpu.system) / N, wallUs: ((performance.now() - t0) * 1000) / N };
}

async function viaNodeRedis(): Promise<PerTrip> {
  const conn = await connectRedis(cfg.source, { role: 'source', db: 0, connectTimeoutMs: 10_000 });
  try {
    return await timed(() => conn.send(['SET', KEY, 'v']));
  } finally {
    await conn.close();
  }
}

async function viaSocket(): Promise<PerTrip> {
  const socket = connect(cfg.source.port, cfg.source.host);
  socket.setNoDelay(true);
  await new Promise<void>((resolve, reject) => socket.once('connect', resolve).once('error', reject));
  let waiting: ((reply: Buffer) => void) | undefined;
  socket.on('data', (reply: Buffer) => {
    if (reply[0] !== 0x2b /* + */) throw new Error(`client-roundtrip: ${host}:${port} answered ${reply.toString()}`);
    const w = waiting;
    waiting = undefined;
    w?.(reply); // one '+OK\r\n' per SET; a reply never arrives split or merged at this size
  });
  const cmd = Buffer.concat(encode(['SET', KEY, 'v']));
  try {
    return await timed(
      () =>
        new Promise<Buffer>((resolve) => {
          waiting = resolve;
          socket.write(cmd);
        }),
    );
  } finally {
    socket.destroy();
  }
}

const f = (n: number): string => n.toFixed(1);
console.log(`| round | node-redis: CPU µs / trip | wall µs | bare socket: CPU µs / trip | wall µs |`);
console.log(`|---|---|---|---|---|`);
for (let round = 1; round <= 3; round += 1) {
  const a = await viaNodeRedis();
  const b = await viaSocket();
  console.log(`| ${round} | ${f(a.cpuUs)} | ${f(a.wallUs)} | ${f(b.cpuUs)} | ${f(b.wallUs)} |`);
}
const cleanup = await connectRedis(cfg.source, { role: 'source', db: 0, connectTimeoutMs: 10_000 });
await cleanup.send(['DEL', KEY]);
await cleanup.close();
