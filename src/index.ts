/**
 * redis-kafka-sync, the library. Explicit named exports only.
 */
export { ReactiveKafkaProducer } from './engine/reactive-producer.js';
export type { ProcessSourceStreamsOptions, ReactiveKafkaProducerOptions } from './engine/reactive-producer.js';
export { SyncEngine } from './engine/engine.js';
export type { EngineStatus } from './engine/engine.js';
export { loadConfig, describeConfig } from './config/config.js';
export type { Config, LoadOptions, RedisEndpointConfig } from './config/config.js';
export { FIELDS } from './config/schema.js';
export type { FieldSpec } from './config/schema.js';
export { KeyFormat, UNSYNCED_SET, DEAD_LETTERS } from './buffer/key-format.js';
export type { MessageKeyParts, Origin } from './buffer/key-format.js';
export { buildEnvelope, envelopeValue } from './source/envelope.js';
export type { Envelope } from './source/envelope.js';
export {
  SyncError,
  ConfigError,
  ConnectionError,
  BufferFullError,
  DeliveryError,
  PoisonMessageError,
  PrerequisiteError,
  TargetRefusedError,
  isRetryable,
} from './errors.js';
