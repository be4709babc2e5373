/**
 * Redis connections for both roles. Every client is binary-safe (bulk strings come back as
 * Buffers), speaks RESP2 (measured faster than RESP3 with node-redis), reconnects forever with
 * capped, jittered exponential backoff, is replaced when its peer goes silent while commands
 * wait (<ROLE>_REDIS_REPLY_TIMEOUT_MS, reply-watch.ts), and names its endpoint in every error.
 * Blocking reads (XREADGROUP BLOCK) must use a client of their own: see `duplicate`.
 */
import { readFileSync } from 'node:fs';
import { isIP } from 'node:net';
import { createCluster, RedisClient, RESP_TYPES, type TypeMapping } from '@redis/client';
import type { RedisEndpointConfig } from '../config/config.js';
import { ConnectionError, errorMessage } from '../errors.js';
import { backoffMs } from '../util/retry.js';
import { clusterEndpoint, connectCluster, type NodeCluster } from './cluster.js';
import { sendWithDeadline } from './command-deadline.js';
import { isWatched, ReplyWatch } from './reply-watch.js';
import { connectSentinel, type ClientFactory, type NodeClient } from './sentinel.js';

export type Reply = Buffer | number | null | string | Reply[];

/** The small surface of a Redis connection the product uses: raw commands, Buffers out. */
export interface RedisConnection {
  readonly endpoint: string;
  readonly db: number;
  /** Sends one command; commands issued in the same tick are pipelined by the client. */
  send(args: readonly (string | Buffer)[]): Promise<Reply>;
  isReady(): boolean;
  close(): Promise<void>;
  /** Called with each connection error (already rate-limited by the reconnect backoff). */
  onError(listener: (err: Error) => void): void;
}

export interface ConnectOptions {
  readonly role: 'source' | 'target';
  readonly db: number;
  readonly name?: string;
  /** Fail the first connect after this long instead of waiting forever (CLI one-shots). */
  readonly connectTimeoutMs?: number;
}

/**
 * node-redis clients of the base class itself. `createClient` / `RedisClient.factory` generate a
 * subclass with a method for each of the ~500 Redis commands; the product never calls them (every
 * command goes through `sendCommand`; pub/sub's pSubscribe and connect/close are methods of the
 * base class). Generating that class allocated ~20 MB at start-up (sampling heap profile of the
 * daemon), garbage that V8 gives back only after ~10 idle seconds or, with a small young
 * generation, not for minutes; and `createClient` used to rebuild it per connection (45 ms of
 * CPU each). Only `sendCommand` and the base class's methods may be used on these clients.
 */
export function newRedisClient(options: ReturnType<typeof redisClientOptions>) {
  return new RedisClient<Record<string, never>, Record<string, never>, Record<string, never>, 2, TypeMapping>(options);
}

export function endpointName(cfg: RedisEndpointConfig, role: string): string {
  if (cfg.cluster) return clusterEndpoint(cfg, role);
  if (cfg.sentinel)
    return `${role} Redis master "${cfg.sentinel.masterName}" (Sentinels ${cfg.sentinel.nodes.map((n) => `${n.host}:${n.port}`).join(',')})`;
  return `${role} Redis ${cfg.tls ? 'rediss' : 'redis'}://${cfg.host}:${cfg.port}`;
}

/**
 * The node-redis client options of a connection (auth, TLS, forever-reconnect with backoff,
 * Buffers out). Shared by `connectRedis` and by clients it does not wrap (pub/sub subscribers).
 *
 * `replyTimeoutMs`: the reply deadline of the ReplyWatch the connection runs under (connectRedis,
 * sentinel.ts; 0 for one without a watch that sends every command through `sendWithDeadline`: the
 * cluster client, a variable at 0; absent for clients left to node-redis's defaults: pub/sub
 * subscribers, Sentinel monitors). Given, the client has no node-redis timer per command
 * (`timeout: 0`, command-deadline.ts says why):
 *  - watched (`isWatched`), the watch takes the timer's place, and the client has no offline
 *    queue: a command sent while the client is not ready fails at once with ClientOfflineError
 *    (retryable, errors.ts), and a socket error fails the commands not yet written as well as the
 *    written ones; callers retry with their backoff, as they did after the 5 s timeout before. A
 *    command waiting for a socket that does not drain (a hung server) is caught by the watch like
 *    a written one (no reply at all for the timeout);
 *  - not watched (0), the offline queue stays, and the shared deadline of command-deadline.ts
 *    fails a command still unwritten after 5-6 s, as node-redis's timer did after 5 s.
 */
export function redisClientOptions(
  cfg: RedisEndpointConfig,
  opts: ConnectOptions,
  reconnect = true,
  replyTimeoutMs?: number,
) {
  const watched = isWatched(replyTimeoutMs);
  const tls = cfg.tls
    ? {
        tls: true as const,
        // SNI takes host names only (an IP there is deprecated, DEP0123).
        ...(isIP(cfg.host) === 0 ? { servername: cfg.host } : {}),
        ...(cfg.tlsCaLocation ? { ca: readFileSync(cfg.tlsCaLocation) } : {}),
        ...(cfg.tlsCertificateLocation ? { cert: readFileSync(cfg.tlsCertificateLocation) } : {}),
        ...(cfg.tlsKeyLocation ? { key: readFileSync(cfg.tlsKeyLocation) } : {}),
      }
    : {};
  return {
    RESP: 2 as const,
    database: opts.db,
    ...(cfg.username ? { username: cfg.username } : {}),
    ...(cfg.password ? { password: cfg.password } : {}),
    ...(opts.name ? { name: opts.name } : {}),
    socket: {
      host: cfg.host,
      port: cfg.port,
      connectTimeout: 10_000,
      reconnectStrategy: reconnect ? (retries: number) => backoffMs(retries, 100, 5_000) : (false as const),
      ...tls,
    },
    commandOptions: {
      typeMapping: { [RESP_TYPES.BLOB_STRING]: Buffer },
      ...(replyTimeoutMs !== undefined ? { timeout: 0 } : {}),
    },
    ...(watched ? { disableOfflineQueue: true } : {}),
  };
}

/**
 * A connection of one role: direct to `cfg.host:port`, or (`cfg.sentinel`) to whichever node the
 * Sentinels name master, followed through failovers (sentinel.ts).
 */
export async function connectRedis(cfg: RedisEndpointConfig, opts: ConnectOptions): Promise<RedisConnection> {
  if (cfg.sentinel) return connectSentinel(cfg, opts, nodeClientFactory(cfg, opts));
  if (cfg.cluster) return connectCluster(cfg, opts, () => newCluster(cfg, opts));
  const endpoint = endpointName(cfg, opts.role);
  const options = redisClientOptions(cfg, opts, true, cfg.replyTimeoutMs ?? 0);
  let client = newRedisClient(options);
  const listeners: ((err: Error) => void)[] = [];
  const emit = (err: Error): void => {
    for (const l of listeners) l(err);
  };
  let lastError: unknown;
  const attach = (c: typeof client): void => {
    c.on('error', (err: unknown) => {
      if (c !== client) return; // a replaced client's last words
      lastError = err;
      emit(new ConnectionError(`${endpoint} (db ${opts.db}): ${errorMessage(err)}`, { retryable: true, cause: err }));
    });
  };
  attach(client);
  const connecting = client.connect();
  if (opts.connectTimeoutMs !== undefined) {
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(
        () =>
          reject(
            new ConnectionError(
              `${endpoint}: no connection within ${opts.connectTimeoutMs} ms: ${explainRedisFailure(lastError, opts.role)}`,
              { retryable: true },
            ),
          ),
        opts.connectTimeoutMs,
      );
    });
    try {
      await Promise.race([connecting, timeout]);
    } catch (err) {
      client.destroy();
      throw err instanceof ConnectionError
        ? err
        : new ConnectionError(`${endpoint}: ${explainRedisFailure(err, opts.role)}`, { retryable: true, cause: err });
    } finally {
      clearTimeout(timer);
    }
  } else {
    await connecting;
  }
  // A peer that went silent (reply-watch.ts): a new client, and the old one destroyed, which fails
  // what waited on it (retryable); node-redis's connect retries by itself until the peer answers.
  const watch = new ReplyWatch(
    cfg.replyTimeoutMs ?? 0,
    (silentMs) => {
      const old = client;
      client = newRedisClient(options);
      attach(client);
      client.connect().catch(() => undefined); // its failures reach the 'error' listener
      emit(
        new ConnectionError(
          `${endpoint} (db ${opts.db}): no reply for ${silentMs} ms while commands waited (a dead link or a hung server?); reconnecting (${opts.role.toUpperCase()}_REDIS_REPLY_TIMEOUT_MS)`,
          { retryable: true },
        ),
      );
      old.destroy();
    },
    endpoint,
  );
  // Not watched: node-redis's pre-write deadline, shared (command-deadline.ts).
  const where = `${endpoint} (db ${opts.db})`;
  const send = watch.active
    ? (args: readonly (string | Buffer)[]) =>
        watch.track(args, client.sendCommand(args as (string | Buffer)[]) as Promise<Reply>)
    : (args: readonly (string | Buffer)[]) =>
        sendWithDeadline(where, (o) => client.sendCommand(args as (string | Buffer)[], o) as Promise<Reply>);
  return {
    endpoint,
    db: opts.db,
    send,
    isReady: () => client.isReady,
    close: async () => {
      watch.close();
      if (client.isOpen) {
        try {
          await client.close();
        } catch {
          client.destroy();
        }
      }
    },
    onError: (l) => listeners.push(l),
  };
}

/**
 * node-redis's cluster client: seeds from TARGET_REDIS_CLUSTER_NODES; auth, TLS, reconnect and
 * name of every node from `defaults` (the client uses only host/port of the seeds).
 *
 * A silent node (cluster.ts): with TARGET_REDIS_REPLY_TIMEOUT_MS, every node socket has
 * node-redis's `socketTimeout` of that plus WAIT's own time (TARGET_REDIS_REPLICA_ACK_TIMEOUT_MS):
 * a socket with no traffic at all for that long is closed (SocketTimeoutError, retryable) and
 * reconnected, failing the commands written to it.
 */
function newCluster(cfg: RedisEndpointConfig, opts: ConnectOptions): NodeCluster {
  const seeds = cfg.cluster?.nodes ?? [];
  const first = seeds[0] ?? { host: cfg.host, port: cfg.port };
  // No ReplyWatch here: no node-redis timer per command either; cluster.ts sends every command
  // with the shared pre-write deadline (command-deadline.ts).
  const o = redisClientOptions({ ...cfg, ...first }, { ...opts, db: 0 }, true, 0);
  const replyTimeoutMs = cfg.replyTimeoutMs ?? 0;
  const socketTimeout = isWatched(replyTimeoutMs) ? replyTimeoutMs + (cfg.replicaAckTimeoutMs ?? 0) : 0;
  const socket: Partial<typeof o.socket> & { socketTimeout?: number } = {
    ...o.socket,
    ...(socketTimeout > 0 ? { socketTimeout } : {}),
  };
  delete socket.host;
  delete socket.port;
  const auth = {
    ...(o.username !== undefined ? { username: o.username } : {}),
    ...(o.password !== undefined ? { password: o.password } : {}),
    ...(o.name !== undefined ? { name: o.name } : {}),
  };
  return createCluster({
    RESP: 2,
    rootNodes: seeds.map((n) => ({ socket: { ...socket, host: n.host, port: n.port } })),
    defaults: { ...auth, socket },
    commandOptions: o.commandOptions,
    maxCommandRedirections: 32,
  }) as unknown as NodeCluster;
}

/** Clients of the data nodes (this role's auth and TLS) and of the Sentinels (their own auth). */
function nodeClientFactory(cfg: RedisEndpointConfig, opts: ConnectOptions): ClientFactory {
  const sentinelAuth = { username: cfg.sentinel?.username ?? '', password: cfg.sentinel?.password ?? '' };
  return (node, sentinel) =>
    newRedisClient(
      sentinel
        ? redisClientOptions({ ...cfg, ...node, ...sentinelAuth }, { role: opts.role, db: 0 }, false)
        : redisClientOptions({ ...cfg, ...node }, opts, true, cfg.replyTimeoutMs ?? 0),
    ) as unknown as NodeClient;
}

/** Names the likely cause of a failed connection and the variables to check. */
export function explainRedisFailure(err: unknown, role: 'source' | 'target'): string {
  const v = role.toUpperCase();
  const msg = err === undefined ? '' : errorMessage(err);
  if (/WRONGPASS|NOAUTH|invalid username-password|AUTH failed/i.test(msg)) {
    return `authentication failed (${msg}); check ${v}_REDIS_USERNAME and ${v}_REDIS_PASSWORD`;
  }
  if (/certificate|self.signed|unable to verify|CERT_|SSL|TLS/i.test(msg)) {
    return `TLS failed (${msg}); check ${v}_REDIS_TLS_CA_LOCATION (and the client certificate/key)`;
  }
  if (/ECONNREFUSED/.test(msg)) return `connection refused; is it running? check ${v}_REDIS_HOST and ${v}_REDIS_PORT`;
  if (/ENOTFOUND|EAI_AGAIN/.test(msg)) return `host not found; check ${v}_REDIS_HOST`;
  return `${msg ? `${msg}; ` : ''}is it running and reachable? check ${v}_REDIS_HOST/PORT/PASSWORD`;
}

export function asBuffer(r: Reply | undefined): Buffer {
  if (Buffer.isBuffer(r)) return r;
  if (typeof r === 'string') return Buffer.from(r);
  if (typeof r === 'number') return Buffer.from(String(r));
  throw new Error(`expected a bulk string reply, got ${JSON.stringify(r)}`);
}

export function asArray(r: Reply | undefined): Reply[] {
  if (Array.isArray(r)) return r;
  if (r === null || r === undefined) return [];
  throw new Error(`expected an array reply, got ${typeof r}`);
}

export function asText(r: Reply | undefined): string {
  return asBuffer(r).toString('utf8');
}
