// The client side's defences: request smuggling vectors rejected (P1), head size and header
// timeout (P2), idle keep-alive close (P2), the client connection limit (P3), and graceful close.
import net from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { openClient, parseResponses, sendRaw } from '../support/raw-client.js';
import { startScriptedOrigin, type ScriptedOrigin } from '../support/scripted-origin.js';
import { startProxy, type RunningProxy } from '../support/proxy.js';
import type { CreateProxyOptions } from '../../src/index.js';
import { delay } from '../support/ports.js';

const cleanups: Array<() => Promise<void>> = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

async function setup(options: Partial<CreateProxyOptions> = {}): Promise<{ origin: ScriptedOrigin; proxy: RunningProxy }> {
  const origin = await startScriptedOrigin(async (req, res) => {
    if (req.target.startsWith('/slow')) await res.sleep(300);
    await res.send({ body: `ok ${req.method} ${req.target} ${req.body.length}` });
  });
  cleanups.push(() => origin.close());
  const proxy = await startProxy(origin.url, options);
  cleanups.push(() => proxy.close());
  return { origin, proxy };
}

// Each is a classic request-smuggling or desync vector; each must get a 400 and a closed connection.
const SMUGGLING: Array<[string, string]> = [
  ['Content-Length with Transfer-Encoding', 'POST / HTTP/1.1\r\nHost: t\r\nContent-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n'],
  ['two differing Content-Lengths', 'POST / HTTP/1.1\r\nHost: t\r\nContent-Length: 4\r\nContent-Length: 5\r\n\r\nabcde'],
  ['a Content-Length list', 'POST / HTTP/1.1\r\nHost: t\r\nContent-Length: 4, 4\r\n\r\nabcd'],
  ['Transfer-Encoding not ending in chunked', 'POST / HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked, identity\r\n\r\n0\r\n\r\n'],
  ['an obfuscated Transfer-Encoding', 'POST / HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: xchunked\r\n\r\n0\r\n\r\n'],
  ['a space before the colon', 'POST / HTTP/1.1\r\nHost: t\r\nTransfer-Encoding : chunked\r\n\r\n0\r\n\r\n'],
  ['obs-fold', 'GET / HTTP/1.1\r\nHost: t\r\nX-Folded: a\r\n b\r\n\r\n'],
  ['an invalid chunk size', 'POST / HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n0x5\r\nhello\r\n0\r\n\r\n'],
  ['a negative chunk size', 'POST / HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n-1\r\nx\r\n0\r\n\r\n'],
  ['bare LF line endings', 'GET / HTTP/1.1\nHost: t\n\n'],
  ['a NUL in a header value', 'GET / HTTP/1.1\r\nHost: t\r\nX-A: a\x00b\r\n\r\n'],
  ['an invalid header name', 'GET / HTTP/1.1\r\nHost: t\r\nX(A): 1\r\n\r\n'],
  ['an invalid version', 'GET / HTTP/1.7\r\nHost: t\r\n\r\n'],
  ['two Host headers', 'GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n'],
  ['a 1.1 request without Host', 'GET / HTTP/1.1\r\n\r\n'],
];

describe('P1: ambiguous or malformed requests get 400 and the connection closes', () => {
  for (const [name, bytes] of SMUGGLING) {
    it(`P1: ${name}`, async () => {
      const { origin, proxy } = await setup();
      const exchange = await sendRaw(proxy.port, bytes, { idleMs: 2000 });
      const [res] = parseResponses(exchange);
      expect(res.status).toBe(400);
      expect(res.header('connection')).toBe('close');
      expect(res.body.length).toBeGreaterThan(0);
      expect(exchange.closedByServer).toBe(true);
      // Nothing of an ambiguous request reaches the origin as a whole request. (A request body is
      // streamed, so a body that turns out malformed may have had its head forwarded: the origin
      // then sees the connection aborted before the body ends.)
      await delay(20);
      expect(origin.requests.filter((r) => r.complete)).toEqual([]);
    });
  }

  it('P1: a malformed request after a good one: the good one is answered, then 400 and close', async () => {
    const { proxy } = await setup();
    const exchange = await sendRaw(proxy.port, 'GET /good HTTP/1.1\r\nHost: t\r\n\r\nGET / HTTP/1.1\r\nHost: t\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n', { idleMs: 2000 });
    const responses = parseResponses(exchange);
    expect(responses.map((r) => r.status)).toEqual([200, 400]);
    expect(responses[0].body.toString()).toBe('ok GET /good 0');
    expect(exchange.closedByServer).toBe(true);
  });
});

describe('P2: head size, header timeout and idle timeout', () => {
  it('P2: a request head over the limit gets 431 and the connection closes', async () => {
    const { origin, proxy } = await setup({ maxHeadSize: 4096 });
    const exchange = await sendRaw(proxy.port, `GET / HTTP/1.1\r\nHost: t\r\nX-Big: ${'a'.repeat(5000)}\r\n\r\n`, { idleMs: 2000 });
    const [res] = parseResponses(exchange);
    expect(res.status).toBe(431);
    expect(exchange.closedByServer).toBe(true);
    expect(origin.requests.length).toBe(0);
  });

  it('P2: a head just under the limit passes', async () => {
    const { proxy } = await setup({ maxHeadSize: 4096 });
    const exchange = await sendRaw(proxy.port, `GET /x HTTP/1.1\r\nHost: t\r\nConnection: close\r\nX-Big: ${'a'.repeat(3900)}\r\n\r\n`);
    expect(parseResponses(exchange)[0].status).toBe(200);
  });

  it('P2: a head trickled in over many small writes is still limited', async () => {
    const { proxy } = await setup({ maxHeadSize: 2048 });
    const lines = Array.from({ length: 100 }, (_, i) => `X-H${i}: ${'v'.repeat(30)}\r\n`);
    const exchange = await sendRaw(proxy.port, ['GET / HTTP/1.1\r\nHost: t\r\n', ...lines, '\r\n'], { idleMs: 2000 });
    expect(parseResponses(exchange)[0].status).toBe(431);
  });

  it('P2: a head not complete within the header timeout gets 408 and the connection closes', async () => {
    const { proxy } = await setup({ headerTimeout: 200 });
    const exchange = await sendRaw(proxy.port, 'GET / HTTP/1.1\r\nHost: t\r\n', { idleMs: 3000 });
    const [res] = parseResponses(exchange);
    expect(res.status).toBe(408);
    expect(exchange.closedByServer).toBe(true);
    expect(exchange.elapsedMs).toBeGreaterThanOrEqual(190);
  });

  it('P2: an idle keep-alive connection closes after the idle timeout, silently', async () => {
    const { proxy } = await setup({ idleTimeout: 200 });
    const client = await openClient(proxy.port);
    await client.write('GET /a HTTP/1.1\r\nHost: t\r\n\r\n');
    await client.readResponse();
    const started = Date.now();
    expect(await client.waitClose(2000)).toBe(true);
    expect(Date.now() - started).toBeGreaterThanOrEqual(150);
    expect(parseResponses(client.received()).length).toBe(1);
  });

  it('P2: a long-running response is not cut by the idle or header timeouts', async () => {
    const { proxy } = await setup({ idleTimeout: 100, headerTimeout: 100 });
    const exchange = await sendRaw(proxy.port, 'GET /slow HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n', { idleMs: 2000 });
    expect(parseResponses(exchange)[0].body.toString()).toBe('ok GET /slow 0');
  });
});

describe('P3: client connection limit', () => {
  it('P3: connections past the limit get 503 with a reason and are closed; the others are served', async () => {
    const { proxy } = await setup({ maxClientConnections: 2 });
    const a = await openClient(proxy.port);
    const b = await openClient(proxy.port);
    await delay(20);
    const refused = await sendRaw(proxy.port, 'GET / HTTP/1.1\r\nHost: t\r\n\r\n', { idleMs: 2000 });
    const [res] = parseResponses(refused);
    expect(res.status).toBe(503);
    expect(res.body.toString()).toMatch(/too many client connections/);
    await a.write('GET /a HTTP/1.1\r\nHost: t\r\n\r\n');
    expect((await a.readResponse()).status).toBe(200);
    await a.close();
    await b.close();
    await delay(20);
    const later = await sendRaw(proxy.port, 'GET /later HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n');
    expect(parseResponses(later)[0].status).toBe(200);
  });
});

describe('graceful close', () => {
  it('close() stops accepting, lets a response in flight finish, and closes idle connections', async () => {
    const { proxy } = await setup();
    const idle = await openClient(proxy.port);
    const inFlight = sendRaw(proxy.port, 'GET /slow HTTP/1.1\r\nHost: t\r\n\r\n', { idleMs: 3000 });
    await delay(50);
    const closing = proxy.proxy.close(5000);
    expect(await idle.waitClose(1000)).toBe(true);
    const [res] = parseResponses(await inFlight);
    expect(res.body.toString()).toBe('ok GET /slow 0');
    expect(res.header('connection')).toBe('close');
    await closing;
    const refused = await new Promise<string>((resolve) => {
      const socket = net.connect(proxy.port, '127.0.0.1');
      socket.on('error', (err: NodeJS.ErrnoException) => resolve(err.code ?? 'error'));
      socket.on('connect', () => resolve('connected'));
    });
    expect(refused).toBe('ECONNREFUSED');
  });

  it('close() cuts responses still running at the deadline', async () => {
    const origin = await startScriptedOrigin((_req, res) => res.send({ body: 'x'.repeat(1000), chunkSizes: [10], gapMs: 100 }));
    cleanups.push(() => origin.close());
    const proxy = await startProxy(origin.url);
    const exchange = sendRaw(proxy.port, 'GET / HTTP/1.1\r\nHost: t\r\n\r\n', { idleMs: 5000 });
    await delay(150);
    const started = Date.now();
    await proxy.proxy.close(200);
    expect(Date.now() - started).toBeLessThan(1500);
    const [res] = parseResponses(await exchange);
    expect(res.complete).toBe(false);
  });
});
