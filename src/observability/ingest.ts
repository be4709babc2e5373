/**
 * HTTP ingest of direct messages: POST /v1/messages.
 *
 *   JSON  (Content-Type: application/json)  {"topic": "t", "deviceId": "d", "body": "text"}
 *                                           or  "body": {"base64": "AAEC"} for binary
 *   raw   (any other Content-Type)          X-Topic: t, X-Device-Id: d, the body as is (bytes)
 *
 * Contract: 202 {"key": "<buffer key>"} only once the target Redis holds the message (it then
 * flows to Kafka like any direct message: resent until Kafka confirms it). 4xx answers are JSON
 * {"error": "..."} naming what is wrong; 503 when the engine is not running (retry later).
 * With HTTP_AUTH_TOKEN set, `Authorization: Bearer <token>` is required (compared in constant
 * time) and checked before the body is read. Bodies over HTTP_MAX_BODY_BYTES get 413.
 *
 * Batching: requests arriving in the same event-loop turn are coalesced into one batch of the
 * `direct` lane
 * (one buffer-write script call and one in-flight budget slot for the lot, instead of one each);
 * keys are built as SyncEngine.sendMessage builds them (KeyFormat, origin `d:<deviceId>`).
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import { newMessageId } from '../buffer/key-format.js';
import { batchOf, type Message } from '../engine/batch.js';
import type { Config } from '../config/config.js';
import type { SyncEngine } from '../engine/engine.js';
import { errorMessage } from '../errors.js';
import { checkTopicName } from '../sink/topic.js';

const BASE64_RE = /^[A-Za-z0-9+/]*={0,2}$/;
const MAX_DEVICE_ID = 1024;
/** Most messages in one coalesced submit. */
const MAX_BATCH = 1000;

/** An answer to send: status and JSON body. */
export interface Answer {
  readonly status: number;
  readonly body: Record<string, unknown>;
  readonly headers?: Readonly<Record<string, string>>;
}

const fail = (status: number, error: string, headers?: Record<string, string>): Answer => ({
  status,
  body: { error },
  ...(headers ? { headers } : {}),
});

interface Queued {
  readonly msg: Message;
  readonly resolve: (key: string) => void;
  readonly reject: (err: Error) => void;
}

export class Ingest {
  private queue: Queued[] = [];
  private scheduled = false;
  private readonly tokenHash: Buffer | undefined;

  constructor(
    private readonly engine: SyncEngine,
    private readonly cfg: Config['http'],
  ) {
    this.tokenHash = cfg.authToken === '' ? undefined : sha256(cfg.authToken);
  }

  /** Handles one POST /v1/messages request; never throws. */
  async handle(req: IncomingMessage): Promise<Answer> {
    if (!this.authorized(req.headers.authorization)) {
      drain(req);
      return fail(401, 'missing or wrong bearer token: send "Authorization: Bearer <HTTP_AUTH_TOKEN>"', {
        'www-authenticate': 'Bearer realm="redis-kafka-sync"',
      });
    }
    const declared = Number(req.headers['content-length'] ?? NaN);
    if (Number.isFinite(declared) && declared > this.cfg.maxBodyBytes) {
      drain(req);
      return fail(413, `body of ${declared} bytes exceeds HTTP_MAX_BODY_BYTES=${this.cfg.maxBodyBytes}`);
    }
    const body = await readBody(req, this.cfg.maxBodyBytes);
    if (body === undefined) return fail(413, `body exceeds HTTP_MAX_BODY_BYTES=${this.cfg.maxBodyBytes} bytes`);
    const parsed = isJson(req.headers['content-type']) ? parseJson(body) : parseRaw(req, body);
    if ('error' in parsed) return fail(400, parsed.error);
    const topicProblem = checkTopicName(parsed.topic);
    if (topicProblem) return fail(400, `invalid topic name "${parsed.topic}": ${topicProblem}`);
    if (parsed.deviceId === '' || parsed.deviceId.length > MAX_DEVICE_ID)
      return fail(400, `missing deviceId: a non-empty device id (at most ${MAX_DEVICE_ID} characters) is required`);
    if (!this.running()) return fail(503, 'the service is starting or stopping: nothing was buffered; retry later');
    try {
      const key = await this.enqueue(parsed.topic, parsed.deviceId, parsed.payload);
      return { status: 202, body: { key } };
    } catch (err) {
      return fail(503, `not buffered: ${errorMessage(err)}; retry later`);
    }
  }

  private running(): boolean {
    if (this.engine.stopSignal.aborted || !this.engine.status().running) return false;
    try {
      return this.engine.pipe !== undefined;
    } catch {
      return false;
    }
  }

  private authorized(header: string | undefined): boolean {
    if (!this.tokenHash) return true;
    const m = /^Bearer\s+(.+)$/i.exec(header ?? '');
    // Hashing both sides makes the comparison constant-time whatever the lengths.
    return m !== null && timingSafeEqual(sha256((m[1] as string).trim()), this.tokenHash);
  }

  private enqueue(topic: string, deviceId: string, payload: Buffer): Promise<string> {
    const parts = { topic, id: newMessageId(), origin: { kind: 'direct', deviceId } } as const;
    const msg = this.engine.pipe.format.build(parts, Buffer.from(deviceId), payload);
    return new Promise<string>((resolve, reject) => {
      this.queue.push({ msg, resolve, reject });
      if (!this.scheduled) {
        this.scheduled = true;
        setImmediate(() => void this.flush());
      }
    });
  }

  /** Submits everything queued in this turn, in arrival order, MAX_BATCH at a time. */
  private async flush(): Promise<void> {
    this.scheduled = false;
    const all = this.queue;
    this.queue = [];
    for (let i = 0; i < all.length; i += MAX_BATCH) {
      const batch = all.slice(i, i + MAX_BATCH);
      try {
        // The direct lane: per-device order shared with SyncEngine.sendMessage.
        const handle = this.engine.pipe.lane('direct').submit(
          batchOf(
            'direct',
            batch.map((q) => q.msg),
            { fresh: true },
          ),
        );
        if (!(await handle.buffered)) throw new Error('the engine stopped before the message was buffered');
        // Answered once admitted to the in-flight budget (backpressure: a slow Kafka slows the answers);
        // delivery continues in the pipeline, its failures are retried there.
        await handle.admitted;
        for (const q of batch) q.resolve(q.msg.key);
      } catch (err) {
        const e = err instanceof Error ? err : new Error(String(err));
        for (const q of batch) q.reject(e);
      }
    }
  }
}

type Parsed = { topic: string; deviceId: string; payload: Buffer } | { error: string };

function parseJson(body: Buffer): Parsed {
  let v: unknown;
  try {
    v = JSON.parse(body.toString('utf8'));
  } catch (err) {
    return { error: `bad JSON: ${errorMessage(err)}` };
  }
  if (v === null || typeof v !== 'object' || Array.isArray(v))
    return { error: 'bad JSON: expected an object {"topic", "deviceId", "body"}' };
  const o = v as Record<string, unknown>;
  if (typeof o.topic !== 'string' || o.topic === '') return { error: 'missing topic: "topic" must be a string' };
  if (typeof o.deviceId !== 'string') return { error: 'missing deviceId: "deviceId" must be a string' };
  const b = o.body;
  if (typeof b === 'string') return { topic: o.topic, deviceId: o.deviceId, payload: Buffer.from(b, 'utf8') };
  if (b !== null && typeof b === 'object' && typeof (b as { base64?: unknown }).base64 === 'string') {
    const text = ((b as { base64: string }).base64 as string).replace(/\s+/g, '');
    if (!BASE64_RE.test(text) || text.length % 4 === 1) return { error: 'bad body: "base64" is not valid base64' };
    return { topic: o.topic, deviceId: o.deviceId, payload: Buffer.from(text, 'base64') };
  }
  return { error: 'missing body: "body" must be a string or {"base64": "..."}' };
}

function parseRaw(req: IncomingMessage, body: Buffer): Parsed {
  const topic = header(req, 'x-topic');
  if (topic === undefined || topic === '')
    return { error: 'missing topic: set the X-Topic header (or send JSON {"topic", "deviceId", "body"})' };
  const deviceId = header(req, 'x-device-id');
  if (deviceId === undefined) return { error: 'missing deviceId: set the X-Device-Id header' };
  return { topic, deviceId, payload: body };
}

function header(req: IncomingMessage, name: string): string | undefined {
  const v = req.headers[name];
  return Array.isArray(v) ? v[0] : v;
}

function isJson(contentType: string | undefined): boolean {
  return (contentType ?? '').split(';')[0]?.trim().toLowerCase() === 'application/json';
}

function sha256(text: string): Buffer {
  return createHash('sha256').update(text, 'utf8').digest();
}

/** The body, or undefined once it exceeds `max` bytes (the rest is then read and discarded). */
function readBody(req: IncomingMessage, max: number): Promise<Buffer | undefined> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    let over = false;
    req.on('data', (chunk: Buffer) => {
      if (over) return;
      size += chunk.length;
      if (size > max) {
        over = true;
        chunks.length = 0;
        resolve(undefined);
      } else chunks.push(chunk);
    });
    req.on('end', () => {
      if (!over) resolve(Buffer.concat(chunks));
    });
    req.on('error', reject);
  });
}

/** Reads and discards the rest of a request body, so the client gets to read our answer. */
function drain(req: IncomingMessage): void {
  req.resume();
}
