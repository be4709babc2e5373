/** Variables of the one configuration schema (src/config/schema.ts), the sync loop (marks, acks, resync, recovery) and the service (HTTP, logs, memory). */
import { f, type FieldSpec } from './spec.js';

export const SYNC_AND_SERVICE_FIELDS: readonly FieldSpec[] = [
  // --- Sync loop
  f({
    env: 'SYNC_RESYNC_INTERVAL_MS',
    kind: 'int',
    default: '15000',
    min: 100,
    unit: 'ms',
    group: 'sync',
    description: 'How often unsynced messages in the target are looked for and resent.',
  }),
  f({
    env: 'SYNC_RESEND_AFTER_MS',
    kind: 'int',
    default: '60000',
    min: 0,
    unit: 'ms',
    group: 'sync',
    description:
      'An unsynced message is resent by the periodic resync only when buffered at least this long and not in flight here.',
  }),
  f({
    env: 'SYNC_ACK_LINGER_MS',
    kind: 'int',
    default: '10',
    min: 0,
    max: 1000,
    unit: 'ms',
    group: 'sync',
    description:
      'After Kafka confirmed a batch, how long its sync mark (target) and its source ack (XACK/XDEL) wait to be grouped with those of the batches confirmed next: one script call and one round trip each for all of them. Delivery latency is unchanged (the records are in Kafka already); entries stay pending that much longer (a crash in that window resends them: duplicates, never a loss). Only while less than a quarter of KAFKA_MAX_CONCURRENT_SENDS / KAFKA_MAX_IN_FLIGHT_BYTES is in use (a batch holds its room until marked and acknowledged: waiting on purpose while batches queue for room would slow a full-speed drain). With SOURCE_ACK_MODE=target source acks are never delayed (they come before a batch is produced). 0: sent at once; marks and acks that come while one is running are grouped either way. At 5,000 msg/s in small batches 10 (the default) saved 0.01-0.09 core of the service in 6 of 6 back-to-back pairs; full-speed drains are unchanged (docs/performance.md).',
  }),
  f({
    env: 'SYNC_RETRY_BASE_MS',
    kind: 'int',
    default: '200',
    min: 1,
    unit: 'ms',
    group: 'sync',
    description: 'First retry delay after a failed Redis or Kafka operation (doubles, with jitter).',
  }),
  f({
    env: 'SYNC_RETRY_MAX_MS',
    kind: 'int',
    default: '10000',
    min: 1,
    unit: 'ms',
    group: 'sync',
    description: 'Longest retry delay.',
  }),
  f({
    env: 'SYNC_STUCK_WARN_MS',
    kind: 'int',
    default: '30000',
    min: 1000,
    unit: 'ms',
    group: 'sync',
    description:
      'Warn when messages have waited this long for Kafka (broker down, topic missing); they stay buffered and retried.',
  }),
  f({
    env: 'SYNC_SHUTDOWN_TIMEOUT_MS',
    kind: 'int',
    default: '8000',
    min: 0,
    unit: 'ms',
    group: 'sync',
    description:
      'On SIGTERM, how long in-flight deliveries may take before the process exits (undelivered ones stay buffered).',
  }),
  // --- Service
  f({
    env: 'LOG_LEVEL',
    kind: 'enum',
    default: 'info',
    values: ['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent'],
    group: 'service',
    description: 'Log level.',
  }),
  f({
    env: 'SYNC_HEAP_GROWING_PERCENT',
    kind: 'int',
    default: '100',
    min: 0,
    max: 1000,
    unit: 'percent',
    group: 'service',
    description:
      'How far V8 lets the JavaScript heap grow past what its last full collection kept before collecting again, in percent (the V8 flag --heap-growing-percent, set by `run` at start; the library leaves its host process alone). A trade of memory for CPU: the lower, the more often V8 marks the whole live heap (on its helper threads, on the same cores). 100 (default): at most twice the live heap; draining 1 KB entries, peak RSS 148-167 MB; 150: 168-182 MB for ~1.5 µs/msg less service CPU; 200: 185-195 MB for 2-3 µs/msg less (of 18-20; A B B A on 2026-12-06); 0: the V8 heuristics (2-4x the live heap, 224 MB); 70: 175-187 MB for the same or up to 20% more service CPU (docs/performance.md).',
  }),
  f({
    env: 'SYNC_HEAP_MARKING_START_PERCENT',
    kind: 'int',
    default: '50',
    min: 0,
    max: 100,
    unit: 'percent',
    group: 'service',
    description:
      "When V8 starts marking the JavaScript heap for a full collection, in percent of the room SYNC_HEAP_GROWING_PERCENT left after the last one (the V8 flag --incremental-marking-soft-trigger, set by `run` at start; the library leaves its host process alone). The heap's bound stays the same; only the start moves. 50 (default): marking starts once half the room is used; 0: V8's own rule, which starts as soon as the room is smaller than the young generation: with the defaults above nearly always, a full marking every 150-300 ms while draining, a quarter of the service's CPU on V8's helper threads. Draining 1 KB entries, 50 against 0, back to back: 16.1-18.2 against 17.0-19.6 µs/msg of service CPU in 5 of 5 pairs, 11 full markings per 200,000 messages instead of 14-16, the same peak RSS; 1,000 streams and 100 B entries 0.9-1.4 µs/msg less; at 5,000 msg/s no difference (0.15-0.20 core and p99 16-20 ms either way) (docs/performance.md, 2026-12-06).",
  }),
  f({
    env: 'SYNC_HEAP_SEMI_SPACE_MB',
    kind: 'int',
    default: '8',
    min: 0,
    max: 256,
    unit: 'MB',
    group: 'service',
    description:
      'Size of each of the V8 young generation semi-spaces of the daemon, in MB (the V8 flag --max-semi-space-size; `run` restarts itself in place with it at start, before connecting anything, unless that flag is already given on its command line or in NODE_OPTIONS; the library leaves its host process alone). 8 (default): a batch being read, buffered and produced dies young instead of in the old generation; 0: V8 picks (up to 32 MB on a large machine: faster by ~10%, 60-80 MB more peak RSS); 4: the young generation of earlier releases, more CPU with the growing factor below (docs/performance.md).',
  }),
  f({
    env: 'SYNC_HEAP_IDLE_TRIM_MS',
    kind: 'int',
    default: '10000',
    min: 0,
    max: 3_600_000,
    unit: 'ms',
    group: 'service',
    description:
      "After this long without a message moved (none read, buffered, sent, acknowledged or retried), the daemon runs one memory-reducing garbage collection that returns the emptied young generation and heap pages to the system, in ms; once per idle period, again only after messages moved (a pause of 30-40 ms; the library leaves its host process alone). With it on, idle RSS 101 -> 84-85 MB and 158-167 -> 113-130 MB a few seconds after a drain (V8's memory reducer, which setting it up wakes, does most of that; docs/performance.md); 0: neither.",
  }),
  f({
    env: 'HTTP_ADDRESS',
    kind: 'string',
    default: '127.0.0.1:9464',
    group: 'service',
    description:
      'host:port of the HTTP server (dashboard /, /metrics, /healthz, /readyz, /api/status, POST /v1/messages); port 0 picks a free one; "off" disables it.',
  }),
  f({
    env: 'HTTP_AUTH_TOKEN',
    kind: 'string',
    default: '',
    secret: true,
    group: 'service',
    description:
      'Bearer token required by POST /v1/messages (or HTTP_AUTH_TOKEN_FILE); empty: no token. The read-only endpoints need none.',
  }),
  f({
    env: 'HTTP_MAX_BODY_BYTES',
    kind: 'int',
    default: '1048576',
    min: 1,
    max: 1000000000,
    unit: 'bytes',
    group: 'service',
    description: 'Largest request body POST /v1/messages accepts (larger: 413).',
  }),
];
