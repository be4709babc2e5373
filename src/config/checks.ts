/**
 * The checks of the configuration that involve several variables (loadConfig runs them after
 * each variable was validated on its own against the schema), and the parsers of host:port
 * values. Every problem is one line naming the variable, what is wrong and what to do.
 */
import { existsSync } from 'node:fs';
import { checkTopicName } from '../sink/topic.js';
import type { HostPort } from './config.js';
import { zodFor } from './field-values.js';
import { FIELDS } from './schema.js';

/** Checks between variables; each runs only when the variables it reads are valid. */
export function crossChecks(valid: Map<string, unknown>): string[] {
  const problems: string[] = [];
  // Invalid variables were reported already; check the rest against defaults.
  const v = new Map<string, unknown>(valid);
  for (const spec of FIELDS) if (!v.has(spec.env)) v.set(spec.env, zodFor(spec).parse(spec.default));
  const protocol = v.get('KAFKA_SECURITY_PROTOCOL') as string;
  if (protocol.startsWith('SASL_') && v.get('KAFKA_SASL_USERNAME') === '') {
    problems.push(`KAFKA_SASL_USERNAME: required when KAFKA_SECURITY_PROTOCOL=${protocol}`);
  }
  for (const name of [
    'KAFKA_SSL_CA_LOCATION',
    'KAFKA_SSL_CERTIFICATE_LOCATION',
    'KAFKA_SSL_KEY_LOCATION',
    'SOURCE_REDIS_TLS_CA_LOCATION',
    'TARGET_REDIS_TLS_CA_LOCATION',
    'SOURCE_REDIS_TLS_CERTIFICATE_LOCATION',
    'SOURCE_REDIS_TLS_KEY_LOCATION',
    'TARGET_REDIS_TLS_CERTIFICATE_LOCATION',
    'TARGET_REDIS_TLS_KEY_LOCATION',
  ]) {
    const file = v.get(name) as string;
    if (file !== '' && !existsSync(file)) problems.push(`${name}: file ${file} does not exist`);
  }
  if ((v.get('KAFKA_SSL_CERTIFICATE_LOCATION') === '') !== (v.get('KAFKA_SSL_KEY_LOCATION') === '')) {
    problems.push('KAFKA_SSL_CERTIFICATE_LOCATION and KAFKA_SSL_KEY_LOCATION: set both for mutual TLS, or neither');
  }
  const topicProblem = checkTopicName(v.get('KAFKA_TOPIC') as string);
  if (topicProblem)
    problems.push(`KAFKA_TOPIC: "${String(v.get('KAFKA_TOPIC'))}" is not a valid topic: ${topicProblem}`);
  for (const name of ['STREAM_TARGET_TOPIC_MAP', 'KEY_TARGET_TOPIC_MAP']) {
    for (const [pattern, topic] of v.get(name) as [string, string][]) {
      const why = checkTopicName(topic);
      if (why) problems.push(`${name}: topic "${topic}" of pattern "${pattern}" is not a valid topic: ${why}`);
    }
  }
  if (v.get('KEY_SYNC_ENABLED') === true && (v.get('KEY_SYNC_PATTERNS') as string[]).length === 0) {
    problems.push(
      'KEY_SYNC_PATTERNS: required when KEY_SYNC_ENABLED=true, e.g. "user:*,session:*" ("*" syncs every key)',
    );
  }
  const http = parseHttpAddress(v.get('HTTP_ADDRESS') as string);
  if (typeof http === 'string') problems.push(`HTTP_ADDRESS: ${http}`);
  if (v.get('KAFKA_EXACTLY_ONCE') === true) {
    if (v.get('SOURCE_CONSUMER_NAME') === '')
      problems.push(
        'SOURCE_CONSUMER_NAME: required when KAFKA_EXACTLY_ONCE=true (the transactional.id is derived from it and must stay the same across restarts), e.g. SOURCE_CONSUMER_NAME=edge-1',
      );
    const why = checkTopicName(v.get('KAFKA_PROGRESS_TOPIC') as string);
    if (why)
      problems.push(`KAFKA_PROGRESS_TOPIC: "${String(v.get('KAFKA_PROGRESS_TOPIC'))}" is not a valid topic: ${why}`);
  }
  if ((v.get('SYNC_RETRY_MAX_MS') as number) < (v.get('SYNC_RETRY_BASE_MS') as number)) {
    problems.push('SYNC_RETRY_MAX_MS: must be >= SYNC_RETRY_BASE_MS');
  }
  return problems;
}

/**
 * How each Redis is reached: host/port, or Sentinels. Exclusive: `*_REDIS_HOST`/`PORT` set
 * explicitly next to `*_REDIS_SENTINELS` is an error, not a silent preference.
 */
export function topologyChecks(v: Map<string, unknown>, explicit: ReadonlySet<string>): string[] {
  const problems: string[] = [];
  for (const role of ['SOURCE', 'TARGET'] as const) {
    const sentinels = v.get(`${role}_REDIS_SENTINELS`) as string[] | undefined;
    if (sentinels === undefined) continue;
    const direct = [`${role}_REDIS_HOST`, `${role}_REDIS_PORT`].filter((n) => explicit.has(n));
    if (sentinels.length === 0) {
      if (explicit.has(`${role}_REDIS_SENTINEL_MASTER`) && v.get(`${role}_REDIS_SENTINEL_MASTER`) !== '')
        problems.push(`${role}_REDIS_SENTINEL_MASTER: set without ${role}_REDIS_SENTINELS (the Sentinels to ask)`);
      continue;
    }
    if (direct.length > 0)
      problems.push(
        `${role}_REDIS_SENTINELS and ${direct.join('/')}: set one or the other (with Sentinels the master's address is asked of them)`,
      );
    for (const s of sentinels)
      if (typeof parseHostPort(s) === 'string')
        problems.push(`${role}_REDIS_SENTINELS: "${s}" is not host:port (e.g. 10.0.0.5:26379)`);
    if (v.get(`${role}_REDIS_SENTINEL_MASTER`) === '')
      problems.push(
        `${role}_REDIS_SENTINEL_MASTER: required with ${role}_REDIS_SENTINELS (the name the Sentinels monitor, e.g. mymaster)`,
      );
  }
  const seeds = v.get('TARGET_REDIS_CLUSTER_NODES') as string[] | undefined;
  if (seeds !== undefined && seeds.length > 0) {
    const direct = ['TARGET_REDIS_HOST', 'TARGET_REDIS_PORT'].filter((n) => explicit.has(n));
    if (direct.length > 0)
      problems.push(
        `TARGET_REDIS_CLUSTER_NODES and ${direct.join('/')}: set one or the other (the cluster's nodes are discovered from the seeds)`,
      );
    if (((v.get('TARGET_REDIS_SENTINELS') as string[] | undefined) ?? []).length > 0)
      problems.push(
        'TARGET_REDIS_CLUSTER_NODES and TARGET_REDIS_SENTINELS: a target is a cluster or behind Sentinels, not both',
      );
    for (const s of seeds)
      if (typeof parseHostPort(s) === 'string')
        problems.push(`TARGET_REDIS_CLUSTER_NODES: "${s}" is not host:port (e.g. 10.0.0.5:6379)`);
    if (explicit.has('TARGET_REDIS_DB') && v.get('TARGET_REDIS_DB') !== 0)
      problems.push('TARGET_REDIS_DB: a Redis Cluster has only DB 0; leave it unset with TARGET_REDIS_CLUSTER_NODES');
    if (/[{}]/.test((v.get('TARGET_REDIS_KEY_PREFIX') as string | undefined) ?? ''))
      problems.push(
        'TARGET_REDIS_KEY_PREFIX: must not contain "{" or "}" with TARGET_REDIS_CLUSTER_NODES (the cluster layout puts a hash tag after the prefix)',
      );
  }
  if ((v.get('SOURCE_REDIS_SENTINELS') as string[] | undefined)?.length && v.get('KEY_SYNC_ENABLED') === true) {
    problems.push(
      'KEY_SYNC_ENABLED=true with SOURCE_REDIS_SENTINELS: key capture (keyspace notifications) does not follow a Sentinel failover yet; use host/port for the source or turn key capture off',
    );
  }
  return problems;
}

/** "host:port" or "[v6]:port"; a string is what is wrong. */
export function parseHostPort(text: string): HostPort | string {
  const m = /^(?:\[([0-9a-fA-F:.]+)\]|([^:\s[\]]+)):(\d{1,5})$/.exec(text.trim());
  const port = Number(m?.[3]);
  if (!m || port < 1 || port > 65535) return `"${text}" is not host:port`;
  return { host: (m[1] ?? m[2]) as string, port };
}

/** "host:port", "[::1]:port" or "off" (undefined); a string is what is wrong. */
export function parseHttpAddress(text: string): { host: string; port: number } | undefined | string {
  const t = text.trim();
  if (t.toLowerCase() === 'off') return undefined;
  const m = /^(?:\[([0-9a-fA-F:.]+)\]|([^:\s[\]]+)):(\d{1,5})$/.exec(t);
  const port = Number(m?.[3]);
  if (!m || port > 65535) return `"${text}" is not host:port (e.g. 127.0.0.1:9464, 0.0.0.0:9464, [::1]:9464) or "off"`;
  return { host: (m[1] ?? m[2]) as string, port };
}
