/**
 * Prometheus metrics of the service: every metric name is declared here, once (METRIC), and
 * registered in an injected prom-client Registry (a fresh one by default, so tests and several
 * engines in one process never collide).
 *
 * Two kinds of values:
 *  - event counters fed by the engine through the EngineMetrics seam (entries read, buffered,
 *    sent, acknowledged, dead-lettered, retries, pauses, delivery latency);
 *  - scrape-time gauges (unsynced backlog, consumer-group lag and pending, oldest pending age,
 *    connection state, in-flight work) read from a `StatusProbe` when /metrics is scraped; the
 *    probe caches its Redis reads for a few seconds and bounds the streams it inspects.
 *
 * Label cardinality: `stream` (with `db`) has one value per source stream and `topic` one per
 * Kafka topic. Fine for hundreds of streams; with many thousands of device streams, scrape cost
 * and series count grow with them (the probe inspects at most MAX_PROBED_STREAMS streams).
 * `totals` mirrors the counters as plain numbers for the dashboard's JSON.
 */
import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client';
import { failoverState } from '../redis/topology.js';
import type { EngineMetrics, PauseReason } from './engine-metrics.js';

export const METRIC = {
  entriesRead: 'rks_source_entries_read_total',
  buffered: 'rks_messages_buffered_total',
  sent: 'rks_messages_sent_total',
  sourceAcked: 'rks_source_entries_acknowledged_total',
  deadLettered: 'rks_messages_dead_lettered_total',
  deliveryLatency: 'rks_delivery_latency_seconds',
  retries: 'rks_retries_total',
  pauses: 'rks_backpressure_pauses_total',
  paused: 'rks_backpressure_paused',
  backlog: 'rks_unsynced_backlog',
  groupLag: 'rks_consumer_group_lag',
  groupPending: 'rks_consumer_group_pending',
  oldestPendingAge: 'rks_oldest_pending_age_seconds',
  connectionUp: 'rks_connection_up',
  inFlightBatches: 'rks_in_flight_batches',
  inFlightBytes: 'rks_in_flight_bytes',
  lastSync: 'rks_last_sync_timestamp_seconds',
  ingest: 'rks_http_ingest_requests_total',
  failovers: 'rks_redis_failovers_total',
  failoverInProgress: 'rks_redis_failover_in_progress',
  transactions: 'rks_kafka_transactions_total',
  transactionSeconds: 'rks_kafka_transaction_commit_seconds',
} as const;

export interface StreamGroupState {
  readonly db: number;
  readonly stream: string;
  /** Entries not yet delivered to the group (XINFO GROUPS `lag`); undefined when Redis cannot tell. */
  readonly lag: number | undefined;
  /** Entries delivered but not acknowledged (XPENDING summary); undefined without the group. */
  readonly pending: number | undefined;
  /** Age in ms of the oldest pending entry (from its id's time part); undefined when none. */
  readonly oldestPendingAgeMs: number | undefined;
}

/** What scrape-time gauges read; implemented by StatusProbe (./probe.ts). */
export interface ScrapeSource {
  backlog(): Promise<number | undefined>;
  groups(): Promise<readonly StreamGroupState[]>;
  connections(): Readonly<Record<'source_redis' | 'target_redis' | 'kafka', boolean>>;
  inFlight(): { batches: number; bytes: number };
  lastSyncMs(): number;
}

export interface Totals {
  read: number;
  buffered: number;
  sent: number;
  acknowledged: number;
  deadLettered: number;
  retries: number;
  pauses: number;
  /** KAFKA_EXACTLY_ONCE: transactions ended, and the last commit's latency. */
  transactionsCommitted: number;
  transactionsAborted: number;
  lastCommitMs: number;
}

export class SyncMetrics implements EngineMetrics {
  readonly totals: Totals = {
    read: 0,
    buffered: 0,
    sent: 0,
    acknowledged: 0,
    deadLettered: 0,
    retries: 0,
    pauses: 0,
    transactionsCommitted: 0,
    transactionsAborted: 0,
    lastCommitMs: 0,
  };
  /** Messages sent per topic since start (dashboard rates). */
  readonly sentByTopic = new Map<string, number>();
  private readonly pausedNow = new Map<PauseReason, number>();
  private readonly c: {
    read: Counter<'db' | 'stream'>;
    buffered: Counter<'topic'>;
    sent: Counter<'topic'>;
    acked: Counter<'db' | 'stream'>;
    dead: Counter<'topic'>;
    retries: Counter<'operation'>;
    pauses: Counter<'reason'>;
    paused: Gauge<'reason'>;
    latency: Histogram;
    ingest: Counter<'status'>;
    transactions: Counter<'outcome'>;
    commitSeconds: Histogram;
  };
  private source: ScrapeSource | undefined;

  constructor(
    readonly registry: Registry = new Registry(),
    /** processMetrics: also the process's CPU, memory, event-loop lag (prom-client defaults). */
    opts: { readonly processMetrics?: boolean } = {},
  ) {
    const registers = [registry];
    if (opts.processMetrics) collectDefaultMetrics({ register: registry, prefix: 'rks_' });
    this.c = {
      read: new Counter({
        name: METRIC.entriesRead,
        help: 'Entries read from source streams (XREADGROUP, XAUTOCLAIM).',
        labelNames: ['db', 'stream'],
        registers,
      }),
      buffered: new Counter({
        name: METRIC.buffered,
        help: 'Messages newly written to the target Redis buffer.',
        labelNames: ['topic'],
        registers,
      }),
      sent: new Counter({
        name: METRIC.sent,
        help: 'Messages acknowledged by Kafka (acks=all) and marked synced.',
        labelNames: ['topic'],
        registers,
      }),
      acked: new Counter({
        name: METRIC.sourceAcked,
        help: 'Source entries acknowledged (XACK, and XDEL when configured).',
        labelNames: ['db', 'stream'],
        registers,
      }),
      dead: new Counter({
        name: METRIC.deadLettered,
        help: 'Messages Kafka refused for good, moved to the dead-letter stream.',
        labelNames: ['topic'],
        registers,
      }),
      retries: new Counter({
        name: METRIC.retries,
        help: 'Retried attempts, by operation (one per message for Kafka deliveries).',
        labelNames: ['operation'],
        registers,
      }),
      pauses: new Counter({
        name: METRIC.pauses,
        help: 'Times a reader paused: in-flight budget full, or target Redis full (maxmemory).',
        labelNames: ['reason'],
        registers,
      }),
      paused: new Gauge({
        name: METRIC.paused,
        help: 'Readers paused right now by backpressure.',
        labelNames: ['reason'],
        registers,
      }),
      latency: new Histogram({
        name: METRIC.deliveryLatency,
        help: 'Seconds from the buffer write of a batch (or its resend by the resync) to Kafka acknowledging it; one observation per batch.',
        buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300],
        registers,
      }),
      ingest: new Counter({
        name: METRIC.ingest,
        help: 'HTTP ingest requests (POST /v1/messages), by response status.',
        labelNames: ['status'],
        registers,
      }),
      transactions: new Counter({
        name: METRIC.transactions,
        help: 'Kafka transactions ended (KAFKA_EXACTLY_ONCE), by outcome: committed, or aborted (their records are resent).',
        labelNames: ['outcome'],
        registers,
      }),
      commitSeconds: new Histogram({
        name: METRIC.transactionSeconds,
        help: 'Seconds from the start of a commit (progress record written) to commit_transaction returning (KAFKA_EXACTLY_ONCE).',
        buckets: [0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 10, 60],
        registers,
      }),
    };
    for (const reason of ['in_flight_budget', 'target_full'] as const) this.c.paused.set({ reason }, 0);
    this.registerScrapeGauges(registers);
  }

  /** Connects the scrape-time gauges to their data (the engine's probe). */
  bind(source: ScrapeSource): void {
    this.source = source;
  }

  entriesRead(db: number, stream: string, count: number): void {
    this.totals.read += count;
    this.c.read.inc({ db: String(db), stream }, count);
  }
  buffered(topic: string, count: number): void {
    this.totals.buffered += count;
    this.c.buffered.inc({ topic }, count);
  }
  sent(topic: string, count: number): void {
    this.totals.sent += count;
    this.sentByTopic.set(topic, (this.sentByTopic.get(topic) ?? 0) + count);
    this.c.sent.inc({ topic }, count);
  }
  sourceAcked(db: number, stream: string, count: number): void {
    this.totals.acknowledged += count;
    this.c.acked.inc({ db: String(db), stream }, count);
  }
  deadLettered(topic: string, count: number): void {
    this.totals.deadLettered += count;
    this.c.dead.inc({ topic }, count);
  }
  deliveryLatency(seconds: number): void {
    this.c.latency.observe(seconds);
  }
  retry(operation: string, count: number): void {
    this.totals.retries += count;
    this.c.retries.inc({ operation: operation.replace(/\s+/g, '_') }, count);
  }
  pause(reason: PauseReason): () => void {
    this.totals.pauses += 1;
    this.c.pauses.inc({ reason });
    this.pausedNow.set(reason, (this.pausedNow.get(reason) ?? 0) + 1);
    this.c.paused.inc({ reason });
    let ended = false;
    return () => {
      if (ended) return;
      ended = true;
      this.pausedNow.set(reason, (this.pausedNow.get(reason) ?? 1) - 1);
      this.c.paused.dec({ reason });
    };
  }
  /** Readers paused right now, all reasons. */
  get pausedCount(): number {
    return [...this.pausedNow.values()].reduce((a, b) => a + b, 0);
  }
  transaction(outcome: 'committed' | 'aborted', seconds: number): void {
    if (outcome === 'committed') {
      this.totals.transactionsCommitted += 1;
      this.totals.lastCommitMs = seconds * 1000;
      this.c.commitSeconds.observe(seconds);
    } else this.totals.transactionsAborted += 1;
    this.c.transactions.inc({ outcome });
  }
  ingestRequest(status: number): void {
    this.c.ingest.inc({ status: String(status) });
  }

  private registerScrapeGauges(registers: Registry[]): void {
    // `collect` runs on each scrape, reading the probe (cached there).
    const backlog: Gauge = new Gauge({
      name: METRIC.backlog,
      help: 'Messages in the target buffer not yet confirmed by Kafka (SCARD of the unsynced set).',
      registers,
      collect: async () => {
        const n = await this.source?.backlog();
        if (n !== undefined) backlog.set(n);
      },
    });
    // Each reads the probe's group states (cached there: one Redis read per scrape at most).
    const perStream = (
      name: string,
      help: string,
      value: (g: StreamGroupState) => number | undefined,
    ): Gauge<'db' | 'stream'> => {
      const gauge: Gauge<'db' | 'stream'> = new Gauge({
        name,
        help,
        labelNames: ['db', 'stream'],
        registers,
        collect: async () => {
          const groups = (await this.source?.groups()) ?? [];
          // Series of streams that went away disappear instead of freezing at their last value.
          gauge.reset();
          for (const g of groups) {
            const v = value(g);
            if (v !== undefined) gauge.set({ db: String(g.db), stream: g.stream }, v);
          }
        },
      });
      return gauge;
    };
    perStream(
      METRIC.groupLag,
      'Entries of a source stream not yet delivered to the consumer group (XINFO GROUPS lag).',
      (g) => g.lag,
    );
    perStream(
      METRIC.groupPending,
      'Entries read by the consumer group but not yet acknowledged (XPENDING).',
      (g) => g.pending,
    );
    perStream(
      METRIC.oldestPendingAge,
      'Age of the oldest pending (read, unacknowledged) entry of a stream, from its id; 0 when none.',
      (g) => (g.pending === undefined ? undefined : (g.oldestPendingAgeMs ?? 0) / 1000),
    );
    const up: Gauge<'component'> = new Gauge({
      name: METRIC.connectionUp,
      help: 'Connection state: 1 connected, 0 not, by component (source_redis, target_redis, kafka).',
      labelNames: ['component'],
      registers,
      collect: () => {
        const conns = this.source?.connections() ?? {};
        for (const [component, isUp] of Object.entries(conns)) up.set({ component }, isUp ? 1 : 0);
      },
    });
    const batches: Gauge = new Gauge({
      name: METRIC.inFlightBatches,
      help: 'Batches produced and awaiting Kafka confirmation.',
      registers,
      collect: () => batches.set(this.source?.inFlight().batches ?? 0),
    });
    const bytes: Gauge = new Gauge({
      name: METRIC.inFlightBytes,
      help:
        'Estimated memory of the messages handed to Kafka and not yet settled (confirmed, marked, acknowledged): ' +
        'payload + Kafka key + buffer key + 600 B per message for the objects around it; capped by KAFKA_MAX_IN_FLIGHT_BYTES.',
      registers,
      collect: () => bytes.set(this.source?.inFlight().bytes ?? 0),
    });
    // Process-wide (src/redis/topology.ts): the Sentinel connections report there, once per deployment.
    const failovers: Counter<'role'> = new Counter({
      name: METRIC.failovers,
      help: 'Master switches followed (Sentinel promoted another node), by role (source, target).',
      labelNames: ['role'],
      registers,
      collect: () => {
        failovers.reset();
        for (const role of ['source', 'target'] as const) failovers.inc({ role }, failoverState(role).failovers);
      },
    });
    const inProgress: Gauge<'role'> = new Gauge({
      name: METRIC.failoverInProgress,
      help: '1 while the master of a role is lost and being looked for (failover in progress), else 0.',
      labelNames: ['role'],
      registers,
      collect: () => {
        for (const role of ['source', 'target'] as const)
          inProgress.set({ role }, failoverState(role).inProgress ? 1 : 0);
      },
    });
    const lastSync: Gauge = new Gauge({
      name: METRIC.lastSync,
      help: 'Unix time of the last batch marked synced by this process (0: none yet).',
      registers,
      collect: () => lastSync.set((this.source?.lastSyncMs() ?? 0) / 1000),
    });
  }
}
