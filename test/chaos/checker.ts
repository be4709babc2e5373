/**
 * The end-to-end checker: writes uniquely identified entries into source streams (many streams,
 * several devices) and reads the Kafka topic with the project's Kafka client, independently of
 * the service's own bookkeeping. Reports written, delivered, lost, duplicated and per-device
 * order violations.
 *
 * Every entry carries `uid` (run id + counter) and `device_id`; a device always writes to the
 * same stream, so its order is the stream order, and an order violation is a first-seen record
 * whose entry id is lower than one already seen for the same device. A re-delivered record (same
 * uid) counts as a duplicate, not as an order violation; the same record read twice by the
 * checker's own consumer (same partition and offset, after a broker restart) counts as nothing.
 */
import Kafka from '@confluentinc/kafka-javascript';
import type { Message } from '@confluentinc/kafka-javascript';
import type { RedisConnection } from '../../src/redis/client.js';

export interface CheckerReport {
  written: number;
  delivered: number;
  lost: number;
  duplicates: number;
  orderViolations: number;
  /**
   * Of `duplicates`, those of entries the writer itself sent twice (an XADD that failed, e.g.
   * a WAIT that found no replica during a source failover, may still have been stored).
   */
  writerDuplicates?: number;
}

function idLess(a: string, b: string): boolean {
  const [am, as] = a.split('-').map(Number) as [number, number];
  const [bm, bs] = b.split('-').map(Number) as [number, number];
  return am < bm || (am === bm && as < bs);
}

export class Checker {
  readonly streamNames: string[];
  private readonly writtenUids = new Set<string>();
  private readonly seen = new Map<string, number>();
  private readonly lastIdByDevice = new Map<string, string>();
  /** partition:offset of every record read: the checker's own consumer may re-read after a broker restart. */
  private readonly offsets = new Set<string>();
  private duplicates = 0;
  private writerDuplicates = 0;
  /** uids whose XADD failed at least once and was sent again. */
  private readonly retried = new Set<string>();
  private orderViolations = 0;
  private counter = 0;
  private consumer: Kafka.KafkaConsumer | undefined;
  private consuming: Promise<void> | undefined;
  private stopConsume = false;
  writeErrors = 0;

  constructor(
    readonly runId: string,
    readonly topic: string,
    readonly streams: number,
    readonly devices: number,
  ) {
    this.streamNames = Array.from({ length: streams }, (_, i) => `chaos-${runId}-${i}-stream`);
  }

  get written(): number {
    return this.writtenUids.size;
  }
  get delivered(): number {
    return this.seen.size;
  }

  /**
   * Writes `count` entries at about `ratePerSec`, in pipelined chunks. An XADD that fails (source
   * down) is retried until it succeeds; only confirmed entries count as written.
   */
  async write(source: () => RedisConnection, count: number, ratePerSec: number, signal?: AbortSignal): Promise<void> {
    const chunk = Math.max(1, Math.round(ratePerSec / 20));
    const started = Date.now();
    let done = 0;
    while (done < count && !signal?.aborted) {
      const n = Math.min(chunk, count - done);
      const batch = Array.from({ length: n }, () => this.nextEntry());
      let todo = batch;
      while (todo.length > 0 && !signal?.aborted) {
        const conn = source();
        const results = await Promise.allSettled(
          todo.map((e) =>
            conn.send(['XADD', e.stream, '*', 'device_id', e.device, 'uid', e.uid, 'payload', e.payload]),
          ),
        );
        const failed = todo.filter((_, i) => results[i]?.status === 'rejected');
        for (const e of todo) if (!failed.includes(e)) this.writtenUids.add(e.uid);
        if (failed.length > 0) {
          this.writeErrors += failed.length;
          for (const e of failed) this.retried.add(e.uid);
          await new Promise((r) => setTimeout(r, 200));
        }
        todo = failed;
      }
      done += n;
      const ahead = (done / ratePerSec) * 1000 - (Date.now() - started);
      if (ahead > 0) await new Promise((r) => setTimeout(r, ahead));
    }
  }

  private nextEntry(): { stream: string; device: string; uid: string; payload: string } {
    const n = this.counter++;
    const d = n % this.devices;
    return {
      stream: this.streamNames[d % this.streams] as string,
      device: `dev-${this.runId}-${d}`,
      uid: `${this.runId}:${n}`,
      payload: 'x'.repeat(64),
    };
  }

  /** Starts reading the topic from the beginning in the background. */
  async startConsuming(bootstrap: string): Promise<void> {
    const consumer = new Kafka.KafkaConsumer(
      {
        'bootstrap.servers': bootstrap,
        'group.id': `chaos-check-${this.runId}`,
        'enable.auto.commit': false,
        'allow.auto.create.topics': true,
        // What consumers of KAFKA_EXACTLY_ONCE are told to do; records outside transactions
        // (the default mode) are read the same way.
        'isolation.level': 'read_committed',
        'topic.metadata.refresh.interval.ms': 1000,
        // After a broker restart the group waits out the old session before fetching again:
        // keep that short, or the checker (not the service) sets the drain time.
        'session.timeout.ms': 6000,
        'heartbeat.interval.ms': 1000,
      },
      { 'auto.offset.reset': 'earliest' },
    );
    await new Promise<void>((resolve, reject) =>
      consumer.connect({ timeout: 20_000 }, (err) => (err ? reject(err) : resolve())),
    );
    consumer.subscribe([this.topic]);
    this.consumer = consumer;
    this.consuming = (async () => {
      while (!this.stopConsume) {
        const batch = await new Promise<Message[]>((resolve) =>
          consumer.consume(2000, (err, msgs) => resolve(err ? [] : msgs)),
        );
        for (const m of batch) this.record(m);
        if (batch.length === 0) await new Promise((r) => setTimeout(r, 50));
      }
    })();
  }

  private record(m: Message): void {
    if (!m.value) return;
    const at = `${m.partition}:${m.offset}`;
    if (this.offsets.has(at)) return; // our consumer read this record before: not a duplicate in Kafka
    this.offsets.add(at);
    const env = JSON.parse(m.value.toString('utf8')) as { id: string; fields: { uid?: string; device_id?: string } };
    const uid = env.fields.uid;
    const device = env.fields.device_id;
    if (!uid || !device) return;
    const prev = this.seen.get(uid) ?? 0;
    this.seen.set(uid, prev + 1);
    if (prev > 0) {
      this.duplicates += 1;
      if (this.retried.has(uid)) this.writerDuplicates += 1;
      return;
    }
    const last = this.lastIdByDevice.get(device);
    if (last !== undefined && idLess(env.id, last)) this.orderViolations += 1;
    else this.lastIdByDevice.set(device, env.id);
  }

  /** Waits until every written entry was seen in Kafka, or the timeout passes. */
  async waitDelivered(timeoutMs: number): Promise<boolean> {
    const deadline = Date.now() + timeoutMs;
    while (Date.now() < deadline) {
      if ([...this.writtenUids].every((u) => this.seen.has(u))) return true;
      await new Promise((r) => setTimeout(r, 250));
    }
    return false;
  }

  async close(): Promise<void> {
    this.stopConsume = true;
    await this.consuming;
    const c = this.consumer;
    if (c) await new Promise<void>((resolve) => c.disconnect(() => resolve()));
  }

  report(): CheckerReport {
    let lost = 0;
    for (const u of this.writtenUids) if (!this.seen.has(u)) lost += 1;
    return {
      written: this.written,
      delivered: this.delivered,
      lost,
      duplicates: this.duplicates,
      orderViolations: this.orderViolations,
      writerDuplicates: this.writerDuplicates,
    };
  }
}
