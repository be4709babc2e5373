/**
 * The dead-letter stream in the target Redis ({prefix}dead_letters): messages Kafka will never
 * take as they are (larger than KAFKA_MAX_REQUEST_SIZE, or refused for another non-retryable
 * reason), kept with the reason so an operator can inspect and resend them
 * (`redis-kafka-sync dlq list|replay`).
 *
 * Invariants: a message is added here before it leaves the unsynced set, so a crash in between
 * leaves it in both places (resent or dead-lettered twice), never in neither; the stream is
 * never trimmed by the service: a dead letter leaves it only by an operator's replay or delete.
 */
import type { RedisConnection } from '../redis/client.js';
import { asArray, asBuffer } from '../redis/client.js';
import type { KeyFormat, MessageKeyParts } from './key-format.js';
import type { OutgoingMessage } from './store.js';

export interface DeadLetter extends OutgoingMessage {
  /** Id of the entry in the dead-letter stream. */
  readonly id: string;
  readonly reason: string;
  readonly failedAtMs: number;
  /** The message key's parts per the key format (origin, id); undefined for a foreign key. */
  readonly parts: MessageKeyParts | undefined;
}

export class DeadLetters {
  constructor(
    private readonly conn: RedisConnection,
    private readonly keys: KeyFormat,
  ) {}

  /** Adds messages with their reasons, then removes them from the buffer and the unsynced set. */
  async add(items: readonly { m: OutgoingMessage; reason: string }[]): Promise<void> {
    const now = String(Date.now());
    await Promise.all(
      items.map(({ m, reason }) =>
        this.conn.send([
          'XADD',
          this.keys.deadLetters,
          '*',
          'key',
          m.key,
          'topic',
          m.topic,
          'kafka_key',
          m.kafkaKey,
          'reason',
          reason,
          'failed_at',
          now,
          'payload',
          m.payload,
        ]),
      ),
    );
    if (items.length === 0) return;
    await this.conn.send(['DEL', ...items.map(({ m }) => m.key)]);
    // One SREM per unsynced set (one in the standalone layout, one per shard in a cluster).
    const bySet = new Map<string, string[]>();
    for (const { m } of items) {
      const set = this.keys.unsyncedSetOf(m.key);
      bySet.set(set, [...(bySet.get(set) ?? []), m.key]);
    }
    for (const [set, keys] of bySet) await this.conn.send(['SREM', set, ...keys]);
  }

  async count(): Promise<number> {
    return Number(await this.conn.send(['XLEN', this.keys.deadLetters]));
  }

  /** Oldest first, from `startId` (exclusive when given), at most `count`. */
  async list(count: number, startId?: string): Promise<DeadLetter[]> {
    const start = startId === undefined ? '-' : `(${startId}`;
    const reply = asArray(await this.conn.send(['XRANGE', this.keys.deadLetters, start, '+', 'COUNT', String(count)]));
    return reply.map((e) => {
      const [id, fields] = asArray(e);
      const f = new Map<string, Buffer>();
      const flat = asArray(fields);
      for (let i = 0; i + 1 < flat.length; i += 2) f.set(asBuffer(flat[i]).toString(), asBuffer(flat[i + 1]));
      const key = f.get('key')?.toString() ?? '';
      return {
        id: asBuffer(id).toString(),
        key,
        parts: this.keys.parse(key),
        topic: f.get('topic')?.toString() ?? '',
        kafkaKey: f.get('kafka_key') ?? Buffer.alloc(0),
        payload: f.get('payload') ?? Buffer.alloc(0),
        reason: f.get('reason')?.toString() ?? '',
        failedAtMs: Number(f.get('failed_at')?.toString() ?? 0),
      };
    });
  }

  async remove(ids: readonly string[]): Promise<void> {
    if (ids.length > 0) await this.conn.send(['XDEL', this.keys.deadLetters, ...ids]);
  }
}
