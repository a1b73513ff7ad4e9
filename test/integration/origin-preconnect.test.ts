// Issue 18: the origin pool opens one connection at start (after the warm-up), keeps it idle and
// sends nothing on it, so that the first client's miss does not wait for a handshake. When the
// origin is down at start nothing happens (no error, no retry): the first request connects as it
// always did. A pre-connected connection the origin closed under us is retried like a stale
// keep-alive connection (a bodiless request, nothing of the response received).
import net from 'node:net';
import type { AddressInfo } from 'node:net';
import { pino } from 'pino';
import { describe, expect, it } from 'vitest';
import { OriginPool } from '../../src/net/origin-pool.js';
import type { OriginError } from '../../src/net/origin-connection.js';
import { cleanupAfterEach, startProxy } from '../support/proxy.js';
import { startScriptedOrigin } from '../support/scripted-origin.js';
import { fetchOnce } from '../support/requests.js';
import { delay, freePort } from '../support/ports.js';
import { startSilentListener } from '../support/silent-listener.js';

const cleanups = cleanupAfterEach();
const config = { connectTimeout: 300, firstByteTimeout: 2000, betweenBytesTimeout: 2000, idleTimeout: 5000, maxConnections: 4, queueTimeout: 1000 };

/** A raw origin that counts connections and the bytes each one received; `script` answers a request. */
async function rawOrigin(script: (socket: net.Socket, index: number) => void): Promise<{ port: number; accepted: number; bytesIn: number[] }> {
  const state = { port: 0, accepted: 0, bytesIn: [] as number[] };
  const server = net.createServer((socket) => {
    const index = state.accepted++;
    state.bytesIn[index] = 0;
    socket.on('error', () => {});
    socket.on('data', (chunk: Buffer) => {
      state.bytesIn[index] += chunk.length;
      if (chunk.includes('\r\n\r\n')) script(socket, index);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  state.port = (server.address() as AddressInfo).port;
  cleanups.push(() => new Promise<void>((resolve) => server.close(() => resolve())));
  return state;
}

const OK = 'HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok';

function get(pool: OriginPool): Promise<{ status: number; body: string } | OriginError> {
  return new Promise((resolve) => {
    let status = 0;
    let body = '';
    pool.request('GET / HTTP/1.1\r\nHost: x\r\n\r\n', { expectNoBody: false, hasBody: false }, {
      onHead: (head) => void (status = head.status),
      onBody: (chunk) => void (body += chunk.toString()),
      onEnd: () => resolve({ status, body }),
      onError: (error) => resolve(error),
    });
  });
}

function newPool(port: number): OriginPool {
  const pool = new OriginPool({ host: '127.0.0.1', port, tls: false, insecure: false }, config);
  cleanups.push(() => pool.destroy());
  return pool;
}

describe('OriginPool.preconnect', () => {
  it('opens one idle connection and sends nothing on it; the first request reuses it', async () => {
    const origin = await rawOrigin((socket) => socket.write(OK));
    const pool = newPool(origin.port);
    pool.preconnect();
    pool.preconnect(); // one is enough: a second call while it connects opens nothing more
    await delay(100);
    expect(origin.accepted).toBe(1);
    expect(origin.bytesIn[0]).toBe(0);
    expect(pool.stats()).toMatchObject({ open: 1, idle: 1, connectsStarted: 1, requests: 0 });
    expect(await get(pool)).toEqual({ status: 200, body: 'ok' });
    expect(pool.stats()).toMatchObject({ open: 1, connectsStarted: 1, requests: 1 });
    expect(origin.accepted).toBe(1);
  });

  it('the origin down at start: no error, no pre-connect; the first request fails (or connects) as it always did', async () => {
    const pool = newPool(await freePort());
    pool.preconnect();
    await delay(100);
    expect(pool.stats()).toMatchObject({ open: 0, idle: 0, connectsStarted: 1 });
    const result = await get(pool);
    expect((result as OriginError).kind).toBe('connect-failed');
  });

  it('an origin that never answers the handshake: the pre-connect gives up at the connect timeout, quietly', async () => {
    const silent = await startSilentListener();
    cleanups.push(() => silent.close());
    const pool = newPool(silent.port);
    pool.preconnect();
    expect(pool.stats().open).toBe(1);
    await delay(config.connectTimeout + 200);
    expect(pool.stats()).toMatchObject({ open: 0, idle: 0 });
  });

  it('a pre-connected connection the origin drops at the first request is retried on a new one', async () => {
    const origin = await rawOrigin((socket, index) => (index === 0 ? socket.destroy() : socket.write(OK)));
    const pool = newPool(origin.port);
    pool.preconnect();
    await delay(100);
    expect(await get(pool)).toEqual({ status: 200, body: 'ok' });
    expect(origin.accepted).toBe(2);
  });

  it('nothing after close()', async () => {
    const origin = await rawOrigin((socket) => socket.write(OK));
    const pool = newPool(origin.port);
    pool.close();
    pool.preconnect();
    await delay(50);
    expect(origin.accepted).toBe(0);
  });
});

describe('the proxy pre-connects its origin at start', () => {
  it('listening means one origin connection open and idle, no request sent; the first miss goes on it', async () => {
    const origin = await startScriptedOrigin((_req, res) => res.send({ headers: [['Cache-Control', 'max-age=60']], body: 'first' }));
    cleanups.push(() => origin.close());
    const proxy = await startProxy(origin.url);
    cleanups.push(() => proxy.close());
    await delay(100);
    expect(origin.connections).toBe(1);
    expect(origin.requests).toHaveLength(0);
    expect(proxy.proxy.stats().connections).toMatchObject({ origin: 1, originIdle: 1 });
    const miss = await fetchOnce(proxy.port, '/a');
    expect(miss.body.toString()).toBe('first');
    expect(origin.requests[0].connectionId).toBe(1);
    expect(origin.connections).toBe(1);
  });

  it('warmUp: false opens nothing at start', async () => {
    const origin = await startScriptedOrigin((_req, res) => res.send({ body: 'x' }));
    cleanups.push(() => origin.close());
    const proxy = await startProxy(origin.url, { warmUp: false });
    cleanups.push(() => proxy.close());
    await delay(100);
    expect(origin.connections).toBe(0);
  });

  it('the origin down at start: the proxy starts, logs no error or warning for it, and the first request gets its 503', async () => {
    const lines: Array<Record<string, unknown>> = [];
    const logger = pino({ level: 'info' }, { write: (line: string) => void lines.push(JSON.parse(line) as Record<string, unknown>) });
    const proxy = await startProxy(`http://127.0.0.1:${await freePort()}`, { logger });
    cleanups.push(() => proxy.close());
    await delay(100);
    expect(lines.filter((l) => (l.level as number) >= 40)).toEqual([]);
    const res = await fetchOnce(proxy.port, '/down');
    expect(res.status).toBe(503);
  });
});
