// src/proxy/policy.ts and src/proxy/hooks.ts: the decision at the origin's head (vcl_fetch). The C2
// edge policy, then config rules in order, then the embedder's fetch hook; from them share / store /
// hit-for-pass (R2, R4, R5), streaming (V1) and the head clients get (F6, C2).
import { describe, expect, it, vi } from 'vitest';
import { HeaderFields } from '../../src/http1/headers.js';
import type { BodyFraming, HttpVersion, RequestHead, ResponseHead } from '../../src/http1/message.js';
import { clientHeadOf, decideAtHead, type PolicySettings } from '../../src/proxy/policy.js';
import { applyFetchRules, applyRecvRules, compileRules, type CacheRule, type FetchContext, type ProxyHooks, type RecvContext } from '../../src/proxy/hooks.js';

const NOW = Date.parse('2024-05-01T12:00:00Z');
const V10: HttpVersion = { major: 1, minor: 0 };
const V11: HttpVersion = { major: 1, minor: 1 };
const LENGTH: BodyFraming = { kind: 'length', length: 10 };
const CHUNKED: BodyFraming = { kind: 'chunked' };
const CLOSE: BodyFraming = { kind: 'close' };

const fields = (...pairs: [string, string][]) => HeaderFields.from(pairs);

function settings(overrides: { rules?: CacheRule[]; hooks?: ProxyHooks; defaultTtl?: number; stream?: boolean } = {}): PolicySettings {
  return {
    defaultTtl: overrides.defaultTtl ?? 0,
    stream: overrides.stream ?? true,
    viaName: 'streamcache',
    rules: compileRules(overrides.rules ?? []),
    hooks: overrides.hooks ?? {},
  };
}

function request(version: HttpVersion = V11, headers: [string, string][] = [['Host', 'example.com']]): RequestHead {
  return { method: 'GET', target: '/page', version, headers: fields(...headers) };
}

function response(headers: [string, string][], status = 200, version: HttpVersion = V11): ResponseHead {
  return { status, reason: status === 200 ? 'OK' : 'Status', version, headers: fields(...headers) };
}

function decide(head: ResponseHead, options: { settings?: PolicySettings; request?: RequestHead; path?: string; framing?: BodyFraming } = {}) {
  return decideAtHead(options.settings ?? settings(), options.request ?? request(), options.path ?? '/page', head, NOW, options.framing ?? LENGTH);
}

const flags = (d: ReturnType<typeof decide>) => ({ share: d.share, store: d.store, hitForPass: d.hitForPass, stream: d.stream });

describe('decideAtHead: the edge policy alone (C2, R4, R5)', () => {
  it('C2/R2 cacheable with a TTL: shared, stored, streamed, no hit-for-pass', () => {
    const d = decide(response([['Cache-Control', 'max-age=60']]));
    expect(flags(d)).toEqual({ share: true, store: true, hitForPass: false, stream: true });
    expect(d.policy).toMatchObject({ storable: true, ttl: 60, mustRevalidate: false });
  });

  it('R4 no-store: neither shared nor stored, the key goes hit-for-pass; still streamed', () => {
    expect(flags(decide(response([['Cache-Control', 'no-store']])))).toEqual({ share: false, store: false, hitForPass: true, stream: true });
    expect(flags(decide(response([['Cache-Control', 'private, max-age=60']])))).toEqual({ share: false, store: false, hitForPass: true, stream: true });
  });

  it('R4 a zero TTL (default TTL 0, no freshness) is hit-for-pass', () => {
    expect(flags(decide(response([])))).toEqual({ share: false, store: false, hitForPass: true, stream: true });
    expect(flags(decide(response([['Cache-Control', 'max-age=0']])))).toEqual({ share: false, store: false, hitForPass: true, stream: true });
    // A configured default TTL makes the same response cacheable.
    expect(flags(decide(response([]), { settings: settings({ defaultTtl: 30 }) }))).toEqual({ share: true, store: true, hitForPass: false, stream: true });
  });

  it('C2 no-cache alone: stored (for revalidation) but not shared, and not hit-for-pass', () => {
    const d = decide(response([['Cache-Control', 'no-cache'], ['ETag', '"v1"']]));
    expect(flags(d)).toEqual({ share: false, store: true, hitForPass: false, stream: true });
    expect(d.policy.mustRevalidate).toBe(true);
  });

  it('C2 no-cache with s-maxage (the push recipe): shared and stored', () => {
    expect(flags(decide(response([['Cache-Control', 'no-cache, s-maxage=28']])))).toEqual({ share: true, store: true, hitForPass: false, stream: true });
  });

  it('R4 a status that is not cacheable is hit-for-pass', () => {
    expect(flags(decide(response([['Cache-Control', 'max-age=60']], 206)))).toMatchObject({ share: false, store: false, hitForPass: true });
  });

  it('R1 stream follows the setting when nothing turns it off', () => {
    expect(decide(response([['Cache-Control', 'max-age=60']]), { settings: settings({ stream: false }) }).stream).toBe(false);
  });
});

describe('decideAtHead: rules and the fetch hook', () => {
  it('C2 a rule ttl makes an uncacheable-by-default response cacheable, and overrides no-cache\'s revalidation', () => {
    const rules: CacheRule[] = [{ path: '/page', ttl: 30 }];
    const d = decide(response([]), { settings: settings({ rules }) });
    expect(flags(d)).toEqual({ share: true, store: true, hitForPass: false, stream: true });
    expect(d.policy).toMatchObject({ ttl: 30, mustRevalidate: false, source: 'rule or hook' });
    const noCache = decide(response([['Cache-Control', 'no-cache']]), { settings: settings({ rules }) });
    expect(flags(noCache)).toMatchObject({ share: true, store: true });
    expect(noCache.policy.mustRevalidate).toBe(false);
  });

  it('R4 a rule ttl does not make a no-store or private response cacheable: cacheable must be set too', () => {
    const ttlOnly = decide(response([['Cache-Control', 'private']]), { settings: settings({ rules: [{ path: '/*', ttl: 30 }] }) });
    expect(flags(ttlOnly)).toMatchObject({ share: false, store: false, hitForPass: true });
    const both = decide(response([['Cache-Control', 'private']]), { settings: settings({ rules: [{ path: '/*', ttl: 30, cacheable: true }] }) });
    expect(flags(both)).toMatchObject({ share: true, store: true, hitForPass: false });
  });

  it('R4 a rule cacheable: false turns a cacheable response into hit-for-pass', () => {
    const d = decide(response([['Cache-Control', 'max-age=60']]), { settings: settings({ rules: [{ path: '/page', cacheable: false }] }) });
    expect(flags(d)).toMatchObject({ share: false, store: false, hitForPass: true });
  });

  it('R1 a rule doStream: false turns streaming off; true turns it on', () => {
    expect(decide(response([['Cache-Control', 'max-age=60']]), { settings: settings({ rules: [{ path: '/page', doStream: false }] }) }).stream).toBe(false);
    expect(decide(response([['Cache-Control', 'max-age=60']]), { settings: settings({ stream: false, rules: [{ path: '/page', doStream: true }] }) }).stream).toBe(true);
  });

  it('C2 rules apply in order: a later matching rule overrides an earlier one; non-matching rules do nothing', () => {
    const rules: CacheRule[] = [
      { path: '/*', ttl: 10 },
      { path: '/page', ttl: 20 },
      { path: '/other', ttl: 99, doStream: false },
    ];
    const d = decide(response([]), { settings: settings({ rules }) });
    expect(d.policy.ttl).toBe(20);
    expect(d.stream).toBe(true);
    const reversed = decide(response([]), { settings: settings({ rules: [rules[1], rules[0]] }) });
    expect(reversed.policy.ttl).toBe(10);
  });

  it('C2 the fetch hook runs after the rules and wins over them', () => {
    const seen: Partial<FetchContext>[] = [];
    const hooks: ProxyHooks = {
      fetch(ctx) {
        seen.push({ ttl: ctx.ttl, doStream: ctx.doStream, cacheable: ctx.cacheable, path: ctx.path });
        expect(ctx.response.status).toBe(200);
        expect(ctx.response.headers.get('x-origin')).toBe('1');
        ctx.ttl = 99;
        ctx.doStream = true;
      },
    };
    const d = decide(response([['X-Origin', '1']]), { settings: settings({ rules: [{ path: '/page', ttl: 10, doStream: false }], hooks }) });
    expect(seen).toEqual([{ ttl: 10, doStream: false, cacheable: true, path: '/page' }]);
    expect(d.policy.ttl).toBe(99);
    expect(d.stream).toBe(true);
    expect(flags(d)).toMatchObject({ share: true, store: true });
  });

  it('R4 a hook can make a response uncacheable (hit-for-pass) or cacheable', () => {
    const pass = decide(response([['Cache-Control', 'max-age=60']]), { settings: settings({ hooks: { fetch: (ctx) => void (ctx.cacheable = false) } }) });
    expect(flags(pass)).toMatchObject({ share: false, store: false, hitForPass: true });
    const keep = decide(response([['Set-Cookie', 'a=1']]), { settings: settings({ hooks: { fetch: (ctx) => Object.assign(ctx, { cacheable: true, ttl: 5 }) } }) });
    expect(flags(keep)).toMatchObject({ share: true, store: true, hitForPass: false });
  });

  it('C2 a negative ttl from a hook counts as 0: hit-for-pass', () => {
    const d = decide(response([['Cache-Control', 'max-age=60']]), { settings: settings({ hooks: { fetch: (ctx) => void (ctx.ttl = -5) } }) });
    expect(d.policy.ttl).toBe(0);
    expect(flags(d)).toMatchObject({ share: false, store: false, hitForPass: true });
  });

  it('C2 the fetch hook is called once per decision', () => {
    const fetch = vi.fn();
    decide(response([]), { settings: settings({ hooks: { fetch } }) });
    expect(fetch).toHaveBeenCalledTimes(1);
  });
});

describe('V1: HTTP/1.0 requests and streaming', () => {
  it('V1 an HTTP/1.0 request with a chunked or close-delimited response turns streaming off', () => {
    const head = response([['Cache-Control', 'max-age=60']]);
    expect(decide(head, { request: request(V10), framing: CHUNKED }).stream).toBe(false);
    expect(decide(head, { request: request(V10), framing: CLOSE }).stream).toBe(false);
    // ... even when a rule or hook asked for it.
    const forced = settings({ rules: [{ path: '/*', doStream: true }], hooks: { fetch: (ctx) => void (ctx.doStream = true) } });
    expect(decide(head, { settings: forced, request: request(V10), framing: CHUNKED }).stream).toBe(false);
  });

  it('V1 with Content-Length, or for an HTTP/1.1 request, streaming stays on', () => {
    const head = response([['Cache-Control', 'max-age=60']]);
    expect(decide(head, { request: request(V10), framing: LENGTH }).stream).toBe(true);
    expect(decide(head, { request: request(V11), framing: CHUNKED }).stream).toBe(true);
    expect(decide(head, { request: request(V11), framing: CLOSE }).stream).toBe(true);
  });

  it('V1 turning streaming off does not change what is shared or stored', () => {
    const head = response([['Cache-Control', 'max-age=60']]);
    expect(flags(decide(head, { request: request(V10), framing: CHUNKED }))).toEqual({ share: true, store: true, hitForPass: false, stream: false });
  });
});

describe('clientHead (F6, C2)', () => {
  it('F6 hop-by-hop fields (and those Connection names), Content-Length, Age and Surrogate-Control are removed; Via is added', () => {
    const head = response([
      ['Content-Type', 'text/html'],
      ['Connection', 'keep-alive, X-Hop'],
      ['X-Hop', 'secret'],
      ['Keep-Alive', 'timeout=5'],
      ['Transfer-Encoding', 'chunked'],
      ['TE', 'trailers'],
      ['Trailer', 'X-Checksum'],
      ['Upgrade', 'h2c'],
      ['Proxy-Authenticate', 'Basic'],
      ['Proxy-Connection', 'keep-alive'],
      ['Content-Length', '10'],
      ['Age', '30'],
      ['Surrogate-Control', 'max-age=60'],
      ['Cache-Control', 'no-cache, s-maxage=28'],
      ['ETag', '"v1"'],
    ]);
    const d = decide(head);
    expect(d.clientHead.status).toBe(200);
    expect(d.clientHead.reason).toBe('OK');
    expect(d.clientHead.headers.toObject()).toEqual({
      'content-type': 'text/html',
      'cache-control': 'no-cache, s-maxage=28',
      etag: '"v1"',
      via: '1.1 streamcache',
    });
    // The origin's head itself is left as it was (the policy read it).
    expect(head.headers.get('surrogate-control')).toBe('max-age=60');
  });

  it('F6 Via appends this hop to the Via of the tier upstream', () => {
    const d = decide(response([['Via', '1.1 shield'], ['Cache-Control', 'max-age=60']]));
    expect(d.clientHead.headers.getAll('via')).toEqual(['1.1 shield, 1.1 streamcache']);
  });

  it('F6 an empty reason phrase becomes the standard one for the status', () => {
    const head: ResponseHead = { status: 404, reason: '', version: V11, headers: fields() };
    expect(clientHeadOf(head, 'edge')).toMatchObject({ status: 404, reason: 'Not Found' });
    expect(clientHeadOf(head, 'edge').headers.get('via')).toBe('1.1 edge');
  });

  // Regression (fixed): Via records the protocol version of the message received (RFC 9110 §7.6.3). clientHeadOf
  // always writes `1.1 <name>`, whatever version the origin answered with (head.version is ignored).
  //   input:    an HTTP/1.0 origin response, viaName 'edge'
  //   expected: Via: 1.0 edge
  //   actual:   Via: 1.1 edge
  it('F6: Via names the version the origin answered with', () => {
    const head = response([['Cache-Control', 'max-age=60']], 200, V10);
    expect(clientHeadOf(head, 'edge').headers.get('via')).toBe('1.0 edge');
  });
});

describe('compileRules: globs and /regex/', () => {
  const matcher = (path: string) => compileRules([{ path }])[0];

  it('C2 globs: * is any run of characters, ? is one; anchored at both ends; matched against path and query', () => {
    const events = matcher('/events*');
    expect(events.matches('/events')).toBe(true);
    expect(events.matches('/events/live?x=1')).toBe(true);
    expect(events.matches('/api/events')).toBe(false);
    const admin = matcher('/admin/*');
    expect(admin.matches('/admin/')).toBe(true);
    expect(admin.matches('/admin/users/1')).toBe(true);
    expect(admin.matches('/admin')).toBe(false);
    const one = matcher('/v?/x*'); // (globs are never read as regular expressions: see below)
    expect(one.matches('/v1/x')).toBe(true);
    expect(one.matches('/v1/xyz')).toBe(true);
    expect(one.matches('/v10/x')).toBe(false);
    const file = matcher('/file-?.txt');
    expect(file.matches('/file-1.txt')).toBe(true);
    expect(file.matches('/file-12.txt')).toBe(false);
    expect(file.matches('/file-1Xtxt')).toBe(false);
    const query = matcher('/search?q=*');
    expect(query.matches('/search?q=cats')).toBe(true);
    expect(query.matches('/search')).toBe(false);
  });

  it('C2 globs: regex characters in a glob are literal', () => {
    const dotted = matcher('/a.b+c(d)*');
    expect(dotted.matches('/a.b+c(d)/e')).toBe(true);
    expect(dotted.matches('/aXb+c(d)/e')).toBe(false);
    expect(dotted.matches('/a.bbc(d)/e')).toBe(false);
    expect(matcher('/[x]*').matches('/[x]y')).toBe(true);
    expect(matcher('/$*').matches('/$1')).toBe(true);
  });

  it('C2 regex rules: a regular expression in `regex`, unanchored unless anchored', () => {
    const [assets] = compileRules([{ regex: '\\.(css|js)$' }]);
    expect(assets.matches('/app.css')).toBe(true);
    expect(assets.matches('/lib/x.js')).toBe(true);
    expect(assets.matches('/x.json')).toBe(false);
    const [api] = compileRules([{ regex: '^/(?:API|api)/' }]);
    expect(api.matches('/api/users')).toBe(true);
    expect(api.matches('/v1/api/users')).toBe(false);
  });

  it('C2 compileRules keeps the rule fields', () => {
    const [rule] = compileRules([{ path: '/x*', ttl: 5, doStream: false, cacheable: true, pass: false }]);
    expect(rule).toMatchObject({ path: '/x*', ttl: 5, doStream: false, cacheable: true, pass: false });
  });

  // Regression (fixed): any rule path of the shape /.../letters is taken for a /regex/flags, and the README's globs
  // are written exactly like that (they start with "/"). So a glob for a literal path with two or
  // more segments is compiled as a regex whose "flags" are its last segment:
  //   input:    compileRules([{ path: '/admin/login' }])
  //   expected: a glob matching exactly "/admin/login"
  //   actual:   throws SyntaxError: Invalid flags supplied to RegExp constructor 'login'
  //   input:    compileRules([{ path: '/static/' }]) then matches('/x/static/y')
  //   expected: false (the glob is the literal path "/static/")
  //   actual:   true (regex /static/)
  //   input:    compileRules([{ path: '/img/gs' }]) then matches('/img/gs') three times
  //   expected: true, true, true
  //   actual:   true, false, true (regex /img/ with flags "gs": the g flag makes test() stateful
  //             through lastIndex, so the same path alternates; it also matches '/x/img/y')
  it('C2: a glob for a literal path with several segments is a glob, never a regular expression', () => {
    const outcome = (path: string, probes: string[]) => {
      try {
        const [rule] = compileRules([{ path }]);
        return probes.map((probe) => rule.matches(probe));
      } catch (error) {
        return String(error);
      }
    };
    expect({
      '/admin/login': outcome('/admin/login', ['/admin/login']),
      '/static/': outcome('/static/', ['/static/', '/x/static/y']),
      '/img/gs': outcome('/img/gs', ['/img/gs', '/img/gs', '/img/gs', '/x/img/y']),
    }).toEqual({
      '/admin/login': [true],
      '/static/': [true, false],
      '/img/gs': [true, true, true, false],
    });
  });

  it('C2 applyRecvRules: pass from the matching rules, the last match wins', () => {
    const rules = compileRules([
      { path: '/admin/*', pass: true },
      { path: '/admin/public*', pass: false },
      { path: '/*', ttl: 5 }, // no pass field: does not touch pass
    ]);
    const ctx = (path: string): RecvContext => ({ request: request(), path, key: `example.com${path}`, pass: false });
    const admin = ctx('/admin/x');
    applyRecvRules(rules, admin);
    expect(admin.pass).toBe(true);
    const pub = ctx('/admin/public/x');
    applyRecvRules(rules, pub);
    expect(pub.pass).toBe(false);
    const other = ctx('/x');
    applyRecvRules(rules, other);
    expect(other).toMatchObject({ pass: false, key: 'example.com/x' });
  });

  it('C2 applyFetchRules: only the fields a rule sets, from matching rules, in order', () => {
    const rules = compileRules([
      { path: '/*', ttl: 1, doStream: false },
      { path: '/a*', cacheable: false },
      { path: '/b*', ttl: 50 },
    ]);
    const ctx: FetchContext = { request: request(), path: '/a1', response: { status: 200, headers: fields() }, ttl: 7, doStream: true, cacheable: true };
    applyFetchRules(rules, ctx);
    expect(ctx).toMatchObject({ ttl: 1, doStream: false, cacheable: false });
  });
});

describe('decideAtHead: serving stale (G1-G3)', () => {
  const withStale = (overrides: Parameters<typeof settings>[0] = {}, stale = { grace: 0, staleIfError: 0 }): PolicySettings => ({ ...settings(overrides), stale });

  it('G1/G2 the decision carries the windows from the headers, else the configured ones', () => {
    expect(decide(response([['Cache-Control', 'max-age=60, stale-while-revalidate=30, stale-if-error=90']])).stale).toEqual({ whileRevalidate: 30, ifError: 90 });
    expect(decide(response([['Cache-Control', 'max-age=60']]), { settings: withStale({}, { grace: 10, staleIfError: 20 }) }).stale).toEqual({ whileRevalidate: 10, ifError: 20 });
  });

  it('G1 a response stale at once but servable stale is stored (not shared while in flight)', () => {
    expect(flags(decide(response([['Cache-Control', 'max-age=0, stale-while-revalidate=30']])))).toEqual({ share: false, store: true, hitForPass: false, stream: true });
    // Without a window it is hit-for-pass, as before.
    expect(flags(decide(response([['Cache-Control', 'max-age=0']])))).toMatchObject({ store: false, hitForPass: true });
  });

  it('G1/G2 a rule and the fetch hook set grace and staleIfError (the hook last)', () => {
    const rules: CacheRule[] = [{ path: '/page', grace: 40, staleIfError: 400 }];
    expect(decide(response([['Cache-Control', 'max-age=60']]), { settings: withStale({ rules }) }).stale).toEqual({ whileRevalidate: 40, ifError: 400 });
    const seen: FetchContext[] = [];
    const hooks: ProxyHooks = {
      fetch(ctx) {
        seen.push({ ...ctx });
        ctx.grace = 7;
      },
    };
    const d = decide(response([['Cache-Control', 'max-age=60, stale-while-revalidate=3']]), { settings: withStale({ rules, hooks }) });
    expect(seen[0]).toMatchObject({ grace: 40, staleIfError: 400 });
    expect(d.stale).toEqual({ whileRevalidate: 7, ifError: 400 });
  });

  it('G3 must-revalidate: no window from rules, hooks or configuration; Surrogate-Control still applies', () => {
    const hooks: ProxyHooks = { fetch: (ctx) => void (ctx.grace = 600) };
    const rules: CacheRule[] = [{ path: '/page', staleIfError: 600 }];
    const forbidden = decide(response([['Cache-Control', 'max-age=60, must-revalidate']]), { settings: withStale({ rules, hooks }, { grace: 60, staleIfError: 60 }) });
    expect(forbidden.stale).toMatchObject({ whileRevalidate: 0, ifError: 0, forbiddenBy: 'Cache-Control: must-revalidate' });
    const surrogate = decide(response([['Cache-Control', 'max-age=60, must-revalidate'], ['Surrogate-Control', 'stale-if-error=30']]), { settings: withStale({ rules, hooks }) });
    expect(surrogate.stale).toMatchObject({ whileRevalidate: 0, ifError: 30 });
  });

  it('G1 an unstored response carries no windows', () => {
    expect(decide(response([['Cache-Control', 'no-store, stale-while-revalidate=30']])).stale).toEqual({ whileRevalidate: 0, ifError: 0 });
  });
});
