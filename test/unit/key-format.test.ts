import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { KeyFormat, newMessageId } from '../../src/buffer/key-format.js';

describe('key format', () => {
  const kf = new KeyFormat('edge1:');

  it('generates and parses a stream-entry key whose stream name contains colons', () => {
    const key = kf.messageKey({
      topic: 'device-data',
      id: '1700000000000-3',
      origin: { kind: 'stream', db: 4, stream: 'device:42:stream' },
    });
    assert.equal(key, 'edge1:msg:device-data:1700000000000-3:s4:device:42:stream');
    assert.deepEqual(kf.parse(key), {
      topic: 'device-data',
      id: '1700000000000-3',
      origin: { kind: 'stream', db: 4, stream: 'device:42:stream' },
    });
  });

  it('round-trips direct-message and key-change keys', () => {
    const direct = kf.messageKey({ topic: 't', id: newMessageId(1), origin: { kind: 'direct', deviceId: 'dev:1' } });
    assert.deepEqual(kf.parse(direct)?.origin, { kind: 'direct', deviceId: 'dev:1' });
    const change = kf.messageKey({ topic: 't', id: 'x-1', origin: { kind: 'key', db: 2, key: 'user:9' } });
    assert.deepEqual(kf.parse(change)?.origin, { kind: 'key', db: 2, key: 'user:9' });
  });

  it('derives the sync marker and the stable id from the message key', () => {
    const key = kf.messageKey({ topic: 't', id: '1-0', origin: { kind: 'stream', db: 0, stream: 's' } });
    assert.deepEqual(kf.marker(key), { set: 'edge1:synced:t:w0:s0:s', member: '1-0' });
    assert.equal(kf.legacyMarkerKey(key), 'edge1:synced:t:1-0:s0:s');
    assert.equal(kf.stableId(key), 'msg:t:1-0:s0:s');
    assert.equal(kf.unsyncedSet, 'edge1:unsynced_keys_set');
    assert.equal(new KeyFormat().unsyncedSet, 'unsynced_keys_set');
  });

  it("puts a message's marker in the set of its topic, origin (or its kind) and 10-minute id window", () => {
    const at = (
      id: string,
      origin: Parameters<KeyFormat['messageKey']>[0]['origin'],
    ): { set: string; member: string } => kf.marker(kf.messageKey({ topic: 'tel', id, origin }));
    const stream = { kind: 'stream', db: 2, stream: 'dev:7:s' } as const;
    assert.deepEqual(at('1700000000000-3', stream), {
      set: 'edge1:synced:tel:w2833333:s2:dev:7:s',
      member: '1700000000000-3',
    });
    assert.equal(at('1700000399999-0', stream).set, 'edge1:synced:tel:w2833333:s2:dev:7:s', 'same window');
    assert.equal(at('1700000400000-0', stream).set, 'edge1:synced:tel:w2833334:s2:dev:7:s', 'next window');
    assert.deepEqual(at('1700000000000-1-ab12cd', { kind: 'direct', deviceId: 'd:1' }), {
      set: 'edge1:synced:tel:w2833333:d',
      member: '1700000000000-1-ab12cd:d:1',
    });
    assert.deepEqual(at('1700000000000-1', { kind: 'key', db: 3, key: 'user:9' }), {
      set: 'edge1:synced:tel:w2833333:k3',
      member: '1700000000000-1:user:9',
    });
    assert.equal(at('x-1', { kind: 'direct', deviceId: 'd' }).set, 'edge1:synced:tel:w0:d', 'an id without a time');
    assert.throws(() => kf.marker('edge1:synced:t:1-0:s0:s'), /not a message key/);
    // A foreign key under msg: (SCAN MATCH brings it to recovery): a set of its own, never a throw.
    assert.deepEqual(kf.marker('edge1:msg:hello'), { set: 'edge1:synced:_', member: 'hello' });
    assert.deepEqual(kf.marker('edge1:msg:a:b'), { set: 'edge1:synced:_', member: 'a:b' });
  });

  it('rejects keys that are not message keys and topics containing a colon', () => {
    assert.equal(kf.parse('edge1:synced:t:1-0:s0:s'), undefined);
    assert.equal(kf.parse('other:msg:t:1-0:s0:s'), undefined);
    assert.equal(kf.parse('edge1:msg:t:1-0:x0:s'), undefined);
    assert.throws(() => kf.messageKey({ topic: 'a:b', id: '1', origin: { kind: 'direct', deviceId: 'd' } }));
  });

  it('makes distinct, time-prefixed ids', () => {
    const a = newMessageId(5);
    const b = newMessageId(5);
    assert.notEqual(a, b);
    assert.ok(a.startsWith('5-'));
  });
});

describe('own keys', () => {
  it('recognises every key the service writes in the target, with and without a prefix, and nothing else', () => {
    for (const prefix of ['', 'app1:', 'a*[x]:']) {
      const keys = new KeyFormat(prefix);
      const msg = keys.messageKey({ topic: 't', id: newMessageId(), origin: { kind: 'key', db: 0, key: 'user:1' } });
      const own = [
        msg,
        keys.marker(msg).set,
        keys.legacyMarkerKey(msg),
        keys.unsyncedSet,
        keys.deadLetters,
        keys.lastSync,
        `${prefix}rks:future`,
      ];
      for (const k of own) {
        assert.ok(keys.isOwnKey(k), `${k} is own (prefix "${prefix}")`);
        assert.ok(keys.isOwnKey(Buffer.from(k)), `${k} as bytes`);
      }
      assert.equal(keys.lastSync, `${prefix}rks:last_sync_ms`);
      for (const k of [
        'user:1',
        `${prefix}user:1`,
        `${prefix}msgx`,
        `${prefix}unsynced_keys_set2`,
        'rks',
        `x${prefix}msg:t:1:d:x`,
      ])
        assert.ok(!keys.isOwnKey(k), `${k} is not own (prefix "${prefix}")`);
    }
    assert.ok(!new KeyFormat('p:').isOwnKey('msg:t:1-0:d:x'), 'another prefix: not ours');
  });
});
