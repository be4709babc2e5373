/**
 * Structured JSON logs (pino). One line per state change, never one per message; secrets are
 * redacted by path. On a terminal, lines are made readable by the CLI (see cli/output.ts).
 */
import { pino, type Logger as PinoLogger } from 'pino';

export type Logger = PinoLogger;

export function createLogger(level: string, destination?: NodeJS.WritableStream): Logger {
  return pino(
    {
      level,
      base: { service: 'redis-kafka-sync' },
      redact: { paths: ['password', '*.password', 'saslPassword', '*.saslPassword', 'sslKeyPassword'], censor: '***' },
    },
    (destination ?? process.stderr) as pino.DestinationStream,
  );
}

export const silentLogger: Logger = pino({ level: 'silent' });
