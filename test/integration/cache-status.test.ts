// K2 on real sockets: every response path carries Cache-Status (RFC 9211) beside X-Cache, which keeps
// Fastly's three values (a collapsed client says MISS; Cache-Status says `collapsed`).
import { describe, expect, it } from 'vitest';
import { requestKit } from '../support/requests.js';
import { cleanupAfterEach, startOriginAndProxy, startProxy, testKit } from '../support/proxy.js';
import { delay } from '../support/ports.js';
import { parseResponses, sendRaw } from '../support/raw-client.js';

const cleanups = cleanupAfterEach();
const { signal, client } = testKit(cleanups);
const { request, fetchOnce } = requestKit({ host: 'status.test', idleMs: 2000 });

const served = (res: { header(name: string): string | undefined }) => [res.header('x-cache'), res.header('cache-status')];

describe('Cache-Status (K2)', () => {
  it('K2: a miss that is stored, then a hit with the ttl left', async () => {
    const { proxy } = await startOriginAndProxy(cleanups, (req, res) => res.send({ headers: [['Cache-Control', 'max-age=60']], body: 'x' }));
    expect(served(await fetchOnce(proxy.port, '/a'))).toEqual(['MISS', 'streamcache; fwd=uri-miss; fwd-status=200; ttl=60; stored']);
    const hit = await fetchOnce(proxy.port, '/a');
    expect(hit.header('x-cache')).toBe('HIT');
    expect(hit.header('cache-status')).toMatch(/^streamcache; hit; ttl=(59|60)$/);
  });

  it('K2: a key stored under another Vary variant is a vary-miss', async () => {
    const { proxy } = await startOriginAndProxy(cleanups, (req, res) =>
      res.send({ headers: [['Cache-Control', 'max-age=60'], ['Vary', 'Accept-Language']], body: `in ${req.header('accept-language')}` }),
    );
    await fetchOnce(proxy.port, '/v', { headers: [['Accept-Language', 'de']] });
    const other = await fetchOnce(proxy.port, '/v', { headers: [['Accept-Language', 'fr']] });
    expect(served(other)).toEqual(['MISS', 'streamcache; fwd=vary-miss; fwd-status=200; ttl=60; stored']);
  });

  it('K2: a stale object revalidated with a 304 is fwd=stale; fwd-status=304, served as a hit', async () => {
    const { proxy } = await startOriginAndProxy(cleanups, async (req, res) => {
      if (req.header('if-none-match') === '"v1"') return res.send({ status: 304, headers: [['ETag', '"v1"'], ['Cache-Control', 'max-age=1']] });
      await res.send({ headers: [['ETag', '"v1"'], ['Cache-Control', 'max-age=1']], body: 'body' });
    });
    await fetchOnce(proxy.port, '/s');
    await delay(1_100);
    const again = await fetchOnce(proxy.port, '/s');
    expect(again.header('x-cache')).toBe('HIT');
    expect(again.header('cache-status')).toMatch(/^streamcache; fwd=stale; fwd-status=304; ttl=[01]; stored$/);
  });

  it('K2: a client collapsed onto a fetch in flight: X-Cache MISS, Cache-Status collapsed', async () => {
    const release = signal();
    const { origin, proxy } = await startOriginAndProxy(cleanups, async (req, res) => {
      await release.promise;
      await res.send({ headers: [['Cache-Control', 'max-age=60']], body: 'shared' });
    });
    const first = await client(proxy.port);
    await first.write(request('/c'));
    await expect.poll(() => origin.requests.length).toBe(1);
    const second = await client(proxy.port);
    await second.write(request('/c'));
    await expect.poll(() => proxy.proxy.stats().responses.COLLAPSED).toBe(1);
    release.resolve();
    expect(served(await first.readResponse())).toEqual(['MISS', 'streamcache; fwd=uri-miss; fwd-status=200; ttl=60; stored']);
    expect(served(await second.readResponse())).toEqual(['MISS', 'streamcache; fwd=uri-miss; fwd-status=200; ttl=60; stored; collapsed']);
    expect(origin.requests).toHaveLength(1);
  });

  it('K2: passes say why: method, request body, Authorization, a recv rule, no-store, then hit-for-pass', async () => {
    const { proxy } = await startOriginAndProxy(
      cleanups,
      (req, res) => res.send({ status: req.method === 'POST' ? 201 : 200, headers: req.target === '/nostore' ? [['Cache-Control', 'no-store']] : [['Cache-Control', 'max-age=60']], body: 'p' }),
      { rules: [{ path: '/ruled', pass: true }] },
    );
    expect(served(await fetchOnce(proxy.port, '/post', { method: 'POST', body: 'x' }))).toEqual(['PASS', 'streamcache; fwd=method; fwd-status=201']);
    expect(served(await fetchOnce(proxy.port, '/getbody', { body: 'x' }))).toEqual(['PASS', 'streamcache; fwd=request; fwd-status=200; detail=request-body']);
    expect(served(await fetchOnce(proxy.port, '/auth', { headers: [['Authorization', 'Basic eDp5']] }))).toEqual(['PASS', 'streamcache; fwd=bypass; fwd-status=200; detail=authorization']);
    expect(served(await fetchOnce(proxy.port, '/ruled'))).toEqual(['PASS', 'streamcache; fwd=bypass; fwd-status=200; detail=recv']);
    expect(served(await fetchOnce(proxy.port, '/nostore'))).toEqual(['PASS', 'streamcache; fwd=miss; fwd-status=200; detail=unshareable']);
    expect(served(await fetchOnce(proxy.port, '/nostore'))).toEqual(['PASS', 'streamcache; fwd=bypass; fwd-status=200; detail=hit-for-pass']);
  });

  it("K2: the proxy's own errors: a 503 names the origin failure, a 400 says bad-request", async () => {
    // Nothing listens on the discard port.
    const proxy = await startProxy('http://127.0.0.1:9');
    cleanups.push(() => proxy.close());
    const down = await fetchOnce(proxy.port, '/down');
    expect(down.status).toBe(503);
    expect(served(down)).toEqual(['MISS', 'streamcache; fwd=uri-miss; detail=connect-failed']);
    const passDown = await fetchOnce(proxy.port, '/down', { method: 'POST', body: 'x' });
    expect(served(passDown)).toEqual(['PASS', 'streamcache; fwd=method; detail=connect-failed']);
    const bad = await fetchOnce(proxy.port, '/bad', { headers: [['Transfer_Encoding', 'chunked']] });
    expect(bad.status).toBe(400);
    expect(served(bad)).toEqual(['PASS', 'streamcache; detail=bad-request']);
  });

  it("K2: an upstream cache's Cache-Status entry stays first; ours is appended (RFC 9211 §2)", async () => {
    const { proxy } = await startOriginAndProxy(cleanups, (req, res) => res.send({ headers: [['Cache-Control', 'max-age=60'], ['Cache-Status', 'shield; hit; ttl=50']], body: 'x' }));
    const res = await fetchOnce(proxy.port, '/tiered');
    expect(res.headerAll('cache-status')).toEqual(['shield; hit; ttl=50', 'streamcache; fwd=uri-miss; fwd-status=200; ttl=60; stored']);
  });
});

describe('Cache-Status on what the socket layer answers itself (K2)', () => {
  it('K2: a 400 for bytes that are not HTTP, a 431 and a 408 carry X-Cache PASS and a Cache-Status detail', async () => {
    const proxy = await startProxy('http://127.0.0.1:9', { headerTimeout: 200, maxHeadSize: 1024 });
    cleanups.push(() => proxy.close());
    const garbage = await sendRaw(proxy.port, 'GET / HTTP/1.1\r\nHost: t\r\nX(A): 1\r\n\r\n', { idleMs: 2000 });
    expect(served(parseResponses(garbage)[0])).toEqual(['PASS', 'streamcache; detail=bad-request']);
    const big = await sendRaw(proxy.port, `GET / HTTP/1.1\r\nHost: t\r\nX-Big: ${'a'.repeat(2048)}\r\n\r\n`, { idleMs: 2000 });
    expect(served(parseResponses(big)[0])).toEqual(['PASS', 'streamcache; detail=head-too-large']);
    const slow = await sendRaw(proxy.port, 'GET / HTTP/1.1\r\nHost: t\r\n', { idleMs: 2000 });
    expect(served(parseResponses(slow)[0])).toEqual(['PASS', 'streamcache; detail=request-timeout']);
  });
});
