/**
 * The target's eviction policy, checked so that Redis cannot evict a message that is not in Kafka
 * yet (unsynced messages have no TTL).
 *
 * Invariants
 *  - Every node that holds messages is asked: the target, or in a Redis Cluster every master (each
 *    holds its shards' messages; one evicting master is enough to lose some). Any refusal refuses.
 *  - Refused: maxmemory set with an `allkeys-*` maxmemory-policy, which evicts any key. Safe:
 *    `noeviction` (a full buffer refuses writes, the readers pause), `volatile-*` (only keys with
 *    a TTL go: synced messages and markers, at worst a duplicate later), or no maxmemory.
 *  - A refusal is a TargetRefusedError (not retryable: the pipeline says it at every attempt and
 *    goes on once an operator changed the policy); INFO refused (ACL, managed Redis) is 'unknown',
 *    never a refusal; a connection failure is thrown as it is (retryable).
 *  - `beforeWrite` checks again once TARGET_REDIS_EVICTION_CHECK_INTERVAL_MS passed since the
 *    last check (the engine's start counts as one; 0 = never again), and at every write while the
 *    last check refused, so writes go on by themselves once the policy is fixed. A refused write
 *    keeps its batch's budget: reading pauses (backpressure), nothing new is buffered. Marking is
 *    not guarded: it only gives synced messages their TTL.
 */
import { TargetRefusedError } from '../errors.js';
import { asText, type RedisConnection } from '../redis/client.js';
import { isCluster } from '../redis/cluster.js';
import { isRetryableRedisError } from '../redis/errors.js';

export class EvictionGuard {
  private checkedAt = Date.now();
  private refused = false;

  constructor(
    /** The target's connection (a cluster connection: every master is asked). */
    private readonly conn: RedisConnection,
    private readonly intervalMs: number,
  ) {}

  /**
   * The policy now, of every node asked (see the invariants): 'safe', 'unknown' (INFO refused by
   * some node, none unsafe), or a TargetRefusedError naming the node and the fix.
   */
  async check(): Promise<'safe' | 'unknown'> {
    const nodes = isCluster(this.conn) ? await this.conn.masters() : [this.conn];
    let verdict: 'safe' | 'unknown' = 'safe';
    for (const node of nodes) if ((await policyOf(node)) === 'unknown') verdict = 'unknown';
    return verdict;
  }

  /** Before a buffer write: `check` when due (see the invariants); throws its refusal. */
  async beforeWrite(): Promise<void> {
    if (!this.refused && (this.intervalMs === 0 || Date.now() - this.checkedAt < this.intervalMs)) return;
    this.checkedAt = Date.now();
    try {
      await this.check();
      this.refused = false;
    } catch (err) {
      if (err instanceof TargetRefusedError) this.refused = true;
      throw err;
    }
  }
}

/** One node's policy: 'safe', 'unknown' (INFO refused), or a TargetRefusedError (see the invariants). */
async function policyOf(conn: RedisConnection): Promise<'safe' | 'unknown'> {
  let info: string;
  try {
    info = asText(await conn.send(['INFO', 'memory']));
  } catch (err) {
    if (isRetryableRedisError(err)) throw err;
    return 'unknown';
  }
  const policy = /^maxmemory_policy:(\S+)/m.exec(info)?.[1];
  const maxmemory = Number(/^maxmemory:(\d+)/m.exec(info)?.[1] ?? 0);
  if (policy === undefined) return 'unknown';
  if (maxmemory > 0 && policy.startsWith('allkeys-'))
    throw new TargetRefusedError(
      `${conn.endpoint}: maxmemory-policy is ${policy} with maxmemory ${maxmemory} bytes, so Redis may evict messages that are not in Kafka yet (they have no TTL). Set maxmemory-policy to noeviction (reading pauses while the buffer is full) or a volatile-* policy (only synced messages and markers are evicted): CONFIG SET maxmemory-policy noeviction, and the same in redis.conf. Nothing new is buffered until then (reading pauses); the check is repeated every SYNC_RETRY_MAX_MS.`,
    );
  return 'safe';
}
