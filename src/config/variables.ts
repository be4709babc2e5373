/**
 * Which variable names the service knows, and the known name closest to one it does not: a
 * misspelled variable (`SOURCE_REDIS_PROT=6380`) is told, not silently ignored.
 *
 * Known: every schema variable, and `<VAR>_FILE` of the secret ones. Checked: every variable of
 * env.conf (the file holds only this service's configuration), and the variables of the process
 * environment that start with one of the service's prefixes (the first word of the schema's names:
 * SOURCE_, TARGET_, STREAM_, KEY_, KAFKA_, SYNC_, LOG_, HTTP_), except the few with such a prefix
 * that belong to something else (FOREIGN). The project's own non-schema variables (RKS_STACK_DIR,
 * RKS_STACK_PORT_OFFSET, RKS_KAFKA_AUTO_CREATE, RKS_CACHE_DIR, JAVA_HOME, XDG_CACHE_HOME) have none
 * of these prefixes.
 */
import { FIELDS } from './schema.js';

/** Every name the configuration reads. */
export const KNOWN_VARIABLES: ReadonlySet<string> = new Set(
  FIELDS.flatMap((f) => (f.secret ? [f.env, `${f.env}_FILE`] : [f.env])),
);

/** The service's prefixes, derived from the schema. */
export const SERVICE_PREFIXES: readonly string[] = [...new Set(FIELDS.map((f) => f.env.replace(/_.*$/, '_')))];

/** Variables with a service prefix that are not the service's, so never reported. */
const FOREIGN: ReadonlySet<string> = new Set([
  // docker/docker-compose.no_swarm.yml: interpolated by docker-compose from the caller's environment
  'SOURCE_REDIS_PUBLISHED_PORT',
  'KAFKA_PUBLISHED_PORT',
  // the proxy convention of curl, wget and most HTTP clients
  'HTTP_PROXY',
  // Apache Kafka's own scripts (bin/kafka-*.sh), often set on machines running Kafka tools
  'KAFKA_HOME',
  'KAFKA_OPTS',
  'KAFKA_HEAP_OPTS',
  'KAFKA_LOG4J_OPTS',
  'KAFKA_JVM_PERFORMANCE_OPTS',
]);

/** True for an environment variable that looks like the service's but is not one of its variables. */
export function looksLikeOurs(name: string): boolean {
  return !KNOWN_VARIABLES.has(name) && !FOREIGN.has(name) && SERVICE_PREFIXES.some((p) => name.startsWith(p));
}

/**
 * Edit distance of two names: insertions, deletions, substitutions and swaps of two adjacent
 * characters cost 1 each (optimal string alignment), so PROT -> PORT is 1.
 */
export function editDistance(a: string, b: string): number {
  const rows: number[][] = Array.from({ length: a.length + 1 }, (_, i) =>
    Array.from({ length: b.length + 1 }, (_, j) => (i === 0 ? j : j === 0 ? i : 0)),
  );
  const at = (i: number, j: number): number => rows[i]?.[j] ?? 0;
  for (let i = 1; i <= a.length; i += 1) {
    for (let j = 1; j <= b.length; j += 1) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      let d = Math.min(at(i - 1, j) + 1, at(i, j - 1) + 1, at(i - 1, j - 1) + cost);
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) d = Math.min(d, at(i - 2, j - 2) + 1);
      (rows[i] as number[])[j] = d;
    }
  }
  return at(a.length, b.length);
}

/** The known variable closest to `name` (the first in schema order among equals). */
export function closestVariable(name: string): { readonly name: string; readonly distance: number } {
  let best = { name: '', distance: Infinity };
  for (const known of KNOWN_VARIABLES) {
    const distance = editDistance(name.toUpperCase(), known);
    if (distance < best.distance) best = { name: known, distance };
  }
  return best;
}

/** "did you mean X?", or the closest name when none is close. */
export function suggestion(name: string): string {
  const base = name.replace(/_FILE$/, '');
  if (base !== name && KNOWN_VARIABLES.has(base))
    return `only secret variables may be read from a <VAR>_FILE: set ${base} itself.`;
  const { name: closest, distance } = closestVariable(name);
  return distance <= Math.max(2, Math.round(name.length / 5))
    ? `did you mean ${closest}?`
    : `no known variable is close (the closest is ${closest}).`;
}

/** The warning (`ignored`) or the problem (strict) for an unknown variable found in `where`. */
export function unknownVariableMessage(name: string, where: string, ignored: boolean): string {
  return `${name} (${where}) is not a known variable${ignored ? ' (ignored)' : ''}; ${suggestion(name)} See 'redis-kafka-sync config --list'.`;
}
