/**
 * `redis-kafka-sync run`: the daemon. Discovery + reading + resync until SIGTERM/SIGINT; a
 * graceful stop finishes in-flight deliveries, acknowledges them and exits 0.
 */
import type { Command } from 'commander';
import { SyncEngine } from '../engine/engine.js';
import { createLogger } from '../observability/logger.js';
import { configOrExit, withConfigOptions, type ConfigFlags } from './common.js';

export function registerRunCommand(program: Command): void {
  withConfigOptions(program.command('run').description('run the sync service until SIGTERM/SIGINT')).action(
    async (flags: ConfigFlags) => {
      const cfg = configOrExit(flags);
      const log = createLogger(cfg.logLevel);
      const engine = new SyncEngine(cfg, log);
      await runUntilSignal(engine, log);
    },
  );
}

export async function runUntilSignal(
  engine: SyncEngine,
  log: ReturnType<typeof createLogger>,
  onStarted?: () => void,
): Promise<void> {
  let stopping: Promise<void> | undefined;
  const stop = (signal: string): void => {
    if (stopping) {
      log.warn({ signal }, 'second signal: exiting now; undelivered messages stay buffered');
      process.exit(130);
    }
    log.info({ signal }, 'signal received');
    stopping = engine.stop();
  };
  process.on('SIGTERM', () => stop('SIGTERM'));
  process.on('SIGINT', () => stop('SIGINT'));
  log.info({ consumer: engine.cfg.source.consumerName, group: engine.cfg.source.consumerGroup }, 'starting');
  await engine.start();
  if (engine.stopSignal.aborted) return;
  engine.runForever();
  log.info('running');
  onStarted?.();
  await new Promise<void>((resolve) => engine.stopSignal.addEventListener('abort', () => resolve(), { once: true }));
  await stopping;
}
