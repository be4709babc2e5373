/**
 * A Lua script of a .lua file next to the code that calls it: loaded once per process, run by
 * EVALSHA, and sent in full (EVAL) after NOSCRIPT, since a restarted Redis (or a replica just
 * promoted by a failover) has an empty script cache.
 */
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import type { RedisConnection, Reply } from './client.js';
import { redisErrorKind } from './errors.js';

export class LuaScript {
  private loaded: { body: string; sha: string } | undefined;

  /** `file`: the script's URL, e.g. `new URL('./scripts/x.lua', import.meta.url)`. */
  constructor(private readonly file: URL) {}

  async run(
    conn: RedisConnection,
    keys: readonly (string | Buffer)[],
    args: readonly (string | Buffer)[],
  ): Promise<Reply> {
    if (!this.loaded) {
      const body = readFileSync(fileURLToPath(this.file), 'utf8');
      this.loaded = { body, sha: createHash('sha1').update(body).digest('hex') };
    }
    const { body, sha } = this.loaded;
    const tail = [String(keys.length), ...keys, ...args];
    try {
      return await conn.send(['EVALSHA', sha, ...tail]);
    } catch (err) {
      // A restarted Redis, or a replica promoted by a failover, has an empty script cache.
      if (redisErrorKind(err) === 'noscript') return conn.send(['EVAL', body, ...tail]);
      throw err;
    }
  }
}
