/**
 * `redis-kafka-sync dlq list|replay`: inspect and resend the dead-letter stream of the target.
 * `replay` buffers each dead letter again under its original key (same `rks-id` header, so a
 * consumer can still drop duplicates), sends it, and removes it from the stream only once Kafka
 * confirmed it; one that fails again for good goes back to the stream with the new reason.
 */
import { InvalidArgumentError, type Command } from 'commander';
import { DeadLetters } from '../buffer/dead-letters.js';
import { batchOf } from '../engine/batch.js';
import { SyncEngine } from '../engine/engine.js';
import { createLogger } from '../observability/logger.js';
import { checkTopicName } from '../sink/topic.js';
import { configOrExit, oneShotConfig, withConfigOptions, type ConfigFlags } from './common.js';

export function registerDlqCommand(program: Command): void {
  const dlq = program.command('dlq').description('inspect and resend dead letters (messages Kafka refused for good)');
  withConfigOptions(dlq.command('list').description('list dead letters, oldest first'))
    .option('-n, --count <n>', 'most entries to show', '100')
    .option('--json', 'one JSON object per line')
    .action(async (flags: ConfigFlags & { count: string; json?: boolean }) => {
      await withEngine(flags, async (engine) => {
        const dl = new DeadLetters(engine.target.primary, engine.target.keys);
        const total = await dl.count();
        const items = await dl.list(Math.max(1, Number(flags.count)));
        for (const d of items) {
          const row = {
            id: d.id,
            key: d.key,
            topic: d.topic,
            bytes: d.payload.length,
            failedAt: new Date(d.failedAtMs).toISOString(),
            reason: d.reason,
          };
          process.stdout.write(
            flags.json
              ? `${JSON.stringify(row)}\n`
              : `${row.id}  ${row.topic}  ${row.bytes} B  ${row.failedAt}  ${row.key}\n    ${row.reason}\n`,
          );
        }
        if (!flags.json) process.stdout.write(`${total} dead letter(s) in ${engine.target.keys.deadLetters}\n`);
      });
    });
  withConfigOptions(
    dlq.command('replay').description('resend dead letters; removed from the stream once Kafka confirmed them'),
  )
    .option('--id <id...>', 'only these dead-letter ids (default: all)')
    .option('-t, --topic <topic>', 'send to this topic instead of the original one', topicArgument)
    .action(async (flags: ConfigFlags & { id?: string[]; topic?: string }) => {
      await withEngine(flags, async (engine) => {
        const dl = new DeadLetters(engine.target.primary, engine.target.keys);
        let replayed = 0;
        let cursor: string | undefined;
        for (;;) {
          const page = await dl.list(500, cursor);
          if (page.length === 0) break;
          cursor = page[page.length - 1]?.id;
          const chosen = flags.id ? page.filter((d) => flags.id?.includes(d.id)) : page;
          if (chosen.length === 0) continue;
          const messages = chosen.map((d) =>
            engine.pipe.format.rebuild({ ...d, topic: flags.topic ?? d.topic }, d.parts),
          );
          const handle = engine.pipe.lane('replay').submit(batchOf('replay', messages));
          if (!(await handle.buffered)) throw new Error('stopped before the dead letters were buffered again');
          await handle.settled;
          await dl.remove(chosen.map((d) => d.id));
          replayed += chosen.length;
        }
        const left = await dl.count();
        process.stdout.write(
          `replayed ${replayed} dead letter(s); ${engine.pipe.stats.deadLettered} failed again; ${left} left in the stream\n`,
        );
      });
    });
}

async function withEngine(flags: ConfigFlags, fn: (engine: SyncEngine) => Promise<void>): Promise<void> {
  const cfg = oneShotConfig(configOrExit(flags));
  const engine = new SyncEngine(cfg, createLogger(cfg.logLevel === 'info' ? 'warn' : cfg.logLevel));
  try {
    await engine.start({ connectTimeoutMs: 15_000 });
    await fn(engine);
  } finally {
    await engine.stop();
  }
}

/** A --topic value, checked before anything connects (a usage error: exit 2 with the reason). */
function topicArgument(value: string): string {
  const why = checkTopicName(value);
  if (why) throw new InvalidArgumentError(why);
  return value;
}
