/** Variables of the one configuration schema (src/config/schema.ts), stream discovery and topic mapping; key-value change capture (keyspace notifications). */
import { f, type FieldSpec } from './spec.js';

export const STREAM_AND_KEY_FIELDS: readonly FieldSpec[] = [
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
];
