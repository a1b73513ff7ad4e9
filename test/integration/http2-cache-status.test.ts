// K2 and K3 per HTTP/2 stream (H2): Cache-Status and X-Cache on every response of the HTTP/2
// writer, and the deliver hook on a pass and on the proxy's own 503, over h2c.
import { describe, expect, it } from 'vitest';
import { cleanupAfterEach, startOriginAndProxy, startProxy } from '../support/proxy.js';
import { closeSession, connectH2, h2Request } from '../support/h2-client.js';

const cleanups = cleanupAfterEach();

function session(port: number) {
  const s = connectH2(port);
  cleanups.push(() => closeSession(s));
  return s;
}

const deliver = { deliver: (ctx: { headers: { delete(name: string): unknown } }) => void ctx.headers.delete('x-internal') };

describe('Cache-Status and the deliver hook over HTTP/2 (K2, K3, H2)', () => {
  it('K2/K3 over h2c: miss, hit and a POST pass carry Cache-Status; x-internal never goes out', async () => {
    const { proxy } = await startOriginAndProxy(cleanups, (req, res) => res.send({ headers: [['Cache-Control', 'max-age=60'], ['X-Internal', 'secret']], body: 'b' }), { h2c: true, hooks: deliver });
    const s = session(proxy.port);
    const miss = await h2Request(s, '/h2');
    const hit = await h2Request(s, '/h2');
    const post = await h2Request(s, '/h2post', { ':method': 'POST' }, 'x');
    expect([miss.headers['x-cache'], miss.headers['cache-status']]).toEqual(['MISS', 'streamcache; fwd=uri-miss; fwd-status=200; ttl=60; stored']);
    expect(hit.headers['x-cache']).toBe('HIT');
    expect(hit.headers['cache-status']).toMatch(/^streamcache; hit; ttl=(59|60)$/);
    expect([post.headers['x-cache'], post.headers['cache-status']]).toEqual(['PASS', 'streamcache; fwd=method; fwd-status=200']);
    for (const res of [miss, hit, post]) expect(res.headers['x-internal']).toBeUndefined();
  });

  it("K2/K3 over h2c: the proxy's own 503 says why and goes through the hook", async () => {
    const proxy = await startProxy('http://127.0.0.1:9', { h2c: true, hooks: { deliver: (ctx) => void ctx.headers.set('X-Edge', 'e1') } });
    cleanups.push(() => proxy.close());
    const res = await h2Request(session(proxy.port), '/down');
    expect(res.status).toBe(503);
    expect([res.headers['x-cache'], res.headers['cache-status'], res.headers['x-edge']]).toEqual(['MISS', 'streamcache; fwd=uri-miss; detail=connect-failed', 'e1']);
  });
});
