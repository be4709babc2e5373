/**
 * A stream entry as a pipeline message: topic mapping (STREAM_TOPIC_MAP, else KAFKA_TOPIC), the
 * Kafka record key (KAFKA_KEY_FIELD's value, else the stream name), the JSON envelope as payload,
 * and, once, the headers (batch.ts). The buffer key is derived from the entry id, so re-reading
 * the same entry after a crash yields the same key and the same `rks-id`.
 */
import type { Message, MessageFormat } from '../engine/batch.js';
import type { GlobMap } from '../util/glob.js';
import { valueHeadLength, writeValueHead } from '../buffer/message-layout.js';
import { envelopeBytes, fieldValue, plainEnvelope, type SourceEncoding } from './envelope.js';
import type { SourceEntry } from './streams.js';

export interface StreamMapping {
  readonly topics: GlobMap<string>;
  readonly defaultTopic: string;
  readonly keyField: string;
  readonly encoding: SourceEncoding;
}

export function topicFor(stream: string, m: StreamMapping): string {
  return m.topics.match(stream) ?? m.defaultTopic;
}

export function streamMessage(entry: SourceEntry, format: MessageFormat, m: StreamMapping): Message {
  const topic = topicFor(entry.stream, m);
  const origin = { kind: 'stream', db: entry.db, stream: entry.stream } as const;
  const parts = { topic, id: entry.id, origin };
  // A field Buffer is a view into the Redis client's socket chunk: copied, so a message in flight
  // keeps no chunk of its read alive (the fields themselves are not kept: they are in `payload`).
  const field = fieldValue(entry.fields, m.keyField);
  const key = field ?? entry.stream;
  // The common entry: its buffer value (message-layout.ts) and envelope in one allocation, the
  // record key and payload views into it, so neither is copied again for the buffer write.
  const at = valueHeadLength(topic, typeof key === 'string' ? Buffer.byteLength(key) : key.length);
  const value = plainEnvelope(entry.stream, entry.db, entry.id, entry.fields, m.encoding, at);
  if (value) {
    const k = writeValueHead(value, topic, key);
    return format.buildInValue(parts, value, k, at);
  }
  const payload = envelopeBytes(entry.stream, entry.db, entry.id, entry.fields, m.encoding);
  return format.build(parts, Buffer.from(key), payload);
}
