/**
 * Test helpers against the real local stack (two redis-servers and a Kafka broker started by
 * `stackUp`). Every test gets unique stream, topic and key-prefix names and cleans up after.
 */
import { randomBytes } from 'node:crypto';
import Kafka from '@confluentinc/kafka-javascript';
import type { Message } from '@confluentinc/kafka-javascript';
import { loadConfig, type Config } from '../../src/config/config.js';
import { createLogger, type Logger } from '../../src/observability/logger.js';
import { connectRedis, type RedisConnection } from '../../src/redis/client.js';
import { stackEnv, stackUp } from '../../src/stack/index.js';

export function uid(): string {
  return randomBytes(4).toString('hex');
}

export async function ensureStack(): Promise<void> {
  await stackUp({ log: () => undefined });
}

/** A configuration pointing at the sandbox, with overrides by variable name. */
export function stackConfig(overrides: Record<string, string> = {}): Config {
  return loadConfig({ configFile: null, env: { ...stackEnv('plaintext'), LOG_LEVEL: 'warn', ...overrides } });
}

export async function redis(role: 'source' | 'target', db = 0): Promise<RedisConnection> {
  const cfg = stackConfig();
  return connectRedis(role === 'source' ? cfg.source : cfg.target, { role, db, connectTimeoutMs: 5000 });
}

/** Reads records from topics from the beginning until `until` holds or the timeout passes. */
export async function consume(
  topics: string[],
  until: (all: Message[]) => boolean,
  timeoutMs = 30_000,
): Promise<Message[]> {
  const consumer = new Kafka.KafkaConsumer(
    {
      'bootstrap.servers': stackEnv('plaintext').KAFKA_BOOTSTRAP_SERVERS as string,
      'group.id': `test-${uid()}`,
      'enable.auto.commit': false,
      'allow.auto.create.topics': true,
      // A topic the service auto-creates after this consumer subscribed (or while the broker is
      // still creating it) is picked up at the next metadata refresh: every second here, not
      // librdkafka's default 5 minutes, which outlasts the timeout (the likely cause of one CI
      // run where ingest's first test got no record in 30 s).
      'topic.metadata.refresh.interval.ms': 1000,
    },
    { 'auto.offset.reset': 'earliest' },
  );
  await new Promise<void>((resolve, reject) =>
    consumer.connect({ timeout: 10_000 }, (err) => (err ? reject(err) : resolve())),
  );
  consumer.subscribe(topics);
  const out: Message[] = [];
  const deadline = Date.now() + timeoutMs;
  try {
    while (!until(out) && Date.now() < deadline) {
      const batch = await new Promise<Message[]>((resolve, reject) =>
        consumer.consume(1000, (err, msgs) => {
          // A topic the service has not created yet (auto-created at its first record) is
          // reported as an error of the poll; it is not a failure of the test: poll again.
          if (err && !topicNotYetThere(err)) reject(err);
          else resolve(err ? [] : msgs);
        }),
      );
      out.push(...batch);
    }
  } finally {
    await new Promise<void>((resolve) => consumer.disconnect(() => resolve()));
  }
  return out;
}

function topicNotYetThere(err: { code?: number }): boolean {
  const codes = Kafka.CODES.ERRORS;
  return err.code === codes.ERR_UNKNOWN_TOPIC_OR_PART || err.code === codes.ERR__UNKNOWN_TOPIC;
}

export function header(m: Message, name: string): string | undefined {
  for (const h of m.headers ?? []) {
    const v = h[name];
    if (v !== undefined) return Buffer.isBuffer(v) ? v.toString('utf8') : String(v);
  }
  return undefined;
}

/** A logger at `level` whose lines are kept (to assert what the service says). */
export function keptLog(level: 'warn' | 'error' = 'warn'): { lines: string[]; log: Logger } {
  const lines: string[] = [];
  const log = createLogger(level, {
    write: (line: string) => (lines.push(line), true),
  } as unknown as NodeJS.WritableStream);
  return { lines, log };
}
