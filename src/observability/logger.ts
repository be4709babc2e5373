/**
 * Structured logs (pino): one JSON line per event on stderr by default; a short readable line
 * (`12:00:01 WARN  message key=value ...`) when stderr is a terminal. One line per state change,
 * never one per message. Secrets are redacted by path before anything is written, so neither
 * the output nor the ring below ever holds one.
 *
 * Every logger created here also copies its warn/error events into `recentEvents`, a ring of the
 * last RING_SIZE events of the process, which the dashboard shows as "recent errors".
 */
import { pino, type DestinationStream, type Logger as PinoLogger } from 'pino';

export type Logger = PinoLogger;

const RING_SIZE = 50;
const REDACT = [
  'password',
  '*.password',
  'saslPassword',
  '*.saslPassword',
  'sslKeyPassword',
  '*.sslKeyPassword',
  'authToken',
  '*.authToken',
  'authorization',
  '*.authorization',
];
/** Fields every line carries; left out of the readable form and of the ring's detail. */
const BASE_FIELDS = new Set(['level', 'time', 'msg', 'service', 'pid', 'hostname']);
const LEVELS: Readonly<Record<number, string>> = {
  10: 'TRACE',
  20: 'DEBUG',
  30: 'INFO',
  40: 'WARN',
  50: 'ERROR',
  60: 'FATAL',
};

export interface LogEvent {
  readonly timeMs: number;
  readonly level: string;
  readonly msg: string;
  /** The other fields as `key=value` text, shortened. */
  readonly detail: string;
}

/** A fixed-size ring of the most recent events; oldest dropped first. */
export class LogRing {
  private readonly items: LogEvent[] = [];
  constructor(readonly capacity: number = RING_SIZE) {}
  push(e: LogEvent): void {
    this.items.push(e);
    if (this.items.length > this.capacity) this.items.shift();
  }
  /** Newest first. */
  list(): LogEvent[] {
    return [...this.items].reverse();
  }
}

/** The warn/error events of every logger of this process (dashboard: recent errors). */
export const recentEvents = new LogRing();

export function createLogger(level: string, destination?: NodeJS.WritableStream): Logger {
  const out: DestinationStream =
    destination !== undefined
      ? (destination as DestinationStream)
      : process.stderr.isTTY
        ? readableStream(process.stderr)
        : (process.stderr as DestinationStream);
  const ring: DestinationStream = {
    write: (line: string) => {
      const e = parseLine(line);
      if (e) recentEvents.push(e);
    },
  };
  return pino(
    { level, base: { service: 'redis-kafka-sync' }, redact: { paths: REDACT, censor: '***' } },
    pino.multistream([
      { level: level as pino.Level, stream: out },
      { level: 'warn', stream: ring },
    ]),
  );
}

export const silentLogger: Logger = pino({ level: 'silent' });

/** A destination that turns pino's JSON lines into readable ones. */
export function readableStream(target: NodeJS.WritableStream): DestinationStream {
  return { write: (line: string) => void target.write(formatLine(line)) };
}

/** One pino JSON line as `HH:MM:SS LEVEL message key=value ...`; other text passes unchanged. */
export function formatLine(line: string): string {
  const e = parseLine(line);
  if (!e) return line.endsWith('\n') ? line : `${line}\n`;
  const t = new Date(e.timeMs).toTimeString().slice(0, 8);
  return `${t} ${e.level.padEnd(5)} ${e.msg}${e.detail ? `  ${e.detail}` : ''}\n`;
}

function parseLine(line: string): LogEvent | undefined {
  let obj: unknown;
  try {
    obj = JSON.parse(line);
  } catch {
    return undefined;
  }
  if (obj === null || typeof obj !== 'object') return undefined;
  const rec = obj as Record<string, unknown>;
  const detail = Object.entries(rec)
    .filter(([k]) => !BASE_FIELDS.has(k))
    .map(([k, v]) => `${k}=${typeof v === 'string' ? v : JSON.stringify(v)}`)
    .join(' ');
  return {
    timeMs: typeof rec.time === 'number' ? rec.time : Date.now(),
    level: LEVELS[typeof rec.level === 'number' ? rec.level : 30] ?? 'INFO',
    msg: typeof rec.msg === 'string' ? rec.msg : '',
    detail: detail.length > 400 ? `${detail.slice(0, 399)}…` : detail,
  };
}
