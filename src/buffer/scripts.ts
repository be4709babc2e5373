/**
 * Typed wrappers of the Lua scripts in ./scripts/*.lua. Each script is loaded once per
 * connection (SCRIPT LOAD), called by EVALSHA, and re-loaded transparently after NOSCRIPT (a
 * restarted Redis forgets its script cache). Call sites pass named keys and args; the positional
 * KEYS/ARGV arrays are assembled only here, following each script's contract header.
 */
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import type { RedisConnection, Reply } from '../redis/client.js';

export type ScriptName = 'put_batch' | 'mark_synced' | 'recover' | 'fetch';

const cache = new Map<ScriptName, { body: string; sha: string }>();

function script(name: ScriptName): { body: string; sha: string } {
  let s = cache.get(name);
  if (!s) {
    const body = readFileSync(fileURLToPath(new URL(`./scripts/${name}.lua`, import.meta.url)), 'utf8');
    s = { body, sha: createHash('sha1').update(body).digest('hex') };
    cache.set(name, s);
  }
  return s;
}

export async function runScript(
  conn: RedisConnection,
  name: ScriptName,
  keys: readonly (string | Buffer)[],
  args: readonly (string | Buffer)[],
): Promise<Reply> {
  const { body, sha } = script(name);
  const tail = [String(keys.length), ...keys, ...args];
  try {
    return await conn.send(['EVALSHA', sha, ...tail]);
  } catch (err) {
    if (err instanceof Error && err.message.startsWith('NOSCRIPT')) return conn.send(['EVAL', body, ...tail]);
    throw err;
  }
}
