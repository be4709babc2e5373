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
  AbortError,
  ClientClosedError,
  ClientOfflineError,
  ConnectionTimeoutError,
  DisconnectsClientError,
  ReconnectStrategyError,
  SocketClosedUnexpectedlyError,
  SocketTimeoutError,
  TimeoutError,
} from '@redis/client';
import { ConnectionError, errorMessage } from '../errors.js';

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

/**
 * node-redis's client-side failures: no reply came (socket closed, client offline, timeout, or
 * AbortError: not written within the shared pre-write deadline, command-deadline.ts; the product
 * aborts commands for nothing else).
 */
const CLIENT_FAILURES = [
  AbortError,
  ClientClosedError,
  ClientOfflineError,
  ConnectionTimeoutError,
  DisconnectsClientError,
  ReconnectStrategyError,
  SocketClosedUnexpectedlyError,
  SocketTimeoutError,
  TimeoutError,
];
const CONNECTION_CLASSES = [ConnectionError, ...CLIENT_FAILURES];
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

/*
 * The second question, for connections that follow a failover (sentinel.ts, cluster.ts): what a
 * failure means for the connection itself.
 *  - `isRetryableRedisError`: can the same command succeed later, unchanged? Everything a
 *    failover, restart, resharding or full memory produces is retryable; so is a lost connection.
 *    Only replies that say the command itself is wrong (WRONGTYPE, a syntax error, a script error)
 *    are not. A Redis error is never a reason to dead-letter a message: the data is fine.
 *  - `needsRediscovery`: is the node we talk to no longer the master (READONLY, a role change,
 *    the socket gone)? Then the Sentinel / Cluster connection asks again where the master is.
 */
export type RedisFailureKind =
  /** The node is (now) a replica: writes refused. A failover happened or is happening. */
  | 'readonly'
  /** The node is loading its data set (restart, full resync of a promoted replica). */
  | 'loading'
  /** Script cache empty (restart, failover to a replica): resend the script body. */
  | 'noscript'
  /** maxmemory reached: back off (BufferFullError). */
  | 'oom'
  /** Sentinel/replica states: MASTERDOWN, replica without a link to its master. */
  | 'masterdown'
  /** Cluster: slot moved/migrating, cluster down or reconfiguring. */
  | 'cluster'
  /** Busy script or server (BUSY): wait. */
  | 'busy'
  /** Consumer group missing: recreate it (a promoted replica lacking it, a deleted stream). */
  | 'nogroup'
  /** Credentials refused. Retryable (an operator may fix the ACL) but worth saying loudly. */
  | 'auth'
  /** The client lost its connection (closed socket, offline queue disabled, timeout). */
  | 'connection'
  /** The command itself is wrong for the data: WRONGTYPE, ERR syntax, script errors. */
  | 'command'
  | 'unknown';

const PREFIXES: readonly (readonly [string, RedisFailureKind])[] = [
  ['READONLY', 'readonly'],
  ['LOADING', 'loading'],
  ['NOSCRIPT', 'noscript'],
  ['OOM', 'oom'],
  ['MASTERDOWN', 'masterdown'],
  ['NOREPLICAS', 'masterdown'],
  ['MOVED', 'cluster'],
  ['ASK', 'cluster'],
  ['TRYAGAIN', 'cluster'],
  ['CLUSTERDOWN', 'cluster'],
  ['CROSSSLOT', 'command'],
  ['BUSY', 'busy'],
  ['NOGROUP', 'nogroup'],
  ['WRONGPASS', 'auth'],
  ['NOAUTH', 'auth'],
  ['NOPERM', 'auth'],
  ['UNBLOCKED', 'readonly'],
  ['WRONGTYPE', 'command'],
  ['EXECABORT', 'command'],
];

/** Socket errors and node-redis's wordings of a lost connection, by text (the classes: CLIENT_FAILURES). */
const CONNECTION_TEXT =
  /ECONNREFUSED|ECONNRESET|EPIPE|ETIMEDOUT|EHOSTUNREACH|ENETUNREACH|socket closed|client is closed|client is offline|connection (?:is )?closed|Disconnects client|no master/i;

export function classifyRedisError(err: unknown): RedisFailureKind {
  for (let e: unknown = err, depth = 0; e !== undefined && depth < 8; depth += 1) {
    const kind = classifyOne(e);
    if (kind !== 'unknown') return kind;
    e = e instanceof Error ? e.cause : undefined;
  }
  return 'unknown';
}

function classifyOne(err: unknown): RedisFailureKind {
  if (CLIENT_FAILURES.some((c) => err instanceof c)) return 'connection';
  const msg = errorMessage(err).trimStart();
  for (const [prefix, kind] of PREFIXES) {
    if (msg.startsWith(prefix) && (msg.length === prefix.length || msg[prefix.length] === ' ')) return kind;
  }
  // "<endpoint>: READONLY ..." once wrapped: look after the endpoint too.
  const inner = /: ([A-Z]{2,16}) /.exec(msg)?.[1];
  if (inner) for (const [prefix, kind] of PREFIXES) if (inner === prefix) return kind;
  // WAIT has no key, so a stale slot map can send it to a master just demoted: no MOVED, this.
  if (/WAIT cannot be used with replica/.test(msg)) return 'readonly';
  if (CONNECTION_TEXT.test(msg)) return 'connection';
  if (/^ERR (?:Error running script|syntax|wrong number|unknown command)/.test(msg)) return 'command';
  return 'unknown';
}

/** Can the same command succeed later? (Unknown errors: yes; a wrong command: no.) */
export function isRetryableRedisError(err: unknown): boolean {
  return classifyRedisError(err) !== 'command';
}

/** Is the node we talk to perhaps no longer the master, so its address must be asked again? */
export function needsRediscovery(err: unknown): boolean {
  const k = classifyRedisError(err);
  return k === 'readonly' || k === 'masterdown' || k === 'connection' || k === 'loading';
}

/** A short explanation for logs, naming the likely cause. */
export function describeRedisError(err: unknown): string {
  switch (classifyRedisError(err)) {
    case 'readonly':
      return 'the node is a replica now (failover in progress?)';
    case 'loading':
      return 'the node is loading its data (restart or promotion)';
    case 'masterdown':
      return 'the replica lost its master (failover in progress?)';
    case 'cluster':
      return 'the cluster is moving slots or reconfiguring';
    case 'connection':
      return 'the connection was lost';
    case 'oom':
      return 'maxmemory reached';
    default:
      return errorMessage(err);
  }
}
