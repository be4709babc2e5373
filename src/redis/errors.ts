/**
 * Redis errors classified in one place, by the prefix of the error reply (the first word Redis
 * puts in front of every error: `WRONGTYPE Operation against a key holding the wrong kind of
 * value`), so callers ask "what kind of failure is this?" instead of matching message texts.
 *
 *   oom        OOM: maxmemory reached; frees up as Kafka catches up (transient, back off)
 *   nogroup    NOGROUP: the stream or its consumer group does not exist (any more)
 *   wrongtype  WRONGTYPE: a key holds another type than the command needs
 *   noscript   NOSCRIPT: the script is not in the server's cache (send it with EVAL)
 *   busygroup  BUSYGROUP: the consumer group exists already
 *   readonly   READONLY: a replica (a failover in progress): transient
 *   loading    LOADING: the server is loading its data set after a restart: transient
 *   script     ERR Error running script / Error compiling script / user_script:<line>: an error
 *              raised by a Lua script itself (a bug, or a server it does not support)
 *   connection no reply at all: socket closed, refused, timed out, client closed
 *   other      any other reply or error
 *
 * A command error inside a script keeps its own prefix on Redis 7 (`WRONGTYPE ... script: <sha>,
 * on @user_script:1.`), and on Redis 6 is wrapped (`ERR Error running script (call to f_<sha>):
 * @user_script:1: WRONGTYPE ...`): both are classified by that inner prefix. The cause chain is
 * followed, so a SyncError wrapping a reply is classified by the reply.
 */
import {
  ClientClosedError,
  ClientOfflineError,
  ConnectionTimeoutError,
  DisconnectsClientError,
  ReconnectStrategyError,
  SocketClosedUnexpectedlyError,
  SocketTimeoutError,
  TimeoutError,
} from '@redis/client';
import { ConnectionError } from '../errors.js';

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

const BY_PREFIX: Readonly<Record<string, RedisErrorKind>> = {
  OOM: 'oom',
  NOGROUP: 'nogroup',
  WRONGTYPE: 'wrongtype',
  NOSCRIPT: 'noscript',
  BUSYGROUP: 'busygroup',
  READONLY: 'readonly',
  LOADING: 'loading',
};

/** Replies of kind `other` that mean "try again later": a busy script, a failover, a cluster reshard. */
const TRANSIENT_OTHER = new Set(['BUSY', 'MASTERDOWN', 'TRYAGAIN', 'CLUSTERDOWN', 'NOREPLICAS']);

const CONNECTION_CLASSES = [
  ConnectionError,
  ClientClosedError,
  ClientOfflineError,
  ConnectionTimeoutError,
  DisconnectsClientError,
  ReconnectStrategyError,
  SocketClosedUnexpectedlyError,
  SocketTimeoutError,
  TimeoutError,
];
const SOCKET_CODES = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'ECONNABORTED',
  'EPIPE',
  'ETIMEDOUT',
  'ENOTFOUND',
  'EAI_AGAIN',
  'EHOSTUNREACH',
  'ENETUNREACH',
]);

/** The kind of a Redis failure (see the module comment). */
export function redisErrorKind(err: unknown): RedisErrorKind {
  const chain = causeChain(err);
  for (const e of chain) {
    const kind = replyKind(e.message);
    if (kind) return kind;
  }
  return chain.some(isConnectionFailure) ? 'connection' : 'other';
}

/**
 * True when retrying the same command later may succeed with nobody changing data or code: no
 * connection, OOM, READONLY, LOADING, and BUSY / MASTERDOWN / TRYAGAIN / CLUSTERDOWN / NOREPLICAS.
 */
export function isTransientRedisError(err: unknown): boolean {
  switch (redisErrorKind(err)) {
    case 'connection':
    case 'oom':
    case 'readonly':
    case 'loading':
      return true;
    case 'other':
      return causeChain(err).some((e) => TRANSIENT_OTHER.has(firstWord(e.message)));
    default:
      return false;
  }
}

function replyKind(message: string): RedisErrorKind | undefined {
  const word = firstWord(message);
  const known = BY_PREFIX[word];
  if (known) return known;
  if (word !== 'ERR') return undefined;
  if (!/^ERR (Error running script|Error compiling script|user_script:\d+:)|@user_script:\d+/.test(message))
    return undefined;
  const inner = /user_script:\d+: ([A-Z]+) /.exec(message)?.[1];
  return (inner && BY_PREFIX[inner]) || 'script';
}

function firstWord(message: string): string {
  return /^([A-Z]+)(?:\s|$)/.exec(message)?.[1] ?? '';
}

function isConnectionFailure(e: Error): boolean {
  if (CONNECTION_CLASSES.some((c) => e instanceof c)) return true;
  const code = (e as { code?: unknown }).code;
  return typeof code === 'string' && SOCKET_CODES.has(code);
}

function causeChain(err: unknown): Error[] {
  const out: Error[] = [];
  for (let e: unknown = err; e instanceof Error && out.length < 16; e = e.cause) out.push(e);
  return out;
}
