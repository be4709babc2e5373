/**
 * The source side of key-value change capture: keyspace notifications, the snapshot scan and
 * value reads. What to do with them (windows, envelopes, the pipeline) is engine/key-capture.ts.
 *
 * Notifications. `ensureKeyspaceNotifications` reads `notify-keyspace-events` and adds the
 * classes capture needs (REQUIRED_CLASSES: K = keyspace channel, g generic (del, rename, expire,
 * move, copy), $ string, h hash, l list, s set, z zset, x expired, e evicted), keeping every class
 * already set; `A` already includes all but K. It never removes classes and never restores them:
 * other instances may rely on them. The capture checks again before every snapshot, since a
 * restarted server forgets a CONFIG SET. A refused CONFIG SET (renamed command, ACL) is fatal
 * (KeyspaceEventsError names the setting and the value to configure by hand); a refused CONFIG
 * GET (managed Redis) cannot be checked and is only logged.
 *
 * Subscription. One PSUBSCRIBE `__keyspace@<db>__:*` per DB, on one dedicated connection (a
 * subscribed connection can run nothing else). Keyspace rather than keyevent channels: the
 * channel carries the key and the message the event, one subscription per DB delivers each event
 * exactly once (overlapping patterns of KEY_SYNC_PATTERNS would deliver it once per pattern),
 * and RENAME's rename_from/rename_to arrive next to each other, so they can be paired. Keys are
 * filtered client-side, byte-wise, as Redis would match them.
 *
 * Invariant: `onResubscribed` is called only once the subscriptions are active again after a
 * reconnect (node-redis emits `ready` after its resubscribe commands were confirmed), so a
 * snapshot started from it misses nothing that happened while disconnected.
 */
import { ErrorReply } from '@redis/client';
import type { RedisEndpointConfig } from '../config/config.js';
import { ConnectionError, errorMessage, SyncError } from '../errors.js';
import type { Logger } from '../observability/logger.js';
import {
  asArray,
  asBuffer,
  asText,
  endpointName,
  newRedisClient,
  redisClientOptions,
  type RedisConnection,
  type Reply,
} from '../redis/client.js';
import { LuaScript } from '../redis/lua-script.js';
import type { KeyRead } from './key-envelope.js';

export const NOTIFY_SETTING = 'notify-keyspace-events';
export const REQUIRED_CLASSES = 'Kg$hlszxe';
/** The classes `A` stands for (Redis 7: g$lshzxetd; older servers a subset of that). */
const ALIAS_A = 'g$lshzxetd';

/** Key capture cannot work: keyspace notifications are off and may not be switched on from here. */
export class KeyspaceEventsError extends SyncError {
  static override readonly CODE = 'KEYSPACE_EVENTS_DISABLED';
}

/**
 * The `notify-keyspace-events` value with every REQUIRED_CLASSES flag added to `current` (kept
 * as is), or undefined when `current` already has them all.
 */
export function mergeNotifyFlags(current: string): string | undefined {
  const have = new Set(current.replace(/A/g, ALIAS_A));
  const missing = [...REQUIRED_CLASSES].filter((c) => !have.has(c));
  return missing.length === 0 ? undefined : current + missing.join('');
}

/** Makes sure the source publishes the keyspace events capture needs. See the module comment. */
export async function ensureKeyspaceNotifications(conn: RedisConnection, log: Logger): Promise<void> {
  let current: string;
  try {
    const reply = asArray(await conn.send(['CONFIG', 'GET', NOTIFY_SETTING]));
    if (reply.length < 2) throw new ErrorReply(`ERR the server does not know ${NOTIFY_SETTING}`);
    current = asText(reply[1]);
  } catch (err) {
    if (!(err instanceof ErrorReply)) throw err; // not a refusal: the connection failed, retry
    log.warn(
      { endpoint: conn.endpoint, err: errorMessage(err) },
      `cannot read ${NOTIFY_SETTING} (CONFIG GET refused); make sure it contains "${REQUIRED_CLASSES}" (or "AK"), otherwise only the snapshots at start and reconnect are synced`,
    );
    return;
  }
  const wanted = mergeNotifyFlags(current);
  if (wanted === undefined) return;
  try {
    await conn.send(['CONFIG', 'SET', NOTIFY_SETTING, wanted]);
  } catch (err) {
    if (!(err instanceof ErrorReply)) throw err;
    throw new KeyspaceEventsError(
      `${conn.endpoint} refused CONFIG SET ${NOTIFY_SETTING} ${wanted} (${errorMessage(err)}). Key capture needs keyspace notifications: ` +
        `put "${NOTIFY_SETTING} ${wanted}" in that server's redis.conf (or have an administrator run CONFIG SET ${NOTIFY_SETTING} ${wanted}), ` +
        'or set KEY_SYNC_ENABLED=false',
      { cause: err },
    );
  }
  log.info(
    { endpoint: conn.endpoint, from: current, to: wanted },
    `enabled keyspace notifications (${NOTIFY_SETTING})`,
  );
}

export interface KeyspaceEvent {
  readonly db: number;
  readonly key: Buffer;
  /** The event name: set, hset, del, expired, rename_from, ... */
  readonly event: string;
}

export interface SubscriberHandlers {
  onEvent(e: KeyspaceEvent): void;
  /** The subscriber reconnected and its subscriptions are active again. */
  onResubscribed(): void;
  onError(err: Error): void;
}

function subscriberClient(cfg: RedisEndpointConfig, name: string) {
  return newRedisClient(redisClientOptions(cfg, { role: 'source', db: 0, name }));
}

/** One connection PSUBSCRIBEd to `__keyspace@<db>__:*` for each DB; reconnects forever. */
export class KeyspaceSubscriber {
  private client: ReturnType<typeof subscriberClient> | undefined;
  private subscribed = false;
  readonly endpoint: string;

  constructor(
    private readonly cfg: RedisEndpointConfig,
    private readonly dbs: readonly number[],
    readonly name: string,
    private readonly handlers: SubscriberHandlers,
  ) {
    this.endpoint = endpointName(cfg, 'source');
  }

  get isReady(): boolean {
    return this.client?.isReady ?? false;
  }

  /** Connects and subscribes; resolves once every subscription is confirmed. */
  async start(signal: AbortSignal): Promise<void> {
    await this.close(); // a previous attempt's client
    const client = subscriberClient(this.cfg, this.name);
    this.client = client;
    client.on('error', (err: unknown) =>
      this.handlers.onError(
        new ConnectionError(`${this.endpoint} (keyspace subscriber): ${errorMessage(err)}`, {
          retryable: true,
          cause: err,
        }),
      ),
    );
    client.on('ready', () => {
      if (this.subscribed) this.handlers.onResubscribed();
    });
    const abort = (): void => client.destroy();
    signal.addEventListener('abort', abort, { once: true });
    try {
      await client.connect();
      for (const db of this.dbs) {
        const prefixLength = `__keyspace@${db}__:`.length;
        await client.pSubscribe(
          `__keyspace@${db}__:*`,
          (message: Buffer, channel: Buffer) =>
            this.handlers.onEvent({ db, key: channel.subarray(prefixLength), event: message.toString('latin1') }),
          true,
        );
      }
      this.subscribed = true;
    } finally {
      signal.removeEventListener('abort', abort);
    }
  }

  async close(): Promise<void> {
    const c = this.client;
    this.client = undefined;
    this.subscribed = false;
    if (!c?.isOpen) return;
    try {
      await c.close();
    } catch {
      c.destroy();
    }
  }
}

/** One SCAN page of keys matching `pattern` (Redis glob, server side). */
export async function scanPage(
  conn: RedisConnection,
  cursor: string,
  pattern: string,
  count: number,
): Promise<{ cursor: string; keys: Buffer[] }> {
  const reply = asArray(await conn.send(['SCAN', cursor, 'MATCH', pattern, 'COUNT', String(count)]));
  return { cursor: asText(reply[0]), keys: asArray(reply[1]).map(asBuffer) };
}

const READ_KEYS = new LuaScript(new URL('./scripts/read_keys.lua', import.meta.url));

/**
 * Reads type, TTL and value of each key (read_keys.lua, one call; each key atomic), with values
 * over `maxValueBytes` left out. On the connection's DB. Results in the order of `keys`.
 */
export async function readKeys(
  conn: RedisConnection,
  keys: readonly Buffer[],
  maxValueBytes: number,
): Promise<KeyRead[]> {
  if (keys.length === 0) return [];
  const reply = await READ_KEYS.run(conn, keys, [String(maxValueBytes)]);
  return asArray(reply).map(parseRead);
}

function parseRead(r: Reply): KeyRead {
  const a = asArray(r);
  const num = (i: number): number => Number(asText(a[i]));
  return {
    type: asText(a[0]),
    pttl: num(1),
    elements: num(2),
    size: num(3),
    tooLarge: num(4) === 1,
    items: a.slice(5).map(asBuffer),
  };
}
