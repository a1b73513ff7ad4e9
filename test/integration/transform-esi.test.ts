// T2 on real sockets: ESI (`esi: true` from the fetch hook or a rule). The template is the cached
// object; every delivery assembles the page from it, fetching its includes through the cache (each
// fragment a cache object on its own key, collapsed like any request), in parallel, nested down to
// depth 3, with alt, onerror="continue", remove, comment and <!--esi. Streaming is off for the page
// and for every fragment it includes; the page goes out with Content-Length (F1, F3); a failed
// include without onerror="continue" (and no working alt) makes the page a 503; loops are refused.
import { describe, expect, it } from 'vitest';
import { parseResponses, sendRaw, type ParsedResponse } from '../support/raw-client.js';
import { requestKit } from '../support/requests.js';
import { startScriptedOrigin, type ReceivedRequest, type ScriptedOrigin, type ScriptedResponder } from '../support/scripted-origin.js';
import { cleanupAfterEach, startProxy, testKit, type RunningProxy } from '../support/proxy.js';
import { delay } from '../support/ports.js';
import type { CreateProxyOptions } from '../../src/index.js';

const cleanups = cleanupAfterEach();
const { signal, client } = testKit(cleanups);

type Route = (req: ReceivedRequest, res: ScriptedResponder) => void | Promise<void>;

/** An origin of routes by path; every other path is a 404. */
async function setup(routes: Record<string, Route | string>, options: Partial<CreateProxyOptions> = {}): Promise<{ origin: ScriptedOrigin; proxy: RunningProxy; hits(path: string): number }> {
  const origin = await startScriptedOrigin((req, res) => {
    const route = routes[req.target];
    if (route === undefined) return res.send({ status: 404, headers: [['Cache-Control', 'no-store']], body: 'no such page' });
    if (typeof route === 'string') return res.send({ headers: [['Cache-Control', 'max-age=60']], body: route });
    return route(req, res);
  });
  cleanups.push(() => origin.close());
  const proxy = await startProxy(origin.url, { rules: [{ path: '*', esi: true }], ...options });
  cleanups.push(() => proxy.proxy.close(300));
  return { origin, proxy, hits: (path) => origin.requests.filter((r) => r.target === path).length };
}

const { request, fetchOnce } = requestKit({ host: 't2.test', idleMs: 3000 });

function expectPage(res: ParsedResponse, body: string): void {
  expect(res.status).toBe(200);
  expect(res.body.toString()).toBe(body);
  expect(res.header('content-length')).toBe(String(Buffer.byteLength(body)));
  expect(res.header('transfer-encoding')).toBeUndefined();
}

const cached = (body: string, extra: [string, string][] = []): Route => (_req, res) => res.send({ headers: [['Cache-Control', 'max-age=60'], ...extra], body });

// ------------------------------------------------------------------------------------------------

describe('T2: includes', () => {
  it('T2: includes are replaced by their fragments; the page has Content-Length; then a HIT assembles again from cached fragments', async () => {
    const { origin, proxy, hits } = await setup({
      '/page': '<html><esi:include src="/frag/a"/>|<esi:include src="frag/b"/></html>',
      '/frag/a': 'A',
      '/frag/b': 'B',
    });
    const miss = await fetchOnce(proxy.port, '/page');
    expectPage(miss, '<html>A|B</html>');
    expect(miss.header('x-cache')).toBe('MISS');
    const hit = await fetchOnce(proxy.port, '/page');
    expectPage(hit, '<html>A|B</html>');
    expect(hit.header('x-cache')).toBe('HIT');
    expect([hits('/page'), hits('/frag/a'), hits('/frag/b')]).toEqual([1, 1, 1]);
    // Fragments are requested with the page's Host and no Accept-Encoding, through the cache.
    const fragRequest = origin.requests.find((r) => r.target === '/frag/a')!;
    expect(fragRequest.header('host')).toBe('t2.test');
    expect(fragRequest.header('accept-encoding')).toBeUndefined();
  });

  it('T2: the template is what is cached; the page is assembled per delivery (an uncacheable fragment is fetched every time)', async () => {
    let n = 0;
    const { hits, proxy } = await setup(
      {
        '/counter-page': 'count=<esi:include src="/count"/>',
        '/count': (_req, res) => res.send({ headers: [['Cache-Control', 'no-store']], body: String(n++) }),
      },
      { hooks: { fetch: (ctx) => void (ctx.esi = ctx.path === '/counter-page') } },
    );
    expectPage(await fetchOnce(proxy.port, '/counter-page'), 'count=0');
    const hit = await fetchOnce(proxy.port, '/counter-page');
    expectPage(hit, 'count=1');
    expect(hit.header('x-cache')).toBe('HIT');
    expect(hits('/counter-page')).toBe(1);
    expect(hits('/count')).toBe(2);
  });

  it('T2: includes are fetched in parallel', async () => {
    const slow = (body: string): Route => (_req, res) => res.send({ headers: [['Cache-Control', 'max-age=60']], body, delayHeadMs: 300 });
    const { proxy } = await setup({ '/par': '<esi:include src="/s1"/><esi:include src="/s2"/><esi:include src="/s3"/><esi:include src="/s4"/>', '/s1': slow('1'), '/s2': slow('2'), '/s3': slow('3'), '/s4': slow('4') });
    const started = performance.now();
    expectPage(await fetchOnce(proxy.port, '/par'), '1234');
    expect(performance.now() - started).toBeLessThan(1000);
  });

  it('T2: the page drops the template validators (they describe the template) and keeps its other fields', async () => {
    const { proxy } = await setup({ '/v': cached('x<esi:include src="/f"/>', [['ETag', '"t"'], ['X-Page', 'yes']]), '/f': 'y' });
    const res = await fetchOnce(proxy.port, '/v');
    expectPage(res, 'xy');
    expect(res.header('etag')).toBeUndefined();
    expect(res.header('x-page')).toBe('yes');
    const cond = await fetchOnce(proxy.port, '/v', { headers: [['If-None-Match', '"t"']] });
    expectPage(cond, 'xy');
  });

  it('T2: a template the origin sent gzip-encoded is decoded, then assembled', async () => {
    const { gzipSync } = await import('node:zlib');
    const { proxy } = await setup({
      '/gz': (_req, res) => res.send({ headers: [['Cache-Control', 'max-age=60'], ['Content-Encoding', 'gzip']], body: gzipSync('a<esi:include src="/f"/>c') }),
      '/f': 'b',
    });
    const res = await fetchOnce(proxy.port, '/gz', { headers: [['Accept-Encoding', 'gzip']] });
    expectPage(res, 'abc');
    expect(res.header('content-encoding')).toBeUndefined();
  });
});

describe('T2: alt, onerror, failures', () => {
  it('T2: alt replaces a failed src', async () => {
    const { proxy, hits } = await setup({ '/alt': '[<esi:include src="/missing" alt="/fallback"/>]', '/fallback': 'F' });
    expectPage(await fetchOnce(proxy.port, '/alt'), '[F]');
    expect(hits('/missing')).toBe(1);
  });

  it('T2: onerror="continue": a failed include becomes nothing', async () => {
    const { proxy } = await setup({ '/cont': '[<esi:include src="/missing" onerror="continue"/>|<esi:include src="/gone" alt="/also-gone" onerror="continue"/>]' });
    expectPage(await fetchOnce(proxy.port, '/cont'), '[|]');
  });

  it('T2: a failed fragment without onerror="continue" makes the page a 503 naming it; so does a failed alt', async () => {
    const { proxy } = await setup({
      '/fail': 'a<esi:include src="/missing"/>b',
      '/fail-alt': 'a<esi:include src="/missing" alt="/also-missing"/>b',
      '/fail-origin': 'a<esi:include src="/broken"/>b',
      '/broken': (_req, res) => res.reset({ settleMs: 0 }),
    });
    const res = await fetchOnce(proxy.port, '/fail');
    expect(res.status).toBe(503);
    expect(res.body.toString()).toMatch(/ESI include failed: "\/missing": 404/);
    const alt = await fetchOnce(proxy.port, '/fail-alt');
    expect(alt.status).toBe(503);
    expect(alt.body.toString()).toMatch(/"\/missing": 404.*alt "\/also-missing": 404/);
    // O1 for a fragment: the fragment gets 503 from the cache, so the page does too.
    const broken = await fetchOnce(proxy.port, '/fail-origin');
    expect(broken.status).toBe(503);
    expect(broken.body.toString()).toMatch(/"\/broken": 503/);
  });

  it('T2/O1: a template whose origin fails before its head: 503', async () => {
    const { proxy } = await setup({ '/down': (_req, res) => res.reset({ settleMs: 0 }) });
    expect((await fetchOnce(proxy.port, '/down')).status).toBe(503);
  });

  it('T2/L1: the non-streaming size limit applies to the template (L2) and to the assembled page', async () => {
    const { proxy } = await setup(
      {
        '/huge-template': 'x'.repeat(3000),
        '/grows': '<esi:include src="/k1"/><esi:include src="/k1"/><esi:include src="/k1"/>',
        '/k1': 'k'.repeat(900),
      },
      { maxObjectSizeBuffered: 2000, maxObjectSize: 1_000_000 },
    );
    const template = await fetchOnce(proxy.port, '/huge-template');
    expect(template.status).toBe(503);
    expect(template.body.toString()).toMatch(/maximum object size \(2000 bytes\)/);
    const page = await fetchOnce(proxy.port, '/grows');
    expect(page.status).toBe(503);
    expect(page.body.toString()).toMatch(/assembled ESI page passed the maximum object size \(2000 bytes\)/);
  });
});

describe('T2: remove, comment, <!--esi', () => {
  it('T2: <esi:remove> content is dropped, <esi:comment> is dropped, <!--esi --> delimiters are dropped and their content processed', async () => {
    const { proxy } = await setup({
      '/markup': '1<esi:remove><a href="/no-esi">fallback</a></esi:remove>2<esi:comment text="editors only"/>3<!--esi <b><esi:include src="/f"/></b> -->4',
      '/f': 'F',
    });
    expectPage(await fetchOnce(proxy.port, '/markup'), '123 <b>F</b> 4');
  });
});

describe('T2: nesting, depth, loops', () => {
  it('T2: nested includes (a fragment that is itself ESI) down to depth 3', async () => {
    const { proxy } = await setup({ '/n0': '0(<esi:include src="/n1"/>)', '/n1': '1(<esi:include src="/n2"/>)', '/n2': '2(<esi:include src="/n3"/>)', '/n3': '3' });
    expectPage(await fetchOnce(proxy.port, '/n0'), '0(1(2(3)))');
    // A fragment requested directly is assembled from its own depth.
    expectPage(await fetchOnce(proxy.port, '/n1'), '1(2(3))');
  });

  it('T2: the depth limit: an include at depth 4 fails (503 up the chain, unless onerror="continue")', async () => {
    const { proxy } = await setup({
      '/d0': '0(<esi:include src="/d1"/>)',
      '/d1': '1(<esi:include src="/d2"/>)',
      '/d2': '2(<esi:include src="/d3"/>)',
      '/d3': '3(<esi:include src="/d4"/>)',
      '/d4': '4',
      '/c0': '0(<esi:include src="/c1"/>)',
      '/c1': '1(<esi:include src="/c2"/>)',
      '/c2': '2(<esi:include src="/c3"/>)',
      '/c3': '3(<esi:include src="/c4" onerror="continue"/>)',
      '/c4': '4',
    });
    const res = await fetchOnce(proxy.port, '/d0');
    expect(res.status).toBe(503);
    expect(res.body.toString()).toMatch(/include depth limit of 3 passed \(t2\.test\/d0 -> t2\.test\/d1 -> t2\.test\/d2 -> t2\.test\/d3 -> t2\.test\/d4\)/);
    expectPage(await fetchOnce(proxy.port, '/c0'), '0(1(2(3())))');
  });

  it('T2: an include loop is a clear error: the page is a 503 naming the path', async () => {
    const { proxy, hits } = await setup({ '/loop-a': 'a<esi:include src="/loop-b"/>', '/loop-b': 'b<esi:include src="/loop-a"/>', '/self': 's<esi:include src="/self"/>' });
    const res = await fetchOnce(proxy.port, '/loop-a');
    expect(res.status).toBe(503);
    expect(res.body.toString()).toMatch(/include loop \(t2\.test\/loop-a -> t2\.test\/loop-b -> t2\.test\/loop-a\)/);
    const self = await fetchOnce(proxy.port, '/self');
    expect(self.status).toBe(503);
    expect(self.body.toString()).toMatch(/include loop \(t2\.test\/self -> t2\.test\/self\)/);
    // The templates were fetched once each: a loop is found on the include path, not by fetching.
    expect([hits('/loop-a'), hits('/loop-b'), hits('/self')]).toEqual([1, 1, 1]);
  });
});

describe('T2: fragments are cached and collapsed', () => {
  it('T2/R2: two pages including the same fragment at once cause one fragment fetch', async () => {
    const { proxy, hits } = await setup({
      '/p1': 'one:<esi:include src="/shared"/>',
      '/p2': 'two:<esi:include src="/shared"/>',
      '/shared': (_req, res) => res.send({ headers: [['Cache-Control', 'max-age=60']], body: 'S', delayHeadMs: 300 }),
    });
    const [a, b] = await Promise.all([fetchOnce(proxy.port, '/p1'), fetchOnce(proxy.port, '/p2')]);
    expectPage(a, 'one:S');
    expectPage(b, 'two:S');
    expect(hits('/shared')).toBe(1);
    // And later pages get it from the cache.
    expectPage(await fetchOnce(proxy.port, '/p1'), 'one:S');
    expect(hits('/shared')).toBe(1);
  });

  it('T2/R2: many clients of a page at once: one template fetch, one fetch per fragment', async () => {
    const { proxy, hits } = await setup({
      '/many': (_req, res) => res.send({ headers: [['Cache-Control', 'max-age=60']], body: '<esi:include src="/m1"/>-<esi:include src="/m2"/>', delayHeadMs: 100 }),
      '/m1': (_req, res) => res.send({ headers: [['Cache-Control', 'max-age=60']], body: 'M1', delayHeadMs: 100 }),
      '/m2': 'M2',
    });
    const pages = await Promise.all(Array.from({ length: 10 }, () => fetchOnce(proxy.port, '/many')));
    for (const page of pages) expectPage(page, 'M1-M2');
    expect([hits('/many'), hits('/m1'), hits('/m2')]).toEqual([1, 1, 1]);
  });
});

describe('T2: streaming is off', () => {
  it('T2: the page: no client gets a byte before the template is complete; then Content-Length', async () => {
    const rest = signal();
    const { origin, proxy } = await setup({
      '/slow-page': async (_req, res) => {
        await res.head(200, [['Cache-Control', 'max-age=60'], ['Transfer-Encoding', 'chunked']]);
        await res.chunk('start <esi:include src="/f"/>');
        await rest.promise;
        await res.chunk(' end');
        await res.lastChunk();
      },
      '/f': 'F',
    });
    const c = await client(proxy.port);
    await c.write(request('/slow-page'));
    await origin.waitForRequests(1);
    await delay(200);
    expect(c.received().length).toBe(0);
    rest.resolve();
    expectPage(await c.readResponse(), 'start F end');
  });

  it('T2: a fragment fetch is not streamed: a client that asks for the fragment meanwhile collapses onto it and gets Content-Length at the end', async () => {
    const rest = signal();
    const { origin, proxy, hits } = await setup(
      {
        '/frag-page': '[<esi:include src="/slow-frag"/>]',
        '/slow-frag': async (_req, res) => {
          await res.head(200, [['Cache-Control', 'max-age=60'], ['Transfer-Encoding', 'chunked']]);
          await res.chunk('part1 ');
          await rest.promise;
          await res.chunk('part2');
          await res.lastChunk();
        },
      },
      { rules: [{ path: '/frag-page', esi: true }] },
    );
    const page = await client(proxy.port);
    await page.write(request('/frag-page'));
    await origin.waitForRequests(2);
    await delay(50);
    const direct = await client(proxy.port);
    await direct.write(request('/slow-frag'));
    await delay(200);
    expect(page.received().length).toBe(0);
    expect(direct.received().length).toBe(0);
    rest.resolve();
    expectPage(await page.readResponse(), '[part1 part2]');
    const res = await direct.readResponse();
    expectPage(res, 'part1 part2');
    expect(hits('/slow-frag')).toBe(1);
  });
});

describe('T2: HTTP/1.0, HEAD', () => {
  it('T2/F3: an HTTP/1.0 client gets the page with Content-Length and the connection closes', async () => {
    const { proxy } = await setup({ '/old': (_req, res) => res.send({ headers: [['Cache-Control', 'max-age=60']], body: 'a<esi:include src="/f"/>c', framing: 'chunked' }), '/f': 'b' });
    for (let i = 0; i < 2; i++) {
      const exchange = await sendRaw(proxy.port, request('/old', { version: '1.0' }), { idleMs: 3000 });
      expect(exchange.closedByServer).toBe(true);
      const [res] = parseResponses(exchange, ['GET']);
      expectPage(res, 'abc');
    }
  });

  it('T2/F4: HEAD gets the head a GET would get (Content-Length of the assembled page), no body', async () => {
    const { proxy } = await setup({ '/hp': 'a<esi:include src="/f"/>c', '/f': 'bbb' });
    const head = await fetchOnce(proxy.port, '/hp', { method: 'HEAD' });
    expect(head.status).toBe(200);
    expect(head.header('content-length')).toBe('5');
    expect(head.body.length).toBe(0);
    expectPage(await fetchOnce(proxy.port, '/hp'), 'abbbc');
  });
});

describe('T2/L5: the store stays usable', () => {
  it('T2/L5: assembling pages (including for clients that leave meanwhile) leaves no pin behind: a small store keeps evicting and caching', async () => {
    const routes: Record<string, Route | string> = {};
    for (let n = 0; n < 40; n++) {
      routes[`/pg/${n}`] = `page ${n} `.repeat(100) + `<esi:include src="/fr/${n}"/>`;
      routes[`/fr/${n}`] = (_req, res) => res.send({ headers: [['Cache-Control', 'max-age=60']], body: `fragment ${n} `.repeat(100), delayHeadMs: n === 3 ? 200 : 0 });
    }
    const { proxy } = await setup(routes, { storeSize: 64 * 1024, storeSlabSize: 16 * 1024 });
    const leaver = await client(proxy.port);
    await leaver.write(request('/pg/3'));
    await delay(50);
    await leaver.close();
    for (let n = 0; n < 40; n++) {
      const res = await fetchOnce(proxy.port, `/pg/${n}`);
      expectPage(res, `page ${n} `.repeat(100) + `fragment ${n} `.repeat(100));
    }
    const stats = proxy.proxy.stats().store;
    expect(stats.evictedExtents).toBeGreaterThan(0);
    expect(stats.blockedAppends).toBe(0);
    expect((await fetchOnce(proxy.port, '/pg/39')).header('x-cache')).toBe('HIT');
  });
});
