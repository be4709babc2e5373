/**
 * The one configuration schema. Every variable the service reads is declared here, once, with
 * its type, default, unit and description; the README table and `redis-kafka-sync config` are
 * generated from this list, so they cannot drift from what the code does.
 *
 * Names keep the spec's spelling (SOURCE_REDIS_*, TARGET_REDIS_*, STREAM_*, KAFKA_*). Units are
 * part of a name where the spec allowed it (`_MS`, `_BYTES`); the spec's own names in seconds
 * (TARGET_REDIS_TIME_TO_LIVE, TARGET_REDIS_SYNC_TTL, STREAM_DISCOVERY_INTERVAL) keep their names
 * and say "seconds" in their description.
 */
export type FieldKind = 'string' | 'int' | 'bool' | 'enum' | 'list' | 'json-map' | 'db-range';

export interface FieldSpec {
  readonly env: string;
  readonly kind: FieldKind;
  readonly default: string;
  readonly description: string;
  readonly unit?: string;
  readonly secret?: boolean;
  readonly values?: readonly string[];
  readonly min?: number;
  readonly max?: number;
  readonly group: 'source' | 'target' | 'stream' | 'keys' | 'kafka' | 'sync' | 'service';
}

const f = (spec: FieldSpec): FieldSpec => spec;

export const FIELDS: readonly FieldSpec[] = [
  // --- Source Redis (local, where data originates)
  f({
    env: 'SOURCE_REDIS_HOST',
    kind: 'string',
    default: 'localhost',
    group: 'source',
    description: 'Source Redis host.',
  }),
  f({
    env: 'SOURCE_REDIS_PORT',
    kind: 'int',
    default: '6379',
    min: 1,
    max: 65535,
    group: 'source',
    description: 'Source Redis port.',
  }),
  f({
    env: 'SOURCE_REDIS_USERNAME',
    kind: 'string',
    default: '',
    group: 'source',
    description: 'Source Redis ACL user (empty: default user).',
  }),
  f({
    env: 'SOURCE_REDIS_PASSWORD',
    kind: 'string',
    default: '',
    secret: true,
    group: 'source',
    description: 'Source Redis password (or SOURCE_REDIS_PASSWORD_FILE).',
  }),
  f({
    env: 'SOURCE_REDIS_TLS',
    kind: 'bool',
    default: 'false',
    group: 'source',
    description: 'Connect to the source Redis over TLS (rediss).',
  }),
  f({
    env: 'SOURCE_REDIS_TLS_CA_LOCATION',
    kind: 'string',
    default: '',
    group: 'source',
    description: 'PEM file of the CA that signed the source Redis certificate.',
  }),
  f({
    env: 'SOURCE_REDIS_TLS_CERTIFICATE_LOCATION',
    kind: 'string',
    default: '',
    group: 'source',
    description: 'PEM client certificate for the source Redis (mutual TLS).',
  }),
  f({
    env: 'SOURCE_REDIS_TLS_KEY_LOCATION',
    kind: 'string',
    default: '',
    group: 'source',
    description: 'PEM client key for the source Redis (mutual TLS).',
  }),
  f({
    env: 'SOURCE_REDIS_REPLY_TIMEOUT_MS',
    kind: 'int',
    default: '30000',
    min: 0,
    max: 3_600_000,
    unit: 'ms',
    group: 'source',
    description:
      "A connection to the source Redis that gets no reply at all for this long while commands wait (a link dropped without a reset, a hung server) is replaced and the commands retried; without it TCP gives up after ~15 min. Blocking reads and WAIT get their own time on top. While it is on, node-redis's offline queue is off (a command sent while the server is unreachable fails at once and is retried). 0 = never; then node-redis's offline queue stays, and a command not sent within 5-6 s fails and is retried (node-redis's own 5 s deadline, kept without its timer per command).",
  }),
  f({
    env: 'SOURCE_REDIS_SENTINELS',
    kind: 'list',
    default: '',
    group: 'source',
    description:
      'Redis Sentinels of the source ("host:port,host:port"); the master is asked of them and followed through failovers. Replaces SOURCE_REDIS_HOST/PORT (setting both is an error).',
  }),
  f({
    env: 'SOURCE_REDIS_SENTINEL_MASTER',
    kind: 'string',
    default: '',
    group: 'source',
    description: 'Master name the Sentinels monitor (required with SOURCE_REDIS_SENTINELS).',
  }),
  f({
    env: 'SOURCE_REDIS_SENTINEL_USERNAME',
    kind: 'string',
    default: '',
    group: 'source',
    description: 'ACL user of the Sentinels (empty: default user). TLS to them follows SOURCE_REDIS_TLS*.',
  }),
  f({
    env: 'SOURCE_REDIS_SENTINEL_PASSWORD',
    kind: 'string',
    default: '',
    secret: true,
    group: 'source',
    description:
      'Password of the Sentinels (or SOURCE_REDIS_SENTINEL_PASSWORD_FILE); the data nodes use SOURCE_REDIS_PASSWORD.',
  }),
  f({
    env: 'SOURCE_REDIS_DB_SEARCH_RANGE',
    kind: 'db-range',
    default: '0-15',
    group: 'source',
    description: 'DBs searched for streams: a range "0-15", a list "0,3,5", or both "0-3,7".',
  }),
  f({
    env: 'SOURCE_REDIS_ENCODING',
    kind: 'enum',
    default: 'utf-8',
    values: ['utf-8', 'utf8', 'latin1', 'ascii'],
    group: 'source',
    description: 'Encoding of field values; values not valid in it are base64-encoded in the envelope and flagged.',
  }),
  f({
    env: 'SOURCE_CONSUMER_GROUP',
    kind: 'string',
    default: 'redis-kafka-sync',
    group: 'source',
    description: 'Consumer group on every source stream (created when missing, from the first entry).',
  }),
  f({
    env: 'SOURCE_CONSUMER_NAME',
    kind: 'string',
    default: '',
    group: 'source',
    description:
      'Consumer name of this instance (empty: <hostname>-<pid>). Keep it stable across restarts to re-read own pending entries at once.',
  }),
  f({
    env: 'SOURCE_BATCH_SIZE',
    kind: 'int',
    default: '500',
    min: 1,
    max: 100000,
    unit: 'entries',
    group: 'source',
    description:
      'Most entries one read returns (across all streams of a DB; a read of every stream asks each for at least one, so with more streams than this it can return one per stream). 500 (the default) against 1000: peak RSS while draining 1 KB backlogs 159-176 against 170-197 MB, the same rate and CPU; 100 B drains 8% less service CPU (docs/performance.md). Raise it when the target Redis or Kafka is far away (a long round trip): each DB has at most SOURCE_READ_AHEAD_BATCHES batches being read and buffered at once.',
  }),
  f({
    env: 'SOURCE_READ_AHEAD_BATCHES',
    kind: 'int',
    default: '3',
    min: 1,
    max: 64,
    unit: 'batches',
    group: 'source',
    description:
      'Read batches of one DB in progress at once: the next batch is read and buffered while earlier ones are still being written to the target or produced (order kept). 1 = one at a time. Read-ahead also pauses while the waiting batches hold KAFKA_MAX_IN_FLIGHT_BYTES of entry data (memory).',
  }),
  f({
    env: 'SOURCE_BLOCK_MS',
    kind: 'int',
    default: '1000',
    min: 1,
    max: 60000,
    unit: 'ms',
    group: 'source',
    description: 'How long a blocking XREADGROUP waits for new entries.',
  }),
  f({
    env: 'SOURCE_READ_LINGER_MS',
    kind: 'int',
    default: '10',
    min: 0,
    max: 1000,
    unit: 'ms',
    group: 'source',
    description:
      'After a read that returned fewer than SOURCE_BATCH_SIZE entries, wait this long before reading that DB again, when entries come fast enough for the wait to gather at least 2 (below that rate, 200 msg/s at the default, the next blocking read takes each entry as it comes, with no added delay): entries are then read, buffered and produced in fewer, larger batches (less CPU per message), each waiting up to this much longer. Full reads (a drain) never wait. At 5,000 msg/s, 10 (the default, with KAFKA_LINGER_MS=1) took the service from 0.23 to 0.16-0.17 core and p99 from 20-22 to 16-17 ms against 5 with KAFKA_LINGER_MS=5 (A B B A); 5 took it from 0.49-0.52 to 0.36-0.37 core on a slower VM (docs/performance.md). 0 = read again at once (lowest p50 on an idle machine).',
  }),
  f({
    env: 'SOURCE_CLAIM_IDLE_MS',
    kind: 'int',
    default: '60000',
    min: 1000,
    unit: 'ms',
    group: 'source',
    description: 'Entries pending this long in another consumer (a crashed instance) are claimed with XAUTOCLAIM.',
  }),
  f({
    env: 'SOURCE_ACK_MODE',
    kind: 'enum',
    default: 'kafka',
    values: ['kafka', 'target'],
    group: 'source',
    description:
      '"kafka": XACK+XDEL a source entry after Kafka confirmed it. "target": as soon as the target Redis holds it (edge boxes that must drain while Kafka is down).',
  }),
  f({
    env: 'SOURCE_DELETE_AFTER_ACK',
    kind: 'bool',
    default: 'true',
    group: 'source',
    description: "XDEL source entries after acknowledging them (the spec's cleanup).",
  }),
  f({
    env: 'SOURCE_STREAMS',
    kind: 'list',
    default: '',
    group: 'stream',
    description:
      'Streams to read when STREAM_AUTO_DISCOVERY=false: "name" (in the first DB of SOURCE_REDIS_DB_SEARCH_RANGE) or "name@db", comma-separated. Empty: discover once at start.',
  }),
  // --- Target Redis (remote durable buffer)
  f({
    env: 'TARGET_REDIS_HOST',
    kind: 'string',
    default: 'localhost',
    group: 'target',
    description: 'Target Redis host.',
  }),
  f({
    env: 'TARGET_REDIS_PORT',
    kind: 'int',
    default: '6379',
    min: 1,
    max: 65535,
    group: 'target',
    description: 'Target Redis port.',
  }),
  f({
    env: 'TARGET_REDIS_USERNAME',
    kind: 'string',
    default: '',
    group: 'target',
    description: 'Target Redis ACL user (empty: default user).',
  }),
  f({
    env: 'TARGET_REDIS_PASSWORD',
    kind: 'string',
    default: '',
    secret: true,
    group: 'target',
    description: 'Target Redis password (or TARGET_REDIS_PASSWORD_FILE).',
  }),
  f({
    env: 'TARGET_REDIS_TLS',
    kind: 'bool',
    default: 'false',
    group: 'target',
    description: 'Connect to the target Redis over TLS (rediss).',
  }),
  f({
    env: 'TARGET_REDIS_TLS_CA_LOCATION',
    kind: 'string',
    default: '',
    group: 'target',
    description: 'PEM file of the CA that signed the target Redis certificate.',
  }),
  f({
    env: 'TARGET_REDIS_TLS_CERTIFICATE_LOCATION',
    kind: 'string',
    default: '',
    group: 'target',
    description: 'PEM client certificate for the target Redis (mutual TLS).',
  }),
  f({
    env: 'TARGET_REDIS_TLS_KEY_LOCATION',
    kind: 'string',
    default: '',
    group: 'target',
    description: 'PEM client key for the target Redis (mutual TLS).',
  }),
  f({
    env: 'TARGET_REDIS_REPLY_TIMEOUT_MS',
    kind: 'int',
    default: '30000',
    min: 0,
    max: 3_600_000,
    unit: 'ms',
    group: 'target',
    description:
      "A connection to the target Redis that gets no reply at all for this long while commands wait (a link dropped without a reset, a hung server) is replaced and the commands retried; without it TCP gives up after ~15 min. Blocking reads and WAIT get their own time on top. A Redis Cluster's node socket with no traffic at all for this long (plus TARGET_REDIS_REPLICA_ACK_TIMEOUT_MS) is closed and reconnected, an idle one too. While it is on, a standalone or Sentinel connection has no node-redis offline queue (a command sent while the server is unreachable fails at once and is retried). 0 = never; then node-redis's offline queue stays, and a command not sent within 5-6 s fails and is retried (node-redis's own 5 s deadline, kept without its timer per command).",
  }),
  f({
    env: 'TARGET_REDIS_SENTINELS',
    kind: 'list',
    default: '',
    group: 'target',
    description:
      'Redis Sentinels of the target ("host:port,host:port"); the master is asked of them and followed through failovers. Replaces TARGET_REDIS_HOST/PORT (setting both is an error).',
  }),
  f({
    env: 'TARGET_REDIS_SENTINEL_MASTER',
    kind: 'string',
    default: '',
    group: 'target',
    description: 'Master name the Sentinels monitor (required with TARGET_REDIS_SENTINELS).',
  }),
  f({
    env: 'TARGET_REDIS_SENTINEL_USERNAME',
    kind: 'string',
    default: '',
    group: 'target',
    description: 'ACL user of the Sentinels (empty: default user). TLS to them follows TARGET_REDIS_TLS*.',
  }),
  f({
    env: 'TARGET_REDIS_SENTINEL_PASSWORD',
    kind: 'string',
    default: '',
    secret: true,
    group: 'target',
    description:
      'Password of the Sentinels (or TARGET_REDIS_SENTINEL_PASSWORD_FILE); the data nodes use TARGET_REDIS_PASSWORD.',
  }),
  f({
    env: 'TARGET_REDIS_DB',
    kind: 'int',
    default: '0',
    min: 0,
    max: 15,
    group: 'target',
    description: 'DB of the target Redis that holds the buffer.',
  }),
  f({
    env: 'TARGET_REDIS_TIME_TO_LIVE',
    kind: 'int',
    default: '3600',
    min: 1,
    unit: 's',
    group: 'target',
    description: 'Seconds a message stays in the buffer AFTER Kafka confirmed it. Unsynced messages never expire.',
  }),
  f({
    env: 'TARGET_REDIS_SYNC_TTL',
    kind: 'int',
    default: '604800',
    min: 1,
    unit: 's',
    group: 'target',
    description: 'Seconds a sync marker lives (7 days): proof that a key reached Kafka.',
  }),
  f({
    env: 'TARGET_REDIS_POOL_SIZE',
    kind: 'int',
    default: '10',
    min: 1,
    max: 1000,
    unit: 'connections',
    group: 'target',
    description:
      "Connections to the target Redis, opened at start: each source (a DB's reader, key capture, direct messages, resync) writes on one of them, in order; marking is spread over all.",
  }),
  f({
    env: 'TARGET_REDIS_KEY_PREFIX',
    kind: 'string',
    default: '',
    group: 'target',
    description: 'Prefix of every key the service writes in the target (message keys, markers, unsynced_keys_set).',
  }),
  f({
    env: 'TARGET_REDIS_CLUSTER_NODES',
    kind: 'list',
    default: '',
    group: 'target',
    description:
      'Seed nodes of a Redis Cluster as the target ("host:port,host:port"); the rest is discovered. Replaces TARGET_REDIS_HOST/PORT and excludes TARGET_REDIS_SENTINELS; username, password and TLS apply to every node. Uses the cluster key layout (README, data model).',
  }),
  f({
    env: 'TARGET_REDIS_MIN_REPLICAS_ACKED',
    kind: 'int',
    default: '0',
    min: 0,
    max: 100,
    unit: 'replicas',
    group: 'target',
    description:
      'Replicas that must confirm each buffer write (WAIT) before it counts as safe; fewer: the batch is retried. 0: the master alone (a failover can lose its last writes).',
  }),
  f({
    env: 'TARGET_REDIS_REPLICA_ACK_TIMEOUT_MS',
    kind: 'int',
    default: '1000',
    min: 1,
    max: 600000,
    unit: 'ms',
    group: 'target',
    description: 'How long a buffer write waits for TARGET_REDIS_MIN_REPLICAS_ACKED replicas (WAIT timeout).',
  }),
  f({
    env: 'TARGET_REDIS_EVICTION_CHECK_INTERVAL_MS',
    kind: 'int',
    default: '60000',
    min: 0,
    max: 86400000,
    unit: 'ms',
    group: 'target',
    description:
      'How often a buffer write first checks again that the target may not evict unsynced messages (maxmemory with an allkeys-* policy; also checked at start): after a failover or a CONFIG SET, writes pause until the policy is safe. 0 = at start only.',
  }),
  // --- Stream discovery and topic mapping
  f({
    env: 'STREAM_AUTO_DISCOVERY',
    kind: 'bool',
    default: 'false',
    group: 'stream',
    description: 'Re-scan the source every STREAM_DISCOVERY_INTERVAL for new and deleted streams.',
  }),
  f({
    env: 'STREAM_DISCOVERY_PATTERNS',
    kind: 'list',
    default: '*-stream,device:*:stream',
    group: 'stream',
    description: 'Glob patterns (Redis MATCH syntax) of stream keys to sync, comma-separated.',
  }),
  f({
    env: 'STREAM_DISCOVERY_INTERVAL',
    kind: 'int',
    default: '10',
    min: 1,
    unit: 's',
    group: 'stream',
    description: 'Seconds between discovery scans.',
  }),
  f({
    env: 'STREAM_TARGET_TOPIC_MAP',
    kind: 'json-map',
    default: '{}',
    group: 'stream',
    description:
      'JSON object {"glob": "topic"}; the first pattern (in the object\'s order) matching a stream name wins, else KAFKA_TOPIC.',
  }),
  // --- Key-value change capture (keyspace notifications)
  f({
    env: 'KEY_SYNC_ENABLED',
    kind: 'bool',
    default: 'false',
    group: 'keys',
    description:
      'Capture changes of matching keys (set, delete, expire, evict, rename) with keyspace notifications and sync them like stream entries. Enables the needed notify-keyspace-events classes on the source.',
  }),
  f({
    env: 'KEY_SYNC_PATTERNS',
    kind: 'list',
    default: '',
    group: 'keys',
    description:
      'Glob patterns (Redis MATCH syntax, byte-wise) of the keys whose changes are synced, comma-separated; required when KEY_SYNC_ENABLED=true ("*": every key).',
  }),
  f({
    env: 'KEY_SYNC_DB_RANGE',
    kind: 'db-range',
    default: '0-15',
    group: 'keys',
    description: 'DBs whose key changes are captured: a range "0-15", a list "0,3,5", or both "0-3,7".',
  }),
  f({
    env: 'KEY_TARGET_TOPIC_MAP',
    kind: 'json-map',
    default: '{}',
    group: 'keys',
    description:
      'JSON object {"glob": "topic"}; the first pattern (in the object\'s order) matching a key name wins, else KAFKA_TOPIC.',
  }),
  f({
    env: 'KEY_SYNC_MAX_VALUE_BYTES',
    kind: 'int',
    default: '1048576',
    min: 0,
    max: 1000000000,
    unit: 'bytes',
    group: 'keys',
    description:
      'Largest value sent with a key change; a larger one (or a collection with more elements than this) is sent without value, flagged "tooLarge".',
  }),
  // --- Kafka
  f({
    env: 'KAFKA_BOOTSTRAP_SERVERS',
    kind: 'string',
    default: 'localhost:9092',
    group: 'kafka',
    description: 'Comma-separated host:port list of Kafka brokers.',
  }),
  f({
    env: 'KAFKA_TOPIC',
    kind: 'string',
    default: 'default-sync-topic',
    group: 'kafka',
    description: 'Topic used when no mapping matches.',
  }),
  f({
    env: 'KAFKA_SECURITY_PROTOCOL',
    kind: 'enum',
    default: 'PLAINTEXT',
    values: ['PLAINTEXT', 'SSL', 'SASL_PLAINTEXT', 'SASL_SSL'],
    group: 'kafka',
    description: 'Kafka security protocol.',
  }),
  f({
    env: 'KAFKA_SASL_MECHANISM',
    kind: 'enum',
    default: 'PLAIN',
    values: ['PLAIN', 'SCRAM-SHA-256', 'SCRAM-SHA-512'],
    group: 'kafka',
    description: 'SASL mechanism (SASL_* protocols).',
  }),
  f({ env: 'KAFKA_SASL_USERNAME', kind: 'string', default: '', group: 'kafka', description: 'SASL user name.' }),
  f({
    env: 'KAFKA_SASL_PASSWORD',
    kind: 'string',
    default: '',
    secret: true,
    group: 'kafka',
    description: 'SASL password (or KAFKA_SASL_PASSWORD_FILE).',
  }),
  f({
    env: 'KAFKA_SSL_CA_LOCATION',
    kind: 'string',
    default: '',
    group: 'kafka',
    description: "PEM file of the CA(s) that sign the brokers' certificates (SSL, SASL_SSL).",
  }),
  f({
    env: 'KAFKA_SSL_CERTIFICATE_LOCATION',
    kind: 'string',
    default: '',
    group: 'kafka',
    description: 'PEM client certificate (mutual TLS).',
  }),
  f({
    env: 'KAFKA_SSL_KEY_LOCATION',
    kind: 'string',
    default: '',
    group: 'kafka',
    description: 'PEM client private key (mutual TLS).',
  }),
  f({
    env: 'KAFKA_SSL_KEY_PASSWORD',
    kind: 'string',
    default: '',
    secret: true,
    group: 'kafka',
    description: 'Password of the client private key, if encrypted.',
  }),
  f({
    env: 'KAFKA_MAX_REQUEST_SIZE',
    kind: 'int',
    default: '20971520',
    min: 1000,
    max: 1000000000,
    unit: 'bytes',
    group: 'kafka',
    description:
      'Largest record the producer sends (librdkafka message.max.bytes). Larger messages are set aside as poison, never blocking others.',
  }),
  f({
    env: 'KAFKA_MAX_CONCURRENT_SENDS',
    kind: 'int',
    default: '100',
    min: 1,
    max: 100000,
    unit: 'batches',
    group: 'kafka',
    description: 'Most read batches awaiting Kafka confirmation at once; reading waits when reached.',
  }),
  f({
    env: 'KAFKA_MAX_IN_FLIGHT_BYTES',
    kind: 'int',
    default: '8388608',
    min: 1024,
    unit: 'bytes',
    group: 'kafka',
    description:
      'Most memory held by messages awaiting Kafka confirmation (payload + key + ~600 B of objects each): the memory bound; reading waits when reached.',
  }),
  f({
    env: 'KAFKA_KEY_FIELD',
    kind: 'string',
    default: 'device_id',
    group: 'kafka',
    description:
      'Stream field whose value is the Kafka record key (one device -> one partition, ordered). Entries without it use the stream name.',
  }),
  f({
    env: 'KAFKA_RECORD_HEADERS',
    kind: 'enum',
    default: 'all',
    values: ['all', 'id'],
    group: 'kafka',
    description:
      'Headers of each record: all = rks-id, rks-buffer-key and the origin (rks-stream, rks-db, rks-entry-id / rks-device-id / rks-redis-key); id = rks-id only (the origin is in the envelope and in rks-id; about 5 µs of client CPU less per record when producing record by record, within the noise with KAFKA_BATCH_PRODUCE, measured).',
  }),
  f({
    env: 'KAFKA_BATCH_PRODUCE',
    kind: 'bool',
    default: 'true',
    group: 'kafka',
    description:
      "Hand a batch's records to librdkafka in one native call, with one delivery callback per flush of reports, when the Kafka client has the project's produceBatch patch (scripts/patch-kafka-client.sh, applied by setup); false, or a client without it, produces record by record. Same records, order and delivery reports either way.",
  }),
  f({
    env: 'KAFKA_COMPRESSION',
    kind: 'enum',
    default: 'lz4',
    values: ['none', 'gzip', 'snappy', 'lz4', 'zstd'],
    group: 'kafka',
    description: 'Producer compression codec.',
  }),
  f({
    env: 'KAFKA_LINGER_MS',
    kind: 'int',
    default: '1',
    min: 0,
    max: 60000,
    unit: 'ms',
    group: 'kafka',
    description:
      'How long the producer (librdkafka linger.ms) waits to fill a request. Stream entries reach it already batched (one produce call per read), so the default is 1: a longer wait only adds latency (5 gave the same CPU at 5,000 msg/s with p50 and p99 3-4 ms higher); 0 sends part of a batch at once and the rest in a second request (more CPU: 0.25 against 0.17-0.18 core at 5,000 msg/s, one run).',
  }),
  f({
    env: 'KAFKA_MESSAGE_TIMEOUT_MS',
    kind: 'int',
    default: '0',
    min: 0,
    unit: 'ms',
    group: 'kafka',
    description:
      'librdkafka message.timeout.ms; 0 = retry in the producer until delivered (keeps order through outages). A timed-out message stays unsynced and is resent.',
  }),
  f({
    env: 'KAFKA_RECONNECT_TIMEOUT_MS',
    kind: 'int',
    default: '30000',
    min: 1000,
    unit: 'ms',
    group: 'kafka',
    description:
      'When the producer stays disconnected this long while the bootstrap servers accept TCP connections (librdkafka stuck after a broker restart), it is recreated and its waiting messages resent.',
  }),
  f({
    env: 'KAFKA_EXACTLY_ONCE',
    kind: 'bool',
    default: 'false',
    group: 'kafka',
    description:
      'Exactly-once into Kafka (opt-in): a transactional producer (transactional.id from SOURCE_CONSUMER_NAME, which must then be set) commits the records with the progress record of KAFKA_PROGRESS_TOPIC in one transaction; after a crash, restart or takeover nothing committed is sent again. Consumers read with isolation.level=read_committed. Start waits for Kafka (it fences the previous incarnation first).',
  }),
  f({
    env: 'KAFKA_TRANSACTION_INTERVAL_MS',
    kind: 'int',
    default: '100',
    min: 10,
    max: 60000,
    unit: 'ms',
    group: 'kafka',
    description:
      'With KAFKA_EXACTLY_ONCE: how often the open transaction is committed (sooner when it holds half of KAFKA_MAX_IN_FLIGHT_BYTES). Records are acknowledged, marked synced and their source entries acked only after the commit.',
  }),
  f({
    env: 'KAFKA_TRANSACTION_TIMEOUT_MS',
    kind: 'int',
    default: '60000',
    min: 1000,
    max: 900000,
    unit: 'ms',
    group: 'kafka',
    description:
      'With KAFKA_EXACTLY_ONCE: transaction.timeout.ms; the broker aborts a transaction open longer (a dead instance). Also the message timeout of the transactional producer: an outage longer aborts the transaction and its records are resent in a new one.',
  }),
  f({
    env: 'KAFKA_PROGRESS_TOPIC',
    kind: 'string',
    default: 'redis-kafka-sync-progress',
    group: 'kafka',
    description:
      'With KAFKA_EXACTLY_ONCE: the compacted control topic holding, per instance, what its last transactions committed (written in the same transaction as the records). Created with cleanup.policy=compact when missing.',
  }),
  f({
    env: 'KAFKA_CLIENT_ID',
    kind: 'string',
    default: 'redis-kafka-sync',
    group: 'kafka',
    description: 'Kafka client.id.',
  }),
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
      'How far V8 lets the JavaScript heap grow past what its last full collection kept before collecting again, in percent (the V8 flag --heap-growing-percent, set by `run` at start; the library leaves its host process alone). 100 (default): at most twice the live heap; with the 8 MB semi-spaces of SYNC_HEAP_SEMI_SPACE_MB, peak RSS while draining 180-195 MB, against 237-266 MB for 0 with 4 MB semi-spaces (the defaults before), for the same service CPU; 0: the V8 heuristics (2-4x the live heap); 70: 175-187 MB for the same or up to 20% more service CPU (docs/performance.md).',
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

export const FIELD_BY_ENV: ReadonlyMap<string, FieldSpec> = new Map(FIELDS.map((s) => [s.env, s]));
