/**
 * The `redis-kafka-sync` command line. One file per subcommand registers itself here.
 * Exit codes: 0 ok, 1 runtime failure, 2 invalid configuration or usage.
 */
import { Command } from 'commander';
import { registerConfigCommand } from './config.js';
import { registerConvertTruststoreCommand } from './convert-truststore.js';
import { registerDemoCommand } from './demo.js';
import { registerDlqCommand } from './dlq.js';
import { registerManageCommand } from './manage.js';
import { registerRunCommand } from './run.js';
import { registerSendCommand } from './send.js';
import { registerStackCommand } from './stack.js';
import { registerStatusCommand } from './status.js';

export async function main(argv: readonly string[]): Promise<void> {
  const program = new Command();
  program
    .name('redis-kafka-sync')
    .description('Source Redis streams -> durable target Redis buffer -> Apache Kafka, without loss.')
    .showHelpAfterError()
    // Usage errors (unknown option, missing argument) exit 2 like configuration errors; help 0.
    .exitOverride((err) => process.exit(err.exitCode === 0 ? 0 : 2));
  registerRunCommand(program);
  registerSendCommand(program);
  registerConfigCommand(program);
  registerDemoCommand(program);
  registerDlqCommand(program);
  registerStackCommand(program);
  registerStatusCommand(program);
  registerManageCommand(program);
  registerConvertTruststoreCommand(program);
  await program.parseAsync([...argv]);
}
