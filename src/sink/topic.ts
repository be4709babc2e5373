/**
 * The one check of a Kafka topic name, used wherever a name enters the service (configuration,
 * HTTP ingest, `send`/SyncEngine.sendMessage). Kafka's own rule (kafka.common.internals.Topic):
 * 1 to 249 characters of ASCII letters, digits, ".", "_" and "-", and not "." or "..". The
 * key format relies on it too: a topic name never contains ":".
 */
const LEGAL = /^[a-zA-Z0-9._-]+$/;
export const MAX_TOPIC_LENGTH = 249;

/** Why `name` is not a valid Kafka topic name, or undefined when it is one. */
export function checkTopicName(name: string): string | undefined {
  if (name.length === 0) return 'a topic name must not be empty';
  if (name.length > MAX_TOPIC_LENGTH)
    return `a topic name has at most ${MAX_TOPIC_LENGTH} characters (this one ${name.length})`;
  if (name === '.' || name === '..') return `"${name}" is not allowed as a topic name`;
  if (!LEGAL.test(name)) return 'a topic name may contain only ASCII letters, digits, ".", "_" and "-"';
  return undefined;
}
