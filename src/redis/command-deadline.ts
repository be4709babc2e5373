/**
 * node-redis's deadline for a command not yet written, without a timer per command.
 *
 * Why: node-redis 6 gives every command a 5 s `AbortSignal.timeout` (its DEFAULT_COMMAND_TIMEOUT)
 * for its wait *before* the write: the offline queue while the client reconnects, a socket that
 * needs drain. The signal cannot be cleared; 5 s later Node's timer fires for every one a GC has
 * not collected yet and builds a DOMException with a stack trace. At low rates that was about a
 * fifth of the main thread's busy time (docs/performance.md).
 *
 * A connection with a reply watch (reply-watch.ts) needs no such deadline (it has none: see
 * client.ts). One without (`<ROLE>_REDIS_REPLY_TIMEOUT_MS=0`, the Redis Cluster target) keeps
 * node-redis's, shared: its clients are made with `timeout: 0`, and every command sent in one
 * second carries that second's AbortSignal (`sendWithDeadline`), which one timer aborts
 * PRE_WRITE_DEADLINE_MS after the second ended.
 *
 * Invariants
 *  - A command still unwritten 5 to 6 s after it was sent fails with node-redis's AbortError
 *    (retryable: errors.ts classifies it as `connection`), as it failed with node-redis's
 *    TimeoutError after 5 s before. A command once written is never failed by it: node-redis
 *    removes a command's abort listener when it writes the command.
 *  - One timer per second in which commands were sent, unref'd (never one per command); nothing
 *    is kept once it fired.
 *  - `unsentError` says what such a failure means, naming the endpoint (node-redis's own message
 *    is "The command was aborted").
 */
import { AbortError } from '@redis/client';
import { ConnectionError } from '../errors.js';

/** How long a command may wait to be written: node-redis's DEFAULT_COMMAND_TIMEOUT. */
export const PRE_WRITE_DEADLINE_MS = 5000;
/** Commands sent within one slot share its signal. */
export const DEADLINE_SLOT_MS = 1000;

let slot: { readonly ctrl: AbortController; readonly endsAt: number } | undefined;

/** The AbortSignal of the current slot: aborted PRE_WRITE_DEADLINE_MS after the slot ends. */
export function deadlineSignal(): AbortSignal {
  const now = Date.now();
  if (!slot || now >= slot.endsAt) {
    const ctrl = new AbortController();
    slot = { ctrl, endsAt: now + DEADLINE_SLOT_MS };
    setTimeout(() => ctrl.abort(), DEADLINE_SLOT_MS + PRE_WRITE_DEADLINE_MS).unref();
  }
  return slot.ctrl.signal;
}

/**
 * Sends through a client made with `timeout: 0` and no reply watch, with the current deadline
 * (`send` gets the per-command options; the commands of one call share them), and says what a
 * deadline failure means, naming `endpoint` (`unsentError`).
 */
export function sendWithDeadline<T>(
  endpoint: string,
  send: (options: { abortSignal: AbortSignal }) => Promise<T>,
): Promise<T> {
  return send({ abortSignal: deadlineSignal() }).catch((err: unknown) => unsentError(endpoint, err));
}

/** Rejects with a ConnectionError naming `endpoint` when `err` is the deadline's AbortError, else with `err`. */
export function unsentError(endpoint: string, err: unknown): never {
  if (err instanceof AbortError)
    throw new ConnectionError(
      `${endpoint}: a command waited ${PRE_WRITE_DEADLINE_MS / 1000}-${(PRE_WRITE_DEADLINE_MS + DEADLINE_SLOT_MS) / 1000} s without being sent (the server unreachable, or not reading); retrying`,
      { retryable: true, cause: err },
    );
  throw err;
}
