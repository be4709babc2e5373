import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { Deployment, type ClientFactory } from '../../src/redis/sentinel.js';

const noClients: ClientFactory = () => {
  throw new Error('no client in this test');
};

describe('a Sentinel deployment confirming masters', () => {
  test('accepts the new master once the failover completed at the epoch it first saw in progress', () => {
    const d = new Deployment('k', 'target', 'm', [], noClients);
    assert.equal(d.confirmed('127.0.0.1:1', 5), true);
    // The leader, mid-failover, ranks +0.5 above its peers: the first connection confirms that.
    assert.equal(d.confirmed('127.0.0.1:2', 6.5), true);
    // Every other connection then hears the completed answer, epoch 6: not older, the same master.
    assert.equal(d.confirmed('127.0.0.1:2', 6), true);
    assert.equal(d.current, '127.0.0.1:2');
  });

  test('still refuses the old master named at an older epoch (a restarted node calling itself master)', () => {
    const d = new Deployment('k', 'target', 'm', [], noClients);
    assert.equal(d.confirmed('127.0.0.1:1', 5), true);
    assert.equal(d.confirmed('127.0.0.1:2', 6), true);
    assert.equal(d.confirmed('127.0.0.1:1', 5), false);
    assert.equal(d.current, '127.0.0.1:2');
  });
});
