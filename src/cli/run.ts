/**
 * `redis-kafka-sync run`: the daemon. Discovery + reading + resync until SIGTERM/SIGINT; a
 * graceful stop finishes in-flight deliveries, acknowledges them and exits 0.
 */
import type { Command } from 'commander';
import { SyncEngine } from '../engine/engine.js';
import { startHttpServer } from '../observability/http-server.js';
import { createLogger } from '../observability/logger.js';
import { SyncMetrics } from '../observability/metrics.js';
import { logFailovers } from '../redis/topology.js';
import { configOrExit, withConfigOptions, withStrictOption, type ConfigFlags } from './common.js';
import { applyHeapSettings, IdleHeapTrim } from './heap-settings.js';

export function registerRunCommand(program: Command): void {
  withStrictOption(
    withConfigOptions(program.command('run').description('run the sync service until SIGTERM/SIGINT')),
  ).action(async (flags: ConfigFlags) => {
    const warnings: string[] = [];
    const cfg = configOrExit(flags, (w) => warnings.push(w));
    // V8's young generation and growing factor: most of the draining peak RSS (heap-settings.ts).
    // May replace this process with itself plus a V8 flag, before anything is connected.
    const heapWarning = applyHeapSettings(cfg);
    if (heapWarning) warnings.push(heapWarning);
    const log = createLogger(cfg.logLevel);
    for (const w of warnings) log.warn(w); // a misspelled variable: in the service's own log
    logFailovers(log);
    const metrics = new SyncMetrics(undefined, { processMetrics: true });
    const engine = new SyncEngine(cfg, log, { metrics });
    const http = await startHttpServer(engine, metrics, log); // metrics, health, dashboard, ingest
    // Gives the young generation's memory back once the service goes quiet (heap-settings.ts).
    const t = metrics.totals;
    const trim =
      cfg.heapIdleTrimMs > 0
        ? new IdleHeapTrim(
            cfg.heapIdleTrimMs,
            () => t.read + t.buffered + t.sent + t.acknowledged + t.deadLettered + t.retries,
            (done) => log.debug(done, 'idle: heap trimmed'),
          )
        : undefined;
    try {
      await runUntilSignal(engine, log, () => trim?.start());
    } finally {
      trim?.stop();
      await http?.close();
    }
    // Stopped gracefully: nothing is left to do. A Kafka connect attempt still under way (broker
    // unreachable) would otherwise hold the process until its own timeout.
    process.exit(0);
  });
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
  try {
    await engine.start();
  } catch (err) {
    // A signal while still connecting (a server unreachable at start) is a clean stop.
    if (!engine.stopSignal.aborted) throw err;
  }
  if (engine.stopSignal.aborted) {
    await stopping;
    return;
  }
  engine.runForever();
  log.info('running');
  onStarted?.();
  await new Promise<void>((resolve) => engine.stopSignal.addEventListener('abort', () => resolve(), { once: true }));
  await stopping;
}
