import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { chromium, type BrowserContext, type Page } from 'playwright-core';
import type { RedisConnection } from '../../src/redis/client.js';
import { ensureStack, redis, uid } from '../helpers/real-stack.js';
import { deletePrefix, startDaemon, waitFor, type Daemon } from '../helpers/daemon.js';

const DB = 9;
const CHROMIUM = '/usr/bin/chromium';
const ARGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];

describe('the live dashboard', () => {
  const id = uid();
  const prefix = `dash${id}:`;
  const streams = Array.from({ length: 4 }, (_, i) => `dash-${id}-device${i}`);
  const genCtl = new AbortController();
  let source: RedisConnection;
  let target: RedisConnection;
  let daemon: Daemon;
  let context: BrowserContext | undefined;
  let profile = '';
  let generating: Promise<void> = Promise.resolve();

  before(async () => {
    await ensureStack();
    source = await redis('source', DB);
    target = await redis('target');
    daemon = startDaemon({
      SOURCE_REDIS_DB_SEARCH_RANGE: String(DB),
      STREAM_AUTO_DISCOVERY: 'true',
      STREAM_DISCOVERY_INTERVAL: '1',
      STREAM_DISCOVERY_PATTERNS: `dash-${id}-*`,
      KAFKA_TOPIC: `dash-${id}`,
      STREAM_TARGET_TOPIC_MAP: JSON.stringify({ [`dash-${id}-device[01]`]: `dash-${id}-even` }),
      TARGET_REDIS_KEY_PREFIX: prefix,
      SOURCE_BLOCK_MS: '200',
      KAFKA_MAX_REQUEST_SIZE: '100000',
    });
    // A demo-like generator: about 100 entries/s over four device streams until the test ends.
    generating = (async () => {
      for (let n = 0; !genCtl.signal.aborted; n += 1) {
        await Promise.all(
          Array.from({ length: 10 }, (_, i) =>
            source.send(['XADD', streams[(n + i) % 4] as string, '*', 'device_id', `dev-${i}`, 'seq', String(n)]),
          ),
        );
        await new Promise((r) => setTimeout(r, 100));
      }
    })();
    // One entry too large for Kafka: a dead letter, and an error event on the page.
    await source.send(['XADD', streams[0] as string, '*', 'device_id', 'big', 'blob', 'x'.repeat(200_000)]);
    profile = mkdtempSync(join(tmpdir(), 'rks-chromium-'));
    context = await chromium.launchPersistentContext(profile, {
      executablePath: CHROMIUM,
      headless: true,
      args: ARGS,
      viewport: { width: 1280, height: 900 },
    });
  });

  after(async () => {
    genCtl.abort();
    await generating.catch(() => undefined);
    await context?.close();
    if (profile) rmSync(profile, { recursive: true, force: true });
    await daemon.stop();
    await source.send(['DEL', ...streams]);
    await deletePrefix(target, prefix);
    await source.close();
    await target.close();
  });

  async function text(page: Page, selector: string): Promise<string> {
    return (await page.textContent(selector))?.trim() ?? '';
  }

  it('shows numbers that change as data flows, per-stream lag, topics, connections, errors and dead letters', async () => {
    const url = await daemon.url;
    const page = (context as BrowserContext).pages()[0] ?? (await (context as BrowserContext).newPage());
    const foreign: string[] = [];
    page.on('request', (r) => {
      if (!r.url().startsWith(url)) foreign.push(r.url());
    });
    await page.goto(`${url}/`);
    await waitFor('the page to show a ready daemon with data sent', async () => {
      return (await text(page, '#ready')) === 'ready' && !['–', '0'].includes(await text(page, '#sent-total'));
    });
    const firstSent = await text(page, '#sent-total');
    const firstRead = await text(page, '#read-total');
    // The page polls every 2 s while the generator keeps writing: the totals move.
    await waitFor('the sent total to change on the page', async () => (await text(page, '#sent-total')) !== firstSent);
    assert.notEqual(await text(page, '#read-total'), firstRead);
    assert.match(await text(page, '#backlog'), /^[\d.]+[kM]?$/);
    await waitFor('the dead letter and its error to show', async () => {
      const dead = await text(page, '#dead');
      const errors = await text(page, '#errors');
      return dead.includes('message too large') && errors.includes('dead-letter stream');
    });
    assert.match(await text(page, '#dead-count'), /^[1-9]/);
    await waitFor('both topics to show a rate', async () => {
      const topics = await text(page, '#topics');
      return topics.includes(`dash-${id}-even`) && topics.includes(`dash-${id}`);
    });
    await waitFor('every stream to be listed with its lag', async () => {
      const listed = await text(page, '#streams');
      return streams.every((s) => listed.includes(s));
    });
    const conns = await text(page, '#connections');
    for (const part of ['source', 'target', 'kafka']) assert.match(conns, new RegExp(`${part}connected`));
    assert.ok(((await page.locator('#chart polyline').count()) as number) >= 2, 'the throughput chart has its lines');
    assert.deepEqual(foreign, [], 'nothing is fetched from another origin');

    mkdirSync('test-artifacts', { recursive: true });
    await page.screenshot({ path: 'test-artifacts/dashboard.png', fullPage: true });
    await page.setViewportSize({ width: 390, height: 844 });
    await waitFor('the phone layout to settle', async () => (await text(page, '#ready')) === 'ready');
    const overflow = await page.evaluate(() => {
      const doc = (globalThis as unknown as { document: { documentElement: { scrollWidth: number } } }).document;
      return doc.documentElement.scrollWidth;
    });
    assert.ok(overflow <= 390, `no sideways scrolling on a phone (page is ${overflow}px wide)`);
    await page.screenshot({ path: 'test-artifacts/dashboard-390.png', fullPage: true });
  });
});
