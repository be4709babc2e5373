/**
 * Shared CLI plumbing: the configuration options every command takes (--config, --set) and the
 * mapping of configuration errors to exit code 2 with one line per problem.
 */
import type { Command } from 'commander';
import { loadConfig, type Config, type LoadOptions } from '../config/config.js';
import { ConfigError } from '../errors.js';

export interface ConfigFlags {
  readonly config?: string;
  readonly set?: string[];
}

export function withConfigOptions(cmd: Command): Command {
  return cmd
    .option('-c, --config <file>', 'dotenv file with the configuration (default: ./env.conf if present)')
    .option(
      '-s, --set <VAR=value>',
      'override one variable (repeatable); beats the environment and the file',
      collect,
      [],
    );
}

function collect(value: string, previous: string[]): string[] {
  return [...previous, value];
}

export function loadOptions(flags: ConfigFlags): LoadOptions {
  const overrides: Record<string, string> = {};
  for (const pair of flags.set ?? []) {
    const eq = pair.indexOf('=');
    if (eq <= 0) exitConfig([`--set ${pair}: expected VAR=value`]);
    overrides[pair.slice(0, eq)] = pair.slice(eq + 1);
  }
  return { ...(flags.config !== undefined ? { configFile: flags.config } : {}), overrides };
}

/** Loads the configuration or exits 2 listing every problem, one per line. */
export function configOrExit(flags: ConfigFlags): Config {
  try {
    return loadConfig(loadOptions(flags));
  } catch (err) {
    if (err instanceof ConfigError) exitConfig(err.problems);
    throw err;
  }
}

export function exitConfig(problems: readonly string[]): never {
  for (const p of problems) process.stderr.write(`config error: ${p}\n`);
  process.exit(2);
}
