/**
 * KAFKA_EXACTLY_ONCE on the real stack: while entries flow, the daemon's connection to the
 * target Redis is cut (through a TCP proxy: transactions commit, their marks cannot be written)
 * and the daemon is SIGKILLed, then started again; a read_committed consumer sees every entry
 * exactly once, in per-device order, and the metrics count the transactions. Without the
 * progress check at start the committed-but-unmarked entries are sent twice (checked by removing
 * it). The chaos suite runs the outage and takeover cases.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { after, before, describe, it } from 'node:test';
import Kafka from '@confluentinc/kafka-javascript';
import type { Message } from '@confluentinc/kafka-javascript';
import type { RedisConnection } from '../../src/redis/client.js';
import { STACK_PORTS, stackEnv } from '../../src/stack/index.js';
import { TcpProxy } from '../chaos/proxy.js';
import { deletePrefix, metric, startDaemon, waitFor, type Daemon } from '../helpers/daemon.js';
import { ensureStack, redis, uid } from '../helpers/real-stack.js';

const id = uid();
const prefix = `eo${id}:`;
const topic = `eo-${id}`;
const streams = [`eo-${id}-a-stream`, `eo-${id}-b-stream`];
const TOTAL = 4000;

/** Reads the topic from the beginning as read_committed until `until` holds or the timeout passes. */
async function readCommitted(until: (m: Message[]) => boolean, timeoutMs = 60_000): Promise<Message[]> {
  const consumer = new Kafka.KafkaConsumer(
    {
      'bootstrap.servers': stackEnv('plaintext').KAFKA_BOOTSTRAP_SERVERS as string,
      'group.id': `eo-check-${uid()}`,
      'enable.auto.commit': false,
      'isolation.level': 'read_committed',
      'topic.metadata.refresh.interval.ms': 1000,
    },
    { 'auto.offset.reset': 'earliest' },
  );
  await new Promise<void>((resolve, reject) =>
    consumer.connect({ timeout: 10_000 }, (e) => (e ? reject(e) : resolve())),
  );
  consumer.subscribe([topic]);
  const out: Message[] = [];
  const deadline = Date.now() + timeoutMs;
  try {
    while (!until(out) && Date.now() < deadline)
      out.push(...(await new Promise<Message[]>((r) => consumer.consume(1000, (err, m) => r(err ? [] : m)))));
    // A little longer: a duplicate committed late would show now.
    const settle = Date.now() + 2000;
    while (Date.now() < settle)
      out.push(...(await new Promise<Message[]>((r) => consumer.consume(1000, (err, m) => r(err ? [] : m)))));
  } finally {
    await new Promise<void>((resolve) => consumer.disconnect(() => resolve()));
  }
  return out;
}

describe('KAFKA_EXACTLY_ONCE=true', () => {
  let source: RedisConnection;
  let target: RedisConnection;
  let daemon: Daemon | undefined;
  const proxy = new TcpProxy(STACK_PORTS.target + 41, STACK_PORTS.target);
  const env = {
    TARGET_REDIS_PORT: String(STACK_PORTS.target + 41),
    KAFKA_EXACTLY_ONCE: 'true',
    KAFKA_TRANSACTION_INTERVAL_MS: '50',
    KAFKA_PROGRESS_TOPIC: `eo-progress-${id}`,
    KAFKA_TOPIC: topic,
    SOURCE_CONSUMER_NAME: `eo-${id}`,
    SOURCE_REDIS_DB_SEARCH_RANGE: '0',
    STREAM_DISCOVERY_PATTERNS: `eo-${id}-*`,
    STREAM_DISCOVERY_INTERVAL: '1',
    SOURCE_BATCH_SIZE: '100',
    SOURCE_BLOCK_MS: '100',
    TARGET_REDIS_KEY_PREFIX: prefix,
  };
  before(async () => {
    await ensureStack();
    source = await redis('source');
    target = await redis('target');
    await proxy.start();
  });
  after(async () => {
    await daemon?.stop();
    await proxy.stop();
    for (const s of streams) await source.send(['DEL', s]);
    await deletePrefix(target, prefix);
    await source.close();
    await target.close();
  });

  it('delivers every entry once (read_committed) through a SIGKILL mid-flow and a restart, in per-device order', async () => {
    const lingering = { ...env, SYNC_ACK_LINGER_MS: '1000' };
    daemon = startDaemon(lingering);
    const url = await daemon.url;
    await waitFor('the daemon to be ready', async () => (await fetch(`${url}/readyz`)).status === 200, 60_000);
    const writing = (async () => {
      for (let n = 0; n < TOTAL; n += 50) {
        await Promise.all(
          Array.from({ length: 50 }, (_, i) => {
            const k = n + i;
            return source.send(['XADD', streams[k % 2] as string, '*', 'device_id', `d${k % 8}`, 'n', String(k)]);
          }),
        );
        await new Promise((r) => setTimeout(r, 10));
      }
    })();
    // Kill it while batches are in open transactions and committed ones are not yet marked: with
    // SYNC_ACK_LINGER_MS=1000 the marks of a committed transaction wait a second to be grouped,
    // so the target is cut below within that second of the first commit, whatever the machine's
    // pace (waiting for marked entries instead raced with the marks: all could be done by then).
    await waitFor(
      'a transaction committed',
      async () => {
        const text = await (await fetch(`${url}/metrics`)).text();
        return (metric(text, 'rks_kafka_transactions_total', { outcome: 'committed' }) ?? 0) > 0;
      },
      30_000,
      50,
    );
    const before = await (await fetch(`${url}/metrics`)).text();
    assert.ok(
      (metric(before, 'rks_kafka_transactions_total', { outcome: 'committed' }) ?? 0) > 0,
      'transactions counted',
    );
    assert.ok((metric(before, 'rks_kafka_transaction_commit_seconds_count') ?? 0) > 0, 'commit latency observed');
    const status = (await (await fetch(`${url}/api/status`)).json()) as { totals: { transactionsCommitted: number } };
    assert.ok(status.totals.transactionsCommitted > 0, 'the dashboard JSON counts the transactions');
    // Commits go on, marks fail: committed keys are only in the progress records now.
    proxy.cut();
    try {
      await waitFor('a mark to fail', async () => /mark synced failed/.test(daemon?.output() ?? ''));
      await new Promise((r) => setTimeout(r, 500));
      daemon.child.kill('SIGKILL');
      await new Promise((r) => daemon?.child.once('exit', r));
    } finally {
      proxy.restore(); // also for the next test when this one failed
    }
    await writing;
    daemon = startDaemon(lingering);
    const url2 = await daemon.url;
    await waitFor('the daemon to be ready again', async () => (await fetch(`${url2}/readyz`)).status === 200, 60_000);

    const seen = new Map<string, number>();
    const records = await readCommitted(
      (all) =>
        new Set(all.map((m) => (JSON.parse(String(m.value)) as { fields: { n: string } }).fields.n)).size >= TOTAL,
      90_000,
    );
    let order = 0;
    const lastByDevice = new Map<string, number>();
    for (const r of records) {
      const env = JSON.parse(String(r.value)) as { fields: { n: string; device_id: string } };
      seen.set(env.fields.n, (seen.get(env.fields.n) ?? 0) + 1);
      const n = Number(env.fields.n);
      const last = lastByDevice.get(env.fields.device_id) ?? -1;
      if (n < last) order += 1;
      lastByDevice.set(env.fields.device_id, Math.max(last, n));
    }
    const missing = Array.from({ length: TOTAL }, (_, i) => String(i)).filter((n) => !seen.has(n));
    const twice = [...seen.values()].filter((c) => c > 1).length;
    assert.deepEqual(missing, [], `lost ${missing.length}`);
    assert.equal(twice, 0, `${twice} entries delivered twice to a read_committed consumer`);
    assert.equal(order, 0, 'per-device order');
    assert.match(daemon.output(), /exactly-once: marked what committed transactions hold as synced/);
    await waitFor(
      'nothing left unsynced',
      async () => Number(await target.send(['SCARD', `${prefix}unsynced_keys_set`])) === 0,
    );
  });

  it('a one-shot `send` beside the running daemon uses a transactional.id of its own: the daemon is not fenced', async () => {
    assert.ok(daemon, 'the daemon of the test before runs');
    const { stdout } = await promisify(execFile)(
      process.execPath,
      ['--import', 'tsx', 'src/cli/bin.ts', 'send', '-t', topic, '-d', 'cli-dev', 'from the cli'],
      { env: { ...process.env, ...stackEnv('plaintext'), ...env, LOG_LEVEL: 'warn' }, timeout: 60_000 },
    );
    assert.match(stdout, new RegExp(`^${prefix}msg:${topic}:`));
    // The daemon still commits: a new entry arrives (read_committed), and it logged no fencing.
    await source.send(['XADD', streams[0] as string, '*', 'device_id', 'd0', 'n', 'after-cli']);
    const records = await readCommitted((all) => all.some((m) => String(m.value).includes('"after-cli"')));
    assert.ok(
      records.some((m) => String(m.value).includes('"after-cli"')),
      'the daemon delivered after the cli ran',
    );
    assert.equal(records.filter((m) => String(m.value) === 'from the cli').length, 1, 'the sent message once');
    assert.doesNotMatch(daemon.output(), /fatal|outcome unknown/i);
  });
});
