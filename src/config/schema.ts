/**
 * The one configuration schema. Every variable the service reads is declared once, with its
 * type, default, unit and description, in one of the group files of ./fields/ (source, target,
 * streams and keys, kafka, sync and service) and gathered here into FIELDS; the README table and
 * `redis-kafka-sync config` are generated from this list, so they cannot drift from what the code
 * does.
 *
 * Names keep the spec's spelling (SOURCE_REDIS_*, TARGET_REDIS_*, STREAM_*, KAFKA_*). Units are
 * part of a name where the spec allowed it (`_MS`, `_BYTES`); the spec's own names in seconds
 * (TARGET_REDIS_TIME_TO_LIVE, TARGET_REDIS_SYNC_TTL, STREAM_DISCOVERY_INTERVAL) keep their names
 * and say "seconds" in their description.
 */
import type { FieldSpec } from './fields/spec.js';
import { KAFKA_FIELDS } from './fields/kafka.js';
import { SOURCE_FIELDS } from './fields/source.js';
import { STREAM_AND_KEY_FIELDS } from './fields/streams-keys.js';
import { SYNC_AND_SERVICE_FIELDS } from './fields/sync-service.js';
import { TARGET_FIELDS } from './fields/target.js';

export type { FieldKind, FieldSpec } from './fields/spec.js';

/** Every variable, in the order of the README's table (by group; src/config/fields/ holds them). */
export const FIELDS: readonly FieldSpec[] = [
  ...SOURCE_FIELDS,
  ...TARGET_FIELDS,
  ...STREAM_AND_KEY_FIELDS,
  ...KAFKA_FIELDS,
  ...SYNC_AND_SERVICE_FIELDS,
];

export const FIELD_BY_ENV: ReadonlyMap<string, FieldSpec> = new Map(FIELDS.map((s) => [s.env, s]));
