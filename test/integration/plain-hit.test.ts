// Issue 18 on real sockets: a plain hit (src/stream/plain-hit.ts, no reader, no writer) sends the
// bytes the general path sends. A request with an If-None-Match that does not match takes the
// general path (an object reader) to the same 200, so the two can be compared byte for byte, for
// GET and HEAD, HTTP/1.0 and 1.1, keep-alive and close; pipelined hits keep their order.
import { describe, expect, it } from 'vitest';
import { requestKit, type RequestOptions } from '../support/requests.js';
import { cleanupAfterEach, startOriginAndProxy } from '../support/proxy.js';
import { parseResponses, sendRaw } from '../support/raw-client.js';

const cleanups = cleanupAfterEach();
const { request, fetchOnce } = requestKit({ host: 'plain-hit.test' });

const BODY = 'x'.repeat(1024);

/** Age and the TTL left move with the clock between two requests: compared as shapes. */
function clockless(wire: Buffer): string {
  return wire.toString('latin1').replace(/\r\nAge: \d+\r\n/, '\r\nAge: N\r\n').replace(/; ttl=\d+\r\n/, '; ttl=N\r\n');
}

async function cachedOrigin() {
  const { proxy } = await startOriginAndProxy(cleanups, (_req, res) =>
    res.send({ headers: [['Cache-Control', 'max-age=3600'], ['ETag', '"v1"'], ['Content-Type', 'text/plain']], body: BODY }),
  );
  await fetchOnce(proxy.port, '/o');
  return proxy;
}

describe('plain hit (issue 18)', () => {
  const clients: Array<[string, RequestOptions]> = [
    ['GET, HTTP/1.1, close', { method: 'GET', version: '1.1' }],
    ['GET, HTTP/1.1, keep-alive', { method: 'GET', version: '1.1', keepAlive: true }],
    ['GET, HTTP/1.0, close', { method: 'GET', version: '1.0' }],
    ['GET, HTTP/1.0, keep-alive', { method: 'GET', version: '1.0', keepAlive: true }],
    ['HEAD, HTTP/1.1, close', { method: 'HEAD', version: '1.1' }],
    ['HEAD, HTTP/1.0, keep-alive', { method: 'HEAD', version: '1.0', keepAlive: true }],
  ];
  for (const [name, opts] of clients) {
    it(`R5/F1/F4/F5/K2: ${name}: the same bytes as the general path's hit`, async () => {
      const proxy = await cachedOrigin();
      const plain = await fetchOnce(proxy.port, '/o', opts);
      const general = await fetchOnce(proxy.port, '/o', { ...opts, headers: [['If-None-Match', '"other"']] });
      expect(plain.status).toBe(200);
      expect(plain.header('x-cache')).toBe('HIT');
      expect(plain.header('cache-status')).toMatch(/^streamcache; hit; ttl=\d+$/);
      expect(plain.header('content-length')).toBe('1024');
      expect(plain.header('accept-ranges')).toBe('bytes');
      expect(plain.header('x-cache-hits')).toBe('1');
      expect(general.header('x-cache-hits')).toBe('2');
      expect(clockless(plain.wire).replace('X-Cache-Hits: 1', 'X-Cache-Hits: 2')).toBe(clockless(general.wire));
      expect(plain.body.toString('latin1')).toBe(opts.method === 'HEAD' ? '' : BODY);
    });
  }

  it('F5: pipelined hits on one keep-alive connection come back whole and in order, the last closing it', async () => {
    const proxy = await cachedOrigin();
    const requests = [request('/o', { keepAlive: true }), request('/o', { method: 'HEAD', keepAlive: true }), request('/o', { keepAlive: true }), request('/o')].join('');
    const exchange = await sendRaw(proxy.port, requests, { idleMs: 1000 });
    const responses = parseResponses(exchange, ['GET', 'HEAD', 'GET', 'GET']);
    expect(responses.map((r) => [r.status, r.header('x-cache'), r.header('x-cache-hits'), r.body.length])).toEqual([
      [200, 'HIT', '1', 1024],
      [200, 'HIT', '2', 0],
      [200, 'HIT', '3', 1024],
      [200, 'HIT', '4', 1024],
    ]);
    expect(responses[3]!.header('connection')).toBe('close');
    expect(exchange.closedByServer).toBe(true);
  });
});
