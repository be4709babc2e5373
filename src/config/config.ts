/**
 * The typed, frozen configuration every module receives. Built only by `loadConfig`, from the
 * schema in ./schema.ts; precedence: CLI overrides > process environment > env.conf > defaults.
 * `<VAR>_FILE` (Docker secrets) may replace any secret variable: the file's content, trimmed of
 * one trailing newline, is the value.
 */
import { existsSync, readFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { parse as parseDotenv } from 'dotenv';
import { ConfigError } from '../errors.js';
import { crossChecks, parseHostPort, parseHttpAddress, topologyChecks } from './checks.js';
import { zodFor } from './field-values.js';
import { FIELDS, FIELD_BY_ENV } from './schema.js';
export { parseHostPort, parseHttpAddress } from './checks.js';
import { KNOWN_VARIABLES, looksLikeOurs, suggestion, unknownVariableMessage } from './variables.js';

export interface RedisEndpointConfig {
  readonly host: string;
  readonly port: number;
  readonly username: string;
  readonly password: string;
  readonly tls: boolean;
  readonly tlsCaLocation: string;
  readonly tlsCertificateLocation: string;
  readonly tlsKeyLocation: string;
  /** Set when the endpoint is found through Redis Sentinel (host/port are then unused). */
  readonly sentinel?: SentinelConfig | undefined;
  /** Target only: seed nodes of a Redis Cluster (host/port are then unused). */
  readonly cluster?: { readonly nodes: readonly HostPort[] } | undefined;
  /** `<ROLE>_REDIS_REPLY_TIMEOUT_MS`: a connection whose peer stays silent this long while commands wait is replaced (redis/reply-watch.ts); 0 or absent: never. */
  readonly replyTimeoutMs?: number;
  /** Target only: WAIT's own time (TARGET_REDIS_REPLICA_ACK_TIMEOUT_MS), on top of the reply deadline of a cluster node's socket. */
  readonly replicaAckTimeoutMs?: number;
}

export interface HostPort {
  readonly host: string;
  readonly port: number;
}

/** `<ROLE>_REDIS_SENTINEL*`: where to ask for the master, and how to log in to the Sentinels. */
export interface SentinelConfig {
  readonly nodes: readonly HostPort[];
  readonly masterName: string;
  readonly username: string;
  readonly password: string;
}

/** One stream of SOURCE_STREAMS: its name and DB. */
export interface StreamRef {
  readonly name: string;
  readonly db: number;
}

export interface Config {
  readonly source: RedisEndpointConfig & {
    readonly dbSearchRange: readonly number[];
    readonly encoding: 'utf-8' | 'utf8' | 'latin1' | 'ascii';
    readonly consumerGroup: string;
    readonly consumerName: string;
    readonly batchSize: number;
    /** SOURCE_READ_AHEAD_BATCHES: read batches of one DB outstanding at once. */
    readonly readAheadBatches: number;
    readonly blockMs: number;
    /** SOURCE_READ_LINGER_MS: pause after a short read (reader.ts). */
    readonly readLingerMs: number;
    readonly claimIdleMs: number;
    readonly ackMode: 'kafka' | 'target';
    readonly deleteAfterAck: boolean;
  };
  readonly target: RedisEndpointConfig & {
    readonly db: number;
    readonly timeToLiveSeconds: number;
    readonly syncTtlSeconds: number;
    readonly poolSize: number;
    readonly keyPrefix: string;
    /** TARGET_REDIS_MIN_REPLICAS_ACKED: replicas that must confirm a buffer write (WAIT). */
    readonly minReplicasAcked: number;
    readonly replicaAckTimeoutMs: number;
    /** TARGET_REDIS_EVICTION_CHECK_INTERVAL_MS: a buffer write re-checks the eviction policy this often (0: start only). */
    readonly evictionCheckIntervalMs: number;
  };
  readonly stream: {
    readonly autoDiscovery: boolean;
    readonly discoveryPatterns: readonly string[];
    readonly discoveryIntervalSeconds: number;
    readonly topicMap: readonly (readonly [string, string])[];
    /** SOURCE_STREAMS, parsed: a "name" entry is in the first DB of SOURCE_REDIS_DB_SEARCH_RANGE. */
    readonly streams: readonly StreamRef[];
  };
  readonly keys: {
    readonly enabled: boolean;
    readonly patterns: readonly string[];
    readonly dbRange: readonly number[];
    readonly topicMap: readonly (readonly [string, string])[];
    readonly maxValueBytes: number;
  };
  readonly kafka: {
    readonly bootstrapServers: string;
    readonly topic: string;
    readonly securityProtocol: 'PLAINTEXT' | 'SSL' | 'SASL_PLAINTEXT' | 'SASL_SSL';
    readonly saslMechanism: 'PLAIN' | 'SCRAM-SHA-256' | 'SCRAM-SHA-512';
    readonly saslUsername: string;
    readonly saslPassword: string;
    readonly sslCaLocation: string;
    readonly sslCertificateLocation: string;
    readonly sslKeyLocation: string;
    readonly sslKeyPassword: string;
    readonly maxRequestSizeBytes: number;
    readonly maxConcurrentSends: number;
    readonly maxInFlightBytes: number;
    readonly keyField: string;
    /** KAFKA_RECORD_HEADERS: which rks-* headers each record carries. */
    readonly recordHeaders: 'all' | 'id';
    readonly compression: 'none' | 'gzip' | 'snappy' | 'lz4' | 'zstd';
    readonly batchProduce: boolean;
    readonly lingerMs: number;
    readonly messageTimeoutMs: number;
    readonly clientId: string;
    readonly reconnectTimeoutMs: number;
    /** KAFKA_EXACTLY_ONCE: transactional producer and progress records (sink/transactions.ts). */
    readonly exactlyOnce: boolean;
    readonly transactionIntervalMs: number;
    readonly transactionTimeoutMs: number;
    readonly progressTopic: string;
    /** The instance's name (SOURCE_CONSUMER_NAME): its transactional.id and progress record key. */
    readonly instance: string;
  };
  readonly sync: {
    readonly resyncIntervalMs: number;
    readonly resendAfterMs: number;
    /** SYNC_ACK_LINGER_MS: how long marks and source acks wait to be grouped (util/coalesce.ts). */
    readonly ackLingerMs: number;
    readonly retryBaseMs: number;
    readonly retryMaxMs: number;
    readonly shutdownTimeoutMs: number;
    readonly stuckWarnMs: number;
  };
  readonly logLevel: string;
  /** SYNC_HEAP_GROWING_PERCENT: V8's heap growing factor for the daemon (cli/heap-settings.ts); 0: V8's own. */
  readonly heapGrowingPercent: number;
  /** SYNC_HEAP_SEMI_SPACE_MB: V8's semi-space size for the daemon (cli/heap-settings.ts); 0: V8's own. */
  readonly heapSemiSpaceMb: number;
  /** SYNC_HEAP_MARKING_START_PERCENT: when V8 starts a full marking, in percent of its headroom (cli/heap-settings.ts); 0: V8's own. */
  readonly heapMarkingStartPercent: number;
  /** SYNC_HEAP_IDLE_TRIM_MS: idle time before the daemon's memory-reducing collection (cli/heap-settings.ts); 0: never. */
  readonly heapIdleTrimMs: number;
  readonly http: {
    /** Where the HTTP server listens; undefined when HTTP_ADDRESS=off. */
    readonly address: { readonly host: string; readonly port: number } | undefined;
    readonly authToken: string;
    readonly maxBodyBytes: number;
  };
}

export interface LoadOptions {
  /** Path of the dotenv file; default `env.conf` in the working directory (optional there); null: none. */
  readonly configFile?: string | null;
  /** Process environment (default `process.env`). */
  readonly env?: NodeJS.ProcessEnv;
  /** Highest-precedence values, e.g. from CLI flags, by variable name. */
  readonly overrides?: Readonly<Record<string, string>>;
  /**
   * Told about each unknown variable in env.conf, or in the environment with a service prefix
   * (a misspelling, ./variables.ts); default: not told. Ignored when `strict`.
   */
  readonly onWarning?: (message: string) => void;
  /** Unknown variables are errors (ConfigError) instead of warnings (`config --strict`, `run --strict`). */
  readonly strict?: boolean;
}

/** Raw string values by variable name, after applying precedence and `_FILE` indirection. */
export function collectRaw(options: LoadOptions = {}): {
  raw: Map<string, string>;
  problems: string[];
  /** Unknown variables of env.conf and service-like ones of the environment (ignored). */
  warnings: string[];
  /** Variables some layer set (not left at their default). */
  explicit: Set<string>;
} {
  const env = options.env ?? process.env;
  const problems: string[] = [];
  let fileValues: Record<string, string> = {};
  const fileGiven = options.configFile !== undefined && options.configFile !== null;
  const path = options.configFile ?? 'env.conf';
  if (options.configFile === null) {
    // no file
  } else if (existsSync(path)) {
    fileValues = parseDotenv(readFileSync(path));
  } else if (fileGiven) {
    problems.push(`--config: file ${path} does not exist`);
  }
  const layers: Record<string, string | undefined>[] = [fileValues, env, options.overrides ?? {}];
  const raw = new Map<string, string>();
  const explicit = new Set<string>();
  for (const spec of FIELDS) {
    let value = spec.default;
    for (const layer of layers) {
      const fileRef = spec.secret ? layer[`${spec.env}_FILE`] : undefined;
      if (fileRef !== undefined && fileRef !== '') {
        try {
          value = readFileSync(fileRef, 'utf8').replace(/\r?\n$/, '');
        } catch (err) {
          problems.push(`${spec.env}_FILE: cannot read ${fileRef} (${(err as Error).message})`);
        }
      }
      const v = layer[spec.env];
      if (v !== undefined) value = v;
      if ((v !== undefined && v.trim() !== '') || (fileRef !== undefined && fileRef !== '')) explicit.add(spec.env);
    }
    raw.set(spec.env, value);
  }
  for (const key of Object.keys(options.overrides ?? {})) {
    if (!FIELD_BY_ENV.has(key))
      problems.push(`${key}: unknown variable; ${suggestion(key)} (see 'redis-kafka-sync config --list')`);
  }
  const warnings: string[] = [];
  for (const key of Object.keys(fileValues))
    if (!KNOWN_VARIABLES.has(key)) warnings.push(unknownVariableMessage(key, `in ${path}`, !options.strict));
  for (const key of Object.keys(env))
    if (looksLikeOurs(key)) warnings.push(unknownVariableMessage(key, 'in the environment', !options.strict));
  return { raw, problems, warnings, explicit };
}

/** Loads, validates and freezes the configuration. Throws ConfigError listing every problem. */
export function loadConfig(options: LoadOptions = {}): Config {
  const { raw, problems, warnings, explicit } = collectRaw(options);
  if (options.strict) problems.push(...warnings);
  else for (const w of warnings) options.onWarning?.(w);
  const values = new Map<string, unknown>();
  for (const spec of FIELDS) {
    const result = zodFor(spec).safeParse(raw.get(spec.env) ?? spec.default);
    if (result.success) values.set(spec.env, result.data);
    else
      problems.push(
        `${spec.env}=${JSON.stringify(spec.secret ? '***' : raw.get(spec.env))}: ${result.error.issues.map((i) => i.message).join('; ')}`,
      );
  }
  problems.push(...crossChecks(values), ...topologyChecks(values, explicit));
  const dbs = values.get('SOURCE_REDIS_DB_SEARCH_RANGE') as number[] | undefined;
  const streams = parseSourceStreams((values.get('SOURCE_STREAMS') as string[] | undefined) ?? [], dbs?.[0] ?? 0);
  if (typeof streams === 'string') problems.push(`SOURCE_STREAMS: ${streams}`);
  if (problems.length > 0) throw new ConfigError(problems);
  return deepFreeze(build(values, streams as StreamRef[]));
}

/**
 * SOURCE_STREAMS entries ("name" or "name@db") as streams, in order, duplicates dropped; a
 * string is what is wrong. The DB is the part after the last "@" when that part is a number,
 * so a name may itself contain "@" ("a@b" is the stream "a@b", "a@b@3" is "a@b" in DB 3).
 */
export function parseSourceStreams(entries: readonly string[], defaultDb: number): StreamRef[] | string {
  const out: StreamRef[] = [];
  const seen = new Set<string>();
  for (const entry of entries) {
    const at = entry.lastIndexOf('@');
    const suffix = at < 0 ? undefined : entry.slice(at + 1);
    const hasDb = suffix !== undefined && /^\d+$/.test(suffix);
    const name = hasDb ? entry.slice(0, at) : entry;
    const db = hasDb ? Number(suffix) : defaultDb;
    if (suffix === '') return `"${entry}" has no DB after "@" (expected "name" or "name@db", comma-separated)`;
    if (name === '') return `"${entry}" has no stream name (expected "name" or "name@db", comma-separated)`;
    if (db > 10000) return `"${entry}": DB ${db} is out of range`;
    const id = `${db}\n${name}`;
    if (seen.has(id)) continue;
    seen.add(id);
    out.push({ name, db });
  }
  return out;
}

/** Streams grouped by DB (DBs and names in configuration order): the readers' view of SOURCE_STREAMS. */
export function streamsByDb(streams: readonly StreamRef[]): Map<number, string[]> {
  const byDb = new Map<number, string[]>();
  for (const s of streams) byDb.set(s.db, [...(byDb.get(s.db) ?? []), s.name]);
  return byDb;
}

function sentinelOf(v: Map<string, unknown>, prefix: 'SOURCE' | 'TARGET'): SentinelConfig | undefined {
  const nodes = (v.get(`${prefix}_REDIS_SENTINELS`) as string[]).map((s) => parseHostPort(s) as HostPort);
  if (nodes.length === 0) return undefined;
  return {
    nodes,
    masterName: v.get(`${prefix}_REDIS_SENTINEL_MASTER`) as string,
    username: v.get(`${prefix}_REDIS_SENTINEL_USERNAME`) as string,
    password: v.get(`${prefix}_REDIS_SENTINEL_PASSWORD`) as string,
  };
}

function endpoint(v: Map<string, unknown>, prefix: 'SOURCE' | 'TARGET'): RedisEndpointConfig {
  const sentinel = sentinelOf(v, prefix);
  const seeds = prefix === 'TARGET' ? (v.get('TARGET_REDIS_CLUSTER_NODES') as string[]) : [];
  return {
    ...(sentinel ? { sentinel } : {}),
    ...(seeds.length > 0 ? { cluster: { nodes: seeds.map((s) => parseHostPort(s) as HostPort) } } : {}),
    host: v.get(`${prefix}_REDIS_HOST`) as string,
    port: v.get(`${prefix}_REDIS_PORT`) as number,
    username: v.get(`${prefix}_REDIS_USERNAME`) as string,
    password: v.get(`${prefix}_REDIS_PASSWORD`) as string,
    tls: v.get(`${prefix}_REDIS_TLS`) as boolean,
    tlsCaLocation: v.get(`${prefix}_REDIS_TLS_CA_LOCATION`) as string,
    tlsCertificateLocation: v.get(`${prefix}_REDIS_TLS_CERTIFICATE_LOCATION`) as string,
    tlsKeyLocation: v.get(`${prefix}_REDIS_TLS_KEY_LOCATION`) as string,
    replyTimeoutMs: v.get(`${prefix}_REDIS_REPLY_TIMEOUT_MS`) as number,
  };
}

function build(v: Map<string, unknown>, streams: readonly StreamRef[]): Config {
  const g = <T>(name: string): T => v.get(name) as T;
  const named = g<string>('SOURCE_CONSUMER_NAME');
  const consumerName = named === '' ? `${hostname()}-${process.pid}` : named;
  return {
    source: {
      ...endpoint(v, 'SOURCE'),
      dbSearchRange: g('SOURCE_REDIS_DB_SEARCH_RANGE'),
      encoding: g('SOURCE_REDIS_ENCODING'),
      consumerGroup: g('SOURCE_CONSUMER_GROUP'),
      consumerName,
      batchSize: g('SOURCE_BATCH_SIZE'),
      readAheadBatches: g('SOURCE_READ_AHEAD_BATCHES'),
      blockMs: g('SOURCE_BLOCK_MS'),
      readLingerMs: g('SOURCE_READ_LINGER_MS'),
      claimIdleMs: g('SOURCE_CLAIM_IDLE_MS'),
      ackMode: g('SOURCE_ACK_MODE'),
      deleteAfterAck: g('SOURCE_DELETE_AFTER_ACK'),
    },
    target: {
      ...endpoint(v, 'TARGET'),
      db: g('TARGET_REDIS_DB'),
      timeToLiveSeconds: g('TARGET_REDIS_TIME_TO_LIVE'),
      syncTtlSeconds: g('TARGET_REDIS_SYNC_TTL'),
      poolSize: g('TARGET_REDIS_POOL_SIZE'),
      keyPrefix: g('TARGET_REDIS_KEY_PREFIX'),
      minReplicasAcked: g('TARGET_REDIS_MIN_REPLICAS_ACKED'),
      replicaAckTimeoutMs: g('TARGET_REDIS_REPLICA_ACK_TIMEOUT_MS'),
      evictionCheckIntervalMs: g('TARGET_REDIS_EVICTION_CHECK_INTERVAL_MS'),
    },
    stream: {
      autoDiscovery: g('STREAM_AUTO_DISCOVERY'),
      discoveryPatterns: g('STREAM_DISCOVERY_PATTERNS'),
      discoveryIntervalSeconds: g('STREAM_DISCOVERY_INTERVAL'),
      topicMap: g('STREAM_TARGET_TOPIC_MAP'),
      streams,
    },
    keys: {
      enabled: g('KEY_SYNC_ENABLED'),
      patterns: g('KEY_SYNC_PATTERNS'),
      dbRange: g('KEY_SYNC_DB_RANGE'),
      topicMap: g('KEY_TARGET_TOPIC_MAP'),
      maxValueBytes: g('KEY_SYNC_MAX_VALUE_BYTES'),
    },
    kafka: {
      bootstrapServers: g('KAFKA_BOOTSTRAP_SERVERS'),
      topic: g('KAFKA_TOPIC'),
      securityProtocol: g('KAFKA_SECURITY_PROTOCOL'),
      saslMechanism: g('KAFKA_SASL_MECHANISM'),
      saslUsername: g('KAFKA_SASL_USERNAME'),
      saslPassword: g('KAFKA_SASL_PASSWORD'),
      sslCaLocation: g('KAFKA_SSL_CA_LOCATION'),
      sslCertificateLocation: g('KAFKA_SSL_CERTIFICATE_LOCATION'),
      sslKeyLocation: g('KAFKA_SSL_KEY_LOCATION'),
      sslKeyPassword: g('KAFKA_SSL_KEY_PASSWORD'),
      maxRequestSizeBytes: g('KAFKA_MAX_REQUEST_SIZE'),
      maxConcurrentSends: g('KAFKA_MAX_CONCURRENT_SENDS'),
      maxInFlightBytes: g('KAFKA_MAX_IN_FLIGHT_BYTES'),
      keyField: g('KAFKA_KEY_FIELD'),
      recordHeaders: g('KAFKA_RECORD_HEADERS'),
      compression: g('KAFKA_COMPRESSION'),
      batchProduce: g('KAFKA_BATCH_PRODUCE'),
      lingerMs: g('KAFKA_LINGER_MS'),
      messageTimeoutMs: g('KAFKA_MESSAGE_TIMEOUT_MS'),
      clientId: g('KAFKA_CLIENT_ID'),
      reconnectTimeoutMs: g('KAFKA_RECONNECT_TIMEOUT_MS'),
      exactlyOnce: g('KAFKA_EXACTLY_ONCE'),
      transactionIntervalMs: g('KAFKA_TRANSACTION_INTERVAL_MS'),
      transactionTimeoutMs: g('KAFKA_TRANSACTION_TIMEOUT_MS'),
      progressTopic: g('KAFKA_PROGRESS_TOPIC'),
      instance: consumerName,
    },
    sync: {
      resyncIntervalMs: g('SYNC_RESYNC_INTERVAL_MS'),
      resendAfterMs: g('SYNC_RESEND_AFTER_MS'),
      ackLingerMs: g('SYNC_ACK_LINGER_MS'),
      retryBaseMs: g('SYNC_RETRY_BASE_MS'),
      retryMaxMs: g('SYNC_RETRY_MAX_MS'),
      shutdownTimeoutMs: g('SYNC_SHUTDOWN_TIMEOUT_MS'),
      stuckWarnMs: g('SYNC_STUCK_WARN_MS'),
    },
    logLevel: g('LOG_LEVEL'),
    heapGrowingPercent: g('SYNC_HEAP_GROWING_PERCENT'),
    heapSemiSpaceMb: g('SYNC_HEAP_SEMI_SPACE_MB'),
    heapMarkingStartPercent: g('SYNC_HEAP_MARKING_START_PERCENT'),
    heapIdleTrimMs: g('SYNC_HEAP_IDLE_TRIM_MS'),
    http: {
      address: parseHttpAddress(g('HTTP_ADDRESS')) as { host: string; port: number } | undefined,
      authToken: g('HTTP_AUTH_TOKEN'),
      maxBodyBytes: g('HTTP_MAX_BODY_BYTES'),
    },
  };
}

function deepFreeze<T>(value: T): T {
  if (value !== null && typeof value === 'object' && !Object.isFrozen(value)) {
    Object.freeze(value);
    for (const child of Object.values(value)) deepFreeze(child);
  }
  return value;
}

/** The effective configuration as `VAR=value` lines with secrets redacted. */
export function describeConfig(options: LoadOptions = {}): string[] {
  const { raw } = collectRaw(options);
  return FIELDS.map((spec) => {
    const value = raw.get(spec.env) ?? '';
    return `${spec.env}=${spec.secret && value !== '' ? '***' : value}`;
  });
}
