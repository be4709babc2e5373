/**
 * The running engine as seen by monitoring: readiness, connection states, and the Redis-side
 * numbers (backlog, consumer-group lag/pending per stream) that /metrics, /readyz and the
 * dashboard show.
 *
 * Invariants: reading Redis here is bounded and cached: the backlog (one SCARD) for
 * BACKLOG_CACHE_MS, the per-stream group state (one pipelined XINFO GROUPS + XPENDING per stream,
 * at most MAX_PROBED_STREAMS streams) for GROUPS_CACHE_MS; concurrent callers share one read in
 * flight. A failed read keeps the previous value (monitoring never throws into a scrape).
 */
import type { SyncEngine } from '../engine/engine.js';
import type { ScrapeSource, StreamGroupState } from './metrics.js';
import { failoverState } from '../redis/topology.js';
import { readGroupStates } from './sync-status.js';

export const BACKLOG_CACHE_MS = 2_000;
export const GROUPS_CACHE_MS = 5_000;
export const MAX_PROBED_STREAMS = 500;

export interface Readiness {
  readonly ready: boolean;
  /** One line per part, e.g. "kafka: disconnected: ...", "source: connected". */
  readonly parts: readonly { readonly name: string; readonly ok: boolean; readonly state: string }[];
}

/** A value read at most once per `ttlMs`, with a single read in flight. */
class Cached<T> {
  private value: T;
  private at = 0;
  private inFlight: Promise<T> | undefined;
  constructor(
    initial: T,
    private readonly ttlMs: number,
    private readonly read: () => Promise<T>,
  ) {
    this.value = initial;
  }
  get(): Promise<T> {
    if (Date.now() - this.at < this.ttlMs) return Promise.resolve(this.value);
    this.inFlight ??= this.read()
      .then((v) => (this.value = v))
      .catch(() => this.value)
      .finally(() => {
        this.at = Date.now();
        this.inFlight = undefined;
      });
    return this.inFlight;
  }
}

export class StatusProbe implements ScrapeSource {
  private readonly backlogCache: Cached<number | undefined>;
  private readonly groupsCache: Cached<readonly StreamGroupState[]>;

  constructor(readonly engine: SyncEngine) {
    this.backlogCache = new Cached<number | undefined>(undefined, BACKLOG_CACHE_MS, () =>
      this.started() ? this.engine.target.unsyncedCount() : Promise.resolve(undefined),
    );
    this.groupsCache = new Cached<readonly StreamGroupState[]>([], GROUPS_CACHE_MS, () => this.readGroups());
  }

  /** True once the engine has its target connection and pipeline (start() got that far). */
  started(): boolean {
    try {
      return this.engine.pipe !== undefined;
    } catch {
      return false;
    }
  }

  backlog(): Promise<number | undefined> {
    return this.backlogCache.get();
  }

  groups(): Promise<readonly StreamGroupState[]> {
    return this.groupsCache.get();
  }

  connections(): Readonly<Record<'source_redis' | 'target_redis' | 'kafka', boolean>> {
    const s = this.engine.status();
    return {
      source_redis: s.source === 'connected',
      target_redis: s.target === 'connected',
      kafka: this.engine.sink.isConnected,
    };
  }

  inFlight(): { batches: number; bytes: number; messages: number } {
    if (!this.started()) return { batches: 0, bytes: 0, messages: 0 };
    const p = this.engine.pipe;
    return { batches: p.budget.items, bytes: p.budget.bytes, messages: p.inFlight.size };
  }

  lastSyncMs(): number {
    return this.started() ? this.engine.pipe.stats.lastSyncMs : 0;
  }

  /** Ready: both Redis servers and Kafka connected and the engine running. */
  readiness(): Readiness {
    const s = this.engine.status();
    const running = s.running && !this.engine.stopSignal.aborted;
    const parts = [
      {
        name: 'engine',
        ok: running,
        state: running ? 'running' : this.engine.stopSignal.aborted ? 'stopping' : 'starting',
      },
      { name: 'source', ok: connectedNow('source', s.source), state: withFailover('source', s.source) },
      { name: 'target', ok: connectedNow('target', s.target), state: withFailover('target', s.target) },
      { name: 'kafka', ok: this.engine.sink.isConnected, state: this.engine.sink.status },
    ];
    return { ready: parts.every((p) => p.ok), parts };
  }

  private async readGroups(): Promise<readonly StreamGroupState[]> {
    const group = this.engine.cfg.source.consumerGroup;
    const out: StreamGroupState[] = [];
    let budget = MAX_PROBED_STREAMS;
    const now = Date.now();
    const reads = this.engine.sourceDbs.map((src) => {
      const names = src.streamNames.slice(0, Math.max(0, budget));
      budget -= names.length;
      return names.length === 0 ? Promise.resolve([]) : readGroupStates(src.commands, names, group, now);
    });
    for (const states of await Promise.all(reads)) out.push(...states);
    return out;
  }
}

/** Connected, and not in the middle of a failover (its master may be demoted any moment). */
function connectedNow(role: 'source' | 'target', state: string): boolean {
  return state === 'connected' && !failoverState(role).inProgress;
}

/** A connection state, saying so when the cause is a failover (Sentinel looking for the master). */
function withFailover(role: 'source' | 'target', state: string): string {
  return failoverState(role).inProgress ? `${state} (failover in progress)` : state;
}
