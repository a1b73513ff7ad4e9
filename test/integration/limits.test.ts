// Size limits (SPEC L1-L4) seen from clients of one fetch: 503 while the head is not out, an
// abrupt close after, nothing cached, and the next request starts a new fetch.
import { describe, expect, it } from 'vitest';
import { openClient, parseResponses, sendRaw } from '../support/raw-client.js';
import type { OriginScript } from '../support/scripted-origin.js';
import { cleanupAfterEach, startOriginAndProxy } from '../support/proxy.js';
import { DEFAULTS, type CreateProxyOptions } from '../../src/index.js';

const cleanups = cleanupAfterEach();
const setup = (script: OriginScript, options: Partial<CreateProxyOptions> = {}) => startOriginAndProxy(cleanups, script, options);

const CACHEABLE: [string, string][] = [['Cache-Control', 'max-age=60']];
const GET = (path: string, version = '1.1') => `GET ${path} HTTP/${version}\r\nHost: t\r\n${version === '1.1' ? 'Connection: close\r\n' : ''}\r\n`;

describe('L1: maximum object sizes', () => {
  it("L1: the defaults are Fastly's: 5,368,578,048 bytes streaming, 2,147,352,576 buffered; both configurable", async () => {
    expect(DEFAULTS.maxObjectSize).toBe(5_368_578_048);
    expect(DEFAULTS.maxObjectSizeBuffered).toBe(2_147_352_576);
    const { proxy } = await setup((_req, res) => res.send({ body: 'x' }), { maxObjectSize: 1000, maxObjectSizeBuffered: 500 });
    expect(proxy.proxy.options.maxObjectSize).toBe(1000);
    expect(proxy.proxy.options.maxObjectSizeBuffered).toBe(500);
  });
});

describe('L2: an origin Content-Length above the limit', () => {
  it('L2: every attached client gets 503 at once, the origin connection is closed, nothing is cached', async () => {
    let heads = 0;
    const { proxy } = await setup(async (_req, res) => {
      heads++;
      // The head announces too much; the body never comes: the 503 must not wait for it.
      await res.head(200, [...CACHEABLE, ['Content-Length', '5000']], { delayMs: 100 });
      await res.stall();
    }, { maxObjectSize: 1000 });
    const clients = await Promise.all([0, 1, 2].map(() => sendRaw(proxy.port, GET('/big'), { idleMs: 2000 })));
    for (const exchange of clients) {
      const [res] = parseResponses(exchange);
      expect(res.status).toBe(503);
      expect(res.body.toString()).toMatch(/Content-Length 5000 is above the maximum object size \(1000 bytes\)/);
      expect(exchange.elapsedMs).toBeLessThan(1500);
    }
    expect(heads).toBe(1);
    // Our side of the origin connection is gone (the stalled origin itself does not read any more).
    expect(proxy.proxy.stats().connections.origin).toBe(0);
    // Nothing cached: the next request is a new fetch.
    await sendRaw(proxy.port, GET('/big'), { idleMs: 2000 });
    expect(heads).toBe(2);
  });

  it('L2: with streaming off the buffered limit applies', async () => {
    const { proxy } = await setup((_req, res) => res.send({ headers: CACHEABLE, body: 'y'.repeat(800) }), { stream: false, maxObjectSize: 10_000, maxObjectSizeBuffered: 500 });
    const [res] = parseResponses(await sendRaw(proxy.port, GET('/x'), { idleMs: 2000 }));
    expect(res.status).toBe(503);
  });
});

describe('L3: no Content-Length, not streaming', () => {
  it('L3: the body is fetched; when it passes the limit every waiting client gets 503 and nothing is cached', async () => {
    let fetches = 0;
    const { proxy } = await setup((_req, res) => {
      fetches++;
      return res.send({ headers: CACHEABLE, body: 'z'.repeat(3000), framing: 'chunked', chunkSizes: [500], gapMs: 5 });
    }, { stream: false, maxObjectSizeBuffered: 2000 });
    const clients = await Promise.all([GET('/l3'), GET('/l3', '1.0')].map((bytes) => sendRaw(proxy.port, bytes, { idleMs: 2000 })));
    for (const exchange of clients) {
      const [res] = parseResponses(exchange);
      expect(res.status).toBe(503);
      expect(res.body.toString()).toMatch(/maximum object size \(2000 bytes\)/);
    }
    expect(fetches).toBe(1);
    await sendRaw(proxy.port, GET('/l3'), { idleMs: 2000 });
    expect(fetches).toBe(2);
  });

  it('L3 + V1: an HTTP/1.0 request that triggers a fetch without Content-Length is held to the buffered limit', async () => {
    const { proxy } = await setup((_req, res) => res.send({ headers: CACHEABLE, body: 'v'.repeat(3000), framing: 'chunked', chunkSizes: [500] }), { maxObjectSize: 100_000, maxObjectSizeBuffered: 2000 });
    const [res] = parseResponses(await sendRaw(proxy.port, GET('/v1', '1.0'), { idleMs: 2000 }));
    expect(res.status).toBe(503);
  });
});

describe('L4: no Content-Length, streaming', () => {
  it('L4: streaming clients are cut abruptly (no terminating chunk), a waiting 1.0 client gets 503, nothing is cached', async () => {
    let fetches = 0;
    const { proxy } = await setup(async (_req, res) => {
      fetches++;
      await res.head(200, [...CACHEABLE, ['Transfer-Encoding', 'chunked']]);
      for (let i = 0; i < 10; i++) {
        await res.chunk('w'.repeat(400));
        await res.sleep(20);
      }
      await res.lastChunk();
    }, { maxObjectSize: 2000, maxObjectSizeBuffered: 100_000 });
    const streaming = await openClient(proxy.port);
    await streaming.write(GET('/l4'));
    // The streaming client has the head and the first bytes before the 1.0 client joins (V2: it waits).
    await streaming.readUntil((bytes) => bytes.includes('wwww'));
    const waiting = sendRaw(proxy.port, GET('/l4', '1.0'), { idleMs: 3000 });
    expect(await streaming.waitClose(3000)).toBe(true);
    const [cut] = parseResponses(streaming.received(), ['GET'], { closedCleanly: false });
    expect(cut.status).toBe(200);
    expect(cut.framing).toBe('chunked');
    expect(cut.terminatingChunk).toBe(false);
    expect(cut.body.length).toBeLessThanOrEqual(2000);
    const [refused] = parseResponses(await waiting);
    expect(refused.status).toBe(503);
    expect(fetches).toBe(1);
    // Nothing was cached: the next request starts a new fetch (and is cut the same way).
    await sendRaw(proxy.port, GET('/l4'), { idleMs: 3000 });
    expect(fetches).toBe(2);
  });

  it('L4: a body exactly at the limit is complete and cached', async () => {
    let fetches = 0;
    const { proxy } = await setup((_req, res) => {
      fetches++;
      return res.send({ headers: CACHEABLE, body: 'e'.repeat(2000), framing: 'chunked', chunkSizes: [500] });
    }, { maxObjectSize: 2000 });
    const [first] = parseResponses(await sendRaw(proxy.port, GET('/edge'), { idleMs: 2000 }));
    expect(first.terminatingChunk).toBe(true);
    expect(first.body.length).toBe(2000);
    const [hit] = parseResponses(await sendRaw(proxy.port, GET('/edge'), { idleMs: 2000 }));
    expect(hit.header('x-cache')).toBe('HIT');
    expect(hit.header('content-length')).toBe('2000');
    expect(fetches).toBe(1);
  });
});
