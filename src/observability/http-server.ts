/**
 * The daemon's HTTP server (node:http), on HTTP_ADDRESS (default 127.0.0.1:9464; `off` disables):
 *
 *   GET  /              live dashboard (files of ./dashboard, polling /api/status)
 *   GET  /api/status    JSON snapshot + recent history (status-api.ts)
 *   GET  /metrics       Prometheus text format (metrics.ts)
 *   GET  /healthz       200 while the process runs
 *   GET  /readyz        200 while source, target, Kafka are connected and the engine runs;
 *                       otherwise 503 with one line per part that is not ready
 *   POST /v1/messages   ingest of direct messages (ingest.ts)
 *
 * Invariants: only these routes (404 otherwise, 405 for a wrong method, JSON errors); dashboard
 * files are served from a fixed list read at start (no path from the request touches the file
 * system); the read-only endpoints carry no secrets and need no token (bind to loopback, the
 * default, or put them behind a proxy); `close` ends keep-alive connections so the process exits.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Config } from '../config/config.js';
import type { SyncEngine } from '../engine/engine.js';
import { errorMessage } from '../errors.js';
import { Ingest, type Answer } from './ingest.js';
import type { Logger } from './logger.js';
import type { SyncMetrics } from './metrics.js';
import { StatusProbe } from './probe.js';
import { StatusApi } from './status-api.js';

const DASHBOARD_DIR = new URL('./dashboard/', import.meta.url);
const TYPES: Readonly<Record<string, string>> = {
  html: 'text/html; charset=utf-8',
  js: 'text/javascript; charset=utf-8',
  css: 'text/css; charset=utf-8',
  svg: 'image/svg+xml',
};
const ROUTES: Readonly<Record<string, string>> = {
  '/': 'GET',
  '/api/status': 'GET',
  '/metrics': 'GET',
  '/healthz': 'GET',
  '/readyz': 'GET',
  '/v1/messages': 'POST',
};

export interface HttpService {
  /** Where it listens (the real port when HTTP_ADDRESS asked for port 0). */
  readonly url: string;
  readonly probe: StatusProbe;
  close(): Promise<void>;
}

/** Starts the server when HTTP_ADDRESS is not `off`; rejects naming the address when it cannot listen. */
export async function startHttpServer(
  engine: SyncEngine,
  metrics: SyncMetrics,
  log: Logger,
  cfg: Config['http'] = engine.cfg.http,
): Promise<HttpService | undefined> {
  if (!cfg.address) return undefined;
  const probe = new StatusProbe(engine);
  metrics.bind(probe);
  const api = new StatusApi(engine, probe, metrics);
  const ingest = new Ingest(engine, cfg);
  const files = dashboardFiles();

  const server = createServer((req, res) => {
    route(req, res).catch((err: unknown) => {
      log.warn({ err: errorMessage(err), path: req.url }, 'HTTP request failed');
      if (!res.headersSent) send(res, 500, { error: `internal error: ${errorMessage(err)}` });
      else res.destroy();
    });
  });

  async function route(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const path = new URL(req.url ?? '/', 'http://localhost').pathname;
    const file = path.startsWith('/dashboard/') ? files.get(path.slice('/dashboard/'.length)) : undefined;
    const allowed = file ? 'GET' : ROUTES[path];
    if (!allowed) {
      req.resume();
      return send(res, 404, {
        error: `no such endpoint: ${req.method} ${path}; try GET /, /api/status, /metrics, /healthz, /readyz or POST /v1/messages`,
      });
    }
    if (req.method !== allowed && !(allowed === 'GET' && req.method === 'HEAD')) {
      req.resume();
      return send(res, 405, { error: `${req.method} not allowed on ${path}: use ${allowed}` }, { allow: allowed });
    }
    if (file) return sendRaw(res, 200, file.type, file.body, { 'cache-control': 'no-cache' });
    switch (path) {
      case '/':
        return sendRaw(res, 200, TYPES.html as string, files.get('index.html')?.body ?? 'dashboard files missing', {
          'cache-control': 'no-cache',
        });
      case '/api/status':
        return send(res, 200, await api.snapshot(), { 'cache-control': 'no-store' });
      case '/metrics':
        return sendRaw(res, 200, metrics.registry.contentType, await metrics.registry.metrics());
      case '/healthz':
        return sendRaw(res, 200, 'text/plain; charset=utf-8', 'ok\n');
      case '/readyz': {
        const r = probe.readiness();
        const lines = r.ready
          ? 'ready\n'
          : r.parts
              .filter((p) => !p.ok)
              .map((p) => `${p.name}: ${p.state}\n`)
              .join('');
        return sendRaw(res, r.ready ? 200 : 503, 'text/plain; charset=utf-8', lines);
      }
      case '/v1/messages': {
        const a: Answer = await ingest.handle(req);
        metrics.ingestRequest(a.status);
        return send(res, a.status, a.body, a.headers);
      }
    }
  }

  const { host, port } = cfg.address;
  await new Promise<void>((resolve, reject) => {
    const onError = (err: NodeJS.ErrnoException): void =>
      reject(
        new Error(
          `HTTP_ADDRESS ${host}:${port}: cannot listen (${err.code ?? err.message}); choose another host:port or set HTTP_ADDRESS=off`,
          { cause: err },
        ),
      );
    server.once('error', onError);
    server.listen(port, host, () => {
      server.off('error', onError);
      resolve();
    });
  });
  api.start();
  const addr = server.address() as AddressInfo;
  const url = `http://${addr.family === 'IPv6' ? `[${addr.address}]` : addr.address}:${addr.port}`;
  log.info({ url, dashboard: `${url}/`, metrics: `${url}/metrics` }, 'HTTP server listening');
  return {
    url,
    probe,
    close: () => closeServer(server, api),
  };
}

function closeServer(server: Server, api: StatusApi): Promise<void> {
  api.stop();
  return new Promise((resolve) => {
    server.close(() => resolve());
    server.closeIdleConnections();
    // Dashboards poll with keep-alive; a request still running gets a moment to finish.
    setTimeout(() => server.closeAllConnections(), 1000).unref();
  });
}

interface StaticFile {
  readonly type: string;
  readonly body: Buffer;
}

/** The dashboard's files, read once: only these names can ever be served. */
function dashboardFiles(): Map<string, StaticFile> {
  const out = new Map<string, StaticFile>();
  let names: string[] = [];
  try {
    names = readdirSync(DASHBOARD_DIR);
  } catch {
    return out;
  }
  for (const name of names) {
    const type = TYPES[name.split('.').pop() ?? ''];
    if (type && /^[a-z0-9-]+\.[a-z]+$/.test(name))
      out.set(name, { type, body: readFileSync(new URL(name, DASHBOARD_DIR)) });
  }
  return out;
}

function send(
  res: ServerResponse,
  status: number,
  body: unknown,
  headers: Readonly<Record<string, string>> = {},
): void {
  sendRaw(res, status, 'application/json; charset=utf-8', `${JSON.stringify(body)}\n`, headers);
}

function sendRaw(
  res: ServerResponse,
  status: number,
  type: string,
  body: string | Buffer,
  headers: Readonly<Record<string, string>> = {},
): void {
  res.writeHead(status, { 'content-type': type, 'content-length': Buffer.byteLength(body), ...headers });
  res.end(res.req.method === 'HEAD' ? undefined : body);
}
