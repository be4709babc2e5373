/**
 * The target buffer in a Redis Cluster: the same scripts and invariants as store.ts, over the
 * cluster key layout (cluster-layout.ts). Every script call covers the messages of one shard
 * (one slot: message keys, markers and the shard's unsynced set share its hash tag); a batch is
 * one call per shard it touches, all sent at once. Recovery SCANs every master; counting and
 * scanning the unsynced messages visit every shard's set.
 *
 * TARGET_REDIS_MIN_REPLICAS_ACKED: `WAIT` is sent to each touched shard's master, routed by the
 * shard's key, so it runs on the connection that carried that shard's write.
 */
import type { Config } from '../config/config.js';
import { ReplicationError } from '../errors.js';
import { asArray, asBuffer, type RedisConnection } from '../redis/client.js';
import { isCluster, type ClusterConnection } from '../redis/cluster.js';
import { ClusterKeyFormat, SHARDS } from './cluster-layout.js';
import { KeyFormat } from './key-format.js';
import { markCall, putBatchCall, runScript } from './scripts.js';
import { TargetBuffer, type OutgoingMessage, type PutStatus, type StoredMessage } from './store.js';

const CHUNK_MESSAGES = 1000;
const RECOVER_PAGE = 5000;

/** The buffer for a target config: the cluster one when TARGET_REDIS_CLUSTER_NODES is set. */
export function createTargetBuffer(pool: readonly RedisConnection[], cfg: Config['target']): TargetBuffer {
  return cfg.cluster ? new ClusterTargetBuffer(pool, cfg) : new TargetBuffer(pool, cfg);
}

/** The key layout of a target config (for readers without a buffer: `status`). */
export function keyFormatFor(cfg: Config['target']): KeyFormat {
  return cfg.cluster ? new ClusterKeyFormat(cfg.keyPrefix) : new KeyFormat(cfg.keyPrefix);
}

/** Groups items by shard, keeping their order inside each group (and their index). */
function byShard<T>(items: readonly T[], shard: (t: T) => number): Map<number, { item: T; at: number }[]> {
  const out = new Map<number, { item: T; at: number }[]>();
  items.forEach((item, at) => {
    const n = shard(item);
    let list = out.get(n);
    if (!list) out.set(n, (list = []));
    list.push({ item, at });
  });
  return out;
}

export class ClusterTargetBuffer extends TargetBuffer {
  declare readonly keys: ClusterKeyFormat;

  constructor(pool: readonly RedisConnection[], cfg: Config['target']) {
    super(pool, cfg, new ClusterKeyFormat(cfg.keyPrefix));
    for (const c of pool) if (!isCluster(c)) throw new Error('ClusterTargetBuffer needs cluster connections');
  }

  private cluster(conn: RedisConnection): ClusterConnection {
    return conn as ClusterConnection;
  }

  /**
   * Always through put_batch.lua (one call per shard), `fresh` or not: a MULTI/MSET per shard would
   * save little here and the script's marker check keeps re-reads harmless.
   */
  override async put(messages: readonly OutgoingMessage[], conn: RedisConnection = this.primary): Promise<PutStatus[]> {
    await this.guardEviction();
    const out: PutStatus[] = new Array<PutStatus>(messages.length);
    const groups = byShard(messages, (m) => this.keys.shardOf(m.key));
    await Promise.all(
      [...groups.values()].map(async (group) => {
        for (let i = 0; i < group.length; i += CHUNK_MESSAGES) {
          const chunk = group.slice(i, i + CHUNK_MESSAGES);
          const set = this.keys.unsyncedSetOf((chunk[0] as { item: OutgoingMessage }).item.key);
          const items = chunk.map((c) => c.item);
          const { keys, args } = putBatchCall(this.keys, set, items, Date.now());
          const reply = asArray(await this.call(conn, () => runScript(conn, 'put_batch', keys, args)));
          chunk.forEach(({ at }, n) => (out[at] = Number(reply[n]) as PutStatus));
        }
      }),
    );
    if (this.cfg.minReplicasAcked > 0 && messages.length > 0) {
      const sets = [...groups.values()].map((g) =>
        this.keys.unsyncedSetOf((g[0] as { item: OutgoingMessage }).item.key),
      );
      await Promise.all(sets.map((set) => this.awaitShardReplicas(conn, set)));
    }
    return out;
  }

  private async awaitShardReplicas(conn: RedisConnection, set: string): Promise<void> {
    const want = this.cfg.minReplicasAcked;
    const timeout = this.cfg.replicaAckTimeoutMs;
    const reply = await this.call(conn, () => this.cluster(conn).sendTo(set, ['WAIT', String(want), String(timeout)]));
    const acked = Number(reply);
    if (acked < want)
      throw new ReplicationError(
        `${conn.endpoint}: only ${acked} of ${want} replicas of the master of ${set} confirmed the buffer write within ${timeout} ms (TARGET_REDIS_MIN_REPLICAS_ACKED); the batch is written again`,
      );
  }

  override async markSynced(messageKeys: readonly string[], conn: RedisConnection = this.connection()): Promise<void> {
    const groups = byShard(messageKeys, (k) => this.keys.shardOf(k));
    await Promise.all(
      [...groups.values()].map(async (group) => {
        for (let i = 0; i < group.length; i += CHUNK_MESSAGES) {
          const chunk = group.slice(i, i + CHUNK_MESSAGES).map((g) => g.item);
          const { keys, args } = markCall(this.keys, this.keys.unsyncedSetOf(chunk[0] as string), chunk, this.cfg);
          await this.call(conn, () => runScript(conn, 'mark_synced', keys, args));
        }
      }),
    );
  }

  /** SCANs every master (message keys of all shards), re-adding unsynced ones to their shard's set. */
  override async recover(pageSize = RECOVER_PAGE): Promise<number> {
    const conn = this.primary;
    let found = 0;
    for (const master of await this.cluster(conn).masters()) {
      let cursor = '0';
      do {
        const reply = asArray(
          await master.send(['SCAN', cursor, 'MATCH', this.keys.messagePattern, 'COUNT', String(pageSize)]),
        );
        cursor = asBuffer(reply[0]).toString();
        const page = asArray(reply[1]).map((k) => asBuffer(k).toString('utf8'));
        const groups = byShard(page, (k) => this.keys.shardOf(k));
        const counts = await Promise.all(
          [...groups.values()].map(async (group) => {
            // The marker sets of one shard share its slot: their SMISMEMBERs, then the script for the rest.
            const candidates = group.map((g) => g.item);
            const unmarked = await this.unmarkedCandidates(conn, candidates);
            const keys: string[] = [this.keys.unsyncedSetOf(candidates[0] as string), ...unmarked];
            return keys.length === 1 ? 0 : runScript(conn, 'recover', keys, []).then(Number);
          }),
        );
        found += counts.reduce((a, b) => a + b, 0);
      } while (cursor !== '0');
    }
    return found;
  }

  override async unsyncedCount(): Promise<number> {
    const ns = await Promise.all(this.keys.unsyncedSets.map((s) => this.primary.send(['SCARD', s])));
    return ns.reduce<number>((a, b) => a + Number(b), 0);
  }

  /** Cursor `<shard>:<set cursor>` over every shard's set in turn; "0" at the start and the end. */
  override async scanUnsynced(cursor: string, count: number): Promise<{ cursor: string; keys: string[] }> {
    const [shardText, setCursor] = cursor === '0' ? ['0', '0'] : cursor.split(':');
    const shard = Number(shardText);
    const set = this.keys.unsyncedSets[shard] as string;
    const reply = asArray(await this.primary.send(['SSCAN', set, setCursor ?? '0', 'COUNT', String(count)]));
    const next = asBuffer(reply[0]).toString();
    const keys = asArray(reply[1]).map((k) => asBuffer(k).toString('utf8'));
    const following = next !== '0' ? `${shard}:${next}` : shard + 1 < SHARDS ? `${shard + 1}:0` : '0';
    return { cursor: following, keys };
  }

  override async fetch(messageKeys: readonly string[]): Promise<(StoredMessage | undefined)[]> {
    const out = new Array<StoredMessage | undefined>(messageKeys.length);
    const groups = byShard(messageKeys, (k) => this.keys.shardOf(k));
    await Promise.all(
      [...groups.values()].map(async (group) => {
        const got = await super.fetch(group.map((g) => g.item));
        group.forEach(({ at }, n) => (out[at] = got[n]));
      }),
    );
    return out;
  }

  override async forget(messageKeys: readonly string[]): Promise<void> {
    const groups = byShard(messageKeys, (k) => this.keys.shardOf(k));
    await Promise.all(
      [...groups.values()].map((g) =>
        this.primary.send(['SREM', this.keys.unsyncedSetOf(g[0]?.item as string), ...g.map((x) => x.item)]),
      ),
    );
  }
}
