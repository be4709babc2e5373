/**
 * The key layout in a Redis Cluster target (TARGET_REDIS_CLUSTER_NODES). The standalone layout
 * (key-format.ts) is unchanged; in a cluster every key of the service carries a hash tag after
 * the prefix, `{rks<n>}` with n = 0..SHARDS-1, so that:
 *
 *   message:      {prefix}{rks<n>}msg:{topic}:{id}:{origin}
 *   sync markers: {prefix}{rks<n>}synced:{topic}:w{window}:{origin or its kind}   (a Set, key-format.ts)
 *   unsynced set: {prefix}{rks<n>}unsynced_keys_set            (one per shard: SHARDS sets)
 *   dead letters: {prefix}dead_letters                          (one stream, as standalone)
 *   last sync:    {prefix}rks:last_sync_ms                      (as standalone)
 *
 *  - a message, its marker set (per shard for devices and keys) and its shard's unsynced set share
 *    one slot: a script call over messages of one shard is legal in a cluster (no CROSSSLOT), so a
 *    batch is one call per shard it touches (sent together, pipelined by the client);
 *  - n is a hash of the message's origin (`s{db}:{stream}`, `d:{device}`, `k{db}:{key}`): the same
 *    stream entry read again gets the same key (idempotent buffering, the same `rks-id` in
 *    Kafka), a device's messages stay in one shard (in order in one set), and SHARDS (64) tags
 *    spread the streams over the cluster's slots, so no node and no single set is hot;
 *  - the tag is part of `rks-id` (the key without prefix), which stays stable per entry.
 */
import { KeyFormat, UNSYNCED_SET, type MessageKeyParts } from './key-format.js';

export const SHARDS = 64;

const MSG = 'msg:';
const TAG = /^\{rks(\d+)\}/;

/** FNV-1a of a string: a stable, cheap spread of origins over the shards. */
function fnv1a(text: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < text.length; i += 1) {
    h ^= text.charCodeAt(i);
    h = Math.imul(h, 0x01000193) >>> 0;
  }
  return h;
}

export class ClusterKeyFormat extends KeyFormat {
  constructor(prefix = '') {
    super(prefix);
    if (/[{}]/.test(prefix)) throw new Error(`key prefix "${prefix}" must not contain { or } in a cluster`);
  }

  tagOf(shard: number): string {
    return `{rks${shard}}`;
  }

  /** The shard of a message key (from its tag). */
  shardOf(messageKey: string): number {
    const m = TAG.exec(messageKey.slice(this.prefix.length));
    if (!m) throw new Error(`key "${messageKey}" has no shard tag of the cluster layout`);
    return Number(m[1]);
  }

  /** Shard 0's set only: code that must see every shard uses unsyncedSets / unsyncedSetOf(key). */
  override get unsyncedSet(): string {
    return `${this.prefix}${this.tagOf(0)}${UNSYNCED_SET}`;
  }
  override get unsyncedSets(): readonly string[] {
    return Array.from({ length: SHARDS }, (_, n) => `${this.prefix}${this.tagOf(n)}${UNSYNCED_SET}`);
  }
  override unsyncedSetOf(messageKey: string): string {
    return `${this.prefix}${this.tagOf(this.shardOf(messageKey))}${UNSYNCED_SET}`;
  }
  override get messagePattern(): string {
    return `${this.prefix}{rks*}${MSG}*`;
  }

  override messageKey(parts: MessageKeyParts): string {
    const plain = new KeyFormat('').messageKey(parts); // validates; `msg:{topic}:{id}:{origin}`
    const origin = plain.split(':').slice(3).join(':');
    return `${this.prefix}${this.tagOf(fnv1a(origin) % SHARDS)}${plain}`;
  }

  protected override headOf(messageKey: string): string {
    const rest = this.stableId(messageKey);
    const tag = TAG.exec(rest)?.[0];
    if (!tag || !rest.startsWith(MSG, tag.length)) throw new Error(`"${messageKey}" is not a message key`);
    return this.prefix + tag;
  }

  override parse(messageKey: string): MessageKeyParts | undefined {
    if (!messageKey.startsWith(this.prefix)) return undefined;
    const rest = messageKey.slice(this.prefix.length);
    const tag = TAG.exec(rest)?.[0];
    if (!tag) return undefined;
    return new KeyFormat('').parse(rest.slice(tag.length));
  }
}
