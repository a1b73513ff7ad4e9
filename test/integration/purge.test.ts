// Invalidation on one node, on real sockets: PURGE by URL (every Vary variant) and by surrogate
// key, the library call and the admin endpoints (I1, I2), who may purge (I1), soft purge (I3),
// purges of fetches in flight (I4), the Surrogate-* fields towards clients and tiers (I2), and
// bad purge requests (each refused with a status, nothing purged).
import { describe, expect, it } from 'vitest';
import { bodyBytes } from '../support/raw-client.js';
import { requestKit } from '../support/requests.js';
import type { OriginScript, ReceivedRequest, ScriptedOrigin } from '../support/scripted-origin.js';
import { cleanupAfterEach, startOriginAndProxy, testKit } from '../support/proxy.js';
import { delay, freePort, waitFor } from '../support/ports.js';
import { PurgeError, type CreateProxyOptions } from '../../src/index.js';
import { closeSession, connectH2, h2Request } from '../support/h2-client.js';

const cleanups = cleanupAfterEach();
const { signal, client } = testKit(cleanups);
const setup = (script: OriginScript, options: Partial<CreateProxyOptions> = {}) => startOriginAndProxy(cleanups, script, options);
const HOST = 'purge.test';
const { request, fetchOnce } = requestKit({ host: HOST });

const gets = (origin: ScriptedOrigin, target?: string): ReceivedRequest[] =>
  origin.requests.filter((r) => r.method === 'GET' && (target === undefined || r.target === target));

/** Cacheable for a minute; tagged by the `tags` query parameter; Vary: Accept-Language; a body naming the fetch. */
function taggingOrigin(extra: [string, string][] = []): { script: OriginScript; count: () => number } {
  let n = 0;
  return {
    count: () => n,
    script: (req, res) => {
      const i = n++;
      const tags = new URL(req.target, 'http://x').searchParams.get('tags');
      const headers: [string, string][] = [['Cache-Control', 'max-age=60'], ['Vary', 'Accept-Language'], ['ETag', `"e${i}"`], ...extra];
      if (tags) headers.push(['Surrogate-Key', tags]);
      return res.send({ headers, body: `fetch ${i} of ${req.target} for ${req.header('accept-language') ?? 'any'}` });
    },
  };
}

const purgeJson = (body: Buffer) => JSON.parse(body.toString()) as { purged?: number; error?: string };

/** POST to the admin listener; returns status and JSON body. */
async function adminPost(port: number, path: string, headers: [string, string][] = []): Promise<{ status: number; json: { purged?: number; error?: string } }> {
  const res = await fetchOnce(port, path, { method: 'POST', headers });
  return { status: res.status, json: purgeJson(res.body) };
}

async function adminProxy(script: OriginScript, options: Partial<CreateProxyOptions> = {}) {
  const adminPort = await freePort();
  const started = await setup(script, { admin: `127.0.0.1:${adminPort}`, ...options });
  return { ...started, adminPort };
}

describe('I1: purge by URL', () => {
  it('I1: PURGE removes every Vary variant of the key and answers 200 {"purged": N}; the origin never sees it', async () => {
    const o = taggingOrigin();
    const { origin, proxy } = await setup(o.script);
    for (const lang of ['en', 'fr']) await fetchOnce(proxy.port, '/page', { headers: [['Accept-Language', lang]] });
    expect((await fetchOnce(proxy.port, '/page', { headers: [['Accept-Language', 'fr']] })).header('x-cache')).toBe('HIT');

    const purge = await fetchOnce(proxy.port, '/page', { method: 'PURGE' });
    expect(purge.status).toBe(200);
    expect(purge.header('content-type')).toBe('application/json');
    expect(purgeJson(purge.body)).toEqual({ purged: 2 });
    expect(origin.requests.some((r) => r.method === 'PURGE')).toBe(false);

    for (const lang of ['en', 'fr']) expect((await fetchOnce(proxy.port, '/page', { headers: [['Accept-Language', lang]] })).header('x-cache')).toBe('MISS');
    expect(gets(origin, '/page').length).toBe(4);
    // Nothing left to purge under another key.
    expect(purgeJson((await fetchOnce(proxy.port, '/other', { method: 'PURGE' })).body)).toEqual({ purged: 0 });
    expect(proxy.proxy.stats().purge.applied.method).toBe(2);
  });

  it('I1: proxy.purge({ url }) takes an absolute URL, or an origin-form target with a host; bad input throws', async () => {
    const o = taggingOrigin();
    const { proxy } = await setup(o.script);
    await fetchOnce(proxy.port, '/a');
    await fetchOnce(proxy.port, '/b?x=1');
    expect(proxy.proxy.purge({ url: `http://${HOST}/a` })).toEqual({ purged: 1 });
    expect(proxy.proxy.purge({ url: '/b?x=1', host: HOST.toUpperCase() })).toEqual({ purged: 1 });
    expect(proxy.proxy.purge({ url: '/b?x=1', host: HOST })).toEqual({ purged: 0 });
    expect(() => proxy.proxy.purge({ url: '/a' })).toThrow(PurgeError);
    expect(() => proxy.proxy.purge({ url: 'ftp://x/a' })).toThrow(/neither an origin-form target/);
    expect(() => proxy.proxy.purge({ key: '   ' })).toThrow(/empty Surrogate-Key list/);
    expect(proxy.proxy.stats().purge.applied.library).toBe(3);
  });

  it('I1: the admin listener purges by URL, by key and everything, answering like PURGE', async () => {
    const o = taggingOrigin();
    const { proxy, adminPort } = await adminProxy(o.script);
    await fetchOnce(proxy.port, '/one?tags=red');
    await fetchOnce(proxy.port, '/two?tags=red%20blue');
    await fetchOnce(proxy.port, '/three?tags=blue');
    await fetchOnce(proxy.port, '/four');

    expect(await adminPost(adminPort, `/purge?url=${encodeURIComponent('/four')}&host=${HOST}`)).toEqual({ status: 200, json: { purged: 1 } });
    expect(await adminPost(adminPort, '/purge/key/red')).toEqual({ status: 200, json: { purged: 2 } });
    expect((await fetchOnce(proxy.port, '/three?tags=blue')).header('x-cache')).toBe('HIT');
    expect(await adminPost(adminPort, '/purge/all')).toEqual({ status: 200, json: { purged: 1 } });
    expect((await fetchOnce(proxy.port, '/three?tags=blue')).header('x-cache')).toBe('MISS');

    // Bad requests to the endpoints: a status and a reason, nothing purged.
    const get = await fetchOnce(adminPort, '/purge/all');
    expect(get.status).toBe(405);
    expect(await adminPost(adminPort, '/purge')).toEqual({ status: 400, json: { error: 'missing query parameter "url"' } });
    expect((await adminPost(adminPort, '/purge?url=/three%3Ftags%3Dblue')).status).toBe(400);
    expect((await adminPost(adminPort, '/purge/key/%E0%A4%A')).status).toBe(400);
    expect((await fetchOnce(proxy.port, '/three?tags=blue')).header('x-cache')).toBe('HIT');
    const stats = (await fetchOnce(adminPort, '/stats')).body.toString();
    expect(JSON.parse(stats).purge).toMatchObject({ applied: { admin: 3 }, objects: 4, invalid: 4 });
    const metrics = (await fetchOnce(adminPort, '/metrics')).body.toString();
    expect(metrics).toContain('streamcache_purges_total{door="admin"} 3');
  });
});

describe('I1: who may purge', () => {
  it('I1: a client outside --purge-allow gets 403 and nothing changes; loopback is no longer allowed once the list replaces it', async () => {
    const o = taggingOrigin();
    const { proxy, adminPort } = await adminProxy(o.script, { purgeAllow: '10.0.0.0/8,fd00::/8' });
    await fetchOnce(proxy.port, '/kept');
    const refused = await fetchOnce(proxy.port, '/kept', { method: 'PURGE' });
    expect(refused.status).toBe(403);
    expect(purgeJson(refused.body)).toEqual({ error: 'not allowed to purge' });
    expect((await adminPost(adminPort, '/purge/all')).status).toBe(403);
    expect((await fetchOnce(proxy.port, '/kept')).header('x-cache')).toBe('HIT');
    expect(proxy.proxy.stats().purge).toMatchObject({ refused: 2, objects: 0 });
  });

  it('I1: X-Purge-Token equal to --purge-token is allowed from anywhere; a wrong token of any length is 403', async () => {
    const token = 'a-long-enough-secret-token';
    const o = taggingOrigin();
    const { origin, proxy } = await setup(o.script, { purgeAllow: '10.0.0.0/8', purgeToken: token });
    await fetchOnce(proxy.port, '/secret');
    for (const wrong of ['x', `${token}x`, token.replace(/.$/, 'X'), '']) {
      const res = await fetchOnce(proxy.port, '/secret', { method: 'PURGE', headers: [['X-Purge-Token', wrong]] });
      expect(res.status, `token "${wrong}"`).toBe(403);
    }
    expect((await fetchOnce(proxy.port, '/secret')).header('x-cache')).toBe('HIT');
    const ok = await fetchOnce(proxy.port, '/secret', { method: 'PURGE', headers: [['X-Purge-Token', token]] });
    expect(ok.status).toBe(200);
    expect(purgeJson(ok.body)).toEqual({ purged: 1 });
    // The token is ours: a request that carries it to the cache never carries it to the origin.
    await fetchOnce(proxy.port, '/secret', { headers: [['X-Purge-Token', token]] });
    await fetchOnce(proxy.port, '/secret-post', { method: 'POST', body: 'x', headers: [['X-Purge-Token', token]] });
    expect(origin.requests.length).toBe(3);
    for (const r of origin.requests) expect(r.header('x-purge-token')).toBeUndefined();
  });
});

describe('I1, I2: bad purge requests are refused, and nothing is purged by mistake', () => {
  it('I1: a PURGE with a body, or with a target not in origin-form, gets 400; so does an empty or oversized Surrogate-Key list', async () => {
    const o = taggingOrigin();
    const { origin, proxy } = await setup(o.script);
    await fetchOnce(proxy.port, '/stays?tags=t');
    const cases: Array<[string, Parameters<typeof fetchOnce>[2], string]> = [
      ['/stays?tags=t', { method: 'PURGE', body: 'x' }, 'a purge request takes no body'],
      [`http://${HOST}/stays?tags=t`, { method: 'PURGE' }, 'PURGE needs an origin-form target (/path?query)'],
      ['/stays?tags=t', { method: 'PURGE', headers: [['Surrogate-Key', '  ']] }, 'empty Surrogate-Key list'],
      ['/stays?tags=t', { method: 'PURGE', headers: [['Surrogate-Key', Array.from({ length: 257 }, (_, i) => `k${i}`).join(' ')]] }, 'too many surrogate keys (257, at most 256)'],
      ['/stays?tags=t', { method: 'PURGE', headers: [['Surrogate-Key', 'k'.repeat(1025)]] }, 'a surrogate key is longer than 1024 bytes'],
    ];
    for (const [target, opts, reason] of cases) {
      const res = await fetchOnce(proxy.port, target, opts);
      expect(res.status, reason).toBe(400);
      expect(purgeJson(res.body)).toEqual({ error: reason });
    }
    // The body of the first case was never read: that connection was closed, not reused.
    expect((await fetchOnce(proxy.port, '/stays?tags=t')).header('x-cache')).toBe('HIT');
    expect(origin.requests.every((r) => r.method === 'GET')).toBe(true);
    expect(proxy.proxy.stats().purge).toMatchObject({ invalid: 5, objects: 0 });
  });
});

describe('I2: surrogate keys', () => {
  it('I2: PURGE with a Surrogate-Key field purges every object tagged with any of its keys (the target is ignored)', async () => {
    const o = taggingOrigin();
    const { proxy } = await setup(o.script);
    const urls = ['/p1?tags=product-1%20catalog', '/p2?tags=product-2%20catalog', '/p3?tags=product-3', '/home'];
    for (const url of urls) await fetchOnce(proxy.port, url);
    await fetchOnce(proxy.port, urls[0], { headers: [['Accept-Language', 'de']] });
    expect(proxy.proxy.stats().store).toMatchObject({ objects: 5, taggedObjects: 4, surrogateKeys: 4 });

    const res = await fetchOnce(proxy.port, '/home', { method: 'PURGE', headers: [['Surrogate-Key', 'catalog product-3']] });
    expect(purgeJson(res.body)).toEqual({ purged: 4 });
    expect((await fetchOnce(proxy.port, '/home')).header('x-cache')).toBe('HIT');
    for (const url of urls.slice(0, 3)) expect((await fetchOnce(proxy.port, url)).header('x-cache')).toBe('MISS');
    expect(proxy.proxy.purge({ key: ['product-2', 'nothing'] })).toEqual({ purged: 1 });
  });

  it('I2: a replaced object is tagged by its new keys only; an evicted one leaves the key index', async () => {
    let tag = 'old';
    const { proxy } = await setup((req, res) => res.send({ headers: [['Cache-Control', 'max-age=1'], ['Surrogate-Key', tag]], body: 'x'.repeat(40_000) }), {
      storeSize: 256 * 1024,
      storeSlabSize: 64 * 1024,
    });
    await fetchOnce(proxy.port, '/replaced');
    await delay(1_100);
    tag = 'new';
    expect((await fetchOnce(proxy.port, '/replaced')).header('x-cache')).toBe('MISS');
    expect(proxy.proxy.purge({ key: 'old' })).toEqual({ purged: 0 });
    expect(proxy.proxy.stats().store).toMatchObject({ objects: 1, taggedObjects: 1, surrogateKeys: 1 });
    // Fill the store well past its capacity: the oldest objects are evicted, and untagged with them.
    tag = 'bulk';
    for (let i = 0; i < 12; i++) await fetchOnce(proxy.port, `/fill${i}`);
    const { store } = proxy.proxy.stats();
    expect(store.objects).toBeLessThan(13);
    expect(store.taggedObjects).toBe(store.objects);
    expect(proxy.proxy.purge({ key: 'bulk' }).purged + proxy.proxy.purge({ key: 'new' }).purged).toBe(store.objects);
  });

  it('I2: Surrogate-Key and Surrogate-Control never reach a client, hit or miss or pass; a streamcache tier (Via) gets both', async () => {
    const { proxy } = await setup((req, res) =>
      res.send({
        headers: [['Surrogate-Control', req.target === '/pass' ? 'no-store' : 'max-age=60'], ['Surrogate-Key', 'k1 k2']],
        body: 'tagged',
      }),
    );
    for (const path of ['/obj', '/obj', '/pass']) {
      const res = await fetchOnce(proxy.port, path);
      expect(res.header('surrogate-key'), path).toBeUndefined();
      expect(res.header('surrogate-control'), path).toBeUndefined();
    }
    for (const via of ['1.1 streamcache', '1.1 some-proxy, HTTP/1.1 streamcache:8080 (edge)']) {
      for (const path of ['/obj', '/pass', '/miss-from-tier']) {
        const res = await fetchOnce(proxy.port, path, { headers: [['Via', via]] });
        expect(res.header('surrogate-key'), `${path} via ${via}`).toBe('k1 k2');
        expect(res.header('surrogate-control'), `${path} via ${via}`).toBe(path === '/pass' ? 'no-store' : 'max-age=60');
      }
    }
    const other = await fetchOnce(proxy.port, '/obj', { headers: [['Via', '1.1 varnish']] });
    expect(other.header('surrogate-key')).toBeUndefined();
  });
});

describe('I3: soft purge', () => {
  it('I3: Fastly-Soft-Purge: 1 marks the objects stale: the next request is not served fresh but revalidated with the validators kept', async () => {
    let n = 0;
    const { origin, proxy } = await setup((req, res) => {
      if (req.header('if-none-match') === '"v1"') return res.send({ status: 304, headers: [['ETag', '"v1"'], ['Cache-Control', 'max-age=60']] });
      n++;
      return res.send({ headers: [['Cache-Control', 'max-age=60'], ['ETag', '"v1"'], ['Surrogate-Key', 'soft']], body: `body ${n}` });
    });
    await fetchOnce(proxy.port, '/soft');
    await fetchOnce(proxy.port, '/soft-key?x');
    expect((await fetchOnce(proxy.port, '/soft')).header('x-cache')).toBe('HIT');
    const res = await fetchOnce(proxy.port, '/soft', { method: 'PURGE', headers: [['Fastly-Soft-Purge', '1']] });
    expect(purgeJson(res.body)).toEqual({ purged: 1 });
    expect(proxy.proxy.stats().store.objects).toBe(2);

    const after = await fetchOnce(proxy.port, '/soft');
    expect(after.body.toString()).toBe('body 1');
    const revalidation = gets(origin, '/soft')[1];
    expect(revalidation.header('if-none-match')).toBe('"v1"');
    // The 304 refreshed it: fresh again.
    expect((await fetchOnce(proxy.port, '/soft')).header('x-cache')).toBe('HIT');
    expect(gets(origin, '/soft').length).toBe(2);

    // By key, from the library: the same.
    expect(proxy.proxy.purge({ key: 'soft', soft: true })).toEqual({ purged: 2 });
    await fetchOnce(proxy.port, '/soft-key?x');
    expect(gets(origin, '/soft-key?x').map((r) => r.header('if-none-match'))).toEqual([undefined, '"v1"']);
  });
});

describe('I4: a purge of a key whose fetch is in flight', () => {
  function heldOrigin() {
    const finish = signal();
    let n = 0;
    const script: OriginScript = async (req, res) => {
      const i = n++;
      await res.head(200, [['Cache-Control', 'max-age=60'], ['Content-Length', '5'], ['Surrogate-Key', 'live']]);
      await res.write(`f${i}-`);
      if (i === 0) await finish.promise;
      await res.write('ok');
    };
    return { finish, script };
  }

  for (const how of ['url', 'key'] as const) {
    it(`I4: (${how}) the fetch is not committed and takes no new client; the attached client gets the rest of it`, async () => {
      const { finish, script } = heldOrigin();
      const { origin, proxy } = await setup(script);
      const attached = await client(proxy.port);
      await attached.write(request('/held'));
      await bodyBytes(attached, 3);
      const purged = await fetchOnce(proxy.port, '/held', { method: 'PURGE', headers: how === 'key' ? [['Surrogate-Key', 'live']] : [] });
      expect(purgeJson(purged.body)).toEqual({ purged: 0 });
      expect(proxy.proxy.stats().purge.inflight).toBe(1);
      // A new request does not attach to the purged fetch: a fetch of its own.
      const fresh = await fetchOnce(proxy.port, '/held');
      expect(fresh.body.toString()).toBe('f1-ok');
      finish.resolve();
      const first = await attached.readResponse();
      expect(first.complete).toBe(true);
      expect(first.body.toString()).toBe('f0-ok');
      await delay(20);
      // The purged fetch never entered the cache: the hit is the second fetch's object.
      expect((await fetchOnce(proxy.port, '/held')).body.toString()).toBe('f1-ok');
      expect(gets(origin, '/held').length).toBe(2);
    });
  }

  it('I4: a purge by key while a fetch waits for its head: a tagged response is not committed, an untagged one is', async () => {
    const heads = signal();
    const { origin, proxy } = await setup(async (req, res) => {
      if (gets(origin, req.target).length === 1) await heads.promise;
      const tagged = req.target.startsWith('/tagged');
      await res.send({ headers: [['Cache-Control', 'max-age=60'], ...(tagged ? [['Surrogate-Key', 'late'] as [string, string]] : [])], body: `body of ${req.target}` });
    });
    const waiting = [await client(proxy.port), await client(proxy.port)];
    await waiting[0].write(request('/tagged-late'));
    await waiting[1].write(request('/untagged-late'));
    await origin.waitForRequests(2);
    expect(proxy.proxy.purge({ key: 'late' })).toEqual({ purged: 0 });
    heads.resolve();
    for (const c of waiting) expect((await c.readResponse()).complete).toBe(true);
    await delay(20);
    // The tagged one was kept out of the cache (its request went out before the purge); the other is a hit.
    expect((await fetchOnce(proxy.port, '/tagged-late')).header('x-cache')).toBe('MISS');
    expect((await fetchOnce(proxy.port, '/untagged-late')).header('x-cache')).toBe('HIT');
    // And a fetch that starts after the purge is committed as usual.
    expect((await fetchOnce(proxy.port, '/tagged-late')).header('x-cache')).toBe('HIT');
  });

  it('I4: hard: true ends the attached clients abruptly (never a clean end), and nothing is cached', async () => {
    const { script } = heldOrigin();
    const { origin, proxy } = await setup(script);
    const attached = await client(proxy.port);
    await attached.write(request('/hard'));
    await bodyBytes(attached, 3);
    expect(proxy.proxy.purge({ url: '/hard', host: HOST, hard: true })).toEqual({ purged: 0 });
    expect(await attached.waitClose(2_000)).toBe(true);
    const cut = await attached.readResponse();
    expect(cut.complete).toBe(false);
    expect(cut.body.toString()).toBe('f0-');
    await waitFor(() => proxy.proxy.stats().inflight.objects === 0, 2_000, 'the purged fetch to end');
    expect((await fetchOnce(proxy.port, '/hard')).header('x-cache')).toBe('MISS');
    expect(gets(origin, '/hard').length).toBe(2);
  });
});

describe('I1: the access log says who purged what, and how many', () => {
  it('I1: one info line per purge with door, client and count; a warning per refusal', async () => {
    const lines: Array<Record<string, unknown>> = [];
    const { pino } = await import('pino');
    const logger = pino({ level: 'info' }, { write: (line: string) => void lines.push(JSON.parse(line)) });
    const o = taggingOrigin();
    const { proxy } = await setup(o.script, { logger });
    await fetchOnce(proxy.port, '/logged?tags=t');
    await fetchOnce(proxy.port, '/x', { method: 'PURGE', headers: [['Surrogate-Key', 't']] });
    await fetchOnce(proxy.port, `http://${HOST}/x`, { method: 'PURGE' });
    expect(lines.find((l) => l.msg === 'purge')).toMatchObject({ purge: 'keys t', door: 'method', who: '127.0.0.1', purged: 1, inflight: 0 });
    expect(lines.find((l) => l.msg === 'purge refused')).toMatchObject({ status: 400, door: 'method', client: '127.0.0.1' });
  });
});

describe('I1: PURGE among hits', () => {
  it('I1: a keep-alive connection goes on after a PURGE answer', async () => {
    const o = taggingOrigin();
    const { proxy } = await setup(o.script);
    const c = await client(proxy.port);
    await c.write(request('/ka', { keepAlive: true }) + request('/ka', { method: 'PURGE', keepAlive: true }) + request('/ka', { keepAlive: true }));
    const [a, p, b] = await c.readResponses(['GET', 'PURGE', 'GET']);
    expect([a.header('x-cache'), p.status, b.header('x-cache')]).toEqual(['MISS', 200, 'MISS']);
  });
});

describe('H2 I1: PURGE on an HTTP/2 stream', () => {
  it('H2 I1: a PURGE over h2c is answered 200 {"purged": N} on its stream, and the next GET misses', async () => {
    const o = taggingOrigin();
    const { proxy } = await setup(o.script, { h2c: true });
    const session = connectH2(proxy.port);
    cleanups.push(() => closeSession(session));
    const authority = { ':authority': HOST };
    expect((await h2Request(session, '/h2-page', authority)).status).toBe(200);
    expect((await h2Request(session, '/h2-page', authority)).headers['x-cache']).toBe('HIT');
    const purge = await h2Request(session, '/h2-page', { ...authority, ':method': 'PURGE' });
    expect(purge).toMatchObject({ status: 200, endedCleanly: true });
    expect(JSON.parse(purge.body.toString())).toEqual({ purged: 1 });
    expect((await h2Request(session, '/h2-page', authority)).headers['x-cache']).toBe('MISS');
    // Bad input over HTTP/2: the same refusal, as JSON, on its stream.
    const bad = await h2Request(session, '/h2-page', { ...authority, ':method': 'PURGE', 'surrogate-key': 'k'.repeat(1025) });
    expect(bad.status).toBe(400);
    expect(JSON.parse(bad.body.toString())).toEqual({ error: 'a surrogate key is longer than 1024 bytes' });
  });
});
