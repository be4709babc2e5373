/**
 * Turning inputs into outgoing messages: topic mapping, Kafka key choice, envelope, headers.
 * Headers are derived from the buffer key alone, so a resent message carries exactly the headers
 * of its first send: consumers drop duplicates by `rks-id`.
 */
import type { MessageHeader } from '@confluentinc/kafka-javascript';
import type { KeyFormat } from '../buffer/key-format.js';
import type { OutgoingMessage } from '../buffer/store.js';
import { envelopeBytes, fieldValue, type SourceEncoding } from '../source/envelope.js';
import type { SourceEntry } from '../source/streams.js';
import type { GlobMap } from '../util/glob.js';

export interface StreamMessage extends OutgoingMessage {
  readonly entry: SourceEntry;
}

export interface StreamMapping {
  readonly topics: GlobMap<string>;
  readonly defaultTopic: string;
  readonly keyField: string;
  readonly encoding: SourceEncoding;
}

export function topicFor(stream: string, m: StreamMapping): string {
  return m.topics.match(stream) ?? m.defaultTopic;
}

const NO_FIELDS: readonly Buffer[] = [];

export function streamMessage(entry: SourceEntry, keys: KeyFormat, m: StreamMapping): StreamMessage {
  const topic = topicFor(entry.stream, m);
  const key = keys.messageKey({ topic, id: entry.id, origin: { kind: 'stream', db: entry.db, stream: entry.stream } });
  const payload = envelopeBytes(entry.stream, entry.db, entry.id, entry.fields, m.encoding);
  // A field Buffer is a view into the Redis client's socket chunk: copied, so a message in flight
  // keeps no chunk of its read alive.
  const field = fieldValue(entry.fields, m.keyField);
  const kafkaKey = field ? Buffer.from(field) : Buffer.from(entry.stream);
  // Keep only what the source ack needs: the fields are in `payload` now (memory in flight).
  return {
    key,
    topic,
    kafkaKey,
    payload,
    entry: { db: entry.db, stream: entry.stream, id: entry.id, fields: NO_FIELDS },
  };
}

export function headersFor(keys: KeyFormat, bufferKey: string): MessageHeader[] {
  const parts = keys.parse(bufferKey);
  const h: MessageHeader[] = [{ 'rks-id': keys.stableId(bufferKey) }, { 'rks-buffer-key': bufferKey }];
  if (!parts) return h;
  const o = parts.origin;
  if (o.kind === 'stream') h.push({ 'rks-stream': o.stream }, { 'rks-db': String(o.db) }, { 'rks-entry-id': parts.id });
  else if (o.kind === 'direct') h.push({ 'rks-device-id': o.deviceId });
  else h.push({ 'rks-redis-key': o.key }, { 'rks-db': String(o.db) });
  return h;
}
