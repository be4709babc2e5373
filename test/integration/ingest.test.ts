import assert from 'node:assert/strict';
import { request } from 'node:http';
import { after, before, describe, it } from 'node:test';
import { decodeMessage } from '../../src/buffer/message-layout.js';
import type { RedisConnection } from '../../src/redis/client.js';
import { consume, ensureStack, header, redis, uid } from '../helpers/real-stack.js';
import { deletePrefix, startDaemon, waitFor, type Daemon } from '../helpers/daemon.js';

const id = uid();
const token = `ingest-token-${id}`;
const prefix = `ing${id}:`;
const topic = `ingest-${id}`;

interface Reply {
  readonly status: number;
  readonly json: { key?: string; error?: string };
}

describe('POST /v1/messages', () => {
  let daemon: Daemon;
  let url = '';
  let target: RedisConnection;
  before(async () => {
    await ensureStack();
    target = await redis('target');
    daemon = startDaemon({
      SOURCE_REDIS_DB_SEARCH_RANGE: '7',
      STREAM_DISCOVERY_PATTERNS: `ingest-none-${id}-*`,
      TARGET_REDIS_KEY_PREFIX: prefix,
      HTTP_AUTH_TOKEN: token,
      HTTP_MAX_BODY_BYTES: '1024',
    });
    url = await daemon.url;
    await waitFor('the daemon to be ready', async () => (await fetch(`${url}/readyz`)).status === 200);
  });
  after(async () => {
    await daemon.stop();
    await deletePrefix(target, prefix);
    await target.close();
  });

  async function post(body: string | Buffer, headers: Record<string, string>, auth = true): Promise<Reply> {
    const res = await fetch(`${url}/v1/messages`, {
      method: 'POST',
      headers: { ...(auth ? { authorization: `Bearer ${token}` } : {}), ...headers },
      body,
    });
    return { status: res.status, json: (await res.json()) as Reply['json'] };
  }
  const json = { 'content-type': 'application/json' };

  it('answers 202 with the key once the target holds the message, and delivers the exact bytes to Kafka', async () => {
    const binary = Buffer.from([0, 1, 2, 0xfe, 0xff, 0x80, 10, 13]);
    const text = await post(JSON.stringify({ topic, deviceId: 'dev-text', body: 'hello ☃' }), json);
    const b64 = await post(
      JSON.stringify({ topic, deviceId: 'dev-b64', body: { base64: binary.toString('base64') } }),
      json,
    );
    const raw = await post(binary, {
      'content-type': 'application/octet-stream',
      'x-topic': topic,
      'x-device-id': 'dev-raw',
    });
    for (const r of [text, b64, raw]) assert.equal(r.status, 202, JSON.stringify(r.json));
    assert.match(text.json.key ?? '', new RegExp(`^${prefix}msg:${topic}:[^:]+:d:dev-text$`));
    // Durable before the answer: the buffer already holds the raw payload.
    const key = raw.json.key as string;
    const stored = decodeMessage(key, await target.send(['GET', key]))?.payload;
    assert.ok(stored?.equals(binary), 'payload stored as sent');

    const records = await consume([topic], (all) => all.length >= 3);
    const byDevice = new Map(records.map((r) => [header(r, 'rks-device-id'), r]));
    assert.equal(byDevice.get('dev-text')?.value?.toString('utf8'), 'hello ☃');
    assert.ok(byDevice.get('dev-b64')?.value?.equals(binary), 'base64 body arrives as raw bytes');
    assert.ok(byDevice.get('dev-raw')?.value?.equals(binary), 'raw body arrives as raw bytes');
    assert.equal(String(byDevice.get('dev-raw')?.key), 'dev-raw', 'the device id is the Kafka key');
    await waitFor('the three to be marked synced', async () => {
      const keys = [text, b64, raw].map((r) => r.json.key as string);
      const members = await Promise.all(keys.map((k) => target.send(['SISMEMBER', `${prefix}unsynced_keys_set`, k])));
      return members.every((m) => Number(m) === 0);
    });
  });

  it('answers each of many concurrent requests with its own key, and all reach Kafka', async () => {
    const concurrentTopic = `${topic}-many`;
    const replies = await Promise.all(
      Array.from({ length: 60 }, (_, i) =>
        post(JSON.stringify({ topic: concurrentTopic, deviceId: `d${i % 6}`, body: `m${i}` }), json),
      ),
    );
    assert.deepEqual(new Set(replies.map((r) => r.status)), new Set([202]));
    assert.equal(new Set(replies.map((r) => r.json.key)).size, 60);
    const records = await consume([concurrentTopic], (all) => all.length >= 60);
    assert.deepEqual(
      new Set(records.map((r) => String(r.value))),
      new Set(Array.from({ length: 60 }, (_, i) => `m${i}`)),
    );
  });

  it('answers 401 without the bearer token or with a wrong one, and buffers nothing', async () => {
    const before = Number(await target.send(['SCARD', `${prefix}unsynced_keys_set`]));
    const body = JSON.stringify({ topic, deviceId: 'x', body: 'no' });
    const none = await post(body, json, false);
    const wrong = await post(body, { ...json, authorization: `Bearer ${token}x` }, false);
    for (const r of [none, wrong]) {
      assert.equal(r.status, 401);
      assert.match(r.json.error ?? '', /bearer token/);
    }
    assert.equal(Number(await target.send(['SCARD', `${prefix}unsynced_keys_set`])), before);
  });

  it('answers 413 to a body over HTTP_MAX_BODY_BYTES, declared or streamed in chunks', async () => {
    const big = await post(Buffer.alloc(2048, 1), { 'x-topic': topic, 'x-device-id': 'big' });
    assert.equal(big.status, 413);
    assert.match(big.json.error ?? '', /HTTP_MAX_BODY_BYTES=1024/);
    const chunked = await new Promise<Reply>((resolve, reject) => {
      const req = request(`${url}/v1/messages`, {
        method: 'POST',
        headers: { authorization: `Bearer ${token}`, 'x-topic': topic, 'x-device-id': 'big' },
      });
      req.on('response', (res) => {
        let data = '';
        res.on('data', (d: Buffer) => (data += d.toString()));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, json: JSON.parse(data) as Reply['json'] }));
      });
      req.on('error', reject);
      req.write(Buffer.alloc(800, 2));
      req.end(Buffer.alloc(800, 3));
    });
    assert.equal(chunked.status, 413);
  });

  it('answers 400 naming what is wrong, 404 for an unknown path and 405 for a wrong method', async () => {
    const cases: [string | Buffer, Record<string, string>, RegExp][] = [
      ['{"topic": ', json, /^bad JSON/],
      ['[1, 2]', json, /^bad JSON: expected an object/],
      [JSON.stringify({ deviceId: 'd', body: 'x' }), json, /^missing topic/],
      [JSON.stringify({ topic: 'bad topic!', deviceId: 'd', body: 'x' }), json, /^invalid topic name "bad topic!"/],
      [JSON.stringify({ topic, body: 'x' }), json, /^missing deviceId/],
      [JSON.stringify({ topic, deviceId: 'd' }), json, /^missing body/],
      [JSON.stringify({ topic, deviceId: 'd', body: { base64: '%%%' } }), json, /not valid base64/],
      ['raw', { 'content-type': 'text/plain', 'x-device-id': 'd' }, /^missing topic: set the X-Topic header/],
      ['raw', { 'content-type': 'text/plain', 'x-topic': topic }, /^missing deviceId/],
    ];
    for (const [body, headers, expected] of cases) {
      const r = await post(body, headers);
      assert.equal(r.status, 400, `${String(body)} -> ${JSON.stringify(r.json)}`);
      assert.match(r.json.error ?? '', expected);
    }
    const notFound = await fetch(`${url}/v1/nothing-${id}`);
    assert.equal(notFound.status, 404);
    assert.match(((await notFound.json()) as { error: string }).error, /no such endpoint/);
    const wrongMethod = await fetch(`${url}/v1/messages`);
    assert.equal(wrongMethod.status, 405);
    assert.equal(wrongMethod.headers.get('allow'), 'POST');
    assert.match(((await wrongMethod.json()) as { error: string }).error, /use POST/);
  });
});
