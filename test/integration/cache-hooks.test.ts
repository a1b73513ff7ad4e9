// What embedders and operators can change about caching, seen on real sockets: the recv hook (key,
// pass), the fetch hook (ttl, doStream, cacheable), the deliver hook (a client's head), and the
// same knobs as config rules by path (a glob `path`, or a `regex`). Rule ids: R4 (a hook's decision to not
// cache), C1 (the key), C2 (TTL), R1/F1/F3 (doStream off: wait for the whole body, Content-Length).
import { describe, expect, it } from 'vitest';
import { requestKit } from '../support/requests.js';
import type { OriginScript } from '../support/scripted-origin.js';
import { cleanupAfterEach, startOriginAndProxy, testKit } from '../support/proxy.js';
import { delay } from '../support/ports.js';
import type { CreateProxyOptions } from '../../src/index.js';

const cleanups = cleanupAfterEach();
const { signal, client } = testKit(cleanups);
const setup = (script: OriginScript, options: Partial<CreateProxyOptions> = {}) => startOriginAndProxy(cleanups, script, options);

const { request, fetchOnce } = requestKit({ host: 'hooks.test', idleMs: 2000 });

/** An origin whose every response carries these headers and a body naming the request's number. */
function numbered(headers: [string, string][] = []): OriginScript {
  let n = 0;
  return (req, res) => res.send({ headers, body: `#${n++} ${req.target}` });
}

// ------------------------------------------------------------------------------------------------

describe('recv hook', () => {
  it('C1 (recv): a hook that changes the key merges two URLs into one object', async () => {
    const { origin, proxy } = await setup(numbered([['Cache-Control', 'max-age=60']]), {
      hooks: {
        recv(ctx) {
          // Ignore the query (e.g. tracking parameters).
          ctx.key = ctx.key.replace(/\?.*$/, '');
        },
      },
    });
    const first = await fetchOnce(proxy.port, '/merge?utm=1');
    const second = await fetchOnce(proxy.port, '/merge?utm=2');
    expect(second.header('x-cache')).toBe('HIT');
    expect(second.body.toString()).toBe(first.body.toString());
    expect(origin.requests.length).toBe(1);
    // Collapsing follows the key too: concurrent requests for two URLs of one key share one fetch.
    const [a, b] = await Promise.all([fetchOnce(proxy.port, '/other?x=1'), fetchOnce(proxy.port, '/other?x=2')]);
    expect(a.body.toString()).toBe(b.body.toString());
    expect(origin.requests.length).toBe(2);
  });

  it('C1 (recv): a hook can key on a request header (one object per tenant)', async () => {
    const { origin, proxy } = await setup(numbered([['Cache-Control', 'max-age=60']]), {
      hooks: {
        recv(ctx) {
          ctx.key += `#tenant=${ctx.request.headers.get('x-tenant') ?? ''}`;
        },
      },
    });
    const t1 = { headers: [['X-Tenant', 'one']] as [string, string][] };
    const t2 = { headers: [['X-Tenant', 'two']] as [string, string][] };
    const a = await fetchOnce(proxy.port, '/t', t1);
    const b = await fetchOnce(proxy.port, '/t', t2);
    expect(a.body.toString()).not.toBe(b.body.toString());
    expect((await fetchOnce(proxy.port, '/t', t1)).body.toString()).toBe(a.body.toString());
    expect((await fetchOnce(proxy.port, '/t', t2)).body.toString()).toBe(b.body.toString());
    expect(origin.requests.length).toBe(2);
  });

  it('C4/R4 (recv): pass skips the cache: never stored, never collapsed, X-Cache: PASS', async () => {
    const { origin, proxy } = await setup(
      (req, res) => res.send({ headers: [['Cache-Control', 's-maxage=60']], body: `${req.target} ${origin.requests.indexOf(req)}`, delayHeadMs: 50 }),
      {
        hooks: {
          recv(ctx) {
            if (ctx.path.startsWith('/live/')) ctx.pass = true;
          },
        },
      },
    );
    const passed = await Promise.all([fetchOnce(proxy.port, '/live/x'), fetchOnce(proxy.port, '/live/x')]);
    expect(origin.requests.length).toBe(2);
    for (const res of passed) expect(res.header('x-cache')).toBe('PASS');
    expect((await fetchOnce(proxy.port, '/live/x')).header('x-cache')).toBe('PASS');
    expect(origin.requests.length).toBe(3);
    // Other paths are cached as usual.
    await fetchOnce(proxy.port, '/static/x');
    expect((await fetchOnce(proxy.port, '/static/x')).header('x-cache')).toBe('HIT');
    expect(origin.requests.length).toBe(4);
  });
});

describe('fetch hook', () => {
  it('C2 (fetch): ttl makes a response without freshness information cacheable', async () => {
    const seen: Array<{ path: string; status: number; ttl: number }> = [];
    const { origin, proxy } = await setup(numbered(), {
      hooks: {
        fetch(ctx) {
          seen.push({ path: ctx.path, status: ctx.response.status, ttl: ctx.ttl });
          if (ctx.path.startsWith('/ttl')) ctx.ttl = 60;
        },
      },
    });
    await fetchOnce(proxy.port, '/ttl');
    const hit = await fetchOnce(proxy.port, '/ttl');
    expect(hit.header('x-cache')).toBe('HIT');
    expect(origin.requests.length).toBe(1);
    expect(seen).toEqual([{ path: '/ttl', status: 200, ttl: 0 }]);
    // Without the hook's ttl: the default TTL 0, not cached.
    await fetchOnce(proxy.port, '/plain');
    await fetchOnce(proxy.port, '/plain');
    expect(origin.requests.length).toBe(3);
  });

  it('C2 (fetch): the hook sees the response headers and can choose the TTL from them', async () => {
    const { origin, proxy } = await setup(
      (req, res) => res.send({ headers: req.target === '/tagged' ? [['X-Edge-Ttl', '30']] : [], body: req.target }),
      {
        hooks: {
          fetch(ctx) {
            const ttl = ctx.response.headers.get('x-edge-ttl');
            if (ttl) ctx.ttl = Number(ttl);
          },
        },
      },
    );
    await fetchOnce(proxy.port, '/tagged');
    expect((await fetchOnce(proxy.port, '/tagged')).header('x-cache')).toBe('HIT');
    await fetchOnce(proxy.port, '/untagged');
    expect((await fetchOnce(proxy.port, '/untagged')).header('x-cache')).not.toBe('HIT');
    expect(origin.requests.length).toBe(3);
  });

  it('R4 (fetch): ttl 0 on a cacheable response: not cached, the key passes afterwards', async () => {
    const { origin, proxy } = await setup(numbered([['Cache-Control', 's-maxage=60']]), {
      hooks: {
        fetch(ctx) {
          ctx.ttl = 0;
        },
      },
    });
    await fetchOnce(proxy.port, '/zero');
    const second = await fetchOnce(proxy.port, '/zero');
    expect(second.header('x-cache')).toBe('PASS');
    expect(origin.requests.length).toBe(2);
  });

  it('R4 (fetch): cacheable false: the response is not stored, and the key is hit-for-pass', async () => {
    const { origin, proxy } = await setup(numbered([['Cache-Control', 's-maxage=60']]), {
      hooks: {
        fetch(ctx) {
          if (ctx.path === '/never') ctx.cacheable = false;
        },
      },
    });
    const first = await fetchOnce(proxy.port, '/never');
    expect(first.status).toBe(200);
    const second = await fetchOnce(proxy.port, '/never');
    expect(second.header('x-cache')).toBe('PASS');
    expect(second.body.toString()).toBe('#1 /never');
    expect(origin.requests.length).toBe(2);
  });

  it('R1/F1 (fetch): doStream false: clients wait for the whole body and get Content-Length (the trigger and attached ones)', async () => {
    const rest = signal();
    const { origin, proxy } = await setup(
      async (_req, res) => {
        await res.head(200, [['Cache-Control', 'max-age=60'], ['Transfer-Encoding', 'chunked']]);
        await res.chunk('buffered ');
        await rest.promise;
        await res.chunk('whole');
        await res.lastChunk();
      },
      {
        hooks: {
          fetch(ctx) {
            ctx.doStream = false;
          },
        },
      },
    );
    const a = await client(proxy.port);
    await a.write(request('/whole'));
    await origin.waitForRequests(1);
    await delay(30);
    const b = await client(proxy.port);
    await b.write(request('/whole'));
    await delay(150);
    // The origin sent a head and a chunk; with streaming off, nothing goes out yet.
    expect(a.received().length).toBe(0);
    expect(b.received().length).toBe(0);
    rest.resolve();
    const [ra, rb] = await Promise.all([a.readResponse(), b.readResponse()]);
    for (const res of [ra, rb]) {
      expect(res.header('content-length')).toBe('14');
      expect(res.header('transfer-encoding')).toBeUndefined();
      expect(res.body.toString()).toBe('buffered whole');
      expect(res.header('x-cache')).toBe('MISS');
    }
    expect(origin.requests.length).toBe(1);
    expect((await fetchOnce(proxy.port, '/whole')).header('x-cache')).toBe('HIT');
  });
});

describe('deliver hook', () => {
  it('deliver: adds and removes headers on misses and hits alike', async () => {
    const { proxy } = await setup((_req, res) => res.send({ headers: [['Cache-Control', 'max-age=60'], ['X-Internal', 'secret']], body: 'delivered' }), {
      hooks: {
        deliver(ctx) {
          ctx.headers.delete('x-internal');
          ctx.headers.delete('x-cache-hits');
          ctx.headers.set('X-Served-By', 'edge-1');
        },
      },
    });
    const miss = await fetchOnce(proxy.port, '/d');
    const hit = await fetchOnce(proxy.port, '/d');
    expect(hit.header('x-cache')).toBe('HIT');
    for (const res of [miss, hit]) {
      expect(res.header('x-internal')).toBeUndefined();
      expect(res.header('x-cache-hits')).toBeUndefined();
      expect(res.header('x-served-by')).toBe('edge-1');
      expect(res.body.toString()).toBe('delivered');
      expect(res.header('content-length')).toBe('9');
    }
  });

  it('deliver: changes the status for one client without changing the stored object', async () => {
    const { origin, proxy } = await setup((_req, res) => res.send({ headers: [['Cache-Control', 'max-age=60']], body: 'status' }), {
      hooks: {
        deliver(ctx) {
          if (ctx.request.headers.get('x-want') === '203') ctx.status = 203;
        },
      },
    });
    await fetchOnce(proxy.port, '/s');
    const changed = await fetchOnce(proxy.port, '/s', { headers: [['X-Want', '203']] });
    expect(changed.status).toBe(203);
    expect(changed.body.toString()).toBe('status');
    const plain = await fetchOnce(proxy.port, '/s');
    expect(plain.status).toBe(200);
    expect(plain.header('x-cache')).toBe('HIT');
    expect(origin.requests.length).toBe(1);
  });

  it('deliver: applies to streamed responses (head edited before the first body byte)', async () => {
    const rest = signal();
    const { proxy } = await setup(
      async (_req, res) => {
        await res.head(200, [['Cache-Control', 'max-age=60'], ['Transfer-Encoding', 'chunked']]);
        await res.chunk('live ');
        await rest.promise;
        await res.chunk('end');
        await res.lastChunk();
      },
      {
        hooks: {
          deliver(ctx) {
            ctx.headers.set('X-Stream-Hook', ctx.headers.get('x-cache') ?? 'none');
          },
        },
      },
    );
    const c = await client(proxy.port);
    await c.write(request('/ds'));
    await c.readUntil((b) => b.includes('live '), 1500);
    rest.resolve();
    const res = await c.readResponse();
    expect(res.header('x-stream-hook')).toBe('MISS');
    expect(res.framing).toBe('chunked');
    expect(res.body.toString()).toBe('live end');
  });
});

describe('config rules', () => {
  it('C2 (rules): a glob rule sets the TTL for matching paths only', async () => {
    const { origin, proxy } = await setup(numbered(), { rules: [{ path: '/static/*', ttl: 60 }] });
    await fetchOnce(proxy.port, '/static/app.js');
    expect((await fetchOnce(proxy.port, '/static/app.js')).header('x-cache')).toBe('HIT');
    await fetchOnce(proxy.port, '/dynamic/app.js');
    expect((await fetchOnce(proxy.port, '/dynamic/app.js')).header('x-cache')).not.toBe('HIT');
    expect(origin.requests.length).toBe(3);
  });

  it('C2 (rules): a glob is matched against path and query; `?` is one character', async () => {
    const { origin, proxy } = await setup(numbered(), { rules: [{ path: '/search?q=*', ttl: 60 }, { path: '/img/?.png', ttl: 60 }] });
    await fetchOnce(proxy.port, '/search?q=cats');
    expect((await fetchOnce(proxy.port, '/search?q=cats')).header('x-cache')).toBe('HIT');
    await fetchOnce(proxy.port, '/img/a.png');
    expect((await fetchOnce(proxy.port, '/img/a.png')).header('x-cache')).toBe('HIT');
    await fetchOnce(proxy.port, '/img/ab.png');
    expect((await fetchOnce(proxy.port, '/img/ab.png')).header('x-cache')).not.toBe('HIT');
    expect(origin.requests.length).toBe(4);
  });

  it('R4 (rules): pass: true skips the cache for matching paths', async () => {
    const { origin, proxy } = await setup(numbered([['Cache-Control', 's-maxage=60']]), { rules: [{ path: '/admin*', pass: true }] });
    await fetchOnce(proxy.port, '/admin/users');
    const second = await fetchOnce(proxy.port, '/admin/users');
    expect(second.header('x-cache')).toBe('PASS');
    expect(origin.requests.length).toBe(2);
    await fetchOnce(proxy.port, '/public');
    expect((await fetchOnce(proxy.port, '/public')).header('x-cache')).toBe('HIT');
  });

  it('R4 (rules): a regular-expression rule (`regex`, unanchored unless anchored) with cacheable: false', async () => {
    const { origin, proxy } = await setup(numbered([['Cache-Control', 's-maxage=60']]), { rules: [{ regex: '^/api/v[0-9]+/', cacheable: false }] });
    await fetchOnce(proxy.port, '/api/v2/items');
    expect((await fetchOnce(proxy.port, '/api/v2/items')).header('x-cache')).not.toBe('HIT');
    await fetchOnce(proxy.port, '/api/latest/items');
    expect((await fetchOnce(proxy.port, '/api/latest/items')).header('x-cache')).toBe('HIT');
    expect(origin.requests.length).toBe(3);
  });

  it('R1 (rules): doStream: false makes clients wait for the whole body, with Content-Length', async () => {
    const rest = signal();
    const { proxy } = await setup(
      async (_req, res) => {
        await res.head(200, [['Cache-Control', 'max-age=60'], ['Transfer-Encoding', 'chunked']]);
        await res.chunk('first ');
        await rest.promise;
        await res.chunk('last');
        await res.lastChunk();
      },
      { rules: [{ path: '/buffered/*', doStream: false }] },
    );
    const c = await client(proxy.port);
    await c.write(request('/buffered/x'));
    await delay(150);
    expect(c.received().length).toBe(0);
    rest.resolve();
    const res = await c.readResponse();
    expect(res.header('content-length')).toBe('10');
    expect(res.body.toString()).toBe('first last');
  });

  it('rules: every matching rule applies in order, a later match overriding an earlier one', async () => {
    const { origin, proxy } = await setup(numbered(), {
      rules: [
        { path: '/x/*', ttl: 60 },
        { path: '/x/private/*', cacheable: false },
      ],
    });
    await fetchOnce(proxy.port, '/x/public/a');
    expect((await fetchOnce(proxy.port, '/x/public/a')).header('x-cache')).toBe('HIT');
    await fetchOnce(proxy.port, '/x/private/a');
    expect((await fetchOnce(proxy.port, '/x/private/a')).header('x-cache')).not.toBe('HIT');
    expect(origin.requests.length).toBe(3);
  });

  it('rules and hooks together: the fetch hook runs after the rules and has the last word', async () => {
    const { origin, proxy } = await setup(numbered(), {
      rules: [{ path: '/both/*', ttl: 60 }],
      hooks: {
        fetch(ctx) {
          if (ctx.path.endsWith('/no')) ctx.cacheable = false;
        },
      },
    });
    await fetchOnce(proxy.port, '/both/yes');
    expect((await fetchOnce(proxy.port, '/both/yes')).header('x-cache')).toBe('HIT');
    await fetchOnce(proxy.port, '/both/no');
    expect((await fetchOnce(proxy.port, '/both/no')).header('x-cache')).not.toBe('HIT');
    expect(origin.requests.length).toBe(3);
  });
});
