/**
 * One error base for the whole product. Every error carries a stable `code` (derived from one
 * constant per class so it cannot drift), a `retryable` flag, and an optional `cause`.
 * Retry loops ask only `isRetryable(err)`: is every error in the cause chain retryable?
 */
export class SyncError extends Error {
  static readonly CODE: string = 'SYNC_ERROR';
  readonly code: string;
  readonly retryable: boolean;

  constructor(message: string, options: { retryable?: boolean; cause?: unknown } = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = new.target.name;
    this.code = (new.target as typeof SyncError).CODE;
    this.retryable = options.retryable ?? false;
  }
}

/** Invalid configuration: the message names the variable and what is wrong. Never retryable. */
export class ConfigError extends SyncError {
  static override readonly CODE = 'CONFIG_INVALID';
  readonly problems: readonly string[];
  constructor(problems: readonly string[]) {
    super(`invalid configuration:\n${problems.map((p) => `  ${p}`).join('\n')}`);
    this.problems = problems;
  }
}

/** A server (Redis or Kafka) could not be reached or refused us; names the endpoint. */
export class ConnectionError extends SyncError {
  static override readonly CODE = 'CONNECTION_FAILED';
}

/** A required program or package is missing on this machine. */
export class PrerequisiteError extends SyncError {
  static override readonly CODE = 'PREREQUISITE_MISSING';
}

/** Redis refused a write because it reached maxmemory: back off and retry, never drop. */
export class BufferFullError extends SyncError {
  static override readonly CODE = 'BUFFER_FULL';
  constructor(message: string, cause?: unknown) {
    super(message, { retryable: true, cause });
  }
}

/** Fewer replicas than TARGET_REDIS_MIN_REPLICAS_ACKED confirmed a buffer write: retry it. */
export class ReplicationError extends SyncError {
  static override readonly CODE = 'REPLICATION_UNCONFIRMED';
  constructor(message: string) {
    super(message, { retryable: true });
  }
}

/**
 * The target Redis refused a buffer operation for a reason retrying cannot fix (a buffer key of
 * the wrong type, an error in a buffer script): the message names the key or the script and what
 * to do. Never retryable.
 */
export class TargetRefusedError extends SyncError {
  static override readonly CODE = 'TARGET_REFUSED';
}

/** Kafka did not confirm a delivery. `retryable` says whether resending can succeed. */
export class DeliveryError extends SyncError {
  static override readonly CODE = 'DELIVERY_FAILED';
}

/** A message can never be delivered as is (too large, malformed): it goes to dead letters. */
export class PoisonMessageError extends SyncError {
  static override readonly CODE = 'POISON_MESSAGE';
}

/**
 * True when `err` is a SyncError marked retryable and so is every SyncError in its cause chain.
 * Causes that are not SyncErrors (a client library's error) are details, not verdicts.
 */
export function isRetryable(err: unknown): boolean {
  if (!(err instanceof SyncError) || !err.retryable) return false;
  let current: unknown = err.cause;
  for (let seen = 0; current instanceof SyncError && seen < 16; seen += 1) {
    if (!current.retryable) return false;
    current = current.cause;
  }
  return true;
}

export function errorMessage(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
