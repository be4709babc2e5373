/**
 * `redis-kafka-sync stack up|down|status|env|stop|start`: the local sandbox (src/stack).
 * Plain human-readable lines on stdout; `status --json` and `env` are meant for scripts
 * (`eval "$(redis-kafka-sync stack env)"` or `set -a; . <(redis-kafka-sync stack env)`).
 * Failures are thrown and printed by bin/redis-kafka-sync.js with exit code 1.
 */
import { Argument, Option, type Command } from 'commander';
import {
  SERVER_NAMES,
  STACK_HOST,
  stackDown,
  stackEnv,
  stackStatus,
  stackUp,
  startServer,
  stopServer,
  type Listener,
  type ServerName,
  type ServerStatus,
} from '../stack/index.js';

const print = (line: string): void => {
  process.stdout.write(`${line}\n`);
};

/** Single-quote a value unless it is plainly safe, so the output can be sourced by a shell. */
function shellValue(value: string): string {
  return /^[A-Za-z0-9_./:@%+,=-]*$/.test(value) ? value : `'${value.replace(/'/g, `'\\''`)}'`;
}

function describe(server: ServerStatus): string {
  const ports =
    server.name === 'kafka'
      ? Object.entries(server.ports)
          .map(([listener, port]) => `${listener} ${port}`)
          .join(', ')
      : String(server.ports['redis']);
  let note = '';
  if (server.state === 'up' && !server.accepting) note = '  (not accepting connections)';
  if (server.state === 'down' && server.accepting) note = '  (port used by another process)';
  const pid = server.pid === null ? '-' : String(server.pid);
  return `${server.name.padEnd(7)} ${server.state.padEnd(5)} pid ${pid.padEnd(8)} ${STACK_HOST} ${ports}${note}`;
}

function serverArgument(): Argument {
  return new Argument('<name>', 'which server').choices(SERVER_NAMES);
}

export function registerStackCommand(program: Command): void {
  const stack = program
    .command('stack')
    .description('local sandbox: source Redis :16379, target Redis :16380, Kafka :19092-19099');

  stack
    .command('up')
    .description('start every server that is not running and wait until all are ready')
    .action(async () => {
      const started = Date.now();
      await stackUp({ log: print });
      print(`stack ready in ${((Date.now() - started) / 1000).toFixed(1)} s`);
      print('point the service at it with: eval "$(redis-kafka-sync stack env)"');
    });

  stack
    .command('down')
    .description('stop the servers this stack started (data is kept)')
    .option('--purge', 'also delete all data, logs and certificates (the stack dir)')
    .action(async (opts: { purge?: boolean }) => {
      await stackDown({ purge: opts.purge === true, log: print });
    });

  stack
    .command('status')
    .description('what runs where')
    .option('--json', 'machine-readable output')
    .action(async (opts: { json?: boolean }) => {
      const status = await stackStatus();
      if (opts.json) {
        print(JSON.stringify(status, null, 2));
        return;
      }
      print(`stack dir: ${status.stackDir}`);
      for (const server of status.servers) print(describe(server));
    });

  stack
    .command('env')
    .description('print KEY=value lines pointing the service at the sandbox')
    .addOption(
      new Option('--listener <listener>', 'Kafka listener to use')
        .choices(['plaintext', 'sasl', 'ssl', 'mtls'])
        .default('plaintext'),
    )
    .action((opts: { listener: Listener }) => {
      for (const [key, value] of Object.entries(stackEnv(opts.listener))) {
        print(`${key}=${shellValue(value)}`);
      }
    });

  stack
    .command('stop')
    .description('stop one server, keeping its data')
    .addArgument(serverArgument())
    .addOption(
      new Option('--signal <signal>', 'SIGKILL simulates a crash').choices(['SIGTERM', 'SIGKILL']).default('SIGTERM'),
    )
    .action(async (name: ServerName, opts: { signal: 'SIGTERM' | 'SIGKILL' }) => {
      await stopServer(name, { signal: opts.signal, log: print });
    });

  stack
    .command('start')
    .description('start one server (keeping its data) and wait until it is ready')
    .addArgument(serverArgument())
    .action(async (name: ServerName) => {
      await startServer(name, { log: print });
    });
}
