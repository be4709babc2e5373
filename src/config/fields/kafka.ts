/** Variables of the one configuration schema (src/config/schema.ts), Kafka: brokers, security, the producer, the record format and delivery. */
import { f, type FieldSpec } from './spec.js';

export const KAFKA_FIELDS: readonly FieldSpec[] = [
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
];
