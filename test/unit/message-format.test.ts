import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { KeyFormat } from '../../src/buffer/key-format.js';
import { InFlight, MessageFormat, memoryOf, PER_MESSAGE_OVERHEAD_BYTES } from '../../src/engine/batch.js';
import { decodeMessage, encodeMessage, valueOf } from '../../src/buffer/message-layout.js';
import { buildEnvelope } from '../../src/source/envelope.js';
import { streamMessage } from '../../src/source/stream-message.js';
import type { SourceEntry } from '../../src/source/streams.js';
import { GlobMap } from '../../src/util/glob.js';

const keys = new KeyFormat('p:');
const parts = { topic: 't', id: '17-3', origin: { kind: 'stream', db: 2, stream: 'dev:1' } } as const;

describe('message format', () => {
  test('KAFKA_RECORD_HEADERS=all: the id, the buffer key and the origin, as documented', () => {
    const m = new MessageFormat(keys, 'all').build(parts, Buffer.from('k'), Buffer.from('v'));
    assert.equal(m.key, 'p:msg:t:17-3:s2:dev:1');
    assert.deepEqual(m.headers, [
      { 'rks-id': 'msg:t:17-3:s2:dev:1' },
      { 'rks-buffer-key': 'p:msg:t:17-3:s2:dev:1' },
      { 'rks-stream': 'dev:1' },
      { 'rks-db': '2' },
      { 'rks-entry-id': '17-3' },
    ]);
  });

  test('KAFKA_RECORD_HEADERS=id: rks-id alone, the same value', () => {
    const m = new MessageFormat(keys, 'id').build(parts, Buffer.from('k'), Buffer.from('v'));
    assert.deepEqual(m.headers, [{ 'rks-id': 'msg:t:17-3:s2:dev:1' }]);
  });

  test('a message read back from the buffer carries the headers of its first send', () => {
    const f = new MessageFormat(keys, 'all');
    const first = f.build(
      { topic: 't', id: '5-1-ab', origin: { kind: 'direct', deviceId: 'd7' } },
      Buffer.from('d7'),
      Buffer.from('x'),
    );
    const again = f.rebuild(first, keys.parse(first.key));
    assert.deepEqual(again.headers, first.headers);
    assert.deepEqual(again.origin, first.origin);
    assert.equal(again.id, first.id);
  });

  test('a built message makes its headers when read: the same every time, and what it was built from is all it keeps', () => {
    const f = new MessageFormat(keys, 'all');
    const m = f.build(parts, Buffer.from('k'), Buffer.from('v'));
    const first = m.headers;
    // A produce call (or a header filter downstream) may change what it was given.
    (first as Record<string, string>[])[0] = { 'rks-id': 'changed' };
    assert.deepEqual(m.headers, f.rebuild(m, keys.parse(m.key)).headers);
    assert.equal((m.headers[0] as Record<string, string>)['rks-id'], 'msg:t:17-3:s2:dev:1');
    // No header objects are held by the message between reads (they would live as long as it does).
    assert.ok(!Object.values(m).some((v) => Array.isArray(v)), 'no headers array among its fields');
  });
});

describe('stream entry messages', () => {
  const mapping = {
    topics: new GlobMap<string>([]),
    defaultTopic: 'tópic',
    keyField: 'device_id',
    encoding: 'utf-8',
  } as const;
  const entry = (fields: string[], stream = 'dev:1'): SourceEntry => ({
    db: 3,
    stream,
    id: '1732700000000-7',
    // Views into one chunk, as the Redis client hands them over.
    fields: (() => {
      const chunk = Buffer.from(fields.join(''));
      let o = 0;
      return fields.map((f) => chunk.subarray(o, (o += Buffer.byteLength(f))));
    })(),
  });

  test('the value built in place holds the same bytes as the value encoded from the message', () => {
    const f = new MessageFormat(keys, 'all');
    for (const e of [
      entry(['device_id', 'dé1', 'temp', '21.5']),
      entry(['temp', '21.5'], 'strëam'),
      entry(['a"', 'x']),
    ]) {
      const m = streamMessage(e, f, mapping);
      const value = valueOf(m, 1_732_700_000_123);
      assert.deepEqual(
        value,
        encodeMessage(m.topic, Buffer.from(m.kafkaKey), Buffer.from(m.payload), 1_732_700_000_123),
      );
      const back = decodeMessage(m.key, value);
      assert.equal(back?.topic, 'tópic');
      assert.deepEqual(back?.kafkaKey, m.kafkaKey);
      assert.deepEqual(back?.payload, m.payload);
      assert.equal(back?.createdMs, 1_732_700_000_123);
      assert.equal(m.payload.toString(), JSON.stringify(buildEnvelope(e.stream, e.db, e.id, e.fields, 'utf-8')));
    }
    const plain = streamMessage(entry(['device_id', 'd9', 'temp', '1']), f, mapping);
    assert.ok(plain.value, 'a common entry carries its value');
    assert.equal(plain.kafkaKey.toString(), 'd9');
    assert.equal(
      streamMessage(entry(['a"', 'x']), f, mapping).value,
      undefined,
      'the general path encodes at the write',
    );
  });

  test('a message built in its value keeps no Buffer but the value; its key and payload are read from it', () => {
    const f = new MessageFormat(keys, 'all');
    const m = streamMessage(entry(['device_id', 'd9', 'temp', '21.5']), f, mapping);
    const value = m.value;
    assert.ok(value);
    const held = Object.values(m).filter((v) => Buffer.isBuffer(v) && v.length > 0);
    assert.deepEqual(held, [value], 'no record key or payload views living as long as the message');
    assert.equal(m.kafkaKey.toString(), 'd9');
    assert.equal(m.kafkaKey.buffer, value.buffer, 'a view into the value, not a copy');
    assert.equal(
      m.payload.byteOffset + m.payload.length,
      value.byteOffset + value.length,
      'the payload ends the value',
    );
    // Counted in the in-flight budget by the value, which holds key and payload (and its head).
    assert.equal(memoryOf([m]), value.length + m.key.length + PER_MESSAGE_OVERHEAD_BYTES);
    assert.ok(value.length >= m.kafkaKey.length + m.payload.length);
  });
});

describe('messages in flight', () => {
  test('a key stays until every add was matched by a delete; each key is listed once, with its first message', () => {
    const f = new MessageFormat(keys, 'all');
    const a = f.build(parts, Buffer.from('k'), Buffer.from('1'));
    const again = f.build(parts, Buffer.from('k'), Buffer.from('2'));
    const b = f.build({ ...parts, id: '17-4' }, Buffer.from('k'), Buffer.from('3'));
    const inFlight = new InFlight();
    inFlight.add(a);
    inFlight.add(again);
    inFlight.add(again);
    inFlight.add(b);
    assert.equal(inFlight.size, 2);
    assert.deepEqual([...inFlight.messages()], [a, b]);
    inFlight.delete(a);
    inFlight.delete(again);
    assert.ok(inFlight.has(a.key), 'added three times, deleted twice');
    inFlight.delete(b);
    assert.ok(!inFlight.has(b.key));
    inFlight.delete(a);
    assert.ok(!inFlight.has(a.key));
    inFlight.delete(a);
    inFlight.add(a);
    assert.ok(inFlight.has(a.key), 'a delete too many is no debt');
    inFlight.delete(a);
    assert.equal(inFlight.size, 0);
  });
});
