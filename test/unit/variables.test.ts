import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { loadConfig } from '../../src/config/config.js';
import { FIELDS } from '../../src/config/schema.js';
import { closestVariable, editDistance, SERVICE_PREFIXES } from '../../src/config/variables.js';
import { ConfigError } from '../../src/errors.js';

function confFile(text: string): string {
  const file = join(mkdtempSync(join(tmpdir(), 'rks-vars-')), 'env.conf');
  writeFileSync(file, text);
  return file;
}

function warningsOf(options: Parameters<typeof loadConfig>[0]): string[] {
  const out: string[] = [];
  loadConfig({ ...options, onWarning: (w) => out.push(w) });
  return out;
}

describe('unknown variables', () => {
  it('measures edit distance with a swap of two neighbours as one edit', () => {
    assert.equal(editDistance('SOURCE_REDIS_PROT', 'SOURCE_REDIS_PORT'), 1);
    assert.equal(editDistance('KAFKA_TOPICS', 'KAFKA_TOPIC'), 1);
    assert.equal(editDistance('abc', 'abc'), 0);
    assert.equal(editDistance('', 'abc'), 3);
    assert.equal(editDistance('kitten', 'sitting'), 3);
  });

  it('suggests the closest known variable, including the _FILE variant of a secret', () => {
    assert.equal(closestVariable('SOURCE_REDIS_PROT').name, 'SOURCE_REDIS_PORT');
    assert.equal(closestVariable('KAFKA_BOOTSTRAP_SERVER').name, 'KAFKA_BOOTSTRAP_SERVERS');
    assert.equal(closestVariable('SYNC_RETRY_BASE').name, 'SYNC_RETRY_BASE_MS');
    assert.equal(closestVariable('TARGET_REDIS_PASSWORD_FIEL').name, 'TARGET_REDIS_PASSWORD_FILE');
    assert.equal(closestVariable('source_redis_port').name, 'SOURCE_REDIS_PORT', 'case does not count');
  });

  it('derives the service prefixes from the schema', () => {
    assert.deepEqual([...SERVICE_PREFIXES].sort(), [
      'HTTP_',
      'KAFKA_',
      'KEY_',
      'LOG_',
      'SOURCE_',
      'STREAM_',
      'SYNC_',
      'TARGET_',
    ]);
    for (const f of FIELDS)
      assert.ok(
        SERVICE_PREFIXES.some((p) => f.env.startsWith(p)),
        f.env,
      );
  });

  it('warns about a misspelled variable of env.conf, naming it, the file and the closest known one, and still loads', () => {
    const file = confFile('SOURCE_REDIS_PROT=6380\nKAFKA_TOPIC=t\n');
    const warnings = warningsOf({ configFile: file, env: {} });
    assert.equal(warnings.length, 1);
    assert.match(
      warnings[0] ?? '',
      /^SOURCE_REDIS_PROT \(in .*env\.conf\) is not a known variable \(ignored\); did you mean SOURCE_REDIS_PORT\?/,
    );
  });

  it('warns about environment variables with a service prefix that no schema field has, and only those', () => {
    const env = {
      SYNC_RETRY_BASE: '5',
      KAFKA_TOPICS: 'x',
      KAFKA_TOPIC: 'fine',
      TARGET_REDIS_PASSWORD_FILE: '/dev/null',
      RKS_STACK_DIR: '/tmp/x',
      RKS_STACK_PORT_OFFSET: '4000',
      RKS_KAFKA_AUTO_CREATE: 'false',
      PATH: '/usr/bin',
      HTTP_PROXY: 'http://proxy:3128',
      KAFKA_HEAP_OPTS: '-Xmx1G',
      SOURCE_REDIS_PUBLISHED_PORT: '6379',
    };
    const warnings = warningsOf({ configFile: null, env });
    assert.deepEqual(
      warnings.map((w) => w.split(' ')[0]),
      ['SYNC_RETRY_BASE', 'KAFKA_TOPICS'],
      warnings.join('\n'),
    );
    assert.match(warnings[0] ?? '', /\(in the environment\).*did you mean SYNC_RETRY_BASE_MS\?/);
    assert.match(warnings[1] ?? '', /did you mean KAFKA_TOPIC\?/);
  });

  it('names the closest variable even when nothing is close, and treats a _FILE of a non-secret as unknown', () => {
    const [far, file] = warningsOf({ configFile: null, env: { KAFKA_ZZZZZZZZZZZZZZZZ: '1', KAFKA_TOPIC_FILE: '/x' } });
    assert.match(far ?? '', /no known variable is close \(the closest is [A-Z_]+\)/);
    assert.match(
      file ?? '',
      /^KAFKA_TOPIC_FILE .*only secret variables may be read from a <VAR>_FILE: set KAFKA_TOPIC itself/,
    );
  });

  it('strict: every unknown variable is a problem of the ConfigError (and no warning)', () => {
    const file = confFile('SOURCE_REDIS_PROT=6380\n');
    const warnings: string[] = [];
    assert.throws(
      () =>
        loadConfig({ configFile: file, env: { LOG_LEVL: 'debug' }, strict: true, onWarning: (w) => warnings.push(w) }),
      (err: unknown) =>
        err instanceof ConfigError &&
        err.problems.length === 2 &&
        err.problems.some((p) => /^SOURCE_REDIS_PROT .*did you mean SOURCE_REDIS_PORT\?/.test(p)) &&
        err.problems.some((p) => /^LOG_LEVL \(in the environment\).*did you mean LOG_LEVEL\?/.test(p)),
    );
    assert.deepEqual(warnings, []);
    assert.doesNotThrow(() => loadConfig({ configFile: null, env: { KAFKA_TOPIC: 't' }, strict: true }));
  });

  it('suggests the closest variable for an unknown --set too', () => {
    assert.throws(
      () => loadConfig({ configFile: null, env: {}, overrides: { KAFKA_TOPICS: 'x' } }),
      (err: unknown) =>
        err instanceof ConfigError &&
        err.problems.some((p) => /^KAFKA_TOPICS: unknown variable; did you mean KAFKA_TOPIC\?/.test(p)),
    );
  });
});
