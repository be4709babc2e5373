/**
 * The JSON envelope one key change becomes in Kafka (the record value; the record key is the
 * Redis key's bytes, so the changes of one key stay in one partition, in order):
 *
 *   {
 *     "db": 0,                        // source DB
 *     "key": "user:42",               // the Redis key
 *     "op": "set",                    // set | del | expired | evicted | renamed | snapshot
 *     "type": "hash",                 // string | hash | list | set | zset | stream | module type
 *     "ttlMs": 5000,                  // time left before expiry, when the key has one
 *     "elements": 2,                  // 1 for a string, the cardinality of a collection
 *     "size": 11,                     // bytes of the value (see read_keys.lua)
 *     "value": { "name": "Ada", "pic": "/9j/" },
 *     "base64": ["pic"],              // present only when some parts were base64-encoded
 *     "at": 1732700000000             // when the value was read (ms)
 *   }
 *
 * Operations
 *  - set: the key was written (any command); `value` is read after the notification, so it is
 *    the value at that moment, possibly newer than the write that triggered it.
 *  - del / expired / evicted: the key is gone (DEL/UNLINK or emptied, TTL, maxmemory); no value.
 *    A written key found gone when its value is read is sent as `del`.
 *  - renamed: RENAME old new. Two records: `{"op":"del","key":old,"renamedTo":new}` under the old
 *    key, and `{"op":"renamed","key":new,"from":old, value...}` under the new one, so a consumer
 *    keyed by Redis key sees the old one disappear in the old key's partition order.
 *  - snapshot: the current value of a matching key, sent at start and after each reconnect of
 *    the notification subscriber (notifications are fire-and-forget); treat it like `set`.
 *
 * Values by type: string -> string; hash -> {field: value}; list -> [item, ...] in order;
 * set -> [member, ...] sorted by bytes; zset -> [[member, score], ...] in score order, the score
 * a JSON number, or the string "inf"/"-inf". Binary safety follows the stream envelope: text not
 * valid in SOURCE_REDIS_ENCODING is base64-encoded and listed in `base64` (hash: the field name;
 * string, list, set, zset: the index in `value`, a string being index 0); a key, field or rename
 * name that is not valid is written "base64:<bytes in base64>". A value over
 * KEY_SYNC_MAX_VALUE_BYTES is omitted and `"tooLarge": true` is set; `size`/`elements` still say how
 * big it was (`size` is absent when the collection had more elements than the cap).
 */
import { isUtf8 } from 'node:buffer';
import { globToRegExp } from '../util/glob.js';
import type { SourceEncoding } from './envelope.js';

export type KeyOp = 'set' | 'del' | 'expired' | 'evicted' | 'renamed' | 'snapshot';

/** One captured change, before its value is read. Keys and names are raw bytes. */
export interface KeyChange {
  readonly db: number;
  readonly key: Buffer;
  readonly op: KeyOp;
  /** For `renamed`: the old name. */
  readonly from?: Buffer;
  /** For the `del` of a renamed key: the new name. */
  readonly renamedTo?: Buffer;
}

/** What read_keys.lua returned for one key. */
export interface KeyRead {
  readonly type: string;
  readonly pttl: number;
  readonly elements: number;
  readonly size: number;
  readonly tooLarge: boolean;
  readonly items: readonly Buffer[];
}

export type ZsetScore = number | 'inf' | '-inf';
export type KeyValue = string | Record<string, string> | string[] | [string, ZsetScore][];

export interface KeyEnvelope {
  db: number;
  key: string;
  op: KeyOp;
  type?: string;
  from?: string;
  renamedTo?: string;
  ttlMs?: number;
  elements?: number;
  size?: number;
  tooLarge?: true;
  value?: KeyValue;
  base64?: (string | number)[];
  at: number;
}

/** Ops that carry a value (read after the notification). */
export function needsValue(op: KeyOp): boolean {
  return op === 'set' || op === 'renamed' || op === 'snapshot';
}

/**
 * The op a keyspace event (the message of `__keyspace@<db>__:<key>`) stands for, or undefined
 * for events that change no value: expire/persist (TTL only), new, keymiss, stream events (streams
 * are synced by the stream pipeline) and the rename pair, which the capture pairs up itself.
 */
export function eventOp(event: string): KeyOp | undefined {
  switch (event) {
    case 'del':
    case 'move_from':
      return 'del';
    case 'expired':
      return 'expired';
    case 'evicted':
      return 'evicted';
    case 'expire':
    case 'persist':
    case 'hexpire':
    case 'hpersist':
    case 'new':
    case 'keymiss':
    case 'rename_from':
    case 'rename_to':
      return undefined;
    default:
      return event.startsWith('x') ? undefined : 'set';
  }
}

function isValid(buf: Buffer, encoding: SourceEncoding): boolean {
  if (encoding === 'latin1') return true;
  if (encoding === 'ascii') {
    for (const b of buf) if (b > 0x7f) return false;
    return true;
  }
  return isUtf8(buf);
}

/** Text of `buf`, or its base64 when not valid in `encoding` (same rule as the stream envelope). */
function text(buf: Buffer, encoding: SourceEncoding): { text: string; base64: boolean } {
  if (isValid(buf, encoding)) return { text: buf.toString(encoding === 'utf-8' ? 'utf8' : encoding), base64: false };
  return { text: buf.toString('base64'), base64: true };
}

/** A key, field or rename name: its text, or "base64:<base64>" when not valid. */
export function nameText(buf: Buffer, encoding: SourceEncoding): string {
  const t = text(buf, encoding);
  return t.base64 ? `base64:${t.text}` : t.text;
}

function score(buf: Buffer): ZsetScore {
  const s = buf.toString('latin1');
  if (s === 'inf' || s === '+inf') return 'inf';
  if (s === '-inf') return '-inf';
  return Number(s);
}

/**
 * The envelope of one change. `read` is the value read for it (set/renamed/snapshot), undefined
 * for deletions. A read that found the key gone turns the change into `del`.
 */
export function buildKeyEnvelope(
  change: KeyChange,
  read: KeyRead | undefined,
  encoding: SourceEncoding,
  atMs: number,
): KeyEnvelope {
  const gone = read !== undefined && read.type === 'none';
  const op: KeyOp = gone ? 'del' : change.op;
  const env: Omit<KeyEnvelope, 'at'> = { db: change.db, key: nameText(change.key, encoding), op };
  if (change.from && !gone) env.from = nameText(change.from, encoding);
  if (change.renamedTo) env.renamedTo = nameText(change.renamedTo, encoding);
  if (read && !gone) {
    env.type = read.type;
    if (read.pttl >= 0) env.ttlMs = read.pttl;
    env.elements = read.elements;
    if (read.size >= 0) env.size = read.size;
    if (read.tooLarge) env.tooLarge = true;
    else {
      const flagged: (string | number)[] = [];
      const value = valueOf(read, encoding, flagged);
      if (value !== undefined) env.value = value;
      if (flagged.length > 0) env.base64 = flagged;
    }
  }
  return { ...env, at: atMs };
}

function valueOf(read: KeyRead, encoding: SourceEncoding, flagged: (string | number)[]): KeyValue | undefined {
  const items = read.items;
  const item = (buf: Buffer, index: number): string => {
    const t = text(buf, encoding);
    if (t.base64) flagged.push(index);
    return t.text;
  };
  switch (read.type) {
    case 'string':
      return item(items[0] ?? Buffer.alloc(0), 0);
    case 'hash': {
      const out = Object.create(null) as Record<string, string>;
      for (let i = 0; i + 1 < items.length; i += 2) {
        const name = nameText(items[i] as Buffer, encoding);
        const t = text(items[i + 1] as Buffer, encoding);
        if (t.base64) flagged.push(name);
        out[name] = t.text;
      }
      return out;
    }
    case 'list':
      return items.map(item);
    case 'set':
      return [...items].sort(Buffer.compare).map(item);
    case 'zset': {
      const out: [string, ZsetScore][] = [];
      for (let i = 0; i + 1 < items.length; i += 2)
        out.push([item(items[i] as Buffer, out.length), score(items[i + 1] as Buffer)]);
      return out;
    }
    default:
      return undefined;
  }
}

export type DecodedKeyValue = Buffer | Record<string, Buffer> | Buffer[] | [Buffer, ZsetScore][];

/** Decodes an envelope's value back to bytes (for consumers and tests). */
export function keyEnvelopeValue(env: KeyEnvelope): DecodedKeyValue | undefined {
  const v = env.value;
  if (v === undefined) return undefined;
  const flagged = new Set(env.base64 ?? []);
  const bytes = (s: string, flag: string | number): Buffer => Buffer.from(s, flagged.has(flag) ? 'base64' : 'utf8');
  if (typeof v === 'string') return bytes(v, 0);
  if (!Array.isArray(v)) return Object.fromEntries(Object.entries(v).map(([k, s]) => [k, bytes(s, k)]));
  if (env.type === 'zset')
    return (v as [string, ZsetScore][]).map(([m, s], i): [Buffer, ZsetScore] => [bytes(m, i), s]);
  return (v as string[]).map((s, i) => bytes(s, i));
}

/**
 * Ordered glob -> value map over key BYTES, like Redis' own matching (SCAN MATCH, PSUBSCRIBE):
 * patterns are taken as their UTF-8 bytes, so `?` is one byte and any key, even binary, matches
 * here exactly when the server would match it. First matching pattern wins.
 */
export class KeyPatternMap<V> {
  private readonly rules: { re: RegExp; value: V }[];
  constructor(entries: Iterable<readonly [string, V]>) {
    this.rules = [...entries].map(([g, value]) => ({
      re: globToRegExp(Buffer.from(g, 'utf8').toString('latin1')),
      value,
    }));
  }
  /** Index of the first matching rule, or -1. */
  indexOf(key: Buffer): number {
    const s = key.toString('latin1');
    return this.rules.findIndex((r) => r.re.test(s));
  }
  match(key: Buffer): V | undefined {
    return this.rules[this.indexOf(key)]?.value;
  }
}
