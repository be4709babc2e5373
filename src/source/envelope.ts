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
