/**
 * What a Redis error means for the caller, in one place: the error reply prefixes the product
 * reacts to, and the client-side failures (socket closed, client offline) node-redis raises.
 *
 * Two questions are answered here:
 *  - `isRetryable`: can the same command succeed later, unchanged? Everything a failover,
 *    restart, resharding or full memory produces is retryable; so is a lost connection. Only
 *    replies that say the command itself is wrong (WRONGTYPE, a syntax error, a script error)
 *    are not. A Redis error is never a reason to dead-letter a message: the data is fine.
 *  - `needsRediscovery`: is the node we talk to no longer the master (READONLY, a role change,
 *    the socket gone)? Then the Sentinel / Cluster connection asks again where the master is.
 */
import { errorMessage } from '../errors.js';

export type RedisErrorKind =
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

const PREFIXES: readonly (readonly [string, RedisErrorKind])[] = [
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

/** node-redis client-side errors (by class name) and socket errors (by code in the message). */
const CONNECTION_NAMES = new Set([
  'ClientClosedError',
  'ClientOfflineError',
  'SocketClosedUnexpectedlyError',
  'ConnectionTimeoutError',
  'DisconnectsClientError',
  'SocketTimeoutError',
  'ReconnectStrategyError',
]);
const CONNECTION_TEXT =
  /ECONNREFUSED|ECONNRESET|EPIPE|ETIMEDOUT|EHOSTUNREACH|ENETUNREACH|socket closed|client is closed|client is offline|connection (?:is )?closed|Disconnects client|no master/i;

export function classifyRedisError(err: unknown): RedisErrorKind {
  for (let e: unknown = err, depth = 0; e !== undefined && depth < 8; depth += 1) {
    const kind = classifyOne(e);
    if (kind !== 'unknown') return kind;
    e = e instanceof Error ? e.cause : undefined;
  }
  return 'unknown';
}

function classifyOne(err: unknown): RedisErrorKind {
  if (err instanceof Error && CONNECTION_NAMES.has(err.constructor.name)) return 'connection';
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
