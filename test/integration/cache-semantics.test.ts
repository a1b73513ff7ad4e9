// Caching semantics on real sockets: what is stored, for how long, under which key, how it is
// revalidated, and how cached and streamed objects are framed for each client version.
// R4 (uncacheable turn, hit-for-pass), C1 (key), C2 (edge TTL), C3 (conditionals), C4 (unsafe
// methods), F6 (Age, hop-by-hop), F1-F4 on objects, V1-V4 (HTTP/1.0 clients and streaming).
import { pino } from 'pino';
import { describe, expect, it } from 'vitest';
import { soFar, bodyBytes } from '../support/raw-client.js';
import { requestKit } from '../support/requests.js';
import { type OriginScript, type ReceivedRequest, type ScriptedOrigin } from '../support/scripted-origin.js';
import { cleanupAfterEach, startOriginAndProxy, testKit } from '../support/proxy.js';
import { patternBytes } from '../support/bytes.js';
import { delay, waitFor } from '../support/ports.js';
import type { CreateProxyOptions } from '../../src/index.js';

const cleanups = cleanupAfterEach();
const { signal, client } = testKit(cleanups);
const setup = (script: OriginScript, options: Partial<CreateProxyOptions> = {}) => startOriginAndProxy(cleanups, script, options);

const { request, fetchOnce } = requestKit({ host: 'cache.test' });

const gets = (origin: ScriptedOrigin, target?: string): ReceivedRequest[] =>
  origin.requests.filter((r) => r.method === 'GET' && (target === undefined || r.target === target));

/** An origin that answers every request with these headers and a body naming the request's number. */
function numbered(headers: [string, string][], extra: (req: ReceivedRequest, n: number) => { delayHeadMs?: number; status?: number } = () => ({})): {
  script: OriginScript;
  count: () => number;
} {
  let n = 0;
  return {
    count: () => n,
    script: (req, res) => {
      const i = n++;
      const { delayHeadMs, status } = extra(req, i);
      return res.send({ status: status ?? 200, headers, body: `response ${i} for ${req.target}`, delayHeadMs });
    },
  };
}

// ------------------------------------------------------------------------------------------------

describe('R4: an uncacheable response releases its waiters and marks the key hit-for-pass', () => {
  // Regression (fixed): released waiters never get a response. handOffOrAbort() (src/stream/fetch.ts) releases the
  // waiting readers while the fetch is still 'awaiting-head' and still in the registry: the
  // re-dispatched request finds that same fetch (canAttach is true while awaiting the head),
  // attaches to it again, and is then dropped by `this.readers.clear()`. The client waits forever.
  it('R4: no freshness info (default TTL 0): waiting clients are released and each gets its own response', async () => {
    const o = numbered([], (_req, i) => ({ delayHeadMs: i === 0 ? 150 : 0 }));
    const { origin, proxy } = await setup(o.script);
    const waiting = await Promise.all(Array.from({ length: 4 }, () => fetchOnce(proxy.port, '/r4', { idleMs: 1000 })));
    expect(origin.requests.length).toBe(4);
    const bodies = waiting.map((r) => r.body.toString());
    expect(new Set(bodies).size).toBe(4);
    for (const res of waiting) expect(res.complete).toBe(true);
    // Released waiters pass: three of the four say so.
    expect(waiting.filter((r) => r.header('x-cache') === 'PASS').length).toBeGreaterThanOrEqual(3);
  });

  it('R4: after an uncacheable response the key is hit-for-pass: concurrent requests go straight to the origin, neither waits', async () => {
    const slowHeads = signal();
    const { origin, proxy } = await setup(async (req, res) => {
      if (origin.requests.indexOf(req) > 0) await slowHeads.promise;
      await res.send({ body: `r${origin.requests.indexOf(req)}` });
    });
    await fetchOnce(proxy.port, '/hfp');
    const a = fetchOnce(proxy.port, '/hfp');
    const b = fetchOnce(proxy.port, '/hfp');
    // Both requests reach the origin while neither has a head yet.
    await origin.waitForRequests(3, 1000);
    slowHeads.resolve();
    const [ra, rb] = await Promise.all([a, b]);
    expect(ra.header('x-cache')).toBe('PASS');
    expect(rb.header('x-cache')).toBe('PASS');
    expect(new Set([ra.body.toString(), rb.body.toString()]).size).toBe(2);
  });

  const uncacheable: Array<[string, [string, string][], number]> = [
    ['Cache-Control: no-store', [['Cache-Control', 'no-store, max-age=60']], 200],
    ['Cache-Control: private', [['Cache-Control', 'private, max-age=60']], 200],
    ['a zero TTL (max-age=0)', [['Cache-Control', 'max-age=0']], 200],
    ['a status that is not cacheable without explicit freshness (500)', [], 500],
    ['Set-Cookie', [['Cache-Control', 'max-age=60'], ['Set-Cookie', 'id=1']], 200],
  ];
  for (const [what, headers, status] of uncacheable) {
    // Regression (fixed): same as above (released waiters hang; see handOffOrAbort in src/stream/fetch.ts).
    it(`R4: ${what}: waiters are released, the origin answers each, later requests pass`, async () => {
      const o = numbered(headers, (_req, i) => ({ delayHeadMs: i === 0 ? 120 : 0, status }));
      const { origin, proxy } = await setup(o.script);
      const first = await Promise.all(Array.from({ length: 3 }, () => fetchOnce(proxy.port, '/u', { idleMs: 1000 })));
      expect(origin.requests.length).toBe(3);
      expect(new Set(first.map((r) => r.body.toString())).size).toBe(3);
      for (const r of first) expect(r.status).toBe(status);
      const later = await fetchOnce(proxy.port, '/u');
      expect(later.header('x-cache')).toBe('PASS');
      expect(later.body.toString()).toBe('response 3 for /u');
      expect(origin.requests.length).toBe(4);
    });
  }

  // Regression (fixed): same as above: the released client never gets a response at all.
  it('R4: a released client does not wait for the unshareable body: it is served while that body is still held back', async () => {
    const firstHead = signal();
    const firstRest = signal();
    let n = 0;
    const { origin, proxy } = await setup(async (_req, res) => {
      const i = n++;
      if (i === 0) {
        await firstHead.promise;
        await res.head(200, [['Cache-Control', 'no-store'], ['Content-Length', '10']]);
        await res.write('slow:');
        await firstRest.promise;
        await res.write('done.');
        return;
      }
      await res.send({ headers: [['Cache-Control', 'no-store']], body: `quick ${i}` });
    });
    const slow = fetchOnce(proxy.port, '/r4-drip', { idleMs: 3000 });
    await origin.waitForRequests(1);
    const quick = fetchOnce(proxy.port, '/r4-drip', { idleMs: 1000 });
    await delay(100); // the second request now waits on the first fetch's head
    firstHead.resolve();
    // The first body is held back until the quick response is complete.
    const res = await quick;
    expect(res.body.toString()).toBe('quick 1');
    firstRest.resolve();
    expect((await slow).body.toString()).toBe('slow:done.');
  });

  it('R4: hit-for-pass lasts hitForPassTtl; after it, a cacheable response is cached again', async () => {
    let cacheable = false;
    const { origin, proxy } = await setup((_req, res) => res.send({ headers: cacheable ? [['Cache-Control', 'max-age=60']] : [], body: cacheable ? 'cacheable' : 'not' }), { hitForPassTtl: 1 });
    await fetchOnce(proxy.port, '/hfp-ttl');
    cacheable = true;
    expect((await fetchOnce(proxy.port, '/hfp-ttl')).header('x-cache')).toBe('PASS');
    await delay(1100);
    expect((await fetchOnce(proxy.port, '/hfp-ttl')).header('x-cache')).toBe('MISS');
    const hit = await fetchOnce(proxy.port, '/hfp-ttl');
    expect(hit.header('x-cache')).toBe('HIT');
    expect(hit.body.toString()).toBe('cacheable');
    expect(origin.requests.length).toBe(3);
  });
});

describe('C1: the cache key', () => {
  it('C1: Host is part of the key', async () => {
    const o = numbered([['Cache-Control', 'max-age=60']]);
    const { origin, proxy } = await setup(o.script);
    const a1 = await fetchOnce(proxy.port, '/k', { host: 'a.test' });
    const b1 = await fetchOnce(proxy.port, '/k', { host: 'b.test' });
    const a2 = await fetchOnce(proxy.port, '/k', { host: 'A.TEST' });
    const b2 = await fetchOnce(proxy.port, '/k', { host: 'b.test' });
    expect(origin.requests.map((r) => r.header('host'))).toEqual(['a.test', 'b.test']);
    expect(a2.header('x-cache')).toBe('HIT');
    expect(a2.body.toString()).toBe(a1.body.toString());
    expect(b2.body.toString()).toBe(b1.body.toString());
    expect(a1.body.toString()).not.toBe(b1.body.toString());
  });

  it('C1: an absolute-form request-target\'s authority is the Host of the key', async () => {
    const o = numbered([['Cache-Control', 'max-age=60']]);
    const { origin, proxy } = await setup(o.script);
    await fetchOnce(proxy.port, 'http://abs.test/k', { host: 'ignored.test' });
    const hit = await fetchOnce(proxy.port, '/k', { host: 'abs.test' });
    expect(hit.header('x-cache')).toBe('HIT');
    expect(origin.requests.length).toBe(1);
    expect(origin.requests[0].header('host')).toBe('abs.test');
  });

  it('C1: the query is part of the key', async () => {
    const o = numbered([['Cache-Control', 'max-age=60']]);
    const { origin, proxy } = await setup(o.script);
    await fetchOnce(proxy.port, '/q?x=1');
    await fetchOnce(proxy.port, '/q?x=2');
    await fetchOnce(proxy.port, '/q');
    const hit = await fetchOnce(proxy.port, '/q?x=1');
    expect(hit.header('x-cache')).toBe('HIT');
    expect(hit.body.toString()).toBe('response 0 for /q?x=1');
    expect(origin.requests.map((r) => r.target)).toEqual(['/q?x=1', '/q?x=2', '/q']);
  });

  it('C1: GET then HEAD share the object: the HEAD is a HIT with the GET\'s head and no body', async () => {
    const { origin, proxy } = await setup((_req, res) => res.send({ headers: [['Cache-Control', 'max-age=60'], ['ETag', '"e1"']], body: 'x'.repeat(1234) }));
    const get = await fetchOnce(proxy.port, '/gh');
    const head = await fetchOnce(proxy.port, '/gh', { method: 'HEAD' });
    expect(origin.requests.length).toBe(1);
    expect(head.header('x-cache')).toBe('HIT');
    expect(head.status).toBe(200);
    expect(head.header('content-length')).toBe('1234');
    expect(head.header('etag')).toBe('"e1"');
    // Nothing after the head on the wire.
    expect(head.wire.length).toBe(head.wireLength);
    expect(get.header('content-length')).toBe('1234');
  });

  it('C1: a HEAD miss is fetched with GET, so the following GET is a HIT with the whole body', async () => {
    const { origin, proxy } = await setup((_req, res) => res.send({ headers: [['Cache-Control', 'max-age=60']], body: 'y'.repeat(500) }));
    const head = await fetchOnce(proxy.port, '/hg', { method: 'HEAD' });
    expect(head.status).toBe(200);
    expect(head.header('content-length')).toBe('500');
    expect(head.wire.length).toBe(head.wireLength);
    expect(origin.requests[0].method).toBe('GET');
    await delay(30);
    const get = await fetchOnce(proxy.port, '/hg');
    expect(get.header('x-cache')).toBe('HIT');
    expect(get.body.toString()).toBe('y'.repeat(500));
    expect(origin.requests.length).toBe(1);
  });

  it('C1: Vary: Accept-Encoding variants are stored side by side', async () => {
    const { origin, proxy } = await setup((req, res) =>
      res.send({ headers: [['Cache-Control', 'max-age=60'], ['Vary', 'Accept-Encoding']], body: `variant for ${req.header('accept-encoding') ?? 'none'}` }),
    );
    const gz = { headers: [['Accept-Encoding', 'gzip']] as [string, string][] };
    const br = { headers: [['Accept-Encoding', 'br']] as [string, string][] };
    expect((await fetchOnce(proxy.port, '/v', gz)).body.toString()).toBe('variant for gzip');
    expect((await fetchOnce(proxy.port, '/v')).body.toString()).toBe('variant for none');
    expect((await fetchOnce(proxy.port, '/v', br)).body.toString()).toBe('variant for br');
    const hits = [await fetchOnce(proxy.port, '/v', gz), await fetchOnce(proxy.port, '/v'), await fetchOnce(proxy.port, '/v', br)];
    expect(hits.map((h) => h.body.toString())).toEqual(['variant for gzip', 'variant for none', 'variant for br']);
    expect(hits.map((h) => h.header('x-cache'))).toEqual(['HIT', 'HIT', 'HIT']);
    expect(origin.requests.length).toBe(3);
  });

  it('C1: a request for another Vary variant does not get the in-flight variant', async () => {
    const { origin, proxy } = await setup((req, res) =>
      res.send({ headers: [['Cache-Control', 'max-age=60'], ['Vary', 'Accept-Encoding']], body: `variant for ${req.header('accept-encoding') ?? 'none'}`, delayHeadMs: 100 }),
    );
    const [gz, none, gz2] = await Promise.all([
      fetchOnce(proxy.port, '/v2', { headers: [['Accept-Encoding', 'gzip']] }),
      fetchOnce(proxy.port, '/v2'),
      fetchOnce(proxy.port, '/v2', { headers: [['Accept-Encoding', 'gzip']] }),
    ]);
    expect(gz.body.toString()).toBe('variant for gzip');
    expect(gz2.body.toString()).toBe('variant for gzip');
    expect(none.body.toString()).toBe('variant for none');
    expect(origin.requests.length).toBe(2);
  });
});

describe('C2: edge TTL', () => {
  const cached: Array<[string, [string, string][]]> = [
    ['Cache-Control: s-maxage', [['Cache-Control', 's-maxage=60']]],
    ['Cache-Control: max-age', [['Cache-Control', 'max-age=60']]],
    ['s-maxage wins over max-age=0', [['Cache-Control', 'max-age=0, s-maxage=60']]],
    ['Expires in the future', [['Date', new Date().toUTCString()], ['Expires', new Date(Date.now() + 3_600_000).toUTCString()]]],
    ['Surrogate-Control: max-age wins over Cache-Control: max-age=0', [['Surrogate-Control', 'max-age=60'], ['Cache-Control', 'max-age=0']]],
    ['CDN-Cache-Control replaces Cache-Control (no-store there is ignored)', [['CDN-Cache-Control', 'max-age=60'], ['Cache-Control', 'no-store']]],
    ['no-cache beside s-maxage (the push-stream recipe)', [['Cache-Control', 'no-cache, s-maxage=60']]],
    ['heuristic freshness from Last-Modified', [['Last-Modified', new Date(Date.now() - 10 * 86_400_000).toUTCString()]]],
  ];
  for (const [what, headers] of cached) {
    it(`C2: ${what} → cached`, async () => {
      const o = numbered(headers);
      const { origin, proxy } = await setup(o.script);
      const miss = await fetchOnce(proxy.port, '/c2');
      const hit = await fetchOnce(proxy.port, '/c2');
      expect(miss.header('x-cache')).toBe('MISS');
      expect(hit.header('x-cache')).toBe('HIT');
      expect(hit.body.toString()).toBe('response 0 for /c2');
      expect(origin.requests.length).toBe(1);
    });
  }

  const passed: Array<[string, [string, string][]]> = [
    ['Cache-Control: private', [['Cache-Control', 'private, s-maxage=60']]],
    ['Cache-Control: no-store', [['Cache-Control', 'no-store, s-maxage=60']]],
    ['CDN-Cache-Control: no-store (Cache-Control: max-age ignored)', [['CDN-Cache-Control', 'no-store'], ['Cache-Control', 'max-age=60']]],
    ['s-maxage=0 wins over max-age', [['Cache-Control', 's-maxage=0, max-age=60']]],
    ['Expires in the past', [['Date', new Date().toUTCString()], ['Expires', new Date(Date.now() - 3_600_000).toUTCString()]]],
    ['an invalid Expires ("0")', [['Expires', '0']]],
  ];
  for (const [what, headers] of passed) {
    it(`C2: ${what} → not cached`, async () => {
      const o = numbered(headers);
      const { origin, proxy } = await setup(o.script);
      await fetchOnce(proxy.port, '/c2');
      const second = await fetchOnce(proxy.port, '/c2');
      expect(second.header('x-cache')).not.toBe('HIT');
      expect(second.body.toString()).toBe('response 1 for /c2');
      expect(origin.requests.length).toBe(2);
    });
  }

  it('C2: Surrogate-Control never reaches clients (miss or hit); Cache-Control and Expires are relayed', async () => {
    const expires = new Date(Date.now() + 3_600_000).toUTCString();
    const { proxy } = await setup((_req, res) =>
      res.send({ headers: [['Surrogate-Control', 'max-age=60'], ['Cache-Control', 'max-age=5'], ['Expires', expires]], body: 'sc' }),
    );
    for (const res of [await fetchOnce(proxy.port, '/sc'), await fetchOnce(proxy.port, '/sc')]) {
      expect(res.header('surrogate-control')).toBeUndefined();
      expect(res.header('cache-control')).toBe('max-age=5');
      expect(res.header('expires')).toBe(expires);
    }
  });

  it('C2: no-cache alone: stored, but revalidated with the origin before each reuse', async () => {
    const { origin, proxy } = await setup((req, res) => {
      if (req.header('if-none-match') === '"nc1"') return res.send({ status: 304, headers: [['ETag', '"nc1"'], ['Cache-Control', 'no-cache']] });
      return res.send({ headers: [['Cache-Control', 'no-cache'], ['ETag', '"nc1"']], body: 'no-cache body' });
    });
    const first = await fetchOnce(proxy.port, '/nc');
    expect(first.body.toString()).toBe('no-cache body');
    for (let i = 0; i < 2; i++) {
      const again = await fetchOnce(proxy.port, '/nc');
      expect(again.status).toBe(200);
      expect(again.body.toString()).toBe('no-cache body');
    }
    // Every reuse asked the origin, conditionally: the body came from the store.
    expect(origin.requests.length).toBe(3);
    expect(origin.requests[0].header('if-none-match')).toBeUndefined();
    expect(origin.requests[1].header('if-none-match')).toBe('"nc1"');
    expect(origin.requests[2].header('if-none-match')).toBe('"nc1"');
  });

  it('C2: no-cache alone: clients never attach to each other (each reuse goes to the origin)', async () => {
    const o = numbered([['Cache-Control', 'no-cache']], () => ({ delayHeadMs: 100 }));
    const { origin, proxy } = await setup(o.script);
    const all = await Promise.all(Array.from({ length: 3 }, () => fetchOnce(proxy.port, '/nc-attach')));
    expect(origin.requests.length).toBe(3);
    expect(new Set(all.map((r) => r.body.toString())).size).toBe(3);
  });

  it('C2: no-cache, s-maxage=N: cached and shared (concurrent clients collapse; later ones hit)', async () => {
    const o = numbered([['Cache-Control', 'no-cache, s-maxage=28']], () => ({ delayHeadMs: 100 }));
    const { origin, proxy } = await setup(o.script);
    const all = await Promise.all(Array.from({ length: 3 }, () => fetchOnce(proxy.port, '/push')));
    expect(origin.requests.length).toBe(1);
    for (const r of all) expect(r.body.toString()).toBe('response 0 for /push');
    const hit = await fetchOnce(proxy.port, '/push');
    expect(hit.header('x-cache')).toBe('HIT');
    expect(hit.header('cache-control')).toBe('no-cache, s-maxage=28');
  });
});

describe('C3: conditional requests', () => {
  it('C3: If-None-Match matching a fresh object is answered 304 by the cache, without the origin', async () => {
    const { origin, proxy } = await setup((_req, res) => res.send({ headers: [['Cache-Control', 'max-age=60'], ['ETag', '"abc"']], body: 'tagged' }));
    await fetchOnce(proxy.port, '/c3');
    const notModified = await fetchOnce(proxy.port, '/c3', { headers: [['If-None-Match', '"abc"']] });
    expect(notModified.status).toBe(304);
    expect(notModified.body.length).toBe(0);
    expect(notModified.header('etag')).toBe('"abc"');
    expect(notModified.wire.length).toBe(notModified.wireLength);
    const weak = await fetchOnce(proxy.port, '/c3', { headers: [['If-None-Match', '"zzz", W/"abc"']] });
    expect(weak.status).toBe(304);
    const other = await fetchOnce(proxy.port, '/c3', { headers: [['If-None-Match', '"other"']] });
    expect(other.status).toBe(200);
    expect(other.body.toString()).toBe('tagged');
    expect(origin.requests.length).toBe(1);
  });

  it('C3: If-Modified-Since at or after Last-Modified is answered 304 from a fresh object', async () => {
    const lastModified = new Date(Date.now() - 86_400_000).toUTCString();
    const { origin, proxy } = await setup((_req, res) => res.send({ headers: [['Cache-Control', 'max-age=60'], ['Last-Modified', lastModified]], body: 'dated' }));
    await fetchOnce(proxy.port, '/ims');
    expect((await fetchOnce(proxy.port, '/ims', { headers: [['If-Modified-Since', new Date().toUTCString()]] })).status).toBe(304);
    const older = await fetchOnce(proxy.port, '/ims', { headers: [['If-Modified-Since', new Date(Date.now() - 10 * 86_400_000).toUTCString()]] });
    expect(older.status).toBe(200);
    expect(older.body.toString()).toBe('dated');
    expect(origin.requests.length).toBe(1);
  });

  it('C3: a stale object with an ETag is revalidated with If-None-Match; the origin\'s 304 refreshes it and updates its headers', async () => {
    const { origin, proxy } = await setup((req, res) => {
      if (req.header('if-none-match') === '"v1"') return res.send({ status: 304, headers: [['ETag', '"v1"'], ['Cache-Control', 'max-age=60'], ['X-Version', '2']] });
      // Age: 1 with max-age=1: already stale when it arrives.
      return res.send({ headers: [['Cache-Control', 'max-age=1'], ['Age', '1'], ['ETag', '"v1"'], ['X-Version', '1']], body: 'version one body' });
    });
    const first = await fetchOnce(proxy.port, '/stale');
    expect(first.header('x-version')).toBe('1');
    await delay(20);
    const revalidated = await fetchOnce(proxy.port, '/stale');
    expect(origin.requests.length).toBe(2);
    expect(origin.requests[1].header('if-none-match')).toBe('"v1"');
    expect(revalidated.status).toBe(200);
    expect(revalidated.body.toString()).toBe('version one body');
    expect(revalidated.header('x-version')).toBe('2');
    expect(revalidated.header('cache-control')).toBe('max-age=60');
    expect(revalidated.header('content-length')).toBe('16');
    // Fresh again for 60 s: a plain hit, with the updated headers.
    const hit = await fetchOnce(proxy.port, '/stale');
    expect(hit.header('x-cache')).toBe('HIT');
    expect(hit.header('x-version')).toBe('2');
    expect(hit.body.toString()).toBe('version one body');
    expect(origin.requests.length).toBe(2);
  });

  it('C3 + R2: concurrent requests for a stale object share one revalidation', async () => {
    const { origin, proxy } = await setup((req, res) => {
      if (req.header('if-none-match') === '"r"') return res.send({ status: 304, headers: [['ETag', '"r"'], ['Cache-Control', 'max-age=60']], delayHeadMs: 100 });
      return res.send({ headers: [['Cache-Control', 'max-age=1'], ['Age', '2'], ['ETag', '"r"']], body: 'revalidated once' });
    });
    await fetchOnce(proxy.port, '/reval-many');
    const all = await Promise.all([0, 1, 2, 3].map(() => fetchOnce(proxy.port, '/reval-many')));
    for (const res of all) {
      expect(res.status).toBe(200);
      expect(res.body.toString()).toBe('revalidated once');
    }
    expect(origin.requests.length).toBe(2);
  });

  it('C3: a stale object revalidated with Last-Modified, answered by a new 200: the new body replaces it', async () => {
    const lastModified = new Date(Date.now() - 86_400_000).toUTCString();
    const { origin, proxy } = await setup((req, res) => {
      if (origin.requests.indexOf(req) === 0) return res.send({ headers: [['Cache-Control', 'max-age=1'], ['Age', '5'], ['Last-Modified', lastModified]], body: 'old' });
      return res.send({ headers: [['Cache-Control', 'max-age=60']], body: 'new content' });
    });
    await fetchOnce(proxy.port, '/lm');
    const second = await fetchOnce(proxy.port, '/lm');
    expect(origin.requests[1].header('if-modified-since')).toBe(lastModified);
    expect(second.body.toString()).toBe('new content');
    const hit = await fetchOnce(proxy.port, '/lm');
    expect(hit.header('x-cache')).toBe('HIT');
    expect(hit.body.toString()).toBe('new content');
    expect(origin.requests.length).toBe(2);
  });

  it('C3: a client\'s own conditional headers are not sent on the cache\'s fetch (the object must be whole)', async () => {
    const { origin, proxy } = await setup((_req, res) => res.send({ headers: [['Cache-Control', 'max-age=60'], ['ETag', '"t"']], body: 'whole object' }));
    const res = await fetchOnce(proxy.port, '/cond-miss', { headers: [['If-None-Match', '"t"']] });
    expect(origin.requests[0].header('if-none-match')).toBeUndefined();
    expect(res.status).toBe(304);
    const full = await fetchOnce(proxy.port, '/cond-miss');
    expect(full.header('x-cache')).toBe('HIT');
    expect(full.body.toString()).toBe('whole object');
  });
});

describe('C4: requests with bodies and unsafe methods', () => {
  it('C4: a POST passes through with its body, streamed to the origin, and is never cached', async () => {
    const { origin, proxy } = await setup(async (req, res) => {
      const body = await req.bodyDone;
      await res.send({ headers: [['Cache-Control', 'max-age=60']], body: `got ${req.method} ${body.toString()}` });
    });
    const res = await fetchOnce(proxy.port, '/c4', { method: 'POST', body: 'payload' });
    expect(res.body.toString()).toBe('got POST payload');
    expect(res.header('x-cache')).toBe('PASS');
    const again = await fetchOnce(proxy.port, '/c4', { method: 'POST', body: 'second' });
    expect(again.body.toString()).toBe('got POST second');
    expect(origin.requests.map((r) => r.method)).toEqual(['POST', 'POST']);
  });

  it('C4: concurrent POSTs to one URL are never collapsed', async () => {
    const { origin, proxy } = await setup(async (req, res) => {
      const body = await req.bodyDone;
      await res.send({ headers: [['Cache-Control', 's-maxage=60']], body: `echo ${body.toString()}`, delayHeadMs: 100 });
    });
    const all = await Promise.all([1, 2, 3].map((i) => fetchOnce(proxy.port, '/c4-many', { method: 'POST', body: `n${i}` })));
    expect(all.map((r) => r.body.toString())).toEqual(['echo n1', 'echo n2', 'echo n3']);
    expect(origin.requests.length).toBe(3);
  });

  for (const method of ['POST', 'PUT', 'DELETE']) {
    it(`C4: a successful ${method} invalidates the cached GET of its URL`, async () => {
      let version = 0;
      const { origin, proxy } = await setup(async (req, res) => {
        await req.bodyDone;
        if (req.method !== 'GET') {
          version++;
          return res.send({ body: 'changed' });
        }
        await res.send({ headers: [['Cache-Control', 'max-age=60']], body: `version ${version}` });
      });
      await fetchOnce(proxy.port, '/doc');
      expect((await fetchOnce(proxy.port, '/doc')).header('x-cache')).toBe('HIT');
      const change = await fetchOnce(proxy.port, '/doc', method === 'DELETE' ? { method } : { method, body: 'new' });
      expect(change.status).toBe(200);
      const after = await fetchOnce(proxy.port, '/doc');
      expect(after.header('x-cache')).toBe('MISS');
      expect(after.body.toString()).toBe('version 1');
      expect(gets(origin, '/doc').length).toBe(2);
    });
  }

  // Regression (fixed): a fetch in flight when the unsafe request succeeds is still committed afterwards. The
  // POST purges the index (pipeline.ts → index.purge) but not the registry of in-flight fetches, so
  // the GET that started before the POST completes, enters the index, and serves the pre-POST body
  // as a HIT for its whole TTL. SPEC C4: the unsafe method invalidates the cached object of its URL.
  it('C4: a successful POST also invalidates the object of a GET still in flight for its URL', async () => {
    let version = 0;
    const finishOld = signal();
    const { proxy } = await setup(async (req, res) => {
      await req.bodyDone;
      if (req.method === 'POST') {
        version++;
        return res.send({ body: 'changed' });
      }
      const v = version;
      await res.head(200, [['Cache-Control', 'max-age=60'], ['Content-Length', '2']]);
      await res.write('v');
      if (v === 0) await finishOld.promise;
      await res.write(String(v));
    });
    const before = await client(proxy.port);
    await before.write(request('/inflight-doc'));
    await bodyBytes(before, 1);
    expect((await fetchOnce(proxy.port, '/inflight-doc', { method: 'POST', body: 'new' })).status).toBe(200);
    finishOld.resolve();
    expect((await before.readResponse()).body.toString()).toBe('v0');
    await delay(20);
    const after = await fetchOnce(proxy.port, '/inflight-doc');
    expect(after.body.toString(), 'a GET after the successful POST gets the post-POST state').toBe('v1');
  });

  it('C4: a GET with a body passes (never collapsed, never stored)', async () => {
    const { origin, proxy } = await setup(async (req, res) => {
      const body = await req.bodyDone;
      await res.send({ headers: [['Cache-Control', 'max-age=60']], body: `body was "${body.toString()}"` });
    });
    const withBody = await fetchOnce(proxy.port, '/gb', { body: 'query-in-body' });
    expect(withBody.header('x-cache')).toBe('PASS');
    expect(withBody.body.toString()).toBe('body was "query-in-body"');
    expect(origin.requests[0].body.toString()).toBe('query-in-body');
    const plain = await fetchOnce(proxy.port, '/gb');
    expect(plain.header('x-cache')).toBe('MISS');
    expect(plain.body.toString()).toBe('body was ""');
  });
});

describe('F6: Age and hop-by-hop fields on responses from objects', () => {
  it('F6: Age is the origin\'s Age plus the seconds since the head arrived, on the miss and on hits', async () => {
    const { proxy } = await setup((_req, res) => res.send({ headers: [['Cache-Control', 's-maxage=600'], ['Age', '10']], body: 'aged' }));
    const miss = await fetchOnce(proxy.port, '/age');
    expect(miss.headerAll('age')).toHaveLength(1);
    expect(Number(miss.header('age'))).toBeGreaterThanOrEqual(10);
    expect(Number(miss.header('age'))).toBeLessThan(12);
    const hit = await fetchOnce(proxy.port, '/age');
    expect(hit.header('x-cache')).toBe('HIT');
    expect(hit.headerAll('age')).toHaveLength(1);
    expect(Number(hit.header('age'))).toBeGreaterThanOrEqual(10);
    await delay(1050);
    const later = await fetchOnce(proxy.port, '/age');
    expect(Number(later.header('age'))).toBeGreaterThanOrEqual(11);
    expect(Number(later.header('age'))).toBeLessThan(13);
  });

  it('F6: Age is on streamed responses too, and on an object without an origin Age', async () => {
    const rest = signal();
    const { proxy } = await setup(async (_req, res) => {
      await res.head(200, [['Cache-Control', 's-maxage=60'], ['Transfer-Encoding', 'chunked']]);
      await res.chunk('streamed');
      await rest.promise;
      await res.lastChunk();
    });
    const c = await client(proxy.port);
    await c.write(request('/age-stream'));
    const early = await bodyBytes(c, 8);
    expect(early.header('age')).toBe('0');
    rest.resolve();
    await c.readResponse();
  });

  it('F6: hop-by-hop fields are never forwarded, from the origin or to it; cached responses have none', async () => {
    const { origin, proxy } = await setup((_req, res) =>
      res.send({
        headers: [
          ['Cache-Control', 'max-age=60'],
          ['Connection', 'X-Origin-Hop'],
          ['X-Origin-Hop', 'secret'],
          ['Keep-Alive', 'timeout=5'],
          ['Proxy-Authenticate', 'Basic realm="x"'],
          ['Trailer', 'X-Checksum'],
          ['Upgrade', 'h2c'],
          ['TE', 'trailers'],
          ['X-End-To-End', 'kept'],
        ],
        body: 'hop',
        framing: 'chunked',
      }),
    );
    const opts = { headers: [['Connection', 'X-Client-Hop'], ['X-Client-Hop', '1'], ['Proxy-Authorization', 'Basic eA=='], ['TE', 'trailers']] as [string, string][] };
    const miss = await fetchOnce(proxy.port, '/hop', opts);
    const hit = await fetchOnce(proxy.port, '/hop');
    expect(hit.header('x-cache')).toBe('HIT');
    for (const res of [miss, hit]) {
      for (const name of ['x-origin-hop', 'keep-alive', 'proxy-authenticate', 'trailer', 'upgrade', 'te']) expect(res.header(name), name).toBeUndefined();
      expect(res.header('connection') ?? 'close').toBe('close');
      expect(res.header('x-end-to-end')).toBe('kept');
    }
    expect(hit.header('transfer-encoding')).toBeUndefined();
    const seen = origin.requests[0];
    for (const name of ['x-client-hop', 'proxy-authorization', 'te']) expect(seen.header(name), name).toBeUndefined();
    expect(seen.header('connection') ?? '').not.toMatch(/x-client-hop/i);
  });
});

describe('F1-F4: framing of cached and streamed objects', () => {
  it('F1: a hit has Content-Length and exactly that many bytes, whatever the origin framing was (chunked, close-delimited)', async () => {
    const { proxy } = await setup((req, res) =>
      res.send({ headers: [['Cache-Control', 'max-age=60']], body: `body of ${req.target}`, framing: req.target === '/chunked' ? 'chunked' : 'close', http10: req.target === '/close' }),
    );
    for (const path of ['/chunked', '/close']) {
      await fetchOnce(proxy.port, path);
      const hit = await fetchOnce(proxy.port, path);
      expect(hit.header('x-cache')).toBe('HIT');
      expect(hit.framing).toBe('length');
      expect(hit.header('content-length')).toBe(String(`body of ${path}`.length));
      expect(hit.body.toString()).toBe(`body of ${path}`);
      expect(hit.wire.length).toBe(hit.wireLength);
    }
  });

  it('F1: a streaming miss with origin Content-Length keeps it, for the trigger and an attached client', async () => {
    const rest = signal();
    const { proxy } = await setup(async (_req, res) => {
      await res.head(200, [['Cache-Control', 'max-age=60'], ['Content-Length', '10']]);
      await res.write('01234');
      await rest.promise;
      await res.write('56789');
    });
    const a = await client(proxy.port);
    await a.write(request('/f1'));
    expect((await bodyBytes(a, 5)).header('content-length')).toBe('10');
    const b = await client(proxy.port);
    await b.write(request('/f1'));
    expect((await bodyBytes(b, 5)).header('content-length')).toBe('10');
    rest.resolve();
    for (const c of [a, b]) {
      const res = await c.readResponse();
      expect(res.framing).toBe('length');
      expect(res.body.toString()).toBe('0123456789');
    }
  });

  it('F2: a streaming miss without Content-Length goes chunked to HTTP/1.1 clients, ending with the terminating chunk', async () => {
    const rest = signal();
    const { proxy } = await setup(async (_req, res) => {
      await res.head(200, [['Cache-Control', 'max-age=60'], ['Transfer-Encoding', 'chunked']]);
      await res.chunk('alpha-');
      await rest.promise;
      await res.chunk('omega');
      await res.lastChunk();
    });
    const a = await client(proxy.port);
    await a.write(request('/f2', { keepAlive: true }));
    await bodyBytes(a, 6);
    const b = await client(proxy.port);
    await b.write(request('/f2', { keepAlive: true }));
    await bodyBytes(b, 6);
    rest.resolve();
    for (const c of [a, b]) {
      const res = await c.readResponse();
      expect(res.framing).toBe('chunked');
      expect(res.header('content-length')).toBeUndefined();
      expect(res.terminatingChunk).toBe(true);
      expect(res.complete).toBe(true);
      expect(res.body.toString()).toBe('alpha-omega');
      // The connection persists: a second request on it is answered (a hit now, with Content-Length).
      await c.write(request('/f2', { keepAlive: true }));
      const hit = await c.readResponse();
      expect(hit.header('x-cache')).toBe('HIT');
      expect(hit.header('content-length')).toBe('11');
    }
  });

  it('F3: an HTTP/1.0 client is never sent chunked; without keep-alive the connection closes after the response', async () => {
    const { proxy } = await setup((_req, res) => res.send({ headers: [['Cache-Control', 'max-age=60']], body: 'for one-oh', framing: 'chunked' }));
    const miss = await fetchOnce(proxy.port, '/f3', { version: '1.0' });
    expect(miss.header('transfer-encoding')).toBeUndefined();
    expect(miss.header('content-length')).toBe('10');
    expect(miss.body.toString()).toBe('for one-oh');
    expect(miss.closedByServer).toBe(true);
    const kept = await fetchOnce(proxy.port, '/f3', { version: '1.0', keepAlive: true });
    expect(kept.header('connection')).toMatch(/keep-alive/i);
    expect(kept.closedByServer).toBe(false);
  });

  it('F4: HEAD on an object gets the GET head with no body', async () => {
    const { proxy } = await setup((_req, res) => res.send({ headers: [['Cache-Control', 'max-age=60']], body: 'zzz', framing: 'chunked' }));
    await fetchOnce(proxy.port, '/f4');
    const head = await fetchOnce(proxy.port, '/f4', { method: 'HEAD' });
    expect(head.header('content-length')).toBe('3');
    expect(head.wire.length).toBe(head.wireLength);
  });
});

describe('V1-V4: HTTP/1.0 clients and streaming', () => {
  it('V2: an HTTP/1.0 request joining a streaming miss (no origin length) waits for the whole body, then gets Content-Length', async () => {
    const rest = signal();
    const { origin, proxy } = await setup(async (_req, res) => {
      await res.head(200, [['Cache-Control', 'max-age=60'], ['Transfer-Encoding', 'chunked']]);
      await res.chunk('streamed to 1.1; ');
      await rest.promise;
      await res.chunk('whole for 1.0');
      await res.lastChunk();
    });
    const v11 = await client(proxy.port);
    await v11.write(request('/v2'));
    await bodyBytes(v11, 17);
    const v10 = await client(proxy.port);
    await v10.write(request('/v2', { version: '1.0' }));
    await delay(150);
    expect(v10.received().length).toBe(0);
    rest.resolve();
    const res = await v10.readResponse();
    expect(res.header('content-length')).toBe('30');
    expect(res.header('transfer-encoding')).toBeUndefined();
    expect(res.body.toString()).toBe('streamed to 1.1; whole for 1.0');
    expect(res.header('x-cache')).toBe('MISS');
    expect(await v10.waitClose(2000)).toBe(true);
    expect((await v11.readResponse()).framing).toBe('chunked');
    expect(origin.requests.length).toBe(1);
  });

  it('V2: ... even when the origin sent Content-Length', async () => {
    const rest = signal();
    const { proxy } = await setup(async (_req, res) => {
      await res.head(200, [['Cache-Control', 'max-age=60'], ['Content-Length', '10']]);
      await res.write('abcde');
      await rest.promise;
      await res.write('fghij');
    });
    const v11 = await client(proxy.port);
    await v11.write(request('/v2-cl'));
    await bodyBytes(v11, 5);
    const v10 = await client(proxy.port);
    await v10.write(request('/v2-cl', { version: '1.0' }));
    await delay(150);
    expect(v10.received().length).toBe(0);
    rest.resolve();
    const res = await v10.readResponse();
    expect(res.header('content-length')).toBe('10');
    expect(res.body.toString()).toBe('abcdefghij');
  });

  it('V2: an HTTP/1.0 client waiting on a streaming miss that fails gets 503', async () => {
    const fail = signal();
    const { proxy } = await setup(async (_req, res) => {
      await res.head(200, [['Cache-Control', 'max-age=60'], ['Transfer-Encoding', 'chunked']]);
      await res.chunk('partial');
      await fail.promise;
      await res.reset();
    });
    const v11 = await client(proxy.port);
    await v11.write(request('/v2-fail'));
    await bodyBytes(v11, 7);
    const v10 = await client(proxy.port);
    await v10.write(request('/v2-fail', { version: '1.0' }));
    await delay(100);
    fail.resolve();
    const res = await v10.readResponse();
    expect(res.status).toBe(503);
    expect(await v11.waitClose(2000)).toBe(true);
    expect(soFar(v11)!.terminatingChunk).toBe(false);
  });

  it('V3: an HTTP/1.0 client gets a cached object like any other client: at once, with Content-Length', async () => {
    const { origin, proxy } = await setup((_req, res) => res.send({ headers: [['Cache-Control', 'max-age=60']], body: patternBytes(0, 5000), framing: 'chunked', chunkSizes: [1000] }));
    await fetchOnce(proxy.port, '/v3');
    const hit = await fetchOnce(proxy.port, '/v3', { version: '1.0' });
    expect(hit.header('x-cache')).toBe('HIT');
    expect(hit.header('content-length')).toBe('5000');
    expect(hit.body.equals(patternBytes(0, 5000))).toBe(true);
    expect(hit.closedByServer).toBe(true);
    expect(origin.requests.length).toBe(1);
  });

  it('V1: an HTTP/1.0 request triggers a fetch without Content-Length: streaming is off for every client of it', async () => {
    const rest = signal();
    const { origin, proxy } = await setup(async (_req, res) => {
      await res.head(200, [['Cache-Control', 'max-age=60'], ['Transfer-Encoding', 'chunked']]);
      await res.chunk('held back ');
      await rest.promise;
      await res.chunk('until complete');
      await res.lastChunk();
    });
    const v10 = await client(proxy.port);
    await v10.write(request('/v1', { version: '1.0' }));
    await origin.waitForRequests(1);
    // V4: the origin is spoken to in HTTP/1.1 whatever the client's version.
    expect(origin.requests[0].version).toBe('HTTP/1.1');
    await delay(50);
    const v11 = await client(proxy.port);
    await v11.write(request('/v1'));
    await delay(150);
    expect(v10.received().length).toBe(0);
    expect(v11.received().length).toBe(0);
    rest.resolve();
    const [r10, r11] = await Promise.all([v10.readResponse(), v11.readResponse()]);
    for (const res of [r10, r11]) {
      expect(res.header('content-length')).toBe('24');
      expect(res.header('transfer-encoding')).toBeUndefined();
      expect(res.body.toString()).toBe('held back until complete');
    }
    expect(origin.requests.length).toBe(1);
  });

  it('V1: ... but with origin Content-Length the 1.0 trigger streams', async () => {
    const rest = signal();
    const { proxy } = await setup(async (_req, res) => {
      await res.head(200, [['Cache-Control', 'max-age=60'], ['Content-Length', '10']]);
      await res.write('early');
      await rest.promise;
      await res.write('later');
    });
    const v10 = await client(proxy.port);
    await v10.write(request('/v1-cl', { version: '1.0' }));
    const early = await bodyBytes(v10, 5, 1500);
    expect(early.header('content-length')).toBe('10');
    rest.resolve();
    expect((await v10.readResponse()).body.toString()).toBe('earlylater');
  });

  it('V1: the non-streaming size limit applies to a fetch an HTTP/1.0 request turned off streaming for', async () => {
    const { proxy } = await setup((_req, res) => res.send({ headers: [['Cache-Control', 'max-age=60']], body: 'L'.repeat(3000), framing: 'chunked', chunkSizes: [500] }), {
      maxObjectSizeBuffered: 1000,
    });
    const v10 = await fetchOnce(proxy.port, '/v1-limit', { version: '1.0' });
    expect(v10.status).toBe(503);
    // The same object fetched for an HTTP/1.1 client streams, under the (larger) streaming limit.
    const v11 = await fetchOnce(proxy.port, '/v1-limit');
    expect(v11.status).toBe(200);
    expect(v11.body.length).toBe(3000);
  });
});

it('V4: fetches and revalidations are HTTP/1.1 to the origin for an HTTP/1.0 client', async () => {
  const { origin, proxy } = await setup((_req, res) => res.send({ headers: [['Cache-Control', 'max-age=60']], body: 'v4' }));
  await fetchOnce(proxy.port, '/v4', { version: '1.0' });
  await waitFor(() => origin.requests.length === 1, 1000, 'the fetch');
  expect(origin.requests[0].version).toBe('HTTP/1.1');
  expect(origin.requests[0].header('host')).toBe('cache.test');
});

describe('access log and persistent connections', () => {
  it('R2/R4/R5: the access log names each response HIT, MISS, COLLAPSED or PASS', async () => {
    const lines: Array<Record<string, unknown>> = [];
    const logger = pino({ level: 'info' }, { write: (line: string) => void lines.push(JSON.parse(line) as Record<string, unknown>) });
    const { proxy } = await setup(
      (req, res) => res.send({ headers: req.target === '/cached' ? [['Cache-Control', 'max-age=60']] : [], body: req.target, delayHeadMs: 60 }),
      { logger },
    );
    await Promise.all([fetchOnce(proxy.port, '/cached'), fetchOnce(proxy.port, '/cached')]);
    await fetchOnce(proxy.port, '/cached');
    await fetchOnce(proxy.port, '/post', { method: 'POST', body: 'x' });
    await delay(20);
    const access = lines.filter((l) => l.msg === 'access').map((l) => `${l.method} ${l.path} ${l.cache}`);
    expect(access.slice(0, 2).sort()).toEqual(['GET /cached COLLAPSED', 'GET /cached MISS']);
    expect(access.slice(2)).toEqual(['GET /cached HIT', 'POST /post PASS']);
  });

  it('F5: pipelined requests served from objects (miss, attach, hit) are answered in order on one connection', async () => {
    const { origin, proxy } = await setup((req, res) =>
      res.send({ headers: [['Cache-Control', 'max-age=60']], body: `body of ${req.target}`, framing: req.target === '/p1' ? 'chunked' : 'length', gapMs: 5, chunkSizes: [3] }),
    );
    const c = await client(proxy.port);
    await c.write(request('/p1', { keepAlive: true }) + request('/p2', { keepAlive: true }) + request('/p1', { keepAlive: true }) + request('/p2'));
    const responses = await c.readResponses(['GET', 'GET', 'GET', 'GET']);
    expect(responses.map((r) => r.body.toString())).toEqual(['body of /p1', 'body of /p2', 'body of /p1', 'body of /p2']);
    expect(responses.map((r) => r.header('x-cache'))).toEqual(['MISS', 'MISS', 'HIT', 'HIT']);
    expect(responses[0].framing).toBe('chunked');
    expect(responses[2].framing).toBe('length');
    expect(await c.waitClose(2000)).toBe(true);
    expect(origin.requests.length).toBe(2);
  });
});
