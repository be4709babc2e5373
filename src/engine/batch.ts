/**
 * What flows through the pipeline: messages built once by the source that produced them, handed
 * over in batches that carry their own acknowledgement (the input contract of Benthos).
 *
 * Contract between a source and the pipeline
 *  - A `Message` is complete when built: buffer key, topic, Kafka record key, payload, the Kafka
 *    headers (made here, by MessageFormat, from the message's key, id and origin only: a resent
 *    message carries exactly the headers of its first send, so consumers drop duplicates by
 *    `rks-id`) and the origin. Nothing downstream parses the buffer key to route acks or rebuild
 *    headers. A built message makes its headers when they are read (the produce call), so they
 *    die young instead of being copied by every scavenge while the message is in flight.
 *  - `Batch.ack(subset)` is called by the pipeline once those messages are safe: after the target
 *    holds them (SOURCE_ACK_MODE=target, stream entries) or after Kafka confirmed them (default),
 *    or once a poison message is in the dead letters. It may be called several times with
 *    disjoint subsets, never twice for one message. The source decides what it means (XACK+XDEL
 *    of exactly these entries; nothing for a direct message). A rejected ack is retried.
 *  - `Batch.nack(subset, reason)` says the pipeline gave up on those messages for now (stopping,
 *    or the buffer write abandoned): they stay where they are (pending in the source, unsynced in
 *    the buffer) and are found again by the source's own recovery (PEL re-read, resync, snapshot).
 */
import type { MessageHeader } from '@confluentinc/kafka-javascript';
import type { KeyFormat, MessageKeyParts, Origin } from '../buffer/key-format.js';

export interface Message {
  /** Message key in the target buffer (KeyFormat.messageKey). */
  readonly key: string;
  /** The id part of the key: the entry id of a stream entry, a generated id otherwise. */
  readonly id: string;
  readonly topic: string;
  readonly kafkaKey: Buffer;
  readonly payload: Buffer;
  readonly headers: readonly MessageHeader[];
  readonly origin: Origin;
  /**
   * The message's buffer value (message-layout.ts version 2) when it was built around `kafkaKey`
   * and `payload` (they are views into it): the buffer write sends it as is, after stamping its
   * created time. Absent: the write encodes the value from the fields above.
   */
  readonly value?: Buffer;
}

/**
 * Who made a batch. The pipeline's policy (one place: Pipeline.ackPoint) decides from it when
 * `ack` is called; the source decides what `ack` does.
 *   stream  entries read by a stream reader      claim   entries claimed from a dead consumer
 *   key     key-value changes                    direct  direct messages (API, HTTP ingest)
 *   resync  buffered messages sent again         replay  dead letters sent again
 */
export type BatchKind = 'stream' | 'claim' | 'key' | 'direct' | 'resync' | 'replay';

export interface Batch<M extends Message = Message> {
  readonly kind: BatchKind;
  readonly messages: readonly M[];
  /** The messages are in the target buffer already (resync): they are not written again. */
  readonly buffered?: boolean;
  /**
   * The messages were never delivered before (entries read as new, new direct messages and key
   * changes): none can have a sync marker, so the buffer write skips that check (PutOptions).
   */
  readonly fresh?: boolean;
  ack(messages: readonly M[]): Promise<void>;
  nack(messages: readonly M[], reason: string): void;
}

/** A batch whose acknowledgement does nothing (direct messages, key changes, replays). */
export function batchOf<M extends Message>(
  kind: BatchKind,
  messages: readonly M[],
  opts: { readonly buffered?: boolean; readonly fresh?: boolean } = {},
): Batch<M> {
  return { kind, messages, ...opts, ack: NO_ACK, nack: NO_NACK };
}

const NO_ACK = (): Promise<void> => Promise.resolve();
const NO_NACK = (): void => undefined;

/** KAFKA_RECORD_HEADERS: every rks-* header, or rks-id alone. */
export type HeaderSet = 'all' | 'id';

/** Streams whose rks-stream / rks-db header objects a MessageFormat keeps (see streamHeaders). */
const SHARED_HEADERS_MAX = 10_000;

/**
 * Makes messages: their buffer key (the key format) and their headers (KAFKA_RECORD_HEADERS), the
 * one place headers are made, so a resent message carries the headers of its first send.
 */
export class MessageFormat {
  private readonly shared = new Map<number, Map<string, readonly [MessageHeader, MessageHeader]>>();
  private sharedCount = 0;

  constructor(
    readonly keys: KeyFormat,
    readonly headerSet: HeaderSet = 'all',
  ) {}

  /** A new message from its key parts. */
  build(parts: MessageKeyParts, kafkaKey: Buffer, payload: Buffer): Message {
    return new BuiltMessage(this, this.keys.messageKey(parts), parts, undefined, kafkaKey, payload, 0, 0);
  }

  /**
   * A new message around its buffer value (message-layout.ts version 2), which holds the record
   * key at [keyAt, payloadAt) and the payload from payloadAt to its end.
   */
  buildInValue(parts: MessageKeyParts, value: Buffer, keyAt: number, payloadAt: number): Message {
    return new BuiltMessage(this, this.keys.messageKey(parts), parts, value, IN_VALUE, IN_VALUE, keyAt, payloadAt);
  }

  /**
   * A message read back from the buffer (resync, dead-letter replay): its parts come from the
   * buffer's own key format; a key that is not one of ours gets the id headers only.
   */
  rebuild(
    stored: { readonly key: string; readonly topic: string; readonly kafkaKey: Buffer; readonly payload: Buffer },
    parts: MessageKeyParts | undefined,
  ): Message {
    const origin: Origin = parts?.origin ?? { kind: 'direct', deviceId: '' };
    const { key, topic, kafkaKey, payload } = stored;
    return { key, id: parts?.id ?? '', topic, kafkaKey, payload, headers: this.headersOf(key, parts), origin };
  }

  /**
   * The rks-stream and rks-db headers of a stream, one pair of objects shared by all its
   * messages (librdkafka copies header values at produce; nothing writes to them). Forgotten all
   * at once at SHARED_HEADERS_MAX streams, so streams that come and go cannot grow it.
   */
  private streamHeaders(db: number, stream: string): readonly [MessageHeader, MessageHeader] {
    let ofDb = this.shared.get(db);
    const cached = ofDb?.get(stream);
    if (cached) return cached;
    if (this.sharedCount >= SHARED_HEADERS_MAX) {
      this.shared.clear();
      this.sharedCount = 0;
      ofDb = undefined;
    }
    if (!ofDb) this.shared.set(db, (ofDb = new Map()));
    const pair = [Object.freeze({ 'rks-stream': stream }), Object.freeze({ 'rks-db': String(db) })] as const;
    ofDb.set(stream, pair);
    this.sharedCount += 1;
    return pair;
  }

  /** The headers of a message: a function of its buffer key, id and origin (and KAFKA_RECORD_HEADERS). */
  headersOf(bufferKey: string, parts: MessageKeyParts | undefined): MessageHeader[] {
    const h: MessageHeader[] = [{ 'rks-id': this.keys.stableId(bufferKey) }];
    if (this.headerSet === 'id') return h;
    h.push({ 'rks-buffer-key': bufferKey });
    const o = parts?.origin;
    if (!o || !parts) return h;
    if (o.kind === 'stream') {
      const [stream, db] = this.streamHeaders(o.db, o.stream);
      h.push(stream, db, { 'rks-entry-id': parts.id });
    } else if (o.kind === 'direct') h.push({ 'rks-device-id': o.deviceId });
    else h.push({ 'rks-redis-key': o.key }, { 'rks-db': String(o.db) });
    return h;
  }
}

/** The record key and payload fields of a message whose bytes are in its value. */
const IN_VALUE = Buffer.alloc(0);

/**
 * A message made by MessageFormat.build / buildInValue. What a message in flight holds on the
 * JavaScript heap is what every scavenge copies and then promotes (measured by the bench's drain
 * with --trace-gc-nvp), so it holds no more than it was built from:
 *  - its headers are made each time they are read (once per produce call), always the same
 *    (headersOf is a function of the fields); the header objects live for that call only;
 *  - built in its value, its record key and payload are views made when read (the produce call,
 *    a dead letter) instead of two Buffer objects that live as long as the message does.
 * One class, so every message has one object shape, with or without a value.
 */
class BuiltMessage implements Message {
  readonly id: string;
  readonly topic: string;
  readonly origin: Origin;

  constructor(
    private readonly format: MessageFormat,
    readonly key: string,
    parts: MessageKeyParts,
    readonly value: Buffer | undefined,
    /** Without a value: the record key and payload; with one, IN_VALUE and the offsets below. */
    private readonly ownKey: Buffer,
    private readonly ownPayload: Buffer,
    /** With a value: where the record key starts in it, and the payload (which runs to its end). */
    private readonly keyAt: number,
    private readonly payloadAt: number,
  ) {
    this.id = parts.id;
    this.topic = parts.topic;
    this.origin = parts.origin;
  }

  get headers(): readonly MessageHeader[] {
    return this.format.headersOf(this.key, this);
  }

  get kafkaKey(): Buffer {
    return this.value ? this.value.subarray(this.keyAt, this.payloadAt) : this.ownKey;
  }

  get payload(): Buffer {
    return this.value ? this.value.subarray(this.payloadAt) : this.ownPayload;
  }
}

/**
 * What a message costs in memory while in flight, for KAFKA_MAX_IN_FLIGHT_BYTES: its payload,
 * record key and buffer key, plus this estimate of the JavaScript objects around it (key string,
 * Buffers, the header objects), which for small messages outweigh the payload.
 */
export const PER_MESSAGE_OVERHEAD_BYTES = 600;

export function memoryOf(messages: readonly Pick<Message, 'key' | 'kafkaKey' | 'payload' | 'value'>[]): number {
  let n = 0;
  // A value holds the record key and payload (and a few bytes of head): no views made to count them.
  for (const m of messages)
    n += (m.value ? m.value.length : m.payload.length + m.kafkaKey.length) + m.key.length + PER_MESSAGE_OVERHEAD_BYTES;
  return n;
}

/**
 * The messages being delivered here, by buffer key (refcounted: a key stays until every `add`
 * was matched by a `delete`). Resync and claims skip them; the claim loop refreshes the idle
 * time of their source entries.
 */
export class InFlight {
  private readonly entries = new Map<string, { n: number; readonly m: Message }>();
  get size(): number {
    return this.entries.size;
  }
  add(m: Message): void {
    const e = this.entries.get(m.key);
    if (e) e.n += 1;
    else this.entries.set(m.key, { n: 1, m });
  }
  delete(m: Message): void {
    const e = this.entries.get(m.key);
    if (!e) return;
    if (e.n <= 1) this.entries.delete(m.key);
    else e.n -= 1;
  }
  has(key: string): boolean {
    return this.entries.has(key);
  }
  *messages(): IterableIterator<Message> {
    for (const e of this.entries.values()) yield e.m;
  }
}
