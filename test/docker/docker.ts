/**
 * Helpers of the docker tests (test/docker): the Docker CLI, the locally built stand-in images
 * (scripts/docker-standins.sh) and the service image built from docker/Dockerfile on them
 * (scripts/docker-build.sh).
 *
 * Every container uses the host network and listens on a port from STACK_PORTS.docker, so a
 * run never collides with another sandbox (RKS_STACK_PORT_OFFSET shifts them all).
 */
import { execFile, spawn } from 'node:child_process';
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { promisify } from 'node:util';
import { repoRoot } from '../../src/stack/paths.js';

const execFileP = promisify(execFile);
export const ROOT = repoRoot();
/** The image the tests build; one tag per port offset, so two checkouts never share it. */
export const APP_IMAGE = `rks-test/redis-kafka-sync:offset${process.env['RKS_STACK_PORT_OFFSET'] || '0'}`;
export const ARTIFACTS = join(ROOT, 'test-artifacts', 'docker');

export interface Run {
  stdout: string;
  stderr: string;
}

/** Runs a program to completion; throws with its stderr when it fails. */
export async function run(
  program: string,
  args: readonly string[],
  opts: { env?: NodeJS.ProcessEnv; timeoutMs?: number; input?: string; cwd?: string } = {},
): Promise<Run> {
  if (opts.input !== undefined) return runWithInput(program, args, opts.input, opts.env);
  try {
    const { stdout, stderr } = await execFileP(program, [...args], {
      cwd: opts.cwd ?? ROOT,
      env: opts.env ?? process.env,
      timeout: opts.timeoutMs ?? 120_000,
      maxBuffer: 64 * 1024 * 1024,
    });
    return { stdout, stderr };
  } catch (err) {
    const e = err as { stdout?: string; stderr?: string; message: string };
    const tail = `${e.stdout ?? ''}\n${e.stderr ?? ''}`.trim().split('\n').slice(-25).join('\n');
    throw new Error(`${program} ${args.join(' ')} failed: ${e.message.split('\n')[0]}\n${tail}`);
  }
}

function runWithInput(program: string, args: readonly string[], input: string, env?: NodeJS.ProcessEnv): Promise<Run> {
  return new Promise((resolve, reject) => {
    const child = spawn(program, [...args], { cwd: ROOT, env: env ?? process.env });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (c: Buffer) => (stdout += c.toString()));
    child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
    child.once('error', reject);
    child.once('close', (code) =>
      code === 0
        ? resolve({ stdout, stderr })
        : reject(new Error(`${program} ${args.join(' ')}: exit ${code}\n${stderr}`)),
    );
    child.stdin.end(input);
  });
}

export async function docker(
  args: readonly string[],
  opts: { timeoutMs?: number; input?: string } = {},
): Promise<string> {
  return (await run('docker', args, opts)).stdout.trim();
}

/** Why the docker tests cannot run here, or undefined when a Docker engine answers. */
export async function dockerSkipReason(): Promise<string | undefined> {
  try {
    await run('bash', ['scripts/dockerd.sh', 'check'], { timeoutMs: 30_000 });
    return undefined;
  } catch (err) {
    const lines = String((err as Error).message).split('\n');
    return lines[lines.length - 1] || 'no Docker engine';
  }
}

export interface Standins {
  NODE_IMAGE: string;
  REDIS_IMAGE: string;
  KAFKA_IMAGE: string;
}

/** Builds the stand-in images that are missing (once per machine) and returns their tags. */
export async function standins(which: 'node' | 'all'): Promise<Standins> {
  const { stdout } = await run('bash', ['scripts/docker-standins.sh', which], { timeoutMs: 15 * 60_000 });
  const tags = Object.fromEntries(
    stdout
      .split('\n')
      .map((l) => /^(\w+)=(\S+)$/.exec(l.trim()))
      .filter((m): m is RegExpExecArray => m !== null)
      .map((m) => [m[1], m[2]]),
  ) as unknown as Standins;
  return tags;
}

export interface BuiltImage {
  tag: string;
  base: string;
  seconds: number;
  bytes: number;
  baseBytes: number;
}

/**
 * Builds docker/Dockerfile on the stand-in base (layers are reused from an earlier build). With
 * `record`, its size and build time go to test-artifacts/docker/image.json.
 */
export async function buildAppImage(base: string, record = false): Promise<BuiltImage> {
  const started = Date.now();
  await run('bash', ['scripts/docker-build.sh', '-t', APP_IMAGE, '--build-arg', `BASE_IMAGE=${base}`], {
    timeoutMs: 20 * 60_000,
  });
  const seconds = (Date.now() - started) / 1000;
  const size = async (image: string): Promise<number> =>
    Number(await docker(['image', 'inspect', '-f', '{{.Size}}', image]));
  const built: BuiltImage = {
    tag: APP_IMAGE,
    base,
    seconds,
    bytes: await size(APP_IMAGE),
    baseBytes: await size(base),
  };
  if (record) {
    mkdirSync(ARTIFACTS, { recursive: true });
    writeFileSync(join(ARTIFACTS, 'image.json'), `${JSON.stringify(built, null, 2)}\n`);
  }
  return built;
}

/** Polls `check` until it returns a value other than undefined; throws `what` after timeoutMs. */
export async function waitFor<T>(
  what: string,
  check: () => Promise<T | undefined>,
  timeoutMs: number,
  everyMs = 500,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let lastError: unknown;
  for (;;) {
    try {
      const value = await check();
      if (value !== undefined) return value;
    } catch (err) {
      lastError = err;
    }
    if (Date.now() > deadline) {
      throw new Error(
        `timed out after ${timeoutMs / 1000} s waiting for ${what}${lastError ? `: ${String(lastError)}` : ''}`,
      );
    }
    await sleep(everyMs);
  }
}

/** A counter or gauge of a Prometheus text page, summed over its label sets. */
export function metricSum(page: string, name: string): number {
  let sum = 0;
  for (const line of page.split('\n')) {
    const m = new RegExp(`^${name}(?:\\{[^}]*\\})? (\\S+)$`).exec(line);
    if (m?.[1] !== undefined) sum += Number(m[1]);
  }
  return sum;
}

export async function fetchText(url: string): Promise<string | undefined> {
  try {
    const res = await fetch(url, { signal: AbortSignal.timeout(3000) });
    return res.ok ? await res.text() : undefined;
  } catch {
    return undefined;
  }
}

export const MB = 1024 * 1024;

/** The CA bundle npm uses here (as scripts/docker-build.sh finds it), or undefined. */
export async function npmCaFile(): Promise<string | undefined> {
  const { stdout } = await run('npm', ['config', 'get', 'cafile']).catch(() => ({ stdout: '' }));
  const configured = stdout.trim();
  const file = ['', 'null', 'undefined'].includes(configured) ? process.env['NODE_EXTRA_CA_CERTS'] : configured;
  return file !== undefined && file !== '' && existsSync(file) ? file : undefined;
}
