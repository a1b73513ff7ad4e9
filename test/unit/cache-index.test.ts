// src/cache/index.ts: the cache key (SPEC C1), Vary variants, purge (C4), hit-for-pass marks (R4),
// the object limit, and what may enter the index at all (R5).
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { fcOptions } from '../support/fc.js';
import { HeaderFields } from '../../src/http1/headers.js';
import type { RequestHead } from '../../src/http1/message.js';
import { validateRequest } from '../../src/proxy/origin-request.js';
import { CacheIndex, cacheKey, variantMatches, varyNamesOf, varyValues } from '../../src/cache/index.js';
import { CacheObject, type ObjectState } from '../../src/cache/object.js';
import { RingStore } from '../../src/cache/store.js';
import type { EdgePolicy } from '../../src/cache/freshness.js';

const NOW = Date.parse('2024-05-01T12:00:00Z');
const POLICY: EdgePolicy = { storable: true, ttl: 60, mustRevalidate: false, source: 'test' };

const fields = (...pairs: [string, string][]) => HeaderFields.from(pairs);

function request(method: string, target: string, headers: [string, string][] = []): RequestHead {
  return { method, target, version: { major: 1, minor: 1 }, headers: fields(...headers) };
}

function object(key: string, options: { vary?: Record<string, string>; state?: ObjectState; body?: number; store?: RingStore } = {}): CacheObject {
  const vary = options.vary ?? {};
  const names = Object.keys(vary).sort();
  const headers = fields(...(names.length ? [['Vary', names.join(', ')] as [string, string]] : []));
  const head = { status: 200, reason: 'OK', headers };
  const o = new CacheObject(key, { ...head, version: { major: 1, minor: 1 } }, head, POLICY, NOW, 0, options.body);
  o.varyNames = names;
  o.varyValues = names.map((n) => vary[n]);
  if (options.body && options.store) o.append(Buffer.alloc(options.body, 1), options.store);
  const state = options.state ?? 'complete';
  if (state === 'complete') o.markComplete();
  else if (state === 'failed') o.markFailed();
  return o;
}

describe('C1: the cache key', () => {
  it('C1 cacheKey: Host lower-cased, then path and query as sent', () => {
    expect(cacheKey(request('GET', '/a/B?x=1&Y=2', [['Host', 'Example.COM:8080']]), '/a/B?x=1&Y=2')).toBe('example.com:8080/a/B?x=1&Y=2');
    expect(cacheKey(request('GET', '/a?x=1', [['Host', 'example.com']]), '/a?x=1')).not.toBe(cacheKey(request('GET', '/a?x=2', [['Host', 'example.com']]), '/a?x=2'));
    expect(cacheKey(request('GET', '/a', [['Host', 'a.example']]), '/a')).not.toBe(cacheKey(request('GET', '/a', [['Host', 'b.example']]), '/a'));
  });

  it('C1 cacheKey: an absolute-form target\'s authority overrides Host (RFC 9112 §3.2.2)', () => {
    const req = request('GET', 'http://Other.Example/p?q', [['Host', 'ignored.example']]);
    expect(cacheKey(req, '/p?q', 'Other.Example')).toBe('other.example/p?q');
    expect(cacheKey(req, '/p?q', 'other.example')).toBe(cacheKey(request('GET', '/p?q', [['Host', 'OTHER.example']]), '/p?q'));
  });

  it('C1 cacheKey: an HTTP/1.0 request without Host keys on the path alone', () => {
    expect(cacheKey({ method: 'GET', target: '/x', version: { major: 1, minor: 0 }, headers: fields() }, '/x')).toBe('/x');
  });

  it('C1 GET and HEAD share a key: the key holds no method', () => {
    const get = cacheKey(request('GET', '/doc', [['Host', 'h']]), '/doc');
    const head = cacheKey(request('HEAD', '/doc', [['Host', 'h']]), '/doc');
    expect(head).toBe(get);
    expect(get).not.toMatch(/GET|HEAD/);
  });

  // The key is Host and path side by side, so a Host holding "/" could make two URLs share a key
  // (cache poisoning). Such a Host never gets that far: the request is refused with 400.
  it('C1: a Host that could collide with a path is refused before any key is made', () => {
    const poisoned = request('GET', '/', [['Host', 'example.com/evil']]);
    expect(validateRequest(poisoned)).toBe('invalid Host header');
    for (const host of ['example.com', 'example.com:8080', '[::1]:80', '127.0.0.1']) {
      expect(validateRequest(request('GET', '/', [['Host', host]]))).toEqual({ path: '/' });
    }
  });
});

describe('C1: Vary variants', () => {
  it('C1 varyNamesOf: the response Vary names, lower-cased, unique, sorted', () => {
    expect(varyNamesOf(fields(['Vary', 'User-Agent, Accept-Encoding'], ['vary', 'accept-encoding']))).toEqual(['accept-encoding', 'user-agent']);
    expect(varyNamesOf(fields())).toEqual([]);
  });

  it('C1 varyValues: every value of each field, joined, whitespace normalised; absent is empty', () => {
    const headers = fields(['Accept-Language', 'en,  fr'], ['accept-language', ' de '], ['Accept-Encoding', 'gzip']);
    expect(varyValues(['accept-language', 'cookie'], headers)).toEqual(['en, fr, de', '']);
  });

  it('C1/T1 varyValues: Accept-Encoding is normalised as Fastly does: br, gzip or none, q-values respected', () => {
    const ae = (...values: string[]) => varyValues(['accept-encoding'], fields(...values.map((v) => ['Accept-Encoding', v] as [string, string])))[0];
    expect(ae('gzip,  br', ' zstd ')).toBe('br');
    expect(ae('gzip, deflate')).toBe('gzip');
    expect(ae('x-gzip')).toBe('gzip');
    expect(ae('br;q=0.5, gzip')).toBe('gzip');
    expect(ae('br;q=0, gzip;q=0.2')).toBe('gzip');
    expect(ae('gzip;q=0, *')).toBe('br');
    expect(ae('*;q=0.1, br;q=0')).toBe('gzip');
    expect(ae('br;q=0.5, gzip;q=0.5')).toBe('br');
    expect(ae('zstd, deflate')).toBe('');
    expect(ae('gzip;q=0')).toBe('');
    expect(ae('identity')).toBe('');
    expect(ae('gzip;q=2')).toBe('');
    expect(ae()).toBe('');
  });

  it('C1 variantMatches: an object without Vary matches every request; with Vary, the same values only', () => {
    expect(variantMatches(object('k'), fields(['Accept-Encoding', 'gzip']))).toBe(true);
    const gzip = object('k', { vary: { 'accept-encoding': 'gzip' } });
    expect(variantMatches(gzip, fields(['Accept-Encoding', 'gzip']))).toBe(true);
    expect(variantMatches(gzip, fields(['Accept-Encoding', 'br']))).toBe(false);
    expect(variantMatches(gzip, fields())).toBe(false);
  });

  it('C1 Vary variants of one key live side by side; each request finds its own', () => {
    const index = new CacheIndex(new RingStore(1024, 256));
    const gzip = object('k', { vary: { 'accept-encoding': 'gzip' } });
    const br = object('k', { vary: { 'accept-encoding': 'br' } });
    const none = object('k', { vary: { 'accept-encoding': '' } });
    index.insert(gzip);
    index.insert(br);
    index.insert(none);
    expect(index.stats()).toEqual({ keys: 1, objects: 3, hitForPass: 0 });
    expect(index.lookup('k', fields(['Accept-Encoding', 'gzip']))).toBe(gzip);
    expect(index.lookup('k', fields(['Accept-Encoding', 'br']))).toBe(br);
    expect(index.lookup('k', fields())).toBe(none);
    // T1: Accept-Encoding is normalised: a client that accepts neither br nor gzip is the `none` variant.
    expect(index.lookup('k', fields(['Accept-Encoding', 'zstd']))).toBe(none);
    expect(index.lookup('k', fields(['Accept-Encoding', 'gzip, deflate']))).toBe(gzip);
    expect(index.lookup('other', fields())).toBeUndefined();
  });

  it('C1 a new object for the same variant replaces the old one, which is forgotten (dead)', () => {
    const index = new CacheIndex(new RingStore(1024, 256));
    const first = object('k', { vary: { 'accept-encoding': 'gzip' } });
    const other = object('k', { vary: { 'accept-encoding': 'br' } });
    const second = object('k', { vary: { 'accept-encoding': 'gzip' } });
    index.insert(first);
    index.insert(other);
    index.insert(second);
    expect(index.stats()).toEqual({ keys: 1, objects: 2, hitForPass: 0 });
    expect(first.dead).toBe(true);
    expect(other.dead).toBe(false);
    expect(index.lookup('k', fields(['Accept-Encoding', 'gzip']))).toBe(second);
    // Without Vary, a new object simply replaces the old one.
    const plain1 = object('p');
    const plain2 = object('p');
    index.insert(plain1);
    index.insert(plain2);
    expect(plain1.dead).toBe(true);
    expect(index.lookup('p', fields())).toBe(plain2);
    expect(index.stats().objects).toBe(3);
  });
});

describe('C4: purge', () => {
  it('C4 purge forgets every variant of the key, returns how many, and leaves other keys alone', () => {
    const index = new CacheIndex(new RingStore(1024, 256));
    const variants = ['gzip', 'br', 'zstd'].map((v) => object('k', { vary: { 'accept-encoding': v } }));
    for (const v of variants) index.insert(v);
    const neighbour = object('k2');
    index.insert(neighbour);
    expect(index.purge('k')).toBe(3);
    expect(variants.every((v) => v.dead)).toBe(true);
    for (const v of ['gzip', 'br', 'zstd']) expect(index.lookup('k', fields(['Accept-Encoding', v]))).toBeUndefined();
    expect(index.lookup('k2', fields())).toBe(neighbour);
    expect(index.stats()).toEqual({ keys: 1, objects: 1, hitForPass: 0 });
    expect(index.purge('k')).toBe(0);
    expect(index.purge('never-seen')).toBe(0);
  });

  it('C4 purge reclaims the purged bodies at the tail of the store', () => {
    const store = new RingStore(1024, 256);
    const index = new CacheIndex(store);
    const a = object('a', { body: 100, store });
    const b = object('b', { body: 100, store });
    index.insert(a);
    index.insert(b);
    expect(store.used).toBe(200);
    index.purge('b'); // not at the tail: its space waits for a
    expect(store.used).toBe(200);
    index.purge('a');
    expect(store.used).toBe(0);
  });

  it('C4 a purged object that a reader still pins keeps its bytes until unpinned', () => {
    const store = new RingStore(1024, 256);
    const index = new CacheIndex(store);
    const a = object('a', { body: 100, store });
    index.insert(a);
    a.pin();
    index.purge('a');
    expect(store.used).toBe(100);
    expect(Buffer.concat(a.chunks as Buffer[]).equals(Buffer.alloc(100, 1))).toBe(true);
    a.unpin();
    store.reclaimTail();
    expect(store.used).toBe(0);
  });
});

describe('R4: hit-for-pass marks', () => {
  it('R4 a key marked hit-for-pass passes until the mark expires, then the mark is gone', () => {
    const index = new CacheIndex(new RingStore(1024, 256));
    index.markHitForPass('k', NOW + 120_000);
    expect(index.isHitForPass('k', NOW)).toBe(true);
    expect(index.isHitForPass('k', NOW + 119_999)).toBe(true);
    expect(index.isHitForPass('other', NOW)).toBe(false);
    expect(index.stats().hitForPass).toBe(1);
    expect(index.isHitForPass('k', NOW + 120_000)).toBe(false);
    expect(index.stats().hitForPass).toBe(0);
    expect(index.isHitForPass('k', NOW)).toBe(false); // forgotten, not merely expired
  });

  it('R4 storing an object for the key clears its hit-for-pass mark', () => {
    const index = new CacheIndex(new RingStore(1024, 256));
    index.markHitForPass('k', NOW + 120_000);
    index.insert(object('k'));
    expect(index.isHitForPass('k', NOW)).toBe(false);
  });
});

describe('R5: what enters the index', () => {
  it('R5 insert refuses an object still filling, a failed one, and a dead one', () => {
    const index = new CacheIndex(new RingStore(1024, 256));
    index.insert(object('filling', { state: 'filling' }));
    index.insert(object('failed', { state: 'failed' }));
    const dead = object('dead');
    dead.forget();
    index.insert(dead);
    expect(index.stats()).toEqual({ keys: 0, objects: 0, hitForPass: 0 });
    for (const key of ['filling', 'failed', 'dead']) expect(index.lookup(key, fields())).toBeUndefined();
  });

  it('R5/L5 an object whose bytes the store evicts leaves the index', () => {
    const store = new RingStore(256, 64);
    const index = new CacheIndex(store);
    const a = object('a', { body: 200, store });
    index.insert(a);
    expect(index.lookup('a', fields())).toBe(a);
    store.append(Buffer.alloc(100), { pins: 0, dead: false, onEvicted() {} });
    expect(a.dead).toBe(true);
    expect(index.lookup('a', fields())).toBeUndefined();
    expect(index.stats()).toEqual({ keys: 0, objects: 0, hitForPass: 0 });
  });
});

describe('L5: the object limit', () => {
  it('L5 past maxObjects the oldest inserted key goes, all its variants with it', () => {
    const index = new CacheIndex(new RingStore(1024, 256), 3);
    const k1a = object('k1', { vary: { 'accept-encoding': 'gzip' } });
    const k1b = object('k1', { vary: { 'accept-encoding': 'br' } });
    const k2 = object('k2');
    index.insert(k1a);
    index.insert(k1b);
    index.insert(k2);
    expect(index.stats().objects).toBe(3);
    const k3 = object('k3');
    index.insert(k3);
    expect(k1a.dead && k1b.dead).toBe(true);
    expect(index.lookup('k1', fields(['Accept-Encoding', 'gzip']))).toBeUndefined();
    expect(index.lookup('k2', fields())).toBe(k2);
    expect(index.lookup('k3', fields())).toBe(k3);
    expect(index.stats()).toEqual({ keys: 2, objects: 2, hitForPass: 0 });
  });

  it('L5 re-inserting a key makes it the newest', () => {
    const index = new CacheIndex(new RingStore(1024, 256), 2);
    const k1 = object('k1');
    const k2 = object('k2');
    index.insert(k1);
    index.insert(k2);
    const k1again = object('k1');
    index.insert(k1again); // replaces k1, and k1 is now newer than k2
    index.insert(object('k3'));
    expect(k2.dead).toBe(true);
    expect(index.lookup('k1', fields())).toBe(k1again);
    expect(index.stats()).toEqual({ keys: 2, objects: 2, hitForPass: 0 });
  });
});

describe('cacheKey (C1)', () => {
  it('issue 18: kept for a repeated URL, it is still lower-cased Host (or authority) and path for any sequence of requests', () => {
    const host = fc.constantFrom('a.test', 'A.Test', 'b.test:8080', 'B.TEST:8080', '');
    const path = fc.constantFrom('/x', '/X', '/x?q=1', '/');
    fc.assert(
      fc.property(fc.array(fc.tuple(host, path, fc.option(host, { nil: undefined })), { minLength: 1, maxLength: 12 }), (requests) => {
        for (const [h, p, authority] of requests) {
          const request: RequestHead = { method: 'GET', target: p, version: { major: 1, minor: 1 }, headers: HeaderFields.from([['Host', h]]) };
          expect(cacheKey(request, p, authority)).toBe(`${(authority ?? h).toLowerCase()}${p}`);
        }
      }),
      fcOptions(200),
    );
  });
});
