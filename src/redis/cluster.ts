/**
 * A RedisConnection to a Redis Cluster (the target only), on node-redis's cluster client: it
 * discovers the nodes from the seeds, routes each command to the master of its key's slot and
 * follows MOVED / ASK and topology changes (failovers, resharding) by itself.
 *
 * Routing of `send(args)`: a script call (EVALSHA/EVAL) by its first key, a keyless command
 * (PING, INFO, WAIT...) to any node, every other command by its first argument. A command that
 * must reach one node on purpose (WAIT after a write, SCAN of one master) uses `sendTo(key)` or
 * `masters()`. Multi-key commands (DEL, EXISTS, UNLINK) whose keys span slots are split per slot.
 *
 * A silent node: no ReplyWatch (reply-watch.ts), since node-redis manages the node sockets; with
 * TARGET_REDIS_REPLY_TIMEOUT_MS each node socket has node-redis's `socketTimeout` instead (that
 * plus WAIT's time, TARGET_REDIS_REPLICA_ACK_TIMEOUT_MS): a socket with no traffic at all for that
 * long is closed and reconnected, failing what was written to it (SocketTimeoutError, retryable).
 * An idle node socket is reconnected that way too (harmless: nothing waited on it). node-redis's
 * pre-write deadline is kept, shared (command-deadline.ts): every command goes through
 * `sendWithDeadline`, the client has no timer per command.
 *
 * Contract: every key of one script call must hash to one slot (the cluster key layout puts a
 * hash tag in every key of a batch: buffer/cluster-layout.ts); CROSSSLOT is a bug, not retried.
 */
import type { RedisEndpointConfig } from '../config/config.js';
import { ConnectionError, errorMessage } from '../errors.js';
import type { ConnectOptions, RedisConnection, Reply } from './client.js';
import { sendWithDeadline } from './command-deadline.js';

type CommandDeadline = { abortSignal: AbortSignal };

/** What the cluster buffer needs beyond RedisConnection. */
export interface ClusterRouting {
  /** Sends `args` to the master of `key`'s slot (on the connection that wrote it: WAIT). */
  sendTo(key: string | Buffer, args: readonly (string | Buffer)[]): Promise<Reply>;
  /** One connection per master, for commands that must visit every master (SCAN). */
  masters(): Promise<RedisConnection[]>;
}

export type ClusterConnection = RedisConnection & ClusterRouting;

export function isCluster(conn: RedisConnection): conn is ClusterConnection {
  return typeof (conn as Partial<ClusterRouting>).masters === 'function';
}

/** The node-redis cluster client surface used here. */
export interface NodeCluster {
  readonly isReady: boolean;
  readonly isOpen: boolean;
  readonly masters: readonly { readonly host: string; readonly port: number }[];
  connect(): Promise<unknown>;
  sendCommand(
    firstKey: string | Buffer | undefined,
    isReadonly: boolean | undefined,
    args: (string | Buffer)[],
    options?: CommandDeadline,
  ): Promise<unknown>;
  nodeClient(node: unknown): Promise<{
    sendCommand(args: (string | Buffer)[], options?: CommandDeadline & { timeout?: number }): Promise<unknown>;
    readonly isReady: boolean;
  }>;
  close(): Promise<void>;
  destroy(): void;
  on(event: 'error', listener: (err: unknown) => void): unknown;
}

const KEYLESS = new Set(['PING', 'INFO', 'WAIT', 'ROLE', 'CLUSTER', 'DBSIZE', 'TIME', 'CLIENT', 'CONFIG', 'SCAN']);
const MULTI_KEY = new Set(['DEL', 'UNLINK', 'EXISTS']);

/** The key a command is routed by (undefined: any node). */
export function routingKey(args: readonly (string | Buffer)[]): string | Buffer | undefined {
  const name = String(args[0] ?? '').toUpperCase();
  if (name === 'EVALSHA' || name === 'EVAL' || name === 'EVALSHA_RO' || name === 'EVAL_RO' || name === 'FCALL')
    return Number(String(args[2] ?? '0')) > 0 ? args[3] : undefined;
  if (KEYLESS.has(name)) return undefined;
  return args[1];
}

export function clusterEndpoint(cfg: RedisEndpointConfig, role: string): string {
  const seeds = (cfg.cluster?.nodes ?? []).map((n) => `${n.host}:${n.port}`).join(',');
  return `${role} Redis Cluster ${cfg.tls ? 'rediss' : 'redis'}://${seeds}`;
}

export async function connectCluster(
  cfg: RedisEndpointConfig,
  opts: ConnectOptions,
  make: () => NodeCluster,
): Promise<ClusterConnection> {
  const endpoint = clusterEndpoint(cfg, opts.role);
  const cluster = make();
  const listeners: ((err: Error) => void)[] = [];
  cluster.on('error', (err) => {
    const wrapped = new ConnectionError(`${endpoint}: ${errorMessage(err)}`, { retryable: true, cause: err });
    for (const l of listeners) l(wrapped);
  });
  const timeoutMs = opts.connectTimeoutMs ?? 10_000;
  let timer: NodeJS.Timeout | undefined;
  try {
    await Promise.race([
      cluster.connect(),
      new Promise<never>((_, reject) => {
        timer = setTimeout(
          () =>
            reject(
              new ConnectionError(
                `${endpoint}: no connection within ${timeoutMs} ms; check TARGET_REDIS_CLUSTER_NODES and the credentials`,
                { retryable: true },
              ),
            ),
          timeoutMs,
        );
      }),
    ]);
  } catch (err) {
    cluster.destroy();
    throw err instanceof ConnectionError
      ? err
      : new ConnectionError(`${endpoint}: ${errorMessage(err)}`, { retryable: true, cause: err });
  } finally {
    clearTimeout(timer);
  }
  const send = async (args: readonly (string | Buffer)[]): Promise<Reply> => {
    const name = String(args[0] ?? '').toUpperCase();
    if (MULTI_KEY.has(name) && args.length > 2) {
      // One call per key keeps it simple and slot-safe; the client pipelines them.
      const replies = await sendWithDeadline(endpoint, (o) =>
        Promise.all(
          args.slice(1).map((k) => cluster.sendCommand(k, false, [args[0] as string, k], o) as Promise<number>),
        ),
      );
      return replies.reduce((a, b) => a + Number(b), 0);
    }
    return (await sendWithDeadline(endpoint, (o) =>
      cluster.sendCommand(routingKey(args), false, args as (string | Buffer)[], o),
    )) as Reply;
  };
  const conn: ClusterConnection = {
    endpoint,
    db: 0,
    send,
    sendTo: async (key, args) =>
      (await sendWithDeadline(endpoint, (o) =>
        cluster.sendCommand(key, false, args as (string | Buffer)[], o),
      )) as Reply,
    async masters() {
      return Promise.all(
        cluster.masters.map(async (m) => {
          const client = await cluster.nodeClient(m);
          const one: RedisConnection = {
            endpoint: `${endpoint} master ${m.host}:${m.port}`,
            db: 0,
            // A node client has node-redis's default timer: off, for the shared deadline.
            send: async (args) =>
              (await sendWithDeadline(one.endpoint, (o) =>
                client.sendCommand(args as (string | Buffer)[], { timeout: 0, ...o }),
              )) as Reply,
            isReady: () => client.isReady,
            close: async () => undefined, // owned by the cluster client
            onError: (l) => listeners.push(l),
          };
          return one;
        }),
      );
    },
    isReady: () => cluster.isReady,
    close: async () => {
      if (cluster.isOpen) await cluster.close().catch(() => cluster.destroy());
    },
    onError: (l) => listeners.push(l),
  };
  return conn;
}
