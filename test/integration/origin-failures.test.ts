// Every way a fetch can fail, seen from a client of the pass-through proxy: 503 with a reason while
// the head is not out (O1), an abrupt close after (O2) — never a body ended as if it were whole —
// close-delimited bodies (O3), the origin connection limit and queue (P3), client departure (R8).
import net from 'node:net';
import { describe, expect, it } from 'vitest';
import { parseResponses, sendRaw } from '../support/raw-client.js';
import type { OriginScript } from '../support/scripted-origin.js';
import { cleanupAfterEach, startOriginAndProxy, startProxy } from '../support/proxy.js';
import type { CreateProxyOptions } from '../../src/index.js';
import { delay, waitFor } from '../support/ports.js';

const cleanups = cleanupAfterEach();
const setup = (script: OriginScript, options: Partial<CreateProxyOptions> = {}) => startOriginAndProxy(cleanups, script, options);

const GET = (path: string, version = '1.1') => `GET ${path} HTTP/${version}\r\nHost: t\r\n${version === '1.1' ? 'Connection: close\r\n' : ''}\r\n`;

describe('O1: failures before the response head get a 503 with a reason', () => {
  it('O1: origin down (connection refused)', async () => {
    const server = net.createServer();
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const port = (server.address() as net.AddressInfo).port;
    await new Promise((resolve) => server.close(resolve));
    const proxy = await startProxy(`http://127.0.0.1:${port}`);
    cleanups.push(() => proxy.close());
    const [res] = parseResponses(await sendRaw(proxy.port, GET('/x')));
    expect(res.status).toBe(503);
    expect(res.body.toString()).toMatch(/cannot connect to origin: ECONNREFUSED/);
  });

  it('O1: connect timeout (a TLS origin whose handshake never completes)', async () => {
    // It reads (and so notices the proxy hanging up) but never answers the TLS ClientHello.
    const silent = net.createServer((socket) => socket.on('error', () => {}).resume());
    await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve));
    cleanups.push(() => new Promise((resolve) => { silent.close(() => resolve()); }));
    const proxy = await startProxy(`https://127.0.0.1:${(silent.address() as net.AddressInfo).port}`, { connectTimeout: 150 });
    cleanups.push(() => proxy.close());
    const exchange = await sendRaw(proxy.port, GET('/x'), { idleMs: 2000 });
    const [res] = parseResponses(exchange);
    expect(res.status).toBe(503);
    expect(res.body.toString()).toMatch(/connect timeout \(150 ms\)/);
    expect(exchange.elapsedMs).toBeGreaterThanOrEqual(140);
    expect(exchange.elapsedMs).toBeLessThan(1500);
  });

  it('O1: first-byte timeout', async () => {
    const { proxy } = await setup((_req, res) => res.stall(), { firstByteTimeout: 150 });
    const exchange = await sendRaw(proxy.port, GET('/x'), { idleMs: 2000 });
    expect(parseResponses(exchange)[0].status).toBe(503);
    expect(parseResponses(exchange)[0].body.toString()).toMatch(/first byte timeout/);
    expect(exchange.elapsedMs).toBeGreaterThanOrEqual(140);
  });

  it('O1: the origin closes or resets before sending a head', async () => {
    const { proxy } = await setup((req, res) => (req.target === '/close' ? res.end() : res.reset({ settleMs: 0 })));
    for (const path of ['/close', '/reset']) {
      const [res] = parseResponses(await sendRaw(proxy.port, GET(path), { idleMs: 2000 }));
      expect(res.status).toBe(503);
    }
  });

  it('O1: an invalid response head is a 503, not relayed', async () => {
    const { proxy } = await setup((_req, res) => res.raw('HTTP/1.1 200 OK\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\nab'));
    const [res] = parseResponses(await sendRaw(proxy.port, GET('/x'), { idleMs: 2000 }));
    expect(res.status).toBe(503);
    expect(res.body.toString()).toMatch(/invalid response from origin/);
  });

  it('O1: the default timeouts are Fastly\'s: connect 1 s, first byte 15 s, between bytes 10 s', async () => {
    const { proxy } = await setup((_req, res) => res.send({ body: 'x' }));
    expect(proxy.proxy.options.connectTimeout).toBe(1_000);
    expect(proxy.proxy.options.firstByteTimeout).toBe(15_000);
    expect(proxy.proxy.options.betweenBytesTimeout).toBe(10_000);
  });
});

describe('O2: failures after the head end the client connection abruptly', () => {
  it('O2: reset mid-body, Content-Length: the client sees the close before that many bytes', async () => {
    const { proxy } = await setup((_req, res) => res.send({ body: 'x'.repeat(1000), chunkSizes: [300], gapMs: 10, failAt: { byte: 600, how: 'reset' } }));
    const exchange = await sendRaw(proxy.port, GET('/x'), { idleMs: 2000 });
    const [res] = parseResponses(exchange);
    expect(res.status).toBe(200);
    expect(res.header('content-length')).toBe('1000');
    expect(res.complete).toBe(false);
    expect(res.body.length).toBe(600);
    expect(exchange.closedByServer).toBe(true);
  });

  it('O2: reset mid-body, chunked: the client never gets the terminating chunk', async () => {
    const { proxy } = await setup((_req, res) => res.send({ body: 'y'.repeat(1000), framing: 'chunked', chunkSizes: [250], gapMs: 10, failAt: { byte: 500, how: 'reset' } }));
    const exchange = await sendRaw(proxy.port, GET('/x'), { idleMs: 2000 });
    const [res] = parseResponses(exchange);
    expect(res.framing).toBe('chunked');
    expect(res.terminatingChunk).toBe(false);
    expect(res.complete).toBe(false);
    expect(res.body.toString()).toBe('y'.repeat(500));
    expect(exchange.closedByServer).toBe(true);
  });

  it('O2: a clean close before the last chunk is a failure too, not the end of the body', async () => {
    const { proxy } = await setup((_req, res) => res.send({ body: 'z'.repeat(100), framing: 'chunked', failAt: { byte: 100, how: 'close' } }));
    const [res] = parseResponses(await sendRaw(proxy.port, GET('/x'), { idleMs: 2000 }));
    expect(res.body.length).toBe(100);
    expect(res.terminatingChunk).toBe(false);
  });

  it('O2: between-bytes timeout mid-body ends the client connection abruptly', async () => {
    const { proxy } = await setup((_req, res) => res.send({ body: 'w'.repeat(100), failAt: { byte: 40, how: 'stall' } }), { betweenBytesTimeout: 150 });
    const exchange = await sendRaw(proxy.port, GET('/x'), { idleMs: 3000 });
    const [res] = parseResponses(exchange);
    expect(res.body.length).toBe(40);
    expect(res.complete).toBe(false);
    expect(exchange.closedByServer).toBe(true);
    expect(exchange.elapsedMs).toBeGreaterThanOrEqual(140);
  });

  it('O2: malformed chunking from the origin (a chunk size that lies) ends the client connection abruptly', async () => {
    const { proxy } = await setup(async (_req, res) => {
      await res.head(200, [['Transfer-Encoding', 'chunked']]);
      await res.chunk('good');
      await res.lyingChunk(3, 'too long for three');
      await res.lastChunk();
    });
    const exchange = await sendRaw(proxy.port, GET('/x'), { idleMs: 2000 });
    const [res] = parseResponses(exchange);
    expect(res.terminatingChunk).toBe(false);
    expect(res.body.toString().startsWith('good')).toBe(true);
    expect(exchange.closedByServer).toBe(true);
  });

  it('O2 + F3: a 1.0 client waiting for a whole unknown-length body gets 503 when it fails', async () => {
    const { proxy } = await setup((_req, res) => res.send({ body: 'v'.repeat(1000), framing: 'chunked', chunkSizes: [100], gapMs: 5, failAt: { byte: 500, how: 'reset' } }));
    const [res] = parseResponses(await sendRaw(proxy.port, GET('/x', '1.0'), { idleMs: 2000 }));
    expect(res.status).toBe(503);
  });
});

describe('O3: close-delimited origin bodies', () => {
  it('O3: complete at a clean close: chunked (with the zero chunk) to 1.1, Content-Length to 1.0', async () => {
    const { proxy } = await setup((_req, res) => res.send({ body: 'close-delimited body', framing: 'close', http10: true }));
    const [v11] = parseResponses(await sendRaw(proxy.port, GET('/x'), { idleMs: 2000 }));
    expect(v11.framing).toBe('chunked');
    expect(v11.terminatingChunk).toBe(true);
    expect(v11.body.toString()).toBe('close-delimited body');
    const [v10] = parseResponses(await sendRaw(proxy.port, GET('/x', '1.0'), { idleMs: 2000 }));
    expect(v10.header('content-length')).toBe('20');
    expect(v10.body.toString()).toBe('close-delimited body');
  });

  it('O3/O2: a close-delimited body cut by a reset is not complete', async () => {
    const { proxy } = await setup((_req, res) => res.send({ body: 'u'.repeat(1000), framing: 'close', chunkSizes: [100], gapMs: 5, failAt: { byte: 300, how: 'reset' } }));
    const [res] = parseResponses(await sendRaw(proxy.port, GET('/x'), { idleMs: 2000 }));
    expect(res.terminatingChunk).toBe(false);
  });
});

describe('origin connections', () => {
  it('keep-alive: a stale pooled connection that fails before any byte is retried once, transparently', async () => {
    const { origin, proxy } = await setup(async (req, res) => {
      // The second request on a connection finds it dead, as if the origin had timed it out.
      if (req.indexOnConnection > 0) return res.reset({ settleMs: 0 });
      await res.send({ body: `ok ${req.target}` });
    });
    const first = parseResponses(await sendRaw(proxy.port, GET('/a')))[0];
    const second = parseResponses(await sendRaw(proxy.port, GET('/b'), { idleMs: 2000 }))[0];
    expect(first.body.toString()).toBe('ok /a');
    expect(second.status).toBe(200);
    expect(second.body.toString()).toBe('ok /b');
    expect(origin.connections).toBe(2);
  });

  it('P3: at the origin connection limit requests queue, and get 503 when they wait too long', async () => {
    const { origin, proxy } = await setup(async (req, res) => {
      if (req.target === '/slow') await res.sleep(600);
      await res.send({ body: req.target });
    }, { maxOriginConnections: 1, originQueueTimeout: 200 });
    const slow = sendRaw(proxy.port, GET('/slow'), { idleMs: 3000 });
    await origin.waitForRequests(1);
    const queued = await sendRaw(proxy.port, GET('/queued'), { idleMs: 2000 });
    const [res] = parseResponses(queued);
    expect(res.status).toBe(503);
    expect(res.body.toString()).toMatch(/no origin connection free within 200 ms \(limit 1\)/);
    expect(parseResponses(await slow)[0].body.toString()).toBe('/slow');
    expect(origin.connections).toBe(1);
  });

  it('P3: queued requests are served in turn when a connection frees up in time', async () => {
    const { origin, proxy } = await setup(async (req, res) => {
      await res.sleep(30);
      await res.send({ body: req.target });
    }, { maxOriginConnections: 1, originQueueTimeout: 2000 });
    const results = await Promise.all(['/1', '/2', '/3'].map((p) => sendRaw(proxy.port, GET(p), { idleMs: 2000 })));
    expect(results.map((r) => parseResponses(r)[0].body.toString())).toEqual(['/1', '/2', '/3']);
    expect(origin.connections).toBe(1);
  });

  it('R8 (pass): a client that leaves mid-body aborts its origin fetch', async () => {
    const { origin, proxy } = await setup((_req, res) => res.send({ body: 'p'.repeat(100_000), chunkSizes: [1000], gapMs: 20 }));
    const client = net.connect(proxy.port, '127.0.0.1');
    client.write(GET('/x'));
    await new Promise((resolve) => client.once('data', resolve));
    client.destroy();
    await waitFor(() => origin.openConnections() === 0, 3000, 'origin connection closed after the client left');
    expect(origin.openConnections()).toBe(0);
  });

  it('origin errors never leak to other clients: a failing request beside healthy ones', async () => {
    const { proxy } = await setup((req, res) => (req.target === '/bad' ? res.send({ body: 'b'.repeat(100), failAt: { byte: 50, how: 'reset' } }) : res.send({ body: `good ${req.target}` })));
    const results = await Promise.all(['/a', '/bad', '/b', '/c'].map((p) => sendRaw(proxy.port, GET(p), { idleMs: 2000 })));
    const bodies = results.map((r) => parseResponses(r)[0]);
    expect(bodies[0].body.toString()).toBe('good /a');
    expect(bodies[1].complete).toBe(false);
    expect(bodies[2].body.toString()).toBe('good /b');
    expect(bodies[3].body.toString()).toBe('good /c');
    await delay(10);
  });
});
