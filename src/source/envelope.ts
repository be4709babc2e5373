/**
 * The JSON envelope one stream entry becomes in Kafka (the record value):
 *
 *   {
 *     "stream": "device:42:stream",   // source stream name
 *     "db": 0,                         // source DB
 *     "id": "1732700000000-0",         // stream entry id (Redis-assigned)
 *     "fields": { "device_id": "42", "temp": "21.5", "blob": "AAEC/w==" },
 *     "base64": ["blob"]               // present only when some values were base64-encoded
 *   }
 *
 * Values that are not valid in SOURCE_REDIS_ENCODING are base64-encoded and their field names
 * listed in `base64`: bytes are never mangled. Field names are decoded the same way (a name that
 * is not valid is base64-encoded and prefixed with "base64:"). A repeated field name keeps its
 * first value in `fields`; later values go to `repeated` as [name, value] pairs.
 *
 * The bytes sent are always those of `JSON.stringify(buildEnvelope(...))` (`envelopeBytes`).
 * For the common entry (UTF-8 source, names and values valid UTF-8 with nothing JSON must
 * escape, no repeated names, no name starting with a digit, which JSON.stringify would move to
 * the front as an array index) those bytes are assembled directly from the entry's Buffers, with
 * no string decoding, stringify or re-encoding: that is most of a message's CPU cost otherwise.
 */
import { isUtf8 } from 'node:buffer';

export type SourceEncoding = 'utf-8' | 'utf8' | 'latin1' | 'ascii';

export interface Envelope {
  stream: string;
  db: number;
  id: string;
  fields: Record<string, string>;
  base64?: string[];
  repeated?: [string, string][];
}

function isValid(buf: Buffer, encoding: SourceEncoding): boolean {
  if (encoding === 'latin1') return true;
  if (encoding === 'ascii') {
    for (const b of buf) if (b > 0x7f) return false;
    return true;
  }
  return isUtf8(buf);
}

function decode(buf: Buffer, encoding: SourceEncoding): string {
  return buf.toString(encoding === 'utf-8' ? 'utf8' : encoding);
}

/** Builds the envelope of one entry. `fields` is the flat [name, value, name, value...] list. */
export function buildEnvelope(
  stream: string,
  db: number,
  id: string,
  fields: readonly Buffer[],
  encoding: SourceEncoding,
): Envelope {
  const env: Envelope = { stream, db, id, fields: Object.create(null) as Record<string, string> };
  for (let i = 0; i + 1 < fields.length; i += 2) {
    const rawName = fields[i] as Buffer;
    const rawValue = fields[i + 1] as Buffer;
    const name = isValid(rawName, encoding) ? decode(rawName, encoding) : `base64:${rawName.toString('base64')}`;
    let value: string;
    if (isValid(rawValue, encoding)) value = decode(rawValue, encoding);
    else {
      value = rawValue.toString('base64');
      (env.base64 ??= []).push(name);
    }
    if (Object.prototype.hasOwnProperty.call(env.fields, name)) (env.repeated ??= []).push([name, value]);
    else env.fields[name] = value;
  }
  return env;
}

const OPEN_FIELDS = Buffer.from(',"fields":{');
const QUOTE = 0x22;
/** Below this length a field is scanned byte by byte (typed-array views cost more than they save). */
const SHORT = 64;

/**
 * The record value of one entry: exactly the bytes of `JSON.stringify(buildEnvelope(...))`,
 * assembled without decoding when the entry allows it (see the top of this file).
 */
export function envelopeBytes(
  stream: string,
  db: number,
  id: string,
  fields: readonly Buffer[],
  encoding: SourceEncoding,
): Buffer {
  return (
    plainEnvelope(stream, db, id, fields, encoding) ??
    Buffer.from(JSON.stringify(buildEnvelope(stream, db, id, fields, encoding)))
  );
}

/**
 * The envelope of a common entry (see the top of this file) written `reserve` bytes into a new
 * Buffer (the caller fills the first `reserve` bytes); undefined when the entry needs the general
 * path (`envelopeBytes`).
 */
export function plainEnvelope(
  stream: string,
  db: number,
  id: string,
  fields: readonly Buffer[],
  encoding: SourceEncoding,
  reserve = 0,
): Buffer | undefined {
  const n = fields.length;
  if ((encoding !== 'utf-8' && encoding !== 'utf8') || n === 0 || n % 2 !== 0) return undefined;
  // {"stream":..,"db":..,"id":" then the id, then ","fields":{ then "name":"value" joined by
  // commas, then }}. An entry id (<ms>-<seq>) is ASCII that JSON writes as is; anything else
  // takes the general path.
  if (!isPlainId(id)) return undefined;
  const head = streamHead(stream, db);
  let total = head.length + id.length + 1 + OPEN_FIELDS.length + 2 + (n / 2 - 1);
  for (let i = 0; i < n; i += 2) {
    const name = fields[i] as Buffer;
    const value = fields[i + 1] as Buffer;
    const first = name[0];
    if (first !== undefined && first >= 0x30 && first <= 0x39) return undefined;
    if (!isPlain(name) || !isPlain(value)) return undefined;
    for (let j = 0; j < i; j += 2) if (name.equals(fields[j] as Buffer)) return undefined;
    total += name.length + value.length + 5;
  }
  const out = Buffer.allocUnsafe(reserve + total);
  out.set(head, reserve);
  let o = reserve + head.length;
  o += out.write(id, o, 'latin1');
  out[o++] = QUOTE;
  out.set(OPEN_FIELDS, o);
  o += OPEN_FIELDS.length;
  for (let i = 0; i < n; i += 2) {
    const name = fields[i] as Buffer;
    const value = fields[i + 1] as Buffer;
    if (i > 0) out[o++] = 0x2c; // ,
    out[o++] = QUOTE;
    out.set(name, o);
    o += name.length;
    out[o++] = QUOTE;
    out[o++] = 0x3a; // :
    out[o++] = QUOTE;
    out.set(value, o);
    o += value.length;
    out[o++] = QUOTE;
  }
  out[o++] = 0x7d; // }
  out[o++] = 0x7d;
  return out;
}

/**
 * `{"stream":<name>,"db":<db>,"id":"` of a stream, made once per stream (JSON.stringify of the
 * name and a Buffer per entry were a tenth of the envelope's cost). Forgotten all at once when
 * it holds HEAD_CACHE_MAX streams, so streams that come and go cannot grow it without bound.
 */
const heads = new Map<number, Map<string, Buffer>>();
let headCount = 0;
const HEAD_CACHE_MAX = 10_000;

function streamHead(stream: string, db: number): Buffer {
  let ofDb = heads.get(db);
  const cached = ofDb?.get(stream);
  if (cached) return cached;
  if (headCount >= HEAD_CACHE_MAX) {
    heads.clear();
    headCount = 0;
    ofDb = undefined;
  }
  if (!ofDb) heads.set(db, (ofDb = new Map()));
  const text = `{"stream":${JSON.stringify(stream)},"db":${JSON.stringify(db)},"id":"`;
  // Not from the shared pool: a cached head must not keep an 8 KB pool slab alive.
  const head = Buffer.allocUnsafeSlow(Buffer.byteLength(text));
  head.write(text);
  ofDb.set(stream, head);
  headCount += 1;
  return head;
}

/** Digits and '-' only (every Redis stream entry id): JSON.stringify adds nothing but the quotes. */
function isPlainId(id: string): boolean {
  if (id.length === 0) return false;
  for (let i = 0; i < id.length; i += 1) {
    const c = id.charCodeAt(i);
    if (c !== 0x2d && (c < 0x30 || c > 0x39)) return false;
  }
  return true;
}

/**
 * Valid UTF-8 that JSON.stringify writes as is: no control character, quote or backslash.
 * Long values are scanned 4 bytes at a time (exact SWAR tests: a byte below 0x20, a byte equal
 * to 0x22 or 0x5c), their unaligned head and tail byte by byte.
 */
function isPlain(buf: Buffer): boolean {
  if (buf.length < SHORT) {
    for (let i = 0; i < buf.length; i += 1) if (escaped(buf[i] as number)) return false;
    return isUtf8(buf);
  }
  const start = buf.byteOffset;
  const end = start + buf.length;
  const head = (start + 3) & ~3;
  const tail = end & ~3;
  const bytes = new Uint8Array(buf.buffer);
  for (let i = start; i < head; i += 1) if (escaped(bytes[i] as number)) return false;
  for (let i = tail; i < end; i += 1) if (escaped(bytes[i] as number)) return false;
  const words = new Uint32Array(buf.buffer, head, (tail - head) >> 2);
  let bad = 0;
  for (let i = 0; i < words.length; i += 1) {
    const w = words[i] as number;
    const q = w ^ 0x22222222;
    const s = w ^ 0x5c5c5c5c;
    bad |= ((w - 0x20202020) & ~w) | ((q - 0x01010101) & ~q) | ((s - 0x01010101) & ~s);
  }
  return (bad & 0x80808080) === 0 && isUtf8(buf);
}

function escaped(b: number): boolean {
  return b < 0x20 || b === QUOTE || b === 0x5c;
}

/** The value of field `name` in a flat field list, or undefined. */
export function fieldValue(fields: readonly Buffer[], name: string): Buffer | undefined {
  for (let i = 0; i + 1 < fields.length; i += 2) {
    const f = fields[i] as Buffer;
    if (f.length === name.length && f.toString('latin1') === name) return fields[i + 1];
  }
  return undefined;
}

/** Decodes an envelope's value back to bytes (for consumers and tests). */
export function envelopeValue(env: Envelope, name: string): Buffer | undefined {
  const v = env.fields[name];
  if (v === undefined) return undefined;
  return env.base64?.includes(name) ? Buffer.from(v, 'base64') : Buffer.from(v, 'utf8');
}
