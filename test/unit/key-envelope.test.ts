import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  buildKeyEnvelope,
  eventOp,
  keyEnvelopeValue,
  KeyPatternMap,
  type KeyChange,
  type KeyRead,
} from '../../src/source/key-envelope.js';
import { mergeNotifyFlags } from '../../src/source/keyspace.js';

const b = (s: string): Buffer => Buffer.from(s);
const change = (op: KeyChange['op'], extra: Partial<KeyChange> = {}): KeyChange => ({
  db: 3,
  key: b('k'),
  op,
  ...extra,
});
const read = (type: string, items: Buffer[], extra: Partial<KeyRead> = {}): KeyRead => ({
  type,
  pttl: -1,
  elements: type === 'string' ? 1 : items.length,
  size: items.reduce((n, x) => n + x.length, 0),
  tooLarge: false,
  items,
  ...extra,
});
const wire = (x: unknown): Record<string, unknown> => JSON.parse(JSON.stringify(x)) as Record<string, unknown>;

describe('key change envelope', () => {
  it('carries a string value with db, key, op, type, size and read time, in that order', () => {
    const env = buildKeyEnvelope(change('set'), read('string', [b('hello')]), 'utf-8', 1234);
    assert.deepEqual(wire(env), {
      db: 3,
      key: 'k',
      op: 'set',
      type: 'string',
      elements: 1,
      size: 5,
      value: 'hello',
      at: 1234,
    });
    assert.deepEqual(Object.keys(wire(env)), ['db', 'key', 'op', 'type', 'elements', 'size', 'value', 'at']);
  });

  it('base64-encodes bytes that are not valid UTF-8 and flags where they are, for every type', () => {
    const bad = Buffer.from([0xff, 0x00, 0xfe]);
    const s = buildKeyEnvelope(change('set'), read('string', [bad]), 'utf-8', 0);
    assert.equal(s.value, bad.toString('base64'));
    assert.deepEqual(s.base64, [0]);
    assert.deepEqual(keyEnvelopeValue(s), bad);

    const h = buildKeyEnvelope(change('set'), read('hash', [b('name'), b('Ada'), b('pic'), bad]), 'utf-8', 0);
    assert.deepEqual({ ...(h.value as Record<string, string>) }, { name: 'Ada', pic: bad.toString('base64') });
    assert.deepEqual(h.base64, ['pic']);
    assert.deepEqual(keyEnvelopeValue(h), { name: b('Ada'), pic: bad });

    const l = buildKeyEnvelope(change('set'), read('list', [b('a'), bad, b('a')]), 'utf-8', 0);
    assert.deepEqual(l.value, ['a', bad.toString('base64'), 'a']);
    assert.deepEqual(l.base64, [1]);
    assert.deepEqual(keyEnvelopeValue(l), [b('a'), bad, b('a')]);

    const z = buildKeyEnvelope(change('set'), read('zset', [b('m'), b('1.5'), bad, b('inf')]), 'utf-8', 0);
    assert.deepEqual(z.value, [
      ['m', 1.5],
      [bad.toString('base64'), 'inf'],
    ]);
    assert.deepEqual(z.base64, [1]);
    assert.deepEqual(keyEnvelopeValue(z), [
      [b('m'), 1.5],
      [bad, 'inf'],
    ]);
  });

  it('sorts set members by bytes so equal sets give equal envelopes', () => {
    const env = buildKeyEnvelope(change('snapshot'), read('set', [b('c'), b('a'), b('b')]), 'utf-8', 0);
    assert.deepEqual(env.value, ['a', 'b', 'c']);
    assert.equal(env.op, 'snapshot');
  });

  it('writes a binary key name as base64: so the envelope stays valid JSON text', () => {
    const key = Buffer.from([0x80, 0x81]);
    const env = buildKeyEnvelope(change('del', { key }), undefined, 'utf-8', 0);
    assert.equal(env.key, `base64:${key.toString('base64')}`);
    assert.equal(env.value, undefined);
  });

  it('omits a value over the cap and says how big it was', () => {
    const env = buildKeyEnvelope(
      change('set'),
      read('hash', [], { elements: 5000, size: -1, tooLarge: true, pttl: 900 }),
      'utf-8',
      0,
    );
    assert.equal(env.tooLarge, true);
    assert.equal(env.value, undefined);
    assert.equal(env.elements, 5000);
    assert.equal(env.size, undefined);
    assert.equal(env.ttlMs, 900);
  });

  it('turns a write whose key was gone at read time into a del, without value or type', () => {
    const env = buildKeyEnvelope(change('renamed', { from: b('old') }), read('none', [], { pttl: -2 }), 'utf-8', 0);
    assert.deepEqual(wire(env), { db: 3, key: 'k', op: 'del', at: 0 });
  });

  it('names both sides of a rename', () => {
    const gone = buildKeyEnvelope(change('del', { key: b('old'), renamedTo: b('new') }), undefined, 'utf-8', 0);
    assert.deepEqual(wire(gone), { db: 3, key: 'old', op: 'del', renamedTo: 'new', at: 0 });
    const moved = buildKeyEnvelope(
      change('renamed', { key: b('new'), from: b('old') }),
      read('string', [b('v')]),
      'utf-8',
      0,
    );
    assert.equal(moved.from, 'old');
    assert.equal(moved.value, 'v');
  });

  it('maps keyspace events to operations and ignores those that change no value', () => {
    assert.equal(eventOp('set'), 'set');
    assert.equal(eventOp('hset'), 'set');
    assert.equal(eventOp('lpush'), 'set');
    assert.equal(eventOp('del'), 'del');
    assert.equal(eventOp('expired'), 'expired');
    assert.equal(eventOp('evicted'), 'evicted');
    for (const e of ['expire', 'persist', 'new', 'xadd', 'rename_from', 'rename_to'])
      assert.equal(eventOp(e), undefined, e);
  });
});

describe('key pattern matching', () => {
  it('matches key bytes like Redis does, the first pattern winning', () => {
    const m = new KeyPatternMap([
      ['user:*', 'users'],
      ['caf\u00e9:?', 'cafe'],
      ['*', 'rest'],
    ]);
    assert.equal(m.match(b('user:1')), 'users');
    assert.equal(m.match(b('caf\u00e9:1')), 'cafe', 'a multi-byte pattern character matches its bytes');
    assert.equal(m.match(Buffer.from([0xff])), 'rest');
    assert.equal(m.indexOf(b('user:x')), 0);
    assert.equal(new KeyPatternMap([['a*', 1]]).indexOf(b('b')), -1);
  });
});

describe('notify-keyspace-events merging', () => {
  it('adds only the missing classes and keeps what is set', () => {
    assert.equal(mergeNotifyFlags(''), 'Kg$hlszxe');
    assert.equal(mergeNotifyFlags('Ex'), 'ExKg$hlsze');
    assert.equal(mergeNotifyFlags('AE'), 'AEK', 'A covers every data class but not the keyspace channel');
    assert.equal(mergeNotifyFlags('AKE'), undefined);
    assert.equal(mergeNotifyFlags('KEg$lshzxe'), undefined);
  });
});
