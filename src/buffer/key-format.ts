/**
 * Layout of the keys the service writes in the target Redis (generate and parse).
 *
 *   message:      {prefix}msg:{topic}:{id}:{origin}          (value: see message-layout.ts)
 *   sync markers: {prefix}synced:{topic}:w{window}:{origin or its kind} (SET, below)
 *   layout-1 sync marker, read only: {prefix}synced:{topic}:{id}:{origin} (String: sync time)
 *   unsynced set: {prefix}unsynced_keys_set                    (SET of message keys)
 *   dead letters: {prefix}dead_letters                         (STREAM)
 *   bookkeeping:  {prefix}rks:<name>, today {prefix}rks:last_sync_ms (time of the last marking)
 *
 * `isOwnKey` recognises every one of them (any key under {prefix}msg:, {prefix}synced:,
 * {prefix}rks:, and the two fixed names): key capture skips them when the source is the target,
 * so the service never sends its own writes to Kafka. A new key the service writes goes here.
 *
 * `topic` is a Kafka topic name (never contains ':'). `id` never contains ':':
 *   - stream entries: the entry id `<ms>-<seq>` as Redis assigned it, so re-reading the same
 *     entry after a crash yields the same key (idempotent buffering, stable id for consumers);
 *   - direct messages and key changes: `<ms>-<counter>-<random>` made here.
 * `origin` is the rest of the key and may contain ':':
 *   - `s{db}:{stream name}` for a stream entry,
 *   - `d:{deviceId}` for a direct message,
 *   - `k{db}:{redis key}` for a key change.
 * The full message key (without prefix) is sent as the `rks-id` Kafka header: a consumer drops a
 * record whose id it has already seen.
 *
 * Sync markers, layout 2 (since issue 13): a message's marker is a member of a Set, the marker set
 * of its topic, origin and 10-minute window of its id's time (`{window}` = the id's leading
 * milliseconds / 600,000), so the set follows from the message key alone:
 *   - stream entry:          set {prefix}synced:{topic}:w{window}:s{db}:{stream},  member {id}
 *   - direct message:        set {prefix}synced:{topic}:w{window}:d,            member {id}:{deviceId}
 *   - key change:            set {prefix}synced:{topic}:w{window}:k{db},        member {id}:{redis key}
 * (a set per stream keeps members short; devices and keys share one set per topic, since most send
 * rarely and a set per device or key would cost more than a String per message). Marking adds a
 * batch's members with one SADD per set and renews the set's TTL (TARGET_REDIS_SYNC_TTL), so every
 * marker lives at least that long after it was written. Against one String with a TTL per message
 * (layout 1): 83-106 instead of 181 bytes per marker in Redis 7.0 for a stream with a message per
 * second or per minute (338 for one every 10 minutes; devices: 99 instead of 161), and about half
 * the marking's server CPU (docs/performance.md). Freeing an expired set of 1,000,000 members
 * stalls Redis ~190 ms (a stream of 1,700 msg/s fills one; `lazyfree-lazy-expire yes` frees it in
 * the background). Layout-1 markers, written by earlier
 * releases, are still honoured where markers are read (put_batch.lua, `synced`); they expire by
 * themselves.
 */
import { randomBytes } from 'node:crypto';

export type Origin =
  | { readonly kind: 'stream'; readonly db: number; readonly stream: string }
  | { readonly kind: 'direct'; readonly deviceId: string }
  | { readonly kind: 'key'; readonly db: number; readonly key: string };

export interface MessageKeyParts {
  readonly topic: string;
  readonly id: string;
  readonly origin: Origin;
}

export const UNSYNCED_SET = 'unsynced_keys_set';
export const DEAD_LETTERS = 'dead_letters';
/** Key (after the prefix) holding the time in ms of the last batch marked synced. */
export const LAST_SYNC_KEY = 'rks:last_sync_ms';
const MSG = 'msg:';
const SYNCED = 'synced:';
/** 's': the first character of a stream entry's origin. */
const S = 0x73;
/** Milliseconds of message-id time one marker set covers (marker layout 2). */
export const MARKER_WINDOW_MS = 600_000;

/** Where a message's sync marker lives (layout 2): `member` of the Set `set`. */
export interface MarkerRef {
  readonly set: string;
  readonly member: string;
}
/** Namespace of the service's own bookkeeping keys (LAST_SYNC_KEY and any future one). */
const OWN = 'rks:';

export class KeyFormat {
  constructor(readonly prefix: string = '') {}

  get unsyncedSet(): string {
    return this.prefix + UNSYNCED_SET;
  }
  /** Every unsynced set: this one (a cluster layout has several: cluster-layout.ts). */
  get unsyncedSets(): readonly string[] {
    return [this.unsyncedSet];
  }
  /** The unsynced set a message key belongs to. */
  unsyncedSetOf(_messageKey: string): string {
    return this.unsyncedSet;
  }
  get deadLetters(): string {
    return this.prefix + DEAD_LETTERS;
  }
  get lastSync(): string {
    return this.prefix + LAST_SYNC_KEY;
  }

  /** True for every key the service writes in the target (see the module comment). Bytes or text. */
  isOwnKey(key: string | Buffer): boolean {
    const name = typeof key === 'string' ? key : key.toString('utf8');
    if (!name.startsWith(this.prefix)) return false;
    const rest = name.slice(this.prefix.length);
    return (
      rest === UNSYNCED_SET ||
      rest === DEAD_LETTERS ||
      rest.startsWith(MSG) ||
      rest.startsWith(SYNCED) ||
      rest.startsWith(OWN)
    );
  }

  /** SCAN MATCH pattern of every message key (prefix glob characters escaped). */
  get messagePattern(): string {
    return `${this.prefix.replace(/[*?[\]\\]/g, '\\$&')}${MSG}*`;
  }

  messageKey(parts: MessageKeyParts): string {
    if (parts.topic.includes(':')) throw new Error(`topic "${parts.topic}" must not contain ':'`);
    if (parts.id.includes(':')) throw new Error(`message id "${parts.id}" must not contain ':'`);
    return `${this.prefix}${MSG}${parts.topic}:${parts.id}:${originText(parts.origin)}`;
  }

  /**
   * The sync marker of a message key (layout 2): a member of the marker set of its topic, origin
   * and window. Total over every key under `{prefix}msg:` (SCAN MATCH may bring a foreign key that
   * is not of the format: it gets the set `{prefix}synced:_`), so recovery and marking never fail
   * on one; throws only for a key outside `{prefix}msg:`.
   */
  marker(messageKey: string): MarkerRef {
    const head = this.headOf(messageKey);
    const at = head.length + MSG.length;
    const c1 = messageKey.indexOf(':', at);
    const c2 = c1 < 0 ? -1 : messageKey.indexOf(':', c1 + 1);
    if (c2 < 0) return { set: `${head}${SYNCED}_`, member: messageKey.slice(at) };
    const id = messageKey.slice(c1 + 1, c2);
    const dash = id.indexOf('-');
    const ms = Number(dash < 0 ? id : id.slice(0, dash));
    const window = Number.isFinite(ms) && ms > 0 ? Math.floor(ms / MARKER_WINDOW_MS) : 0;
    const set = `${head}${SYNCED}${messageKey.slice(at, c1)}:w${window}:`;
    // A direct message or key change: one set per topic and kind (and DB), the device or key in the member.
    const c3 = messageKey.charCodeAt(c2 + 1) === S ? -1 : messageKey.indexOf(':', c2 + 1);
    if (c3 < 0) return { set: set + messageKey.slice(c2 + 1), member: id };
    return { set: set + messageKey.slice(c2 + 1, c3), member: `${id}${messageKey.slice(c3)}` };
  }

  /** Message keys grouped by marker set (`marker`), with their members, in first-seen order. */
  markerSets(messageKeys: readonly string[]): Map<string, { readonly keys: string[]; readonly members: string[] }> {
    const out = new Map<string, { keys: string[]; members: string[] }>();
    for (const k of messageKeys) {
      const { set, member } = this.marker(k);
      const g = out.get(set);
      if (g) {
        g.keys.push(k);
        g.members.push(member);
      } else out.set(set, { keys: [k], members: [member] });
    }
    return out;
  }

  /** The layout-1 sync marker of a message key (a String per message): read, never written. */
  legacyMarkerKey(messageKey: string): string {
    const head = this.headOf(messageKey);
    return head + SYNCED + messageKey.slice(head.length + MSG.length);
  }

  /** What comes before `msg:` in a message key: the prefix (a cluster key adds its tag). */
  protected headOf(messageKey: string): string {
    if (!messageKey.startsWith(this.prefix + MSG)) throw new Error(`"${messageKey}" is not a message key`);
    return this.prefix;
  }

  /** The key without the configured prefix: the stable id sent in Kafka headers. */
  stableId(messageKey: string): string {
    return this.stripPrefix(messageKey);
  }

  parse(messageKey: string): MessageKeyParts | undefined {
    if (!messageKey.startsWith(this.prefix + MSG)) return undefined;
    const rest = messageKey.slice(this.prefix.length + MSG.length);
    const c1 = rest.indexOf(':');
    const c2 = c1 < 0 ? -1 : rest.indexOf(':', c1 + 1);
    if (c1 <= 0 || c2 <= c1 + 1) return undefined;
    const origin = parseOrigin(rest.slice(c2 + 1));
    if (!origin) return undefined;
    return { topic: rest.slice(0, c1), id: rest.slice(c1 + 1, c2), origin };
  }

  private stripPrefix(key: string): string {
    if (!key.startsWith(this.prefix)) throw new Error(`key "${key}" lacks prefix "${this.prefix}"`);
    return key.slice(this.prefix.length);
  }
}

function originText(o: Origin): string {
  switch (o.kind) {
    case 'stream':
      return `s${o.db}:${o.stream}`;
    case 'direct':
      return `d:${o.deviceId}`;
    case 'key':
      return `k${o.db}:${o.key}`;
  }
}

function parseOrigin(text: string): Origin | undefined {
  const m = /^([sdk])(\d*):([\s\S]*)$/.exec(text);
  if (!m) return undefined;
  const [, kind, db, name] = m as unknown as [string, string, string, string];
  if (kind === 'd') return db === '' ? { kind: 'direct', deviceId: name } : undefined;
  if (db === '') return undefined;
  return kind === 's' ? { kind: 'stream', db: Number(db), stream: name } : { kind: 'key', db: Number(db), key: name };
}

let counter = 0;
const instanceTag = randomBytes(3).toString('hex');

/** A new id for a direct message or key change: time-ordered within this process, unique across. */
export function newMessageId(nowMs: number = Date.now()): string {
  counter = (counter + 1) % 1_000_000_000;
  return `${nowMs}-${counter}-${instanceTag}`;
}
