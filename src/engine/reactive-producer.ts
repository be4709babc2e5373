/**
 * The spec's programmatic API (ReactiveKafkaProducer), in TypeScript:
 *
 *   const p = new ReactiveKafkaProducer();          // configuration from env.conf + environment
 *   await p.start();                                  // source, target, Kafka; recovery
 *   const n = await p.processSourceStreams({ topicMapping, streamPattern, sourceDb, batchSize });
 *   const key = await p.sendMessage('topic', Buffer.from('...'), 'device-1');
 *   const synced = await p.syncUnsyncedKeys({ topic: 'default-topic' });
 *   await p.stop();
 *
 * Every call keeps the engine's guarantees (pipeline.ts): a method returns only after the
 * messages it reports are in Kafka, marked synced and (for stream entries) acknowledged.
 */
import { loadConfig, type Config, type LoadOptions } from '../config/config.js';
import { createLogger, type Logger } from '../observability/logger.js';
import { GlobMap } from '../util/glob.js';
import { SyncEngine } from './engine.js';
import type { StreamMapping } from '../source/stream-message.js';

export interface ProcessSourceStreamsOptions {
  /** Stream glob -> topic; first match wins (in the object's order), else STREAM_TARGET_TOPIC_MAP, else KAFKA_TOPIC. */
  readonly topicMapping?: Readonly<Record<string, string>>;
  /** Glob of the streams to read; default: STREAM_DISCOVERY_PATTERNS. */
  readonly streamPattern?: string;
  /** DB to read; default: every DB of SOURCE_REDIS_DB_SEARCH_RANGE. */
  readonly sourceDb?: number;
  /** Entries per read; default SOURCE_BATCH_SIZE. */
  readonly batchSize?: number;
}

export interface ReactiveKafkaProducerOptions extends LoadOptions {
  /** A ready configuration (skips loading). */
  readonly config?: Config;
  readonly logger?: Logger;
}

export class ReactiveKafkaProducer {
  readonly config: Config;
  readonly engine: SyncEngine;

  constructor(options: ReactiveKafkaProducerOptions = {}) {
    this.config = options.config ?? loadConfig(options);
    this.engine = new SyncEngine(this.config, options.logger ?? createLogger(this.config.logLevel));
  }

  /** Connects the target Redis and Kafka and rebuilds the unsynced set from the target. */
  async start(): Promise<void> {
    await this.engine.start({ connectTimeoutMs: 30_000 });
  }

  /**
   * Reads every entry available now in the matching streams (own pending ones first), delivers
   * them, acknowledges and deletes them in the source, and returns how many were processed.
   */
  async processSourceStreams(options: ProcessSourceStreamsOptions = {}): Promise<number> {
    const cfg = this.config;
    const mapping: StreamMapping = {
      topics: new GlobMap([...Object.entries(options.topicMapping ?? {}), ...cfg.stream.topicMap]),
      defaultTopic: cfg.kafka.topic,
      keyField: cfg.kafka.keyField,
      encoding: cfg.source.encoding,
    };
    const patterns = options.streamPattern ? [options.streamPattern] : cfg.stream.discoveryPatterns;
    const dbs = options.sourceDb !== undefined ? [options.sourceDb] : cfg.source.dbSearchRange;
    const batchSize = options.batchSize ?? cfg.source.batchSize;
    let processed = 0;
    const waits: Promise<void>[] = [];
    for (const db of dbs) {
      const src = await this.engine.sourceDb(db);
      const names = await src.discover(patterns);
      await src.setStreams([...new Set([...src.streamNames, ...names])]);
      if (names.length === 0) continue;
      for (;;) {
        const entries = await src.read(batchSize, 1);
        if (entries.length === 0) break;
        const handle = await this.engine.submitEntries(src, entries, mapping);
        if (handle) {
          waits.push(handle.settled);
          await handle.admitted; // backpressure: read on once the batch has room in flight
        }
        processed += entries.length;
      }
    }
    await Promise.all(waits);
    return processed;
  }

  /** Buffers `message` in the target, sends it to `topic` keyed by `deviceId`, marks it synced; returns its key. */
  sendMessage(topic: string, message: Buffer | string, deviceId: string): Promise<string> {
    return this.engine.sendMessage(topic, message, deviceId);
  }

  /** Resends every unsynced message of the target (topic: fallback for messages without one); returns the count synced. */
  syncUnsyncedKeys(options: { topic?: string } = {}): Promise<number> {
    return this.engine.syncUnsynced(options.topic ? { defaultTopic: options.topic } : {});
  }

  /** Finishes in-flight deliveries (bounded by SYNC_SHUTDOWN_TIMEOUT_MS) and disconnects. */
  stop(): Promise<void> {
    return this.engine.stop();
  }
}
