/**
 * The JSON behind the dashboard (GET /api/status): a snapshot of the running engine plus a short
 * history sampled in the process, so a freshly opened page shows the last minutes at once.
 *
 * Invariants: a sample is taken every SAMPLE_MS into a ring of HISTORY_SAMPLES (bounded memory,
 * about five minutes); per-topic rates use a window of the last TOPIC_WINDOW samples. Redis reads
 * (target counters, recent dead letters) are cached for TARGET_CACHE_MS, so any number of open
 * pages costs the servers the same. Nothing here throws into a request: a failed read leaves the
 * field as it was (or null).
 */
import type { SyncEngine } from '../engine/engine.js';
import { recentEvents, type LogEvent } from './logger.js';
import type { SyncMetrics, Totals } from './metrics.js';
import type { Readiness, StatusProbe } from './probe.js';
import { readTargetState, recentDeadLetters, type DeadLetter, type TargetState } from './sync-status.js';

export const SAMPLE_MS = 2_000;
export const HISTORY_SAMPLES = 150;
const TOPIC_WINDOW = 5;
const TARGET_CACHE_MS = 2_000;
const DEAD_LETTERS_SHOWN = 20;
const STREAMS_SHOWN = 50;

export interface HistoryPoint {
  readonly t: number;
  readonly readPerS: number;
  readonly sentPerS: number;
  readonly backlog: number | null;
}

export interface ApiStatus {
  readonly nowMs: number;
  readonly startedMs: number;
  readonly consumer: string;
  readonly group: string;
  readonly readiness: Readiness;
  readonly backlog: number | null;
  readonly deadLetterCount: number | null;
  readonly lastSyncMs: number | null;
  readonly inFlight: { batches: number; bytes: number; messages: number };
  readonly pausedNow: number;
  readonly totals: Totals;
  readonly history: readonly HistoryPoint[];
  readonly streamCount: number;
  readonly streams: readonly {
    db: number;
    stream: string;
    lag: number | null;
    pending: number | null;
    oldestPendingAgeS: number | null;
  }[];
  readonly topics: readonly { topic: string; sent: number; perS: number }[];
  readonly errors: readonly LogEvent[];
  readonly deadLetters: readonly DeadLetter[];
}

interface Sample {
  readonly t: number;
  readonly read: number;
  readonly sent: number;
  readonly backlog: number | undefined;
  readonly topics: ReadonlyMap<string, number>;
}

export class StatusApi {
  private readonly samples: Sample[] = [];
  private timer: NodeJS.Timeout | undefined;
  private readonly startedMs = Date.now();
  private target: { at: number; state?: TargetState; dead: DeadLetter[] } = { at: 0, dead: [] };

  constructor(
    private readonly engine: SyncEngine,
    private readonly probe: StatusProbe,
    private readonly metrics: SyncMetrics,
  ) {}

  /** Starts sampling (the timer does not keep the process alive). */
  start(): void {
    if (this.timer) return;
    void this.sample();
    this.timer = setInterval(() => void this.sample(), SAMPLE_MS);
    this.timer.unref();
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
  }

  async snapshot(): Promise<ApiStatus> {
    const [backlog, groups] = await Promise.all([this.probe.backlog(), this.probe.groups()]);
    await this.refreshTarget();
    const t = this.target.state;
    const streams = [...groups]
      .sort((a, b) => (b.pending ?? 0) + (b.lag ?? 0) - ((a.pending ?? 0) + (a.lag ?? 0)))
      .slice(0, STREAMS_SHOWN)
      .map((g) => ({
        db: g.db,
        stream: g.stream,
        lag: g.lag ?? null,
        pending: g.pending ?? null,
        oldestPendingAgeS: g.oldestPendingAgeMs === undefined ? null : Math.round(g.oldestPendingAgeMs / 100) / 10,
      }));
    const localLast = this.probe.lastSyncMs();
    return {
      nowMs: Date.now(),
      startedMs: this.startedMs,
      consumer: this.engine.cfg.source.consumerName,
      group: this.engine.cfg.source.consumerGroup,
      readiness: this.probe.readiness(),
      backlog: backlog ?? t?.backlog ?? null,
      deadLetterCount: t?.deadLetters ?? null,
      lastSyncMs: Math.max(localLast, t?.lastSyncMs ?? 0) || null,
      inFlight: this.probe.inFlight(),
      pausedNow: this.metrics.pausedCount,
      totals: { ...this.metrics.totals },
      history: this.history(),
      streamCount: groups.length,
      streams,
      topics: this.topicRates(),
      errors: recentEvents.list(),
      deadLetters: this.target.dead,
    };
  }

  private async sample(): Promise<void> {
    const backlog = await this.probe.backlog().catch(() => undefined);
    this.samples.push({
      t: Date.now(),
      read: this.metrics.totals.read,
      sent: this.metrics.totals.sent,
      backlog,
      topics: new Map(this.metrics.sentByTopic),
    });
    if (this.samples.length > HISTORY_SAMPLES + 1) this.samples.shift();
  }

  private history(): HistoryPoint[] {
    const out: HistoryPoint[] = [];
    for (let i = 1; i < this.samples.length; i += 1) {
      const a = this.samples[i - 1] as Sample;
      const b = this.samples[i] as Sample;
      const dt = Math.max(0.001, (b.t - a.t) / 1000);
      out.push({
        t: b.t,
        readPerS: round1((b.read - a.read) / dt),
        sentPerS: round1((b.sent - a.sent) / dt),
        backlog: b.backlog ?? null,
      });
    }
    return out;
  }

  private topicRates(): { topic: string; sent: number; perS: number }[] {
    const last = this.samples[this.samples.length - 1];
    const first = this.samples[Math.max(0, this.samples.length - 1 - TOPIC_WINDOW)];
    const dt = last && first && last.t > first.t ? (last.t - first.t) / 1000 : 0;
    return [...this.metrics.sentByTopic]
      .map(([topic, sent]) => {
        const diff = (last?.topics.get(topic) ?? 0) - (first?.topics.get(topic) ?? 0);
        return { topic, sent, perS: dt > 0 ? round1(diff / dt) : 0 };
      })
      .sort((a, b) => b.perS - a.perS || b.sent - a.sent);
  }

  private async refreshTarget(): Promise<void> {
    if (Date.now() - this.target.at < TARGET_CACHE_MS || !this.probe.started()) return;
    const buf = this.engine.target;
    try {
      const [state, dead] = await Promise.all([
        readTargetState(buf.primary, buf.keys),
        recentDeadLetters(buf.primary, buf.keys, DEAD_LETTERS_SHOWN),
      ]);
      this.target = { at: Date.now(), state, dead };
    } catch {
      this.target = { ...this.target, at: Date.now() };
    }
  }
}

function round1(n: number): number {
  return Math.round(n * 10) / 10;
}
