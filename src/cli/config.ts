/** `redis-kafka-sync config`: the effective configuration (secrets redacted), or the schema. */
import type { Command } from 'commander';
import { describeConfig } from '../config/config.js';
import { FIELDS } from '../config/schema.js';
import { configOrExit, loadOptions, withConfigOptions, withStrictOption, type ConfigFlags } from './common.js';

export function registerConfigCommand(program: Command): void {
  withStrictOption(
    withConfigOptions(
      program.command('config').description('print the effective configuration (secrets redacted) and validate it'),
    ),
  )
    .option('--list', 'list every variable with its default, unit and meaning')
    .action((flags: ConfigFlags & { list?: boolean }) => {
      if (flags.list) {
        for (const f of FIELDS)
          process.stdout.write(
            `${f.env}  (default ${JSON.stringify(f.default)}${f.unit ? `, ${f.unit}` : ''})\n    ${f.description}\n`,
          );
        return;
      }
      configOrExit(flags); // exits 2 on any problem
      for (const line of describeConfig(loadOptions(flags))) process.stdout.write(`${line}\n`);
    });
}
