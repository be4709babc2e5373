/**
 * The value stored under a message key in the target Redis, by layout version. Every reader
 * (resync's fetch, tests, tools) goes through `decodeMessage`, which reads both versions; only
 * the current one is written.
 *
 * Version 2 (written since issue 13): one String
 *
 *   offset  size  content
 *   0       1     layout version: 2
 *   1       6     created: epoch milliseconds, unsigned big-endian
 *   7       2     T: byte length of the topic, unsigned big-endian
 *   9       4     K: byte length of the Kafka record key, unsigned big-endian
 *   13      T     topic (UTF-8)
 *   13+T    K     Kafka record key (bytes)
 *   13+T+K  rest  payload (bytes, as sent to Kafka)
 *
 * Version 1 (before): a Hash with the fields `topic`, `key` (Kafka record key), `payload` and
 * `created` (decimal epoch ms). Still read, so messages buffered by an older version are sent
 * after an upgrade; never written (writing a message replaces the whole key).
 *
 * Why a String: a whole batch is then written by one MSET (see TargetBuffer.put). Measured on
 * the target Redis, 1 KB messages in batches of 1000 (bench/target-levers.ts): 3.4-3.7 µs of
 * server CPU per message for MULTI + MSET + SADD + EXEC against 12-19 µs for the HSET per message
 * of the v1 script, and ~60 B less memory per message (no hashtable for a 1 KB field).
 * The key names, the unsynced set, the markers and their TTLs are the same in both versions.
 */
import type { Reply } from '../redis/client.js';

export const LAYOUT_VERSION = 2;
const HEADER = 13;
const MAX_CREATED = 2 ** 48 - 1;

export interface MessageValue {
  readonly topic: string;
  readonly kafkaKey: Buffer;
  readonly payload: Buffer;
  readonly createdMs: number;
}

/** The version-2 value of a message. */
export function encodeMessage(topic: string, kafkaKey: Buffer, payload: Buffer, createdMs: number): Buffer {
  const at = valueHeadLength(topic, kafkaKey.length);
  const out = Buffer.allocUnsafe(at + payload.length);
  writeValueHead(out, topic, kafkaKey);
  payload.copy(out, at);
  return stampCreated(out, createdMs);
}

/** Where the payload starts in the version-2 value of a message with this topic and record key. */
export function valueHeadLength(topic: string, kafkaKeyLength: number): number {
  const t = Buffer.byteLength(topic, 'utf8');
  if (t > 0xffff) throw new Error(`topic "${topic.slice(0, 40)}..." is longer than 65535 bytes`);
  return HEADER + t + kafkaKeyLength;
}

/**
 * Writes everything of a version-2 value before the payload into `out` (created: 0, see
 * `stampCreated`); returns where the record key was written. For values built in place: the
 * stream reader writes the envelope behind this head, so the buffer write sends the message's
 * own bytes (`Message.value`) instead of a copy.
 */
export function writeValueHead(out: Buffer, topic: string, kafkaKey: Buffer | string): number {
  const t = out.write(topic, HEADER, 'utf8');
  const k = typeof kafkaKey === 'string' ? out.write(kafkaKey, HEADER + t, 'utf8') : kafkaKey.copy(out, HEADER + t);
  out[0] = LAYOUT_VERSION;
  out.writeUIntBE(0, 1, 6);
  out.writeUInt16BE(t, 7);
  out.writeUInt32BE(k, 9);
  return HEADER + t;
}

/** Sets the created time of a version-2 value (each buffer write sets it again); returns `value`. */
export function stampCreated(value: Buffer, createdMs: number): Buffer {
  value.writeUIntBE(Math.min(Math.max(0, Math.floor(createdMs)), MAX_CREATED), 1, 6);
  return value;
}

/**
 * The version-2 value to write for a message, created at `now`: the value it was built with
 * (stamped, no copy: Message.value), else encoded from its fields.
 */
export function valueOf(
  m: { readonly topic: string; readonly kafkaKey: Buffer; readonly payload: Buffer; readonly value?: Buffer },
  now: number,
): Buffer {
  return m.value ? stampCreated(m.value, now) : encodeMessage(m.topic, m.kafkaKey, m.payload, now);
}

/**
 * A stored value as `fetch.lua` returns it: a String (version 2), the HMGET array of a Hash
 * (version 1: topic, key, payload, created), or nil. undefined: the key holds no message (gone,
 * or a hash without topic/payload). A String of another version throws: it was written by a
 * newer release, and must not be mistaken for a vanished message (the caller would forget it).
 */
export function decodeMessage(key: string, reply: Reply | undefined): MessageValue | undefined {
  if (reply === null || reply === undefined) return undefined;
  if (Array.isArray(reply)) {
    const [topic, kafkaKey, payload, created] = reply;
    if (!Buffer.isBuffer(topic) || !Buffer.isBuffer(payload)) return undefined;
    return {
      topic: topic.toString('utf8'),
      kafkaKey: Buffer.isBuffer(kafkaKey) ? kafkaKey : Buffer.alloc(0),
      payload,
      createdMs: Buffer.isBuffer(created) ? Number(created.toString()) || 0 : 0,
    };
  }
  if (!Buffer.isBuffer(reply)) throw new Error(`message ${key}: unexpected reply ${JSON.stringify(reply)}`);
  if (reply.length < HEADER || reply[0] !== LAYOUT_VERSION) {
    throw new Error(
      `message ${key}: layout version ${String(reply[0])} is not one this release reads (1 or ${LAYOUT_VERSION}); ` +
        'was it written by a newer redis-kafka-sync? run that version to send it',
    );
  }
  const t = reply.readUInt16BE(7);
  const k = reply.readUInt32BE(9);
  if (HEADER + t + k > reply.length) throw new Error(`message ${key}: truncated value (${reply.length} bytes)`);
  return {
    createdMs: reply.readUIntBE(1, 6),
    topic: reply.toString('utf8', HEADER, HEADER + t),
    kafkaKey: reply.subarray(HEADER + t, HEADER + t + k),
    payload: reply.subarray(HEADER + t + k),
  };
}
