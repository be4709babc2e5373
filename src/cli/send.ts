/** `redis-kafka-sync send`: one direct message, buffered in the target, sent, marked synced. */
import type { Command } from 'commander';
import { SyncEngine } from '../engine/engine.js';
import { createLogger } from '../observability/logger.js';
import { configOrExit, oneShotConfig, withConfigOptions, type ConfigFlags } from './common.js';

export function registerSendCommand(program: Command): void {
  withConfigOptions(
    program
      .command('send')
      .description('send one message: buffered in the target Redis, sent to Kafka, marked synced; prints its key')
      .requiredOption('-t, --topic <topic>', 'Kafka topic')
      .requiredOption('-d, --device <id>', 'device id (the Kafka record key)')
      .argument('[message]', 'message text; read from stdin when omitted'),
  ).action(async (message: string | undefined, flags: ConfigFlags & { topic: string; device: string }) => {
    const cfg = oneShotConfig(configOrExit(flags));
    const engine = new SyncEngine(cfg, createLogger(cfg.logLevel === 'info' ? 'warn' : cfg.logLevel));
    const body = message !== undefined ? Buffer.from(message) : await readStdin();
    try {
      await engine.start({ connectTimeoutMs: 15_000 });
      const key = await engine.sendMessage(flags.topic, body, flags.device);
      process.stdout.write(`${key}\n`);
    } finally {
      await engine.stop();
    }
  });
}

async function readStdin(): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const c of process.stdin) chunks.push(c as Buffer);
  return Buffer.concat(chunks);
}
