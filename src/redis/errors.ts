/**
 * Redis error replies classified by their prefix, in one place: what a reply means for the
 * caller (retry, re-create, report).
 */
import { errorMessage } from '../errors.js';

export type RedisErrorKind =
  | 'oom'
  | 'nogroup'
  | 'wrongtype'
  | 'noscript'
  | 'busygroup'
  | 'readonly'
  | 'loading'
  | 'connection'
  | 'script'
  | 'other';

const PREFIXES: readonly [string, RedisErrorKind][] = [
  ['OOM', 'oom'],
  ['NOGROUP', 'nogroup'],
  ['WRONGTYPE', 'wrongtype'],
  ['NOSCRIPT', 'noscript'],
  ['BUSYGROUP', 'busygroup'],
  ['READONLY', 'readonly'],
  ['LOADING', 'loading'],
];

/** The kind of a Redis error (a reply, or a client error such as a lost connection). */
export function redisErrorKind(err: unknown): RedisErrorKind {
  const msg = errorMessage(err);
  for (const [prefix, kind] of PREFIXES) if (msg.startsWith(prefix)) return kind;
  if (/^ERR (Error running script|user_script)|^ERR .*script/i.test(msg)) return 'script';
  if (/ECONNREFUSED|ECONNRESET|EPIPE|ETIMEDOUT|socket|closed|disconnect|Connection/i.test(msg)) return 'connection';
  return 'other';
}

/** True for errors that pass by themselves: full memory, a replica or loading server, a lost connection. */
export function isTransientRedisError(err: unknown): boolean {
  const k = redisErrorKind(err);
  return k === 'oom' || k === 'readonly' || k === 'loading' || k === 'connection' || k === 'noscript';
}
