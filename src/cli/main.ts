/**
 * The `redis-kafka-sync` command line. One file per subcommand registers itself here.
 * Exit codes: 0 ok, 1 runtime failure, 2 invalid configuration or usage.
 */
import { Command } from 'commander';
import { registerConfigCommand } from './config.js';
import { registerDemoCommand } from './demo.js';
import { registerRunCommand } from './run.js';
import { registerSendCommand } from './send.js';
import { registerStackCommand } from './stack.js';

export async function main(argv: readonly string[]): Promise<void> {
  const program = new Command();
  program
    .name('redis-kafka-sync')
    .description('Source Redis streams -> durable target Redis buffer -> Apache Kafka, without loss.')
    .showHelpAfterError();
  registerRunCommand(program);
  registerSendCommand(program);
  registerConfigCommand(program);
  registerDemoCommand(program);
  registerStackCommand(program);
  await program.parseAsync([...argv]);
}
