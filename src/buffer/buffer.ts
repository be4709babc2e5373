/**
 * The seam between the pipeline and the target buffer. TargetBuffer (store.ts) implements it on
 * the target Redis; unit tests use fakes of it.
 *
 * Contract
 *  - `writer()` gives a writer whose `put`s are applied in call order (one connection), so a
 *    caller that writes batch N+1 before N's reply arrived still has them applied in order.
 *  - `put(messages)` resolves, once the target holds them, with one status per message: 0 =
 *    buffered (no TTL, in the unsynced set; never expires until marked), 2 = already synced (its
 *    marker exists: it is in Kafka; nothing written). It rejects when nothing can be relied on
 *    (BufferFullError under maxmemory: retryable; a connection error: retryable); a retried put
 *    of the same messages is harmless (same keys, same content). With `fresh` (messages read as
 *    new: never delivered, so no marker can exist) the marker check is skipped.
 *  - `markSynced(keys)`: after Kafka's ack only. The message's TTL starts, its marker is written,
 *    it leaves the unsynced set, atomically per call.
 *  - `deadLetter(items)`: the messages are in the dead-letter stream (with their reason) before
 *    they leave the buffer and the unsynced set.
 *  - `noteLastSync(ms)`: best effort, for `status`.
 *  - `serverRunId()`: the target server's INFO run_id (undefined when refused), so key capture can
 *    tell the source and the target are one server under two names.
 */
import type { KeyFormat } from './key-format.js';
import type { OutgoingMessage, PutOptions, PutStatus } from './store.js';

export interface BufferWriter {
  put(messages: readonly OutgoingMessage[], opts?: PutOptions): Promise<PutStatus[]>;
}

export interface BufferStore {
  readonly keys: KeyFormat;
  writer(): BufferWriter;
  markSynced(messageKeys: readonly string[]): Promise<void>;
  deadLetter(items: readonly { readonly m: OutgoingMessage; readonly reason: string }[]): Promise<void>;
  noteLastSync(ms: number): Promise<void>;
  serverRunId(): Promise<string | undefined>;
}
