import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { buildEnvelope, envelopeBytes, envelopeValue, fieldValue } from '../../src/source/envelope.js';
import { GlobMap, globToRegExp } from '../../src/util/glob.js';

describe('envelope', () => {
  it('keeps valid UTF-8 as text and base64-encodes invalid bytes, flagging them', () => {
    const blob = Buffer.from([0xff, 0x00, 0xc3, 0x28]);
    const env = buildEnvelope(
      's',
      2,
      '1-0',
      [Buffer.from('device_id'), Buffer.from('d1'), Buffer.from('blob'), blob, Buffer.from('empty'), Buffer.alloc(0)],
      'utf-8',
    );
    assert.deepEqual({ ...env.fields }, { device_id: 'd1', blob: blob.toString('base64'), empty: '' });
    assert.deepEqual(env.base64, ['blob']);
    assert.deepEqual(envelopeValue(env, 'blob'), blob);
    const wire = JSON.parse(JSON.stringify(env)) as Record<string, unknown>;
    assert.deepEqual(Object.keys(wire), ['stream', 'db', 'id', 'fields', 'base64']);
    assert.deepEqual(wire.fields, { ...env.fields });
  });

  it('keeps repeated field names instead of dropping them', () => {
    const env = buildEnvelope(
      's',
      0,
      '1-0',
      ['a', '1', 'a', '2'].map((x) => Buffer.from(x)),
      'utf-8',
    );
    assert.equal(env.fields.a, '1');
    assert.deepEqual(env.repeated, [['a', '2']]);
  });

  it('writes exactly the bytes of JSON.stringify, for every stream, DB and id, again and again', () => {
    const fields = ['device_id', 'd1', 'temp', '21.5', 'note', 'h\u00e9 "q"'].map((x) => Buffer.from(x));
    const plain = fields.slice(0, 4);
    for (let round = 0; round < 2; round += 1)
      for (const stream of ['s', 'device:1:stream', 'quote"d', 'ünï']) {
        for (const db of [0, 7]) {
          for (const id of ['1732700000000-0', '5-12', 'not-an-id', 'x"y']) {
            for (const f of [plain, fields]) {
              const want = JSON.stringify(buildEnvelope(stream, db, id, f, 'utf-8'));
              assert.equal(envelopeBytes(stream, db, id, f, 'utf-8').toString('utf8'), want);
            }
          }
        }
      }
  });

  it('finds the key field', () => {
    assert.deepEqual(
      fieldValue(
        ['x', '1', 'device_id', 'abc'].map((x) => Buffer.from(x)),
        'device_id',
      ),
      Buffer.from('abc'),
    );
    assert.equal(fieldValue([Buffer.from('x'), Buffer.from('1')], 'device_id'), undefined);
  });
});

describe('glob topic mapping', () => {
  it('matches Redis glob syntax', () => {
    assert.ok(globToRegExp('device:*:stream').test('device:42:stream'));
    assert.ok(!globToRegExp('device:*:stream').test('device:42:other'));
    assert.ok(globToRegExp('h?llo').test('hello'));
    assert.ok(globToRegExp('h[ae]llo').test('hallo'));
    assert.ok(!globToRegExp('h[^e]llo').test('hello'));
    assert.ok(globToRegExp('a\\*b').test('a*b'));
    assert.ok(!globToRegExp('a\\*b').test('axb'));
  });

  it('lets the first matching pattern win, in map order', () => {
    const m = new GlobMap([
      ['device:*:stream', 'devices'],
      ['*-stream', 'default-stream'],
      ['*', 'catch-all'],
    ]);
    assert.equal(m.match('device:1:stream'), 'devices');
    assert.equal(m.match('app-stream'), 'default-stream');
    assert.equal(m.match('zzz'), 'catch-all');
  });
});
