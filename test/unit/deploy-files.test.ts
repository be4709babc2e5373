/**
 * The deployment files, checked without a Docker engine: both compose files are normalised by
 * `docker-compose config` (v1, Debian package docker-compose; scripts/setup.sh installs it) and
 * asserted on; the Dockerfile is parsed into stages and instructions.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { defaultComposeFile, defaultSwarmFile } from '../../src/cli/manage.js';
import { loadConfig } from '../../src/config/config.js';
import { FIELD_BY_ENV } from '../../src/config/schema.js';
import { repoRoot } from '../../src/stack/paths.js';

const ROOT = repoRoot();
const DOCKERFILE = join(ROOT, 'docker', 'Dockerfile');
const BUILD_ONLY_PACKAGES = ['build-essential', 'python3', 'libssl-dev', 'zlib1g-dev', 'libzstd-dev'];

// ---------------------------------------------------------------------------- compose files

interface HealthCheck {
  test: string[] | string;
}
interface Service {
  image?: string;
  network_mode?: string;
  build?: { context: string; dockerfile: string; network?: string; args?: Record<string, string> };
  command?: string[];
  environment?: Record<string, string | number | null>;
  healthcheck?: HealthCheck;
  volumes?: string[];
  depends_on?: Record<string, { condition: string }>;
  secrets?: { source: string; target?: string }[];
  deploy?: {
    replicas?: number;
    update_config?: Record<string, unknown>;
    rollback_config?: Record<string, unknown>;
  };
}
interface ComposeModel {
  services: Record<string, Service>;
  volumes?: Record<string, unknown>;
  secrets?: Record<string, { external?: boolean; file?: string }>;
}

/** `docker-compose -f FILE config`, with a clean environment so only the files' defaults apply. */
function composeConfig(file: string): { model: ComposeModel; stderr: string } {
  const env = { PATH: process.env['PATH'] ?? '/usr/bin:/bin', HOME: tmpdir() };
  const r = spawnSync('docker-compose', ['-f', file, 'config'], { encoding: 'utf8', env });
  if (r.error !== undefined) {
    assert.fail(
      `docker-compose could not be run (${r.error.message}): install it with 'apt-get install docker-compose' or scripts/setup.sh`,
    );
  }
  assert.equal(r.status, 0, `docker-compose -f ${file} config failed:\n${r.stderr}`);
  // docker-compose depends on python3-yaml, so the YAML parser is there whenever it is.
  const json = spawnSync(
    'python3',
    ['-c', 'import json, sys, yaml; json.dump(yaml.safe_load(sys.stdin), sys.stdout)'],
    { input: r.stdout, encoding: 'utf8' },
  );
  assert.equal(json.status, 0, `could not parse the normalised YAML: ${json.stderr}`);
  return { model: JSON.parse(json.stdout) as ComposeModel, stderr: r.stderr };
}

function service(model: ComposeModel, name: string): Service {
  const s = model.services[name];
  assert.ok(s, `service ${name} exists (services: ${Object.keys(model.services).join(', ')})`);
  return s;
}

function env(s: Service): Record<string, string> {
  return Object.fromEntries(Object.entries(s.environment ?? {}).map(([k, v]) => [k, v === null ? '' : String(v)]));
}

/** Variables the service reads: the schema's and `<secret>_FILE`. */
function assertKnownVariables(vars: Record<string, string>): void {
  for (const name of Object.keys(vars)) {
    const fileOf = name.endsWith('_FILE') ? FIELD_BY_ENV.get(name.slice(0, -'_FILE'.length)) : undefined;
    const known = FIELD_BY_ENV.has(name) || fileOf?.secret === true;
    assert.ok(known, `${name} is not a configuration variable of the service (typo?)`);
  }
}

/** loadConfig must accept the service's environment; files under /run/secrets are stand-ins. */
function assertValidConfig(vars: Record<string, string>, dir: string): void {
  const local: Record<string, string> = {};
  for (const [k, v] of Object.entries(vars)) {
    if (v.startsWith('/run/secrets/')) {
      const file = join(dir, v.slice('/run/secrets/'.length));
      // Only existence is checked by loadConfig; the CA's content matters at connect time.
      writeFileSync(file, k.endsWith('_FILE') ? 'a-secret\n' : 'stand-in for a PEM file\n');
      local[k] = file;
    } else {
      local[k] = v;
    }
  }
  const emptyConfFile = join(dir, 'empty.env.conf'); // not the repository's env.conf
  writeFileSync(emptyConfFile, '');
  const cfg = loadConfig({ configFile: emptyConfFile, env: local });
  assert.ok(cfg.source.consumerName !== '');
}

describe('docker/docker-compose.no_swarm.yml', () => {
  let model: ComposeModel;
  let dir: string;
  before(() => {
    const r = composeConfig(join(ROOT, 'docker', 'docker-compose.no_swarm.yml'));
    model = r.model;
    assert.doesNotMatch(r.stderr, /WARN|ERROR/i, 'docker-compose config prints no warnings');
    dir = mkdtempSync(join(tmpdir(), 'rks-compose-test-'));
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  it('is the file `manage compose` uses', () => {
    assert.equal(defaultComposeFile(), join(ROOT, 'docker', 'docker-compose.no_swarm.yml'));
  });

  it('runs every service on the host network, listening on 127.0.0.1 only', () => {
    for (const name of ['source-redis', 'target-redis', 'kafka', 'redis-kafka-sync']) {
      assert.equal(service(model, name).network_mode, 'host', `${name} uses the host network`);
      assert.equal((service(model, name) as { ports?: unknown }).ports, undefined, `${name} publishes no ports`);
    }
    for (const name of ['source-redis', 'target-redis']) {
      assert.match((service(model, name).command ?? []).join(' '), /--bind 127\.0\.0\.1 --port \d+/);
    }
    const k = env(service(model, 'kafka'));
    for (const listener of (k['KAFKA_LISTENERS'] ?? '').split(','))
      assert.match(listener, /^\w+:\/\/127\.0\.0\.1:\d+$/);
    assert.equal(service(model, 'redis-kafka-sync').build?.network, 'host', 'the build uses the host network too');
  });

  it('runs a source Redis, a target Redis, a KRaft Kafka from apache/kafka and the service, each with a healthcheck', () => {
    for (const name of ['source-redis', 'target-redis', 'kafka', 'redis-kafka-sync']) {
      const hc = service(model, name).healthcheck;
      assert.ok(hc !== undefined && hc.test.length > 0, `${name} has a healthcheck`);
    }
    const kafka = service(model, 'kafka');
    assert.match(kafka.image ?? '', /^apache\/kafka:/);
    const k = env(kafka);
    assert.equal(k['KAFKA_PROCESS_ROLES'], 'broker,controller', 'one node in KRaft mode');
    assert.match(k['KAFKA_CONTROLLER_QUORUM_VOTERS'] ?? '', /^1@127\.0\.0\.1:9093$/);
    assert.ok((k['CLUSTER_ID'] ?? '').length >= 22, 'a fixed cluster id, so the volume is formatted once');
  });

  it('keeps the target Redis buffer in an AOF fsynced every second, on a named volume', () => {
    const target = service(model, 'target-redis');
    const cmd = (target.command ?? []).join(' ');
    assert.match(cmd, /--appendonly yes/);
    assert.match(cmd, /--appendfsync everysec/);
    assert.match(cmd, /--maxmemory-policy noeviction/, 'a full buffer refuses writes instead of evicting messages');
    for (const name of ['source-redis', 'target-redis', 'kafka']) {
      const named = (service(model, name).volumes ?? []).map((v) => v.split(':')[0] ?? '');
      assert.ok(named.length > 0, `${name} mounts a volume`);
      for (const volume of named) assert.ok(model.volumes?.[volume] !== undefined, `${volume} is a named volume`);
    }
  });

  it('starts the service from docker/Dockerfile only once Redis and Kafka are healthy', () => {
    const rks = service(model, 'redis-kafka-sync');
    assert.equal(rks.build?.dockerfile, 'docker/Dockerfile');
    assert.equal(rks.build?.context, ROOT);
    assert.equal(rks.build?.args?.['BASE_IMAGE'], 'node:24-bookworm-slim');
    assert.deepEqual(rks.depends_on, {
      'source-redis': { condition: 'service_healthy' },
      'target-redis': { condition: 'service_healthy' },
      kafka: { condition: 'service_healthy' },
    });
  });

  it('gives the service an environment of known, valid variables pointing at the compose services', () => {
    const vars = env(service(model, 'redis-kafka-sync'));
    assertKnownVariables(vars);
    assert.equal(vars['HTTP_ADDRESS'], '127.0.0.1:9464');
    assert.equal(vars['SOURCE_REDIS_HOST'], '127.0.0.1');
    assert.equal(vars['SOURCE_REDIS_PORT'], '6379');
    assert.equal(vars['TARGET_REDIS_HOST'], '127.0.0.1');
    assert.equal(vars['TARGET_REDIS_PORT'], '6380');
    assert.equal(vars['KAFKA_BOOTSTRAP_SERVERS'], '127.0.0.1:9092');
    assertValidConfig(vars, dir);
  });
});

describe('docker/docker-compose.swarm.yml', () => {
  let model: ComposeModel;
  let rks: Service;
  let dir: string;
  before(() => {
    const r = composeConfig(join(ROOT, 'docker', 'docker-compose.swarm.yml'));
    model = r.model;
    assert.doesNotMatch(r.stderr, /ERROR/i);
    rks = service(model, 'redis-kafka-sync');
    dir = mkdtempSync(join(tmpdir(), 'rks-swarm-test-'));
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  it('is the file `manage swarm` deploys', () => {
    assert.equal(defaultSwarmFile(), join(ROOT, 'docker', 'docker-compose.swarm.yml'));
  });

  it('runs at least two replicas sharing one consumer group under names unique per task slot', () => {
    assert.ok((rks.deploy?.replicas ?? 0) >= 2, `replicas: ${String(rks.deploy?.replicas)}`);
    const vars = env(rks);
    assert.equal(vars['SOURCE_CONSUMER_GROUP'], 'redis-kafka-sync');
    const name = vars['SOURCE_CONSUMER_NAME'] ?? '';
    assert.ok(
      name === '' || name.includes('{{.Task.Slot}}'),
      `SOURCE_CONSUMER_NAME must differ per replica: {{.Task.Slot}} or empty, got "${name}"`,
    );
  });

  it('reads every password from a mounted Docker secret through <VAR>_FILE, never from a plain variable', () => {
    const vars = env(rks);
    const mounted = new Map((rks.secrets ?? []).map((s) => [s.target ?? s.source, s.source]));
    for (const name of [
      'SOURCE_REDIS_PASSWORD',
      'TARGET_REDIS_PASSWORD',
      'KAFKA_SASL_PASSWORD',
      'KAFKA_SSL_KEY_PASSWORD',
    ]) {
      assert.equal(vars[name], undefined, `${name} is not set in clear`);
      const file = vars[`${name}_FILE`] ?? '';
      const match = /^\/run\/secrets\/(.+)$/.exec(file);
      assert.ok(match?.[1] !== undefined, `${name}_FILE points into /run/secrets (got "${file}")`);
      const source = mounted.get(match[1]);
      assert.ok(source !== undefined, `secret ${match[1]} is mounted into the service`);
      assert.ok(model.secrets?.[source] !== undefined, `secret ${source} is declared at the top level`);
    }
  });

  it('updates one replica at a time with rollback on failure, and has a rollback policy', () => {
    const update = rks.deploy?.update_config ?? {};
    assert.equal(update['parallelism'], 1);
    assert.equal(update['failure_action'], 'rollback');
    assert.equal(update['order'], 'stop-first', 'two tasks of one slot never share a consumer name');
    const rollback = rks.deploy?.rollback_config ?? {};
    assert.equal(rollback['parallelism'], 1);
    assert.ok(rollback['failure_action'] !== undefined);
    assert.ok(rks.healthcheck !== undefined, 'updates wait for healthy tasks');
  });

  it('gives the service an environment of known variables that loadConfig accepts once the secrets exist', () => {
    const vars = env(rks);
    assertKnownVariables(vars);
    assert.equal(vars['HTTP_ADDRESS'], '0.0.0.0:9464');
    assertValidConfig(vars, dir);
  });
});

// ---------------------------------------------------------------------------- Dockerfile

interface Instruction {
  keyword: string;
  args: string;
}
interface Stage {
  from: string;
  name: string | undefined;
  instructions: Instruction[];
}

/** Instructions grouped by stage; comments dropped, `\` continuations joined. */
function parseDockerfile(text: string): Stage[] {
  const logical: string[] = [];
  let pending = '';
  for (const raw of text.split('\n')) {
    const line = raw.trim();
    if (pending === '' && (line === '' || line.startsWith('#'))) continue;
    if (line.startsWith('#')) continue;
    if (line.endsWith('\\')) {
      pending += `${line.slice(0, -1)} `;
      continue;
    }
    logical.push(pending + line);
    pending = '';
  }
  const stages: Stage[] = [];
  for (const line of logical) {
    const m = /^(\S+)\s*(.*)$/.exec(line);
    if (!m) continue;
    const keyword = (m[1] ?? '').toUpperCase();
    const args = (m[2] ?? '').replace(/\s+/g, ' ').trim();
    if (keyword === 'FROM') {
      const from = /^(?:--\S+\s+)*(\S+)(?:\s+AS\s+(\S+))?$/i.exec(args);
      stages.push({ from: from?.[1] ?? args, name: from?.[2], instructions: [] });
    } else if (stages.length > 0) {
      stages[stages.length - 1]?.instructions.push({ keyword, args });
    }
  }
  return stages;
}

describe('docker/Dockerfile', () => {
  const text = readFileSync(DOCKERFILE, 'utf8');
  const stages = parseDockerfile(text);
  const build = stages[0];
  const runtime = stages[stages.length - 1];
  const all = (s: Stage | undefined, keyword: string): string[] =>
    (s?.instructions ?? []).filter((i) => i.keyword === keyword).map((i) => i.args);

  it('has a build stage and a runtime stage, both on BASE_IMAGE, by default node:24-bookworm-slim', () => {
    assert.equal(stages.length, 2);
    assert.equal(build?.name, 'build');
    assert.equal(build?.from, '${BASE_IMAGE}');
    assert.equal(runtime?.from, '${BASE_IMAGE}');
    assert.match(text, /^ARG BASE_IMAGE=node:24-bookworm-slim$/m, 'declared before the first FROM');
  });

  it('needs no BuildKit frontend image (no # syntax= line) and bakes no CA bundle into the final image', () => {
    assert.doesNotMatch(text, /^#\s*syntax=/m);
    assert.ok(!all(runtime, 'COPY').some((c) => /npm-ca/.test(c)));
    assert.match(all(build, 'RUN').join('\n'), /rm -rf \/tmp\/npm-ca \/tmp\/npm-ca\.pem/);
  });

  it('compiles in the build stage with native build tools, CKJS_LINKING=dynamic npm ci, npm run build, and prunes dev dependencies', () => {
    const runs = all(build, 'RUN').join('\n');
    for (const pkg of BUILD_ONLY_PACKAGES) assert.match(runs, new RegExp(`apt-get install[^\\n]*\\b${pkg}\\b`));
    assert.match(runs, /npm ci/);
    assert.ok(
      all(build, 'ENV').some((e) => /CKJS_LINKING=dynamic/.test(e) && /npm_config_nodedir=\/usr\/local/.test(e)),
    );
    assert.match(runs, /rm -rf deps src build\/Release\/obj\.target/, "librdkafka's sources and objects are dropped");
    assert.match(runs, /npm run build/);
    assert.match(runs, /npm prune --omit=dev/);
  });

  it('installs only runtime libraries in the runtime stage and copies the build from the build stage', () => {
    const runs = all(runtime, 'RUN').join('\n');
    for (const lib of ['libssl3', 'zlib1g', 'libzstd1'])
      assert.match(runs, new RegExp(`apt-get install[^\\n]*\\b${lib}\\b`));
    for (const pkg of BUILD_ONLY_PACKAGES) assert.doesNotMatch(runs, new RegExp(`\\b${pkg}\\b`), `${pkg} stays out`);
    assert.doesNotMatch(runs, /npm (ci|install)/, 'dependencies come built from the build stage');
    for (const copy of all(runtime, 'COPY')) assert.match(copy, /^--from=build /);
  });

  it('runs the daemon as a non-root user with a HEALTHCHECK on /healthz at the port of HTTP_ADDRESS', () => {
    const users = all(runtime, 'USER');
    assert.equal(users.length, 1);
    const user = (users[0] ?? '').split(':')[0] ?? '';
    assert.ok(!['', 'root', '0'].includes(user), `USER ${user} is not root`);
    const health = all(runtime, 'HEALTHCHECK');
    assert.equal(health.length, 1);
    assert.match(health[0] ?? '', /CMD \["node", "bin\/healthcheck\.js"\]/);
    assert.ok(all(runtime, 'ENV').some((e) => /HTTP_ADDRESS=0\.0\.0\.0:9464/.test(e)));
    // No V8 heap flag of its own: it would override SYNC_HEAP_SEMI_SPACE_MB (cli/heap-settings.ts).
    assert.ok(!all(runtime, 'ENV').some((e) => /max-semi-space-size/.test(e)));
    assert.deepEqual(JSON.parse(all(runtime, 'CMD')[0] ?? 'null'), ['node', 'bin/redis-kafka-sync.js', 'run']);
  });

  it('copies only files that exist and that .dockerignore lets into the build context', () => {
    const ignored = readFileSync(join(ROOT, '.dockerignore'), 'utf8')
      .split('\n')
      .map((l) => l.trim())
      .filter((l) => l !== '' && !l.startsWith('#'));
    for (const copy of all(build, 'COPY')) {
      const sources = copy.split(' ').slice(0, -1);
      for (const source of sources) {
        assert.ok(existsSync(join(ROOT, source)), `${source} exists`);
        const top = source.split('/')[0] ?? source;
        assert.ok(!ignored.includes(source) && !ignored.includes(top), `${source} is not in .dockerignore`);
      }
    }
    assert.ok(ignored.includes('env.conf') && ignored.includes('.stack'), 'local config and the sandbox stay out');
  });
});
