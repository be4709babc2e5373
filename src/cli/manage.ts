/**
 * `redis-kafka-sync manage`: the spec's management script. Start, stop and inspect the
 * containerised deployment with the Docker CLI:
 *   manage compose up|down|status            docker compose -f docker/docker-compose.no_swarm.yml ...
 *   manage swarm deploy|remove|status        docker stack ... (docker/docker-compose.swarm.yml)
 * `-f` may be repeated: later files override earlier ones (`-f docker/docker-compose.swarm.yml
 * -f my-site.yml`), as with docker compose and docker stack deploy themselves.
 *
 * Invariants:
 * - Every command is printed (`+ ...`, shell-quoted so it can be pasted) before it runs;
 *   `--dry-run` prints and runs nothing. The plan is a pure function of the options.
 * - Commands run in order with argument arrays (no shell), inheriting stdio; the first one that
 *   fails stops the rest and its exit code becomes ours (1 when docker cannot be started).
 */
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { Argument, type Command } from 'commander';
import { repoRoot } from '../stack/paths.js';

export type ComposeAction = 'up' | 'down' | 'status';
export type SwarmAction = 'deploy' | 'remove' | 'status';

export interface PlannedCommand {
  readonly argv: readonly string[];
  /** Variables set for this command only (shown before it when printed). */
  readonly env?: Readonly<Record<string, string>>;
}

export interface ComposePlanOptions {
  /** The compose file and its override files, in order. */
  readonly files: readonly string[];
  readonly projectName: string;
  /** The compose program: ['docker', 'compose'] (v2 plugin) or ['docker-compose'] (v1). */
  readonly composeCommand: readonly string[];
  /** `down` also deletes the named volumes (all buffered data). */
  readonly volumes?: boolean;
}

export interface SwarmPlanOptions {
  /** The stack file and its override files, in order. */
  readonly files: readonly string[];
  readonly stackName: string;
  /** Image the stack runs (RKS_IMAGE in the swarm file); the file's default when omitted. */
  readonly image?: string;
}

export const DEFAULT_PROJECT_NAME = 'redis-kafka-sync';
export const DEFAULT_STACK_NAME = 'redis-kafka-sync-stack';

export function defaultComposeFile(): string {
  return join(repoRoot(), 'docker', 'docker-compose.no_swarm.yml');
}

export function defaultSwarmFile(): string {
  return join(repoRoot(), 'docker', 'docker-compose.swarm.yml');
}

export function planCompose(action: ComposeAction, o: ComposePlanOptions): PlannedCommand[] {
  const base = [...o.composeCommand, ...o.files.flatMap((f) => ['-f', f]), '-p', o.projectName];
  switch (action) {
    case 'up':
      return [{ argv: [...base, 'up', '-d', '--build'] }];
    case 'down':
      return [{ argv: [...base, 'down', ...(o.volumes ? ['--volumes'] : [])] }];
    case 'status':
      return [{ argv: [...base, 'ps'] }];
  }
}

export function planSwarm(action: SwarmAction, o: SwarmPlanOptions): PlannedCommand[] {
  switch (action) {
    case 'deploy':
      return [
        {
          argv: [
            'docker',
            'stack',
            'deploy',
            ...o.files.flatMap((f) => ['--compose-file', f]),
            '--with-registry-auth',
            o.stackName,
          ],
          ...(o.image !== undefined ? { env: { RKS_IMAGE: o.image } } : {}),
        },
      ];
    case 'remove':
      return [{ argv: ['docker', 'stack', 'rm', o.stackName] }];
    case 'status':
      return [{ argv: ['docker', 'stack', 'services', o.stackName] }, { argv: ['docker', 'stack', 'ps', o.stackName] }];
  }
}

function quote(value: string): string {
  return /^[A-Za-z0-9_./:@%+,=-]+$/.test(value) ? value : `'${value.replace(/'/g, `'\\''`)}'`;
}

/** The command as one pasteable shell line, e.g. `RKS_IMAGE=x docker stack deploy ...`. */
export function formatCommand(c: PlannedCommand): string {
  const env = Object.entries(c.env ?? {}).map(([k, v]) => `${k}=${quote(v)}`);
  return [...env, ...c.argv.map(quote)].join(' ');
}

export interface ManageIo {
  readonly out: (line: string) => void;
  readonly err: (line: string) => void;
  /** Environment of the docker commands (default: this process's). */
  readonly env?: NodeJS.ProcessEnv;
  /** Receives the exit code of the whole action (default: sets process.exitCode). */
  readonly exit?: (code: number) => void;
}

const processIo: ManageIo = {
  out: (line) => process.stdout.write(`${line}\n`),
  err: (line) => process.stderr.write(`${line}\n`),
  exit: (code) => {
    process.exitCode = code;
  },
};

/** Prints and runs the commands in order; resolves with the exit code (0 when all succeeded). */
export async function runPlanned(commands: readonly PlannedCommand[], dryRun: boolean, io: ManageIo): Promise<number> {
  for (const c of commands) {
    io.out(`+ ${formatCommand(c)}`);
    if (dryRun) continue;
    const [program, ...args] = c.argv;
    if (program === undefined) continue;
    const result = await new Promise<{ code: number; error?: NodeJS.ErrnoException }>((resolve) => {
      const child = spawn(program, args, { stdio: 'inherit', env: { ...(io.env ?? process.env), ...c.env } });
      child.once('error', (error: NodeJS.ErrnoException) => resolve({ code: 1, error }));
      child.once('close', (code, signal) => resolve({ code: code ?? (signal ? 128 : 1) }));
    });
    if (result.error !== undefined) {
      io.err(
        result.error.code === 'ENOENT'
          ? `manage: ${program} is not installed or not on PATH: install Docker Engine with the compose plugin (https://docs.docker.com/engine/install/), or add --dry-run to only print the commands`
          : `manage: could not run ${program}: ${result.error.message}`,
      );
      return 1;
    }
    if (result.code !== 0) {
      io.err(`manage: '${formatCommand(c)}' failed with exit code ${result.code}; the remaining commands were not run`);
      return result.code;
    }
  }
  return 0;
}

interface ComposeFlags {
  readonly file: readonly string[];
  readonly projectName: string;
  readonly composeCommand: string;
  readonly volumes?: boolean;
  readonly dryRun?: boolean;
}

interface SwarmFlags {
  readonly file: readonly string[];
  readonly stackName: string;
  readonly image?: string;
  readonly dryRun?: boolean;
}

const collect = (value: string, previous: readonly string[]): string[] => [...previous, value];

export function registerManageCommand(program: Command, io: ManageIo = processIo): void {
  const manage = program
    .command('manage')
    .description('start, stop and inspect the Docker deployment (compose or swarm); prints each docker command');

  manage
    .command('compose')
    .description('single host: docker compose with docker/docker-compose.no_swarm.yml')
    .addArgument(
      new Argument('<action>', 'up: build and start; down: stop; status: list containers').choices([
        'up',
        'down',
        'status',
      ]),
    )
    .option(
      '-f, --file <path>',
      'compose file; repeat to add override files (default: docker/docker-compose.no_swarm.yml of this package)',
      collect,
      [],
    )
    .option('-p, --project-name <name>', 'compose project name', DEFAULT_PROJECT_NAME)
    .option(
      '--compose-command <command>',
      "compose program: 'docker compose' (v2) or 'docker-compose' (v1)",
      'docker compose',
    )
    .option('--volumes', 'with down: also delete the named volumes (all buffered messages!)')
    .option('--dry-run', 'print the commands without running them')
    .action(async (action: ComposeAction, flags: ComposeFlags) => {
      const commands = planCompose(action, {
        files: flags.file.length > 0 ? flags.file : [defaultComposeFile()],
        projectName: flags.projectName,
        composeCommand: flags.composeCommand.split(/\s+/).filter((s) => s !== ''),
        volumes: flags.volumes === true,
      });
      (io.exit ?? processIo.exit)?.(await runPlanned(commands, flags.dryRun === true, io));
    });

  manage
    .command('swarm')
    .description('Docker Swarm: docker stack with docker/docker-compose.swarm.yml')
    .addArgument(
      new Argument(
        '<action>',
        'deploy: create or update the stack; remove: delete it; status: services and tasks',
      ).choices(['deploy', 'remove', 'status']),
    )
    .option('--stack-name <name>', 'name of the stack', DEFAULT_STACK_NAME)
    .option(
      '-f, --file <path>',
      'stack file; repeat to add override files (default: docker/docker-compose.swarm.yml of this package)',
      collect,
      [],
    )
    .option('--image <image>', 'image to deploy (sets RKS_IMAGE; must be pullable by every node)')
    .option('--dry-run', 'print the commands without running them')
    .action(async (action: SwarmAction, flags: SwarmFlags) => {
      const commands = planSwarm(action, {
        files: flags.file.length > 0 ? flags.file : [defaultSwarmFile()],
        stackName: flags.stackName,
        ...(flags.image !== undefined ? { image: flags.image } : {}),
      });
      (io.exit ?? processIo.exit)?.(await runPlanned(commands, flags.dryRun === true, io));
    });
}
