/**
 * Typed wrappers of the Lua scripts in ./scripts/*.lua. Each script is loaded once per process,
 * called by EVALSHA, and re-sent transparently after NOSCRIPT (a restarted Redis forgets its
 * script cache): see redis/lua-script.ts. Call sites pass named keys and args; the positional
 * KEYS/ARGV arrays are assembled only here, following each script's contract header.
 */
import type { RedisConnection, Reply } from '../redis/client.js';
import { LuaScript } from '../redis/lua-script.js';

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
