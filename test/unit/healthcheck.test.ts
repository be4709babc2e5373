/**
 * bin/healthcheck.js, the image's HEALTHCHECK and the compose files' healthcheck: GET /healthz
 * at the address of HTTP_ADDRESS (0.0.0.0 asked on 127.0.0.1), exit 0 on 200, else 1 and why.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { repoRoot } from '../../src/stack/paths.js';

const SCRIPT = join(repoRoot(), 'bin', 'healthcheck.js');

/** Runs the script (asynchronously: the test's own server must keep answering meanwhile). */
function check(httpAddress: string): Promise<{ status: number | null; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [SCRIPT], {
      env: { PATH: process.env['PATH'], HTTP_ADDRESS: httpAddress },
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    let stderr = '';
    child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
    child.once('close', (status) => resolve({ status, stderr }));
  });
}

describe('bin/healthcheck.js', () => {
  let server: Server;
  let port = 0;
  let status = 200;
  before(async () => {
    server = createServer((req, res) => {
      res.statusCode = req.url === '/healthz' ? status : 404;
      res.end();
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    port = (server.address() as AddressInfo).port;
  });
  after(() => new Promise<void>((resolve) => server.close(() => resolve())));

  it('exits 0 when /healthz answers 200 at HTTP_ADDRESS, 0.0.0.0 being asked on 127.0.0.1', async () => {
    status = 200;
    const results = await Promise.all([`127.0.0.1:${port}`, `0.0.0.0:${port}`].map((a) => check(a)));
    for (const r of results) assert.equal(r.status, 0, r.stderr);
  });

  it('exits 1 saying why when /healthz fails, nothing listens, or the server is off', async () => {
    status = 503;
    const failing = await check(`127.0.0.1:${port}`);
    assert.equal(failing.status, 1);
    assert.match(failing.stderr, /answered 503/);
    const off = await check('off');
    assert.equal(off.status, 1);
    assert.match(off.stderr, /HTTP_ADDRESS=off/);
    const bad = await check('nonsense');
    assert.equal(bad.status, 1);
    assert.match(bad.stderr, /not host:port/);
    const spare = createServer();
    await new Promise<void>((resolve) => spare.listen(0, '127.0.0.1', resolve));
    const freePort = (spare.address() as AddressInfo).port;
    await new Promise<void>((resolve) => spare.close(() => resolve()));
    const closed = await check(`127.0.0.1:${freePort}`);
    assert.equal(closed.status, 1);
    assert.match(closed.stderr, /ECONNREFUSED/);
  });
});
