#!/usr/bin/env node
// The container health check (docker/Dockerfile HEALTHCHECK, the compose files' healthcheck):
// exits 0 when GET /healthz answers 200 on the address of HTTP_ADDRESS (the service's own
// setting, so a moved port needs no other change; 0.0.0.0 and [::] are asked on loopback),
// 1 otherwise, with one line on stderr saying why. Plain JavaScript with no imports, so it
// runs in a fraction of the time the service takes to load.
/* global fetch, AbortSignal */
const raw = (process.env.HTTP_ADDRESS ?? '').trim() || '127.0.0.1:9464';
const fail = (why) => {
  process.stderr.write(`healthcheck: ${why}\n`);
  process.exit(1);
};
if (raw === 'off') fail('HTTP_ADDRESS=off: the HTTP server (and /healthz) is disabled');
const m = /^(?:\[([^\]]+)\]|([^:]*)):(\d+)$/.exec(raw);
if (!m) fail(`HTTP_ADDRESS=${raw} is not host:port`);
let host = m[1] ?? m[2];
if (host === '' || host === '0.0.0.0') host = '127.0.0.1';
if (host === '::') host = '::1';
const url = `http://${host.includes(':') ? `[${host}]` : host}:${m[3]}/healthz`;
fetch(url, { signal: AbortSignal.timeout(4000) }).then(
  (res) => (res.ok ? process.exit(0) : fail(`${url} answered ${res.status}`)),
  (err) => fail(`${url}: ${err.cause?.code ?? err.cause?.message ?? err.message}`),
);
