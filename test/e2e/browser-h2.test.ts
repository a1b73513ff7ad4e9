// Push messaging past six connections (H1, H3), in a real browser: the demo page served through
// streamcache over TLS with ALPN h2 (a certificate made at test time), and 20 EventSource streams
// opened in that ONE page. Over HTTP/1.1 Chromium would hold all but six of them back; over HTTP/2
// they share one connection, and each must get every event published, in order. The origin sees
// one stream: the 20 (and the page's own) collapse onto one fetch (R2, R3).
//
// Chromium is Debian's `chromium` package (.ci/run installs it). Under CI (CI=true) a missing
// browser fails the test; elsewhere the test is skipped with a message saying how to install it.
import { existsSync } from 'node:fs';
import { chromium, type Browser } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startDemoOrigin, type DemoOrigin } from '../../src/demo/origin.js';
import { startProxy, type RunningProxy } from '../support/proxy.js';
import { generateTestCertificate } from '../support/tls-cert.js';

const CHROMIUM = '/usr/bin/chromium';
const IN_CI = process.env.CI === 'true';
const HAVE_CHROMIUM = existsSync(CHROMIUM);
if (!HAVE_CHROMIUM && !IN_CI) {
  console.warn(`test/e2e/browser-h2.test.ts skipped: no ${CHROMIUM}. Install it with: apt-get update && apt-get install -y chromium`);
}

const STREAMS = 20;
const EVENTS = 15;

// The page's globals, as seen from code that page.evaluate() runs in the browser.
declare const window: { demo?: { state: string }; streams: number[][]; opened: number };
declare class EventSource {
  constructor(url: string);
  onopen: (() => void) | null;
  onmessage: ((e: { lastEventId: string }) => void) | null;
}
declare const performance: { getEntriesByType(type: string): Array<{ nextHopProtocol: string }> };

describe.skipIf(!HAVE_CHROMIUM && !IN_CI)('push messaging over HTTP/2 in a browser (20 EventSource streams in one page)', () => {
  let origin: DemoOrigin;
  let proxy: RunningProxy;
  let browser: Browser | undefined;

  beforeAll(async () => {
    if (!HAVE_CHROMIUM) throw new Error(`no ${CHROMIUM}: CI must install Debian's chromium package (.ci/run does: apt-get install -y chromium)`);
    const cert = generateTestCertificate();
    origin = await startDemoOrigin({ streamDurationMs: 30_000, streamMaxAge: 28, eventIntervalMs: 0, retryMs: 300, heartbeatMs: 1_000 });
    proxy = await startProxy(origin.url, { tlsCert: cert.cert, tlsKey: cert.key, connectTimeout: 10_000 });
    browser = await chromium.launch({
      executablePath: CHROMIUM,
      args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--ignore-certificate-errors'],
    });
  });

  afterAll(async () => {
    await browser?.close();
    await proxy?.close();
    await origin?.close();
  });

  it('H1 H3 R2: 20 EventSource streams in one page share one HTTP/2 connection and each gets every event', async () => {
    const page = await (browser as Browser).newPage();
    const response = await page.goto(`https://localhost:${proxy.port}/`);
    expect(response?.status()).toBe(200);
    expect(await page.evaluate(() => performance.getEntriesByType('navigation')[0].nextHopProtocol)).toBe('h2');
    await page.waitForFunction(() => window.demo?.state === 'open', undefined, { timeout: 30_000 });
    await page.evaluate((n) => {
      window.streams = [];
      window.opened = 0;
      for (let i = 0; i < n; i++) {
        const ids: number[] = [];
        window.streams.push(ids);
        const source = new EventSource('/events');
        source.onopen = () => void window.opened++;
        source.onmessage = (e) => void (e.lastEventId && !ids.includes(Number(e.lastEventId)) && ids.push(Number(e.lastEventId)));
      }
    }, STREAMS);
    // All 20 open at once: over HTTP/1.1, six connections per host would hold 15 of them back.
    await page.waitForFunction((n) => window.opened === n, STREAMS, { timeout: 15_000 });
    const ids: number[] = [];
    for (let i = 0; i < EVENTS; i++) {
      ids.push(origin.publish({ data: { n: i } }).id);
      await page.waitForTimeout(50);
    }
    const last = ids[ids.length - 1];
    await page.waitForFunction((id) => window.streams.every((s) => s.includes(id)), last, { timeout: 15_000 });
    const streams = await page.evaluate(() => window.streams);
    expect(streams).toHaveLength(STREAMS);
    for (const [i, got] of streams.entries()) expect(got.filter((id) => id >= ids[0]), `stream ${i}`).toEqual(ids);
    // The page's own stream and the 20 collapse onto the origin's one /events stream.
    expect(origin.requests('/events')).toBe(1);
    // One page, one connection: the 21 streams and the page's other requests share it.
    expect(proxy.proxy.stats().connections.clients).toBe(1);
  }, 60_000);
});
