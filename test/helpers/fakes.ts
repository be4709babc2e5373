/**
 * Fakes of the project's own seams (BufferStore, Sink) for the pipeline's unit tests: every call
 * is recorded in one event log, and the test decides when writes complete, when the sink accepts
 * records and what each delivery report says. Real Redis and Kafka are tested elsewhere.
 */
import type { BufferStore, BufferWriter } from '../../src/buffer/buffer.js';
import { KeyFormat } from '../../src/buffer/key-format.js';
import type { OutgoingMessage, PutOptions, PutStatus } from '../../src/buffer/store.js';
import { loadConfig, type Config } from '../../src/config/config.js';
import { batchOf, MessageFormat, type Batch, type BatchKind, type Message } from '../../src/engine/batch.js';
import { Pipeline } from '../../src/engine/pipeline.js';
import type { EngineMetrics } from '../../src/observability/engine-metrics.js';
import { silentLogger } from '../../src/observability/logger.js';
import type { Outcome, SendTicket, Sink, SinkRecord } from '../../src/sink/sink.js';

/** One log for everything the pipeline did, in order: "put a1,a2", "produce a1", "mark a1", "ack a1"... */
export type EventLog = string[];

const ids = (ms: readonly { key: string }[]): string => ms.map((m) => m.key.split(':')[2]).join(',');

export class FakeBuffer implements BufferStore {
  readonly keys = new KeyFormat('');
  /** Keys whose put answers 2 (already synced). */
  readonly synced = new Set<string>();
  /** When set, each put waits for this gate (called with the batch's ids) before answering. */
  gate: ((ids: string) => Promise<void>) | undefined;
  /** Number of puts to fail (retryable) before answering. */
  failPuts = 0;
  /** When set, each mark waits for this gate before it is done. */
  markGate: (() => Promise<void>) | undefined;
  constructor(readonly log: EventLog) {}

  writer(): BufferWriter {
    return {
      put: async (messages: readonly OutgoingMessage[], opts?: PutOptions): Promise<PutStatus[]> => {
        if (this.failPuts > 0) {
          this.failPuts -= 1;
          throw new Error('target unreachable (fake)');
        }
        await this.gate?.(ids(messages));
        this.log.push(`put${opts?.fresh ? ' fresh' : ''} ${ids(messages)}`);
        return messages.map((m) => (this.synced.has(m.key) ? 2 : 0));
      },
    };
  }
  async markSynced(messageKeys: readonly string[]): Promise<void> {
    await this.markGate?.();
    this.log.push(`mark ${messageKeys.map((k) => k.split(':')[2]).join(',')}`);
    for (const k of messageKeys) this.synced.add(k); // as the real buffer: a later put answers 2
  }
  async deadLetter(items: readonly { readonly m: OutgoingMessage; readonly reason: string }[]): Promise<void> {
    this.log.push(`dead ${ids(items.map((i) => i.m))}`);
  }
  async noteLastSync(): Promise<void> {}
  async serverRunId(): Promise<string | undefined> {
    return undefined;
  }
}

interface Produced {
  readonly records: readonly SinkRecord[];
  readonly resolve: (o: Outcome[]) => void;
  settled: boolean;
}

export class FakeSink implements Sink {
  canProduce = true;
  isConnected = true;
  status = 'connected';
  /** Batches produced and not yet reported, oldest first. */
  readonly open: Produced[] = [];
  /** When set, `accepted` of the next produce waits for this promise (a full local queue). */
  holdAccept: Promise<void> | undefined;
  /** Keys the pipeline said it marked synced (`marked`), in call order. */
  readonly markedKeys: string[] = [];
  private producibleWaiters: (() => void)[] = [];
  constructor(readonly log: EventLog) {}

  producible(signal: AbortSignal): Promise<void> {
    if (this.canProduce) return Promise.resolve();
    return new Promise((resolve) => {
      this.producibleWaiters.push(resolve);
      signal.addEventListener('abort', () => resolve(), { once: true });
    });
  }

  produce(records: readonly SinkRecord[]): SendTicket {
    const ids = records.map((r) => String((r.headers[0] as Record<string, string>)['rks-id']).split(':')[2]);
    this.log.push(`produce ${ids.join(',')}`);
    let resolve!: (o: Outcome[]) => void;
    const outcomes = new Promise<Outcome[]>((r) => (resolve = r));
    this.open.push({ records, resolve, settled: false });
    const accepted = this.holdAccept ?? Promise.resolve();
    this.holdAccept = undefined;
    return { accepted, outcomes };
  }

  marked(keys: readonly string[]): void {
    this.markedKeys.push(...keys);
  }

  /** Reports the oldest open batch: `outcome(i)` per record (default: delivered). */
  report(outcome: (i: number) => Outcome = () => undefined): void {
    const b = this.open.shift();
    if (!b) throw new Error('no batch is waiting for reports');
    b.resolve(b.records.map((_, i) => outcome(i)));
  }

  /** Delivers everything open, oldest first. */
  reportAll(): void {
    while (this.open.length > 0) this.report();
  }

  /** The client is replaced: every open record fails (retryable) in produce order; no producer until `reconnect`. */
  lose(err: Outcome): void {
    this.canProduce = false;
    this.isConnected = false;
    while (this.open.length > 0) this.report(() => err);
  }

  reconnect(): void {
    this.canProduce = true;
    this.isConnected = true;
    for (const w of this.producibleWaiters.splice(0)) w();
  }
}

export function testConfig(env: Record<string, string> = {}): Config {
  return loadConfig({
    configFile: null,
    env: { SYNC_RETRY_BASE_MS: '1', SYNC_RETRY_MAX_MS: '2', ...env },
  });
}

export function makePipeline(
  env: Record<string, string> = {},
  metrics?: EngineMetrics,
): {
  pipeline: Pipeline;
  buffer: FakeBuffer;
  sink: FakeSink;
  log: EventLog;
  stop: AbortController;
} {
  const log: EventLog = [];
  const buffer = new FakeBuffer(log);
  const sink = new FakeSink(log);
  const stop = new AbortController();
  const abandon = new AbortController();
  const pipeline = new Pipeline(
    buffer,
    sink,
    testConfig(env),
    silentLogger,
    { stop: stop.signal, abandon: abandon.signal },
    metrics,
  );
  stop.signal.addEventListener('abort', () => setTimeout(() => abandon.abort(), 50).unref());
  return { pipeline, buffer, sink, log, stop };
}

/** Messages `<prefix>1..n` of a stream origin (the fake logs them by id). */
export function messages(keys: KeyFormat, prefix: string, n: number): Message[] {
  return Array.from({ length: n }, (_, i) =>
    new MessageFormat(keys).build(
      { topic: 't', id: `${prefix}${i + 1}`, origin: { kind: 'stream', db: 0, stream: 's' } },
      Buffer.from('k'),
      Buffer.from(`payload ${prefix}${i + 1}`),
    ),
  );
}

/** A batch whose ack and nack are logged. */
export function loggedBatch(log: EventLog, kind: BatchKind, ms: readonly Message[]): Batch {
  return {
    ...batchOf(kind, ms),
    ack: async (acked) => void log.push(`ack ${ids(acked)}`),
    nack: (left) => void log.push(`nack ${ids(left)}`),
  };
}

/** Waits until `cond` holds (checked after every turn of the event loop); fails after 5 s. */
export async function until(what: string, cond: () => boolean): Promise<void> {
  const deadline = Date.now() + 5000;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for: ${what}`);
    await new Promise((r) => setTimeout(r, 1));
  }
}

/** Lets every callback already due run (a few turns of the event loop). */
export async function turns(n = 20): Promise<void> {
  for (let i = 0; i < n; i += 1) await new Promise((r) => setImmediate(r));
}
