import assert from 'node:assert/strict';
import { Writable } from 'node:stream';
import { after, before, describe, it } from 'node:test';
import type { Message } from '@confluentinc/kafka-javascript';
import { SyncEngine } from '../../src/engine/engine.js';
import { KeyCapture, keyCaptureClientName } from '../../src/engine/key-capture.js';
import { createLogger, silentLogger } from '../../src/observability/logger.js';
import type { RedisConnection } from '../../src/redis/client.js';
import { keyEnvelopeValue, type KeyEnvelope } from '../../src/source/key-envelope.js';
import { STACK_PORTS } from '../../src/stack/paths.js';
import { consume, ensureStack, header, redis, stackConfig, uid } from '../helpers/real-stack.js';

// Own source DBs, so no other test's writes show up; tests here run one after the other.
const DB_A = 9;
const DB_B = 10;
/** Source DB that is also the target DB in the own-keys test. */
const DB_SAME = 11;

interface Rec {
  readonly topic: string;
  readonly key: string;
  readonly env: KeyEnvelope;
  readonly m: Message;
}

async function waitFor(what: string, cond: () => boolean | Promise<boolean>, timeoutMs = 30_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (await cond()) return;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`timed out waiting for ${what}`);
}

/** Deletes the keys matching `pattern` (a test's own keys). */
async function dropKeys(conn: RedisConnection, pattern: string): Promise<void> {
  let cursor = '0';
  do {
    const [next, keys] = (await conn.send(['SCAN', cursor, 'MATCH', pattern, 'COUNT', '1000'])) as [Buffer, Buffer[]];
    cursor = next.toString();
    if (keys.length > 0) await conn.send(['DEL', ...keys]);
  } while (cursor !== '0');
}

async function records(topics: string[], until: (recs: Rec[]) => boolean): Promise<Rec[]> {
  const parse = (all: Message[]): Rec[] =>
    all.map((m) => ({
      topic: m.topic,
      key: String(m.key),
      env: JSON.parse(String(m.value)) as KeyEnvelope,
      m,
    }));
  return parse(await consume(topics, (all) => until(parse(all))));
}

/** Every test's configuration: its own buffer prefix and patterns, no stream discovery to speak of. */
function keyConfig(id: string, overrides: Record<string, string>) {
  return stackConfig({
    TARGET_REDIS_KEY_PREFIX: `kc${id}:`,
    KEY_SYNC_ENABLED: 'true',
    KEY_SYNC_PATTERNS: `kc:${id}:*`,
    SOURCE_REDIS_DB_SEARCH_RANGE: String(DB_B),
    STREAM_DISCOVERY_PATTERNS: `no-stream-${id}`,
    SOURCE_CONSUMER_NAME: `kc-${id}`,
    ...overrides,
  });
}

/** An engine (target + Kafka) with a KeyCapture run beside it, subscribed and past its first snapshot. */
async function startCapture(
  id: string,
  overrides: Record<string, string>,
): Promise<{ engine: SyncEngine; capture: KeyCapture; stop: () => Promise<void> }> {
  const cfg = keyConfig(id, overrides);
  const engine = new SyncEngine(cfg, silentLogger);
  await engine.start();
  const capture = new KeyCapture(cfg, silentLogger, engine.pipe, engine.stopSignal);
  const running = capture.run();
  await capture.idle();
  return {
    engine,
    capture,
    stop: async () => {
      await engine.stop();
      await running;
    },
  };
}

describe('key-value change capture against the real stack', () => {
  let admin: RedisConnection;
  let a: RedisConnection;
  let b: RedisConnection;
  let target: RedisConnection;
  let previousFlags = '';
  const ownKeys: { conn: () => RedisConnection; pattern: string }[] = [];
  before(async () => {
    await ensureStack();
    admin = await redis('source', 0);
    a = await redis('source', DB_A);
    b = await redis('source', DB_B);
    target = await redis('target');
    const reply = (await admin.send(['CONFIG', 'GET', 'notify-keyspace-events'])) as Buffer[];
    previousFlags = String(reply[1] ?? '');
  });
  after(async () => {
    for (const { conn, pattern } of ownKeys) await dropKeys(conn(), pattern);
    await admin.send(['CONFIG', 'SET', 'notify-keyspace-events', previousFlags]);
    for (const c of [admin, a, b, target]) await c.close();
  });

  it('fails with the setting and the value to configure when the source refuses CONFIG SET', async () => {
    const id = uid();
    const user = `kc-${id}`;
    await admin.send(['CONFIG', 'SET', 'notify-keyspace-events', '']);
    await admin.send(['ACL', 'SETUSER', user, 'on', `>pw-${id}`, '~*', '&*', '+@all', '-config|set']);
    const lines: string[] = [];
    const sink = new Writable({
      write(chunk: Buffer, _enc, done) {
        lines.push(chunk.toString());
        done();
      },
    });
    const engine = new SyncEngine(
      keyConfig(id, {
        SOURCE_REDIS_USERNAME: user,
        SOURCE_REDIS_PASSWORD: `pw-${id}`,
        KEY_SYNC_DB_RANGE: String(DB_A),
      }),
      createLogger('error', sink),
    );
    try {
      await engine.start();
      engine.runForever();
      await waitFor('the engine to stop by itself', () => engine.stopSignal.aborted);
    } finally {
      await engine.stop();
      await admin.send(['ACL', 'DELUSER', user]);
    }
    const fatal = lines.find((l) => l.includes('key capture cannot run'));
    assert.ok(fatal, `a fatal line explains the stop (got ${lines.join('')})`);
    assert.match(fatal, /refused CONFIG SET notify-keyspace-events Kg\$hlszxe/);
    assert.match(fatal, /KEY_SYNC_ENABLED=false/);
  });

  it('sends sets, overwrites, deletes, expiries and renames of every type in order per key, binary-safe, capped in size, and ignores other keys', async () => {
    const id = uid();
    const p = `kc:${id}:`;
    ownKeys.push({ conn: () => a, pattern: `kc:${id}:*` }, { conn: () => a, pattern: `other:${id}:*` });
    const hashTopic = `kc-hash-${id}`;
    const otherTopic = `kc-rest-${id}`;
    const { capture, stop } = await startCapture(id, {
      KEY_SYNC_DB_RANGE: String(DB_A),
      KEY_TARGET_TOPIC_MAP: JSON.stringify({ [`kc:${id}:h*`]: hashTopic }),
      KAFKA_TOPIC: otherTopic,
      KEY_SYNC_MAX_VALUE_BYTES: '300',
    });
    const bin = Buffer.from(Array.from({ length: 256 }, (_, i) => i));
    const odd = Buffer.from([0xff, 0x00, 0x01]);
    const round = async (expected: number, cmds: (string | Buffer)[][]): Promise<void> => {
      await Promise.all(cmds.map((c) => a.send(c)));
      await waitFor(`${expected} captured changes`, () => capture.stats.changes >= expected);
    };
    try {
      await round(9, [
        ['SET', `${p}str`, 'v1'],
        ['HSET', `${p}hash`, 'f1', 'a', 'f2', odd],
        ['RPUSH', `${p}list`, 'a', 'b', 'c'],
        ['SADD', `${p}set`, 'y', 'x'],
        ['ZADD', `${p}zset`, '1', 'a', '2', 'b'],
        ['SET', `${p}tmp`, 'soon gone'],
        ['HSET', `${p}old`, 'f', '1'],
        ['SET', `other:${id}:x`, 'not matching'],
        ['SET', `${p}big`, 'x'.repeat(301)],
        ['RPUSH', `${p}biglist`, ...Array.from({ length: 301 }, () => '')],
      ]);
      await round(16, [
        ['SET', `${p}str`, bin],
        ['HDEL', `${p}hash`, 'f1'],
        ['LPOP', `${p}list`],
        ['SREM', `${p}set`, 'x'],
        ['ZINCRBY', `${p}zset`, '5', 'a'],
        ['RENAME', `${p}old`, `${p}new`],
      ]);
      await a.send(['PEXPIRE', `${p}tmp`, '5']);
      await new Promise((r) => setTimeout(r, 30));
      await round(17, [['EXISTS', `${p}tmp`]]); // an access expires it at once if not done yet
      await round(18, [['DEL', `${p}hash`]]);
      await capture.idle();
    } finally {
      await stop();
    }
    const recs = await records([hashTopic, otherTopic], (all) => all.length >= 18);
    const byKey = new Map<string, Rec[]>();
    for (const r of recs) byKey.set(r.key, [...(byKey.get(r.key) ?? []), r]);
    const seq = (k: string) => (byKey.get(`${p}${k}`) ?? []).map((r) => [r.env.op, keyEnvelopeValue(r.env)]);

    assert.deepEqual(seq('str'), [
      ['set', Buffer.from('v1')],
      ['set', bin],
    ]);
    assert.deepEqual(seq('hash'), [
      ['set', { f1: Buffer.from('a'), f2: odd }],
      ['set', { f2: odd }],
      ['del', undefined],
    ]);
    assert.deepEqual(seq('list'), [
      ['set', ['a', 'b', 'c'].map((x) => Buffer.from(x))],
      ['set', ['b', 'c'].map((x) => Buffer.from(x))],
    ]);
    assert.deepEqual(seq('set'), [
      ['set', ['x', 'y'].map((x) => Buffer.from(x))],
      ['set', [Buffer.from('y')]],
    ]);
    assert.deepEqual(seq('zset'), [
      [
        'set',
        [
          [Buffer.from('a'), 1],
          [Buffer.from('b'), 2],
        ],
      ],
      [
        'set',
        [
          [Buffer.from('b'), 2],
          [Buffer.from('a'), 6],
        ],
      ],
    ]);
    assert.deepEqual(seq('tmp'), [
      ['set', Buffer.from('soon gone')],
      ['expired', undefined],
    ]);
    assert.deepEqual(seq('old'), [
      ['set', { f: Buffer.from('1') }],
      ['del', undefined],
    ]);
    assert.equal(byKey.get(`${p}old`)?.[1]?.env.renamedTo, `${p}new`);
    assert.deepEqual(seq('new'), [['renamed', { f: Buffer.from('1') }]]);
    assert.equal(byKey.get(`${p}new`)?.[0]?.env.from, `${p}old`);

    assert.equal(recs.length, 18, 'nothing else was sent: the non-matching key is ignored');
    assert.ok(!byKey.has(`other:${id}:x`));
    for (const r of recs) {
      assert.equal(r.topic, r.key.startsWith(`${p}h`) ? hashTopic : otherTopic, `topic of ${r.key}`);
      assert.equal(r.env.db, DB_A);
      assert.equal(header(r.m, 'rks-redis-key'), r.key);
      assert.equal(header(r.m, 'rks-db'), String(DB_A));
    }
    assert.equal(byKey.get(`${p}zset`)?.[0]?.env.type, 'zset');
    const big = byKey.get(`${p}big`)?.[0]?.env;
    assert.deepEqual([big?.op, big?.tooLarge, big?.size, big?.value], ['set', true, 301, undefined]);
    const bigList = byKey.get(`${p}biglist`)?.[0]?.env;
    assert.deepEqual(
      [bigList?.tooLarge, bigList?.elements, bigList?.size, bigList?.value],
      [true, 301, undefined, undefined],
      'a collection with more elements than the cap is too large whatever its bytes',
    );
  });

  it('never captures a key the service writes when the source is the target (same server and DB): messages, markers, the unsynced set, dead letters, the last-sync key', async (t) => {
    const id = uid();
    const prefix = `kcown${id}:`;
    const topic = `kc-own-${id}`;
    const direct = `kc-own-direct-${id}`;
    const user = `kcuser:${id}`;
    const same = await redis('source', DB_SAME);
    t.after(async () => {
      await dropKeys(same, `${prefix}*`);
      await same.send(['DEL', user]);
      await same.close();
    });
    const overrides = {
      TARGET_REDIS_PORT: String(STACK_PORTS.source),
      TARGET_REDIS_DB: String(DB_SAME),
      TARGET_REDIS_KEY_PREFIX: prefix,
      KEY_SYNC_DB_RANGE: String(DB_SAME),
      KEY_SYNC_PATTERNS: '*',
      KAFKA_TOPIC: topic,
      KAFKA_MAX_REQUEST_SIZE: '2000',
    };
    let first = await startCapture(id, overrides);
    try {
      await same.send(['SET', user, 'v1']);
      await first.engine.sendMessage(direct, 'hello', 'dev-1'); // message, marker, unsynced set, last-sync key
      await first.engine.sendMessage(direct, 'x'.repeat(5000), 'dev-2'); // too large: a dead letter
      assert.notEqual(await same.send(['GET', `${prefix}rks:last_sync_ms`]), null, 'the last-sync key was written');
      assert.equal(Number(await same.send(['XLEN', `${prefix}dead_letters`])), 1, 'a dead letter was written');
      // Notifications arrive in order: once this one is captured, those of the writes above were seen.
      await same.send(['SET', user, 'v2']);
      await waitFor('the second change of the user key', () => first.capture.stats.changes >= 2);
      await first.capture.idle();
      assert.equal(first.capture.stats.changes, 2, 'only the two changes of the user key were captured');
    } finally {
      await first.stop();
    }
    // A new start snapshots every key of the DB: the service's own keys are there, and skipped.
    const ownThere = (await same.send(['KEYS', `${prefix}*`])) as Buffer[];
    assert.ok(ownThere.length >= 3, `own keys to skip: ${ownThere.join(' ')}`);
    first = await startCapture(id, overrides);
    try {
      assert.equal(first.capture.stats.snapshots, 1);
      assert.equal(first.capture.stats.changes, 1, 'the snapshot captured the user key only');
      await waitFor(
        'the snapshot record to be delivered',
        async () => (await same.send(['SCARD', `${prefix}unsynced_keys_set`])) === 0,
      );
    } finally {
      await first.stop();
    }
    const recs = await records([topic], (all) => all.length >= 3);
    assert.deepEqual(
      recs.map((r) => r.key),
      [user, user, user],
      'every record is of the user key, none of the own keys',
    );
    assert.deepEqual(
      recs.map((r) => r.env.op),
      ['set', 'set', 'snapshot'],
    );
    assert.equal(recs[2]?.env.value, 'v2');
  });

  it('after the subscriber is killed, a snapshot carries the final values, including writes made while it was away', async () => {
    const id = uid();
    const p = `kc:${id}:`;
    ownKeys.push({ conn: () => b, pattern: `kc:${id}:*` });
    const topic = `kc-snap-${id}`;
    const { capture, stop } = await startCapture(id, { KEY_SYNC_DB_RANGE: String(DB_B), KAFKA_TOPIC: topic });
    const name = keyCaptureClientName(`kc-${id}`);
    const final = new Map<string, string>();
    try {
      for (let n = 0; n < 5; n += 1)
        await Promise.all(Array.from({ length: 20 }, (_, i) => b.send(['SET', `${p}k${i}`, `v${n}`])));
      const list = String(await admin.send(['CLIENT', 'LIST', 'TYPE', 'pubsub']));
      const line = list.split('\n').find((l) => l.includes(` name=${name} `));
      assert.ok(line, `the subscriber ${name} is connected`);
      const clientId = /^id=(\d+)/.exec(line)?.[1] as string;
      // The writes right after the kill happen while no subscriber listens: only a snapshot finds them.
      await Promise.all([
        admin.send(['CLIENT', 'KILL', 'ID', clientId]),
        ...Array.from({ length: 20 }, (_, i) => b.send(['SET', `${p}k${i}`, 'final'])),
        ...Array.from({ length: 5 }, (_, i) => b.send(['SET', `${p}missed${i}`, `m${i}`])),
      ]);
      for (let i = 0; i < 20; i += 1) final.set(`${p}k${i}`, 'final');
      for (let i = 0; i < 5; i += 1) final.set(`${p}missed${i}`, `m${i}`);
      await waitFor('the snapshot after the reconnect', () => capture.stats.snapshots >= 2);
      await capture.idle();
    } finally {
      await stop();
    }
    const last = (all: Rec[]): Map<string, Rec> => new Map(all.map((r) => [r.key, r]));
    const recs = await records([topic], (all) => [...final].every(([k, v]) => last(all).get(k)?.env.value === v));
    for (const [k, v] of final) assert.equal(last(recs).get(k)?.env.value, v, `final value of ${k}`);
    for (let i = 0; i < 5; i += 1) {
      const ops = recs.filter((r) => r.key === `${p}missed${i}`).map((r) => r.env.op);
      assert.deepEqual(ops, ['snapshot'], `missed${i} arrived through the snapshot only`);
    }
  });

  it('keeps changes captured while Kafka is down in the target buffer, and a later instance delivers them', async () => {
    const id = uid();
    const p = `kc:${id}:`;
    ownKeys.push({ conn: () => b, pattern: `kc:${id}:*` });
    const topic = `kc-down-${id}`;
    const prefix = `kc${id}:`;
    const unsynced = async (): Promise<number> => Number(await target.send(['SCARD', `${prefix}unsynced_keys_set`]));
    const common = { KEY_SYNC_DB_RANGE: String(DB_B), KAFKA_TOPIC: topic, SYNC_SHUTDOWN_TIMEOUT_MS: '200' };
    // The daemon itself (runForever's hook), pointed at a port where no Kafka listens.
    const down = new SyncEngine(keyConfig(id, { ...common, KAFKA_BOOTSTRAP_SERVERS: '127.0.0.1:1' }), silentLogger);
    await down.start();
    down.runForever();
    try {
      const name = keyCaptureClientName(`kc-${id}`);
      await waitFor('the key capture to subscribe', async () =>
        String(await admin.send(['CLIENT', 'LIST', 'TYPE', 'pubsub'])).includes(` name=${name} `),
      );
      await b.send(['SET', `${p}a`, 'one']);
      await waitFor('1 buffered change', async () => (await unsynced()) >= 1);
      await Promise.all([b.send(['SET', `${p}a`, 'two']), b.send(['HSET', `${p}b`, 'f', 'x'])]);
      await waitFor('3 buffered changes', async () => (await unsynced()) >= 3);
      await b.send(['DEL', `${p}a`]);
      await waitFor('4 buffered changes', async () => (await unsynced()) >= 4);
    } finally {
      await down.stop();
    }
    assert.equal(await unsynced(), 4, 'all four changes wait in the target buffer');

    const up = new SyncEngine(
      keyConfig(id, {
        ...common,
        KEY_SYNC_ENABLED: 'false',
        SYNC_RESEND_AFTER_MS: '0',
        SYNC_RESYNC_INTERVAL_MS: '200',
      }),
      silentLogger,
    );
    await up.start();
    up.runForever();
    try {
      await waitFor('the resync to deliver the buffer', async () => (await unsynced()) === 0);
    } finally {
      await up.stop();
    }
    const recs = await records([topic], (all) => all.length >= 4);
    const got = recs.map((r) => `${r.env.op} ${r.key} ${JSON.stringify(r.env.value ?? null)}`).sort();
    assert.deepEqual(
      got,
      [`del ${p}a null`, `set ${p}a "one"`, `set ${p}a "two"`, `set ${p}b {"f":"x"}`].sort(),
      'every change captured during the outage arrived once Kafka was back',
    );
  });
});
