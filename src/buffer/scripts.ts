/**
 * Typed wrappers of the Lua scripts in ./scripts/*.lua. Each script is loaded once per process,
 * called by EVALSHA, and re-sent transparently after NOSCRIPT (a restarted Redis forgets its
 * script cache): see redis/lua-script.ts. Call sites pass named keys and args; the positional
 * KEYS/ARGV arrays are assembled only here, following each script's contract header.
 */
import type { Config } from '../config/config.js';
import type { RedisConnection, Reply } from '../redis/client.js';
import { LuaScript } from '../redis/lua-script.js';
import type { KeyFormat } from './key-format.js';
import { valueOf } from './message-layout.js';
import type { OutgoingMessage } from './store.js';

export type ScriptName = 'put_batch' | 'mark_synced' | 'recover' | 'fetch';

const scripts = new Map<ScriptName, LuaScript>();

export function runScript(
  conn: RedisConnection,
  name: ScriptName,
  keys: readonly (string | Buffer)[],
  args: readonly (string | Buffer)[],
): Promise<Reply> {
  let s = scripts.get(name);
  if (!s) scripts.set(name, (s = new LuaScript(new URL(`./scripts/${name}.lua`, import.meta.url))));
  return s.run(conn, keys, args);
}

/** KEYS and ARGV of put_batch.lua (its contract) for a chunk of messages of one unsynced set. */
export function putBatchCall(
  keys: KeyFormat,
  unsyncedSet: string,
  chunk: readonly OutgoingMessage[],
  now: number,
): { keys: string[]; args: (string | Buffer)[] } {
  const k: string[] = [unsyncedSet];
  const args: (string | Buffer)[] = [];
  for (const m of chunk) {
    const { set, member } = keys.marker(m.key);
    k.push(m.key, set, keys.legacyMarkerKey(m.key));
    args.push(valueOf(m, now), member);
  }
  return { keys: k, args };
}

/**
 * KEYS and ARGV of mark_synced.lua (its contract) for at most 1000 message keys of one unsynced
 * set: the keys' marker sets, each set's count, the members grouped by set.
 */
export function markCall(
  keys: KeyFormat,
  unsyncedSet: string,
  messageKeys: readonly string[],
  cfg: Pick<Config['target'], 'timeToLiveSeconds' | 'syncTtlSeconds'>,
): { keys: string[]; args: string[] } {
  const sets = keys.markerSets(messageKeys);
  const args = [String(cfg.timeToLiveSeconds), String(cfg.syncTtlSeconds), String(sets.size)];
  for (const g of sets.values()) args.push(String(g.members.length));
  for (const g of sets.values()) for (const member of g.members) args.push(member);
  return { keys: [unsyncedSet, ...sets.keys(), ...messageKeys], args };
}
