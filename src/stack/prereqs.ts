/**
 * Checks that the programs the sandbox runs are installed: Java >= 17 (Kafka 4.x), Maven (only
 * while the Kafka jars are not cached yet), redis-server, openssl (only while certificates are
 * missing).
 *
 * When something is missing and we are root on a Debian-like system, the missing packages are
 * installed with apt-get (CI machines start bare); otherwise we fail with ONE line naming what
 * to install, as a PrerequisiteError. `apt-get update` runs only if the first install fails,
 * because it is slow and usually not needed on a machine whose lists are fresh.
 */
import { PrerequisiteError } from '../errors.js';
import { runCommand, type CommandResult } from './process.js';

export type Prerequisite = 'java' | 'mvn' | 'redis-server' | 'openssl';

const MIN_JAVA = 17;

const DEBIAN_PACKAGES: Record<Prerequisite, string> = {
  java: 'openjdk-17-jre-headless',
  mvn: 'maven',
  'redis-server': 'redis-server',
  openssl: 'openssl',
};

/** The java binary to run: $JAVA_HOME/bin/java when set, else java from PATH. */
export function javaCommand(): string {
  const home = process.env['JAVA_HOME'];
  return home ? `${home.replace(/\/$/, '')}/bin/java` : 'java';
}

/** Java's major version from `java -version` ("1.8.0_392" is 8, "17.0.15" is 17). */
export function parseJavaMajor(versionOutput: string): number | undefined {
  const match = /version "(\d+)(?:\.(\d+))?/.exec(versionOutput);
  if (match?.[1] === undefined) return undefined;
  const first = Number(match[1]);
  return first === 1 && match[2] !== undefined ? Number(match[2]) : first;
}

function failure(program: string, flag: string, result: CommandResult): string {
  const code = (result.error as NodeJS.ErrnoException | undefined)?.code;
  if (code === 'ENOENT') return `${program} not found`;
  return `'${program} ${flag}' failed (${code ?? `exit ${result.status}`})`;
}

/** A problem with one prerequisite, or undefined when it is fine. */
async function problemWith(tool: Prerequisite): Promise<string | undefined> {
  if (tool === 'java') {
    const java = javaCommand();
    const result = await runCommand(java, ['-version']);
    if (result.error !== undefined || result.status !== 0) return failure(java, '-version', result);
    const major = parseJavaMajor(result.stderr + result.stdout);
    if (major === undefined) return `could not read the version of ${java}`;
    if (major < MIN_JAVA) return `${java} is Java ${major} but Kafka 4 needs Java >= ${MIN_JAVA}`;
    return undefined;
  }
  const versionFlag: Record<Exclude<Prerequisite, 'java'>, string> = {
    mvn: '--version',
    'redis-server': '--version',
    openssl: 'version',
  };
  const result = await runCommand(tool, [versionFlag[tool]]);
  return result.error !== undefined || result.status !== 0 ? failure(tool, versionFlag[tool], result) : undefined;
}

async function problems(tools: readonly Prerequisite[]): Promise<Map<Prerequisite, string>> {
  const found = new Map<Prerequisite, string>();
  for (const tool of tools) {
    const problem = await problemWith(tool);
    if (problem !== undefined) found.set(tool, problem);
  }
  return found;
}

async function canAptInstall(): Promise<boolean> {
  if (process.getuid?.() !== 0) return false;
  const probe = await runCommand('apt-get', ['--version']);
  return probe.error === undefined && probe.status === 0;
}

async function aptInstall(packages: readonly string[]): Promise<boolean> {
  const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
  const install = (): Promise<{ status: number | null }> =>
    runCommand('apt-get', ['install', '-y', '--no-install-recommends', ...packages], {
      env,
      inherit: true,
    });
  if ((await install()).status === 0) return true;
  await runCommand('apt-get', ['update'], { env, inherit: true });
  return (await install()).status === 0;
}

/**
 * Ensure every tool in `tools` works, installing missing ones with apt-get when allowed.
 * Throws PrerequisiteError with one line naming the packages to install.
 */
export async function ensurePrerequisites(tools: readonly Prerequisite[], log: (line: string) => void): Promise<void> {
  let missing = await problems(tools);
  if (missing.size === 0) return;
  const packages = [...missing.keys()].map((tool) => DEBIAN_PACKAGES[tool]);
  if (await canAptInstall()) {
    log(`installing ${packages.join(' ')} with apt-get (${[...missing.values()].join('; ')})`);
    await aptInstall(packages);
    missing = await problems([...missing.keys()]);
    if (missing.size === 0) return;
  }
  const what = [...missing.values()].join('; ');
  const pkgs = [...missing.keys()].map((tool) => DEBIAN_PACKAGES[tool]).join(' ');
  const sudo = process.getuid?.() === 0 ? '' : 'sudo ';
  const it = missing.size === 1 ? 'it' : 'them';
  const javaHint = missing.has('java') ? ' (or point JAVA_HOME at a Java >= 17)' : '';
  throw new PrerequisiteError(`${what}: install ${it} with '${sudo}apt-get install ${pkgs}'${javaHint}`);
}
