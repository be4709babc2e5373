import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { KeyFormat } from '../../src/buffer/key-format.js';
import { MessageFormat } from '../../src/engine/batch.js';

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
});
