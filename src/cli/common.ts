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
  /** `--strict` (config, run): unknown variables exit 2 instead of warning. */
  readonly strict?: boolean;
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

/** `--strict`, for the commands that check a configuration before it is deployed (config, run). */
export function withStrictOption(cmd: Command): Command {
  return cmd.option(
    '--strict',
    'treat unknown variables (a misspelling in env.conf, or SOURCE_*, KAFKA_*, ... in the environment) as errors: exit 2',
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

/**
 * Loads the configuration or exits 2 listing every problem, one per line. Unknown variables are
 * problems with `--strict`, otherwise warnings, written to stderr unless `onWarning` takes them.
 */
export function configOrExit(flags: ConfigFlags, onWarning?: (message: string) => void): Config {
  try {
    return loadConfig({
      ...loadOptions(flags),
      strict: flags.strict === true,
      onWarning: onWarning ?? ((w) => process.stderr.write(`config warning: ${w}\n`)),
    });
  } catch (err) {
    if (err instanceof ConfigError) exitConfig(err.problems);
    throw err;
  }
}

export function exitConfig(problems: readonly string[]): never {
  for (const p of problems) process.stderr.write(`config error: ${p}\n`);
  process.exit(2);
}

/**
 * The configuration of a one-shot command that runs an engine beside the daemon (`send`,
 * `dlq replay`): with KAFKA_EXACTLY_ONCE its transactional.id must not be the daemon's, or its
 * init_transactions would fence the running daemon. It gets `<SOURCE_CONSUMER_NAME>.cli`.
 */
export function oneShotConfig(cfg: Config): Config {
  if (!cfg.kafka.exactlyOnce) return cfg;
  return { ...cfg, kafka: { ...cfg.kafka, instance: `${cfg.kafka.instance}.cli` } };
}
