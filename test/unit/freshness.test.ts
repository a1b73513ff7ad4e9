// src/cache/freshness.ts: the edge TTL table of SPEC C2 (first match wins), what is storable at
// all, directive parsing, and Age (F6).
import { describe, expect, it } from 'vitest';
import { HeaderFields } from '../../src/http1/headers.js';
import {
  DELTA_SECONDS_MAX,
  HEURISTIC_CAP_SECONDS,
  cdnDirectives,
  currentAge,
  freshnessAge,
  initialAge,
  deltaSeconds,
  edgePolicy,
  isFresh,
  originAge,
  parseDirectives,
  type EdgePolicy,
} from '../../src/cache/freshness.js';

type Fields = [string, string][];

const NOW = Date.parse('2024-05-01T12:00:00Z');
const httpDate = (ms: number) => new Date(ms).toUTCString();

function policyOf(response: Fields, options: { status?: number; request?: Fields; defaultTtl?: number; now?: number } = {}): EdgePolicy {
  return edgePolicy({
    status: options.status ?? 200,
    responseHeaders: HeaderFields.from(response),
    requestHeaders: HeaderFields.from(options.request ?? []),
    now: options.now ?? NOW,
    defaultTtl: options.defaultTtl ?? 0,
  });
}

const stored = (ttl: number) => expect.objectContaining({ storable: true, ttl, mustRevalidate: false });
const notStored = expect.objectContaining({ storable: false });

describe('C2: the edge TTL, first match wins', () => {
  it('C2 Surrogate-Control max-age comes first, before s-maxage, max-age and Expires', () => {
    const policy = policyOf([
      ['Cache-Control', 's-maxage=50, max-age=10'],
      ['Surrogate-Control', 'max-age=100'],
      ['Expires', httpDate(NOW + 5_000)],
      ['Date', httpDate(NOW)],
    ]);
    expect(policy).toEqual(stored(100));
    expect(policy.source).toMatch(/Surrogate-Control/);
  });

  it('C2 Surrogate-Control max-age comes before CDN-Cache-Control too', () => {
    expect(policyOf([['CDN-Cache-Control', 'max-age=5'], ['Surrogate-Control', 'max-age=77']])).toEqual(stored(77));
  });

  it('C2 CDN-Cache-Control replaces Cache-Control when present (RFC 9213)', () => {
    // Its own max-age, not Cache-Control's s-maxage.
    const replaced = policyOf([['Cache-Control', 's-maxage=100, max-age=10'], ['CDN-Cache-Control', 'max-age=300']]);
    expect(replaced).toEqual(stored(300));
    expect(replaced.source).toMatch(/CDN-Cache-Control/);
    // Cache-Control's private / no-store no longer apply to this cache ...
    expect(policyOf([['Cache-Control', 'private'], ['CDN-Cache-Control', 'max-age=60']])).toEqual(stored(60));
    expect(policyOf([['Cache-Control', 'no-store'], ['CDN-Cache-Control', 's-maxage=60']])).toEqual(stored(60));
    // ... but CDN-Cache-Control's do.
    expect(policyOf([['Cache-Control', 'max-age=60'], ['CDN-Cache-Control', 'no-store']])).toEqual(notStored);
    expect(policyOf([['Cache-Control', 'max-age=60'], ['CDN-Cache-Control', 'private']])).toEqual(notStored);
    // Without freshness in CDN-Cache-Control, Cache-Control's max-age is not consulted either.
    expect(policyOf([['Cache-Control', 'max-age=60'], ['CDN-Cache-Control', 'must-revalidate']])).toEqual(stored(0));
  });

  it('C2 Cache-Control s-maxage comes before max-age', () => {
    const policy = policyOf([['Cache-Control', 'max-age=10, s-maxage=40']]);
    expect(policy).toEqual(stored(40));
    expect(policy.source).toMatch(/s-maxage/);
  });

  it('C2 Cache-Control max-age when there is no s-maxage, before Expires', () => {
    expect(policyOf([['Cache-Control', 'public, max-age=60'], ['Expires', httpDate(NOW + 3_600_000)], ['Date', httpDate(NOW)]])).toEqual(stored(60));
    expect(policyOf([['Cache-Control', 'max-age=0']])).toEqual(stored(0));
  });

  it('C2 an invalid delta-seconds is ignored: the next rule decides', () => {
    expect(policyOf([['Cache-Control', 's-maxage=soon, max-age=30']])).toEqual(stored(30));
    expect(policyOf([['Cache-Control', 'max-age=-5'], ['Expires', httpDate(NOW + 20_000)], ['Date', httpDate(NOW)]])).toEqual(stored(20));
    expect(policyOf([['Cache-Control', 'max-age="45"']])).toEqual(stored(45)); // quoted form accepted
  });

  it('C2 Expires minus Date', () => {
    const date = NOW - 30_000; // the origin's clock, not ours
    expect(policyOf([['Date', httpDate(date)], ['Expires', httpDate(date + 120_000)]])).toEqual(stored(120));
    // Without Date, the time the head arrived.
    expect(policyOf([['Expires', httpDate(NOW + 90_000)]])).toEqual(stored(90));
    // In the past: storable, already stale.
    expect(policyOf([['Date', httpDate(NOW)], ['Expires', httpDate(NOW - 60_000)]])).toEqual(stored(0));
  });

  it('C2 an invalid Expires means already expired (RFC 9111 §5.3), and is not a reason to use the heuristic', () => {
    for (const expires of ['0', '-1', 'never', '']) {
      const policy = policyOf([['Expires', expires], ['Last-Modified', httpDate(NOW - 86_400_000)], ['Date', httpDate(NOW)]], { defaultTtl: 300 });
      expect(policy, JSON.stringify(expires)).toEqual(stored(0));
      expect(policy.source).toBe('Expires');
    }
  });

  // Regression (fixed): Expires is read with Date.parse, which accepts far more than an HTTP-date (RFC 9110 §5.6.7):
  // V8 reads a bare number as a year. The common misconfiguration `Expires: 3600` (seconds meant)
  // becomes "until the year 3600" instead of "invalid, so already expired" (RFC 9111 §5.3).
  //   input:    200, Date: <now>, Expires: 3600
  //   expected: { storable: true, ttl: 0 }   (invalid Expires = stale)
  //   actual:   { storable: true, ttl: 49723243200 } (until 3600-01-01, about 1576 years)
  it('C2: an Expires that is not an HTTP-date (a bare number like 3600) is invalid, so already stale', () => {
    for (const expires of ['3600', '2099', '2030-01-01']) {
      expect(policyOf([['Date', httpDate(NOW)], ['Expires', expires]]), `Expires: ${expires}`).toEqual(stored(0));
    }
  });

  it('C2 heuristic: 10% of Date - Last-Modified, for heuristically cacheable statuses', () => {
    const policy = policyOf([['Date', httpDate(NOW)], ['Last-Modified', httpDate(NOW - 5_000_000)]]);
    expect(policy).toEqual(stored(500));
    expect(policy.source).toMatch(/heuristic/);
    for (const status of [203, 204, 300, 301, 308, 404, 405, 410, 414, 501]) {
      expect(policyOf([['Date', httpDate(NOW)], ['Last-Modified', httpDate(NOW - 100_000)]], { status }), String(status)).toEqual(stored(10));
    }
    // Without Date, from the time the head arrived.
    expect(policyOf([['Last-Modified', httpDate(NOW - 1_000_000)]])).toEqual(stored(100));
  });

  it('C2 heuristic is capped at a day', () => {
    const thirtyDays = 30 * 86_400_000;
    expect(HEURISTIC_CAP_SECONDS).toBe(86_400);
    expect(policyOf([['Date', httpDate(NOW)], ['Last-Modified', httpDate(NOW - thirtyDays)]])).toEqual(stored(86_400));
  });

  it('C2 heuristic only where RFC 9111 §4.2.2 allows it: not for other statuses, unless marked public', () => {
    const fields: Fields = [['Date', httpDate(NOW)], ['Last-Modified', httpDate(NOW - 1_000_000)]];
    for (const status of [302, 303, 307, 400, 403, 500, 502, 503, 504]) {
      expect(policyOf(fields, { status, defaultTtl: 60 }), String(status)).toEqual(notStored);
    }
    expect(policyOf([...fields, ['Cache-Control', 'public']], { status: 302 })).toEqual(stored(100));
    // With explicit freshness those statuses are stored.
    expect(policyOf([['Cache-Control', 'max-age=30']], { status: 302 })).toEqual(stored(30));
    expect(policyOf([['Cache-Control', 's-maxage=5']], { status: 503 })).toEqual(stored(5));
  });

  it('C2 statuses we do not understand (206, 1xx, 418, ...) are never stored, whatever the headers', () => {
    for (const status of [100, 206, 304, 418, 429]) {
      expect(policyOf([['Cache-Control', 'max-age=60']], { status }), String(status)).toEqual(notStored);
    }
  });

  it('C2 default TTL otherwise: 0 out of the box', () => {
    const policy = policyOf([]);
    expect(policy).toEqual(stored(0));
    expect(policy.source).toBe('default TTL');
    expect(policyOf([], { defaultTtl: 30 })).toEqual(stored(30));
    // A Last-Modified in the future (or equal to Date) gives no heuristic: the default.
    expect(policyOf([['Date', httpDate(NOW)], ['Last-Modified', httpDate(NOW + 10_000)]], { defaultTtl: 7 })).toEqual(stored(7));
    expect(policyOf([['Last-Modified', 'garbage']], { defaultTtl: 7 })).toEqual(stored(7));
  });
});

describe('C2: pass (not storable)', () => {
  it('C2 Cache-Control private means pass, even with s-maxage', () => {
    expect(policyOf([['Cache-Control', 'private, s-maxage=60']])).toEqual(notStored);
    expect(policyOf([['Cache-Control', 'private="set-cookie", max-age=60']])).toEqual(notStored);
  });

  it('C2 Cache-Control no-store means pass, even with s-maxage or Surrogate-Control max-age', () => {
    expect(policyOf([['Cache-Control', 'no-store, s-maxage=60']])).toEqual(notStored);
    expect(policyOf([['Cache-Control', 'no-store'], ['Surrogate-Control', 'max-age=60']])).toEqual(notStored);
  });

  it('C2 CDN-Cache-Control private / no-store mean pass', () => {
    expect(policyOf([['CDN-Cache-Control', 'private']])).toEqual(notStored);
    expect(policyOf([['CDN-Cache-Control', 'no-store']])).toEqual(notStored);
  });

  it('C2 Surrogate-Control no-store means pass, whatever Cache-Control says', () => {
    expect(policyOf([['Surrogate-Control', 'no-store'], ['Cache-Control', 'public, s-maxage=600']])).toEqual(notStored);
  });

  it('C2 Set-Cookie means pass, even with explicit freshness', () => {
    expect(policyOf([['Set-Cookie', 'id=1'], ['Cache-Control', 's-maxage=60']])).toEqual(notStored);
  });

  it('C2 Vary: * means pass', () => {
    expect(policyOf([['Vary', '*'], ['Cache-Control', 'max-age=60']])).toEqual(notStored);
    expect(policyOf([['Vary', 'Accept-Encoding, *'], ['Cache-Control', 'max-age=60']])).toEqual(notStored);
    expect(policyOf([['Vary', 'Accept-Encoding'], ['Cache-Control', 'max-age=60']])).toEqual(stored(60));
  });

  it('C2 a request with Authorization is not stored unless the response says public or s-maxage (RFC 9111 §3.5)', () => {
    const request: Fields = [['Authorization', 'Bearer x']];
    expect(policyOf([['Cache-Control', 'max-age=60']], { request })).toEqual(notStored);
    expect(policyOf([], { request, defaultTtl: 60 })).toEqual(notStored);
    expect(policyOf([['Cache-Control', 'public, max-age=60']], { request })).toEqual(stored(60));
    expect(policyOf([['Cache-Control', 's-maxage=30']], { request })).toEqual(stored(30));
    expect(policyOf([['Cache-Control', 'must-revalidate, max-age=20']], { request })).toEqual(stored(20));
  });
});

describe('C2: no-cache', () => {
  it('C2 no-cache beside s-maxage caches at the edge (the push recipe: no-cache, s-maxage=28)', () => {
    const policy = policyOf([['Cache-Control', 'no-cache, s-maxage=28']]);
    expect(policy).toEqual(stored(28));
  });

  it('C2 no-cache beside Surrogate-Control caches at the edge', () => {
    expect(policyOf([['Cache-Control', 'no-cache'], ['Surrogate-Control', 'max-age=60']])).toEqual(stored(60));
  });

  it('C2 no-cache alone: storable, but revalidate before each reuse', () => {
    const policy = policyOf([['Cache-Control', 'no-cache']]);
    expect(policy).toEqual({ storable: true, ttl: 0, mustRevalidate: true, source: 'Cache-Control: no-cache' });
    // max-age is for browsers: no-cache still applies here.
    expect(policyOf([['Cache-Control', 'max-age=600, no-cache']])).toMatchObject({ storable: true, mustRevalidate: true });
    expect(policyOf([['CDN-Cache-Control', 'no-cache']])).toMatchObject({ storable: true, mustRevalidate: true, source: 'CDN-Cache-Control: no-cache' });
    expect(policyOf([['Cache-Control', 'no-cache="Set-Cookie"']])).toMatchObject({ storable: true, mustRevalidate: true });
  });
});

describe('C2: directive parsing', () => {
  it('C2 directives: names lower-cased, values kept, bare names true, several fields joined', () => {
    const directives = parseDirectives(['Max-Age=10, NO-CACHE', 'Foo="Bar"']);
    expect([...directives]).toEqual([
      ['max-age', '10'],
      ['no-cache', true],
      ['foo', 'Bar'],
    ]);
    expect(policyOf([['Cache-Control', 'S-MAXAGE=12']])).toEqual(stored(12));
    expect(policyOf([['cache-control', 'PRIVATE']])).toEqual(notStored);
  });

  it('C2 directives: a quoted value may hold commas', () => {
    const directives = parseDirectives(['private="set-cookie, x-user", max-age=5, community="UCI"']);
    expect(directives.get('private')).toBe('set-cookie, x-user');
    expect(directives.get('max-age')).toBe('5');
    expect(directives.get('community')).toBe('UCI');
    expect(directives.has('x-user"')).toBe(false);
  });

  it('C2 directives: duplicates, the first occurrence wins (RFC 9111 §4.2.1), also across fields', () => {
    expect(parseDirectives(['max-age=10, max-age=20']).get('max-age')).toBe('10');
    expect(parseDirectives(['max-age=10', 'MAX-AGE=20']).get('max-age')).toBe('10');
    expect(policyOf([['Cache-Control', 's-maxage=5'], ['Cache-Control', 's-maxage=500']])).toEqual(stored(5));
  });

  it('C2 directives: empty members and whitespace are ignored', () => {
    expect([...parseDirectives([' , public ,, max-age = 3 ,'])]).toEqual([
      ['public', true],
      ['max-age', '3'],
    ]);
  });

  // Regression (fixed): a quoted-string may contain a quoted-pair (RFC 9110 §5.6.4: `\"`). splitOutsideQuotes toggles
  // on every `"`, escaped or not, so a `\"` inside a quoted value ends the quotes early and the
  // directives after it are lost or mangled.
  //   input:    parseDirectives(['ext="a\"b, c", max-age=5'])
  //   expected: ext = 'a\"b, c' (or 'a"b, c'), max-age = '5'
  //   actual:   max-age absent (a directive named 'c", max-age' appears instead)
  it('C2: directives: a quoted-pair (\\") inside a quoted value does not end it', () => {
    const directives = parseDirectives(['ext="a\\"b, c", max-age=5']);
    expect(directives.get('max-age')).toBe('5');
  });

  it('C2 deltaSeconds: non-negative integers only, capped at 2^31', () => {
    const directives = parseDirectives(['a=10, b=-1, c=1.5, d, e=99999999999999, f=""']);
    expect(deltaSeconds(directives, 'a')).toBe(10);
    expect(deltaSeconds(directives, 'b')).toBeUndefined();
    expect(deltaSeconds(directives, 'c')).toBeUndefined();
    expect(deltaSeconds(directives, 'd')).toBeUndefined();
    expect(deltaSeconds(directives, 'e')).toBe(2 ** 31);
    expect(deltaSeconds(directives, 'f')).toBeUndefined();
    expect(deltaSeconds(directives, 'missing')).toBeUndefined();
  });
});

describe('F6: Age and freshness', () => {
  it('F6 currentAge: whole seconds since the head arrived plus the origin Age', () => {
    expect(currentAge(NOW, 0, NOW)).toBe(0);
    expect(currentAge(NOW, 0, NOW + 1_999)).toBe(1);
    expect(currentAge(NOW, 30, NOW + 5_000)).toBe(35);
    expect(currentAge(NOW, 30, NOW - 5_000)).toBe(30); // a clock step backwards never lowers it
  });

  it('F6 Age from upstream shrinks the TTL: fresh while ttl > origin Age + time here', () => {
    // ttl 60, the shield says Age: 50 -> 10 s left here.
    expect(isFresh(60, NOW, 50, NOW)).toBe(true);
    expect(isFresh(60, NOW, 50, NOW + 9_999)).toBe(true);
    expect(isFresh(60, NOW, 50, NOW + 10_000)).toBe(false);
    // Without an upstream Age the whole TTL.
    expect(isFresh(60, NOW, 0, NOW + 59_999)).toBe(true);
    expect(isFresh(60, NOW, 0, NOW + 60_000)).toBe(false);
    // Older than its TTL on arrival: stale at once.
    expect(isFresh(60, NOW, 60, NOW)).toBe(false);
    expect(isFresh(0, NOW, 0, NOW)).toBe(false);
  });

  it('F6 originAge: the Age header in seconds, 0 when absent or invalid', () => {
    expect(originAge(HeaderFields.from([['Age', '42']]))).toBe(42);
    expect(originAge(HeaderFields.from([]))).toBe(0);
    expect(originAge(HeaderFields.from([['Age', '-3']]))).toBe(0);
    expect(originAge(HeaderFields.from([['Age', 'old']]))).toBe(0);
  });
});

describe('F6, C2: RFC 9111 §4.2.3, §5.1 and RFC 9213 §2 (the audit in docs/rfc9111-audit.md)', () => {
  it('F6 Age: of a list, or of several Age lines, the first member counts (RFC 9111 §5.1)', () => {
    expect(originAge(HeaderFields.from([['Age', '42, 7']]))).toBe(42);
    expect(originAge(HeaderFields.from([['Age', '42'], ['Age', '7']]))).toBe(42);
    // The first member invalid: the field is ignored, not the next member taken.
    expect(originAge(HeaderFields.from([['Age', 'x, 7']]))).toBe(0);
  });

  it('F6 Age: a suffix or a fraction makes the value invalid, so it is ignored', () => {
    for (const value of ['42s', '1.5', '+3', '0x10', '4 2', '']) {
      expect(originAge(HeaderFields.from([['Age', value]])), JSON.stringify(value)).toBe(0);
    }
  });

  it('F6 Age: a value too large to represent is 2^31 (RFC 9111 §1.2.2)', () => {
    expect(originAge(HeaderFields.from([['Age', '99999999999999999999999']]))).toBe(DELTA_SECONDS_MAX);
    expect(currentAge(NOW, DELTA_SECONDS_MAX, NOW + 10_000)).toBe(DELTA_SECONDS_MAX);
  });

  it('F6 initial age: Age plus the response delay (RFC 9111 §4.2.3 corrected_age_value); the origin Date is not used', () => {
    // Age 10 and a response that took 2.5 s: 12.5 s old on arrival.
    expect(initialAge({ ageValue: 10, requestTime: NOW - 2_500, responseTime: NOW })).toBe(12.5);
    expect(initialAge({ ageValue: 0, requestTime: NOW, responseTime: NOW })).toBe(0);
    expect(initialAge({ ageValue: DELTA_SECONDS_MAX, requestTime: NOW - 5_000, responseTime: NOW })).toBe(DELTA_SECONDS_MAX);
  });

  it('R6/F6 the age a TTL counts from leaves the response delay out (R6: from when the head arrived); the Age header keeps it', () => {
    expect(freshnessAge({ ageValue: 10, requestTime: NOW - 2_500, responseTime: NOW })).toBe(10);
  });

  it('C2 CDN-Cache-Control that is not a valid Structured Field Dictionary is ignored: Cache-Control applies (RFC 9213 §2.1)', () => {
    for (const invalid of ['Max-Age=60', 'max-age=60,,private', 'max-age=60; ;', 'private=a b', 'max-age=60 private']) {
      expect(cdnDirectives([invalid]), invalid).toBeUndefined();
      const policy = policyOf([['Cache-Control', 'max-age=30'], ['CDN-Cache-Control', invalid]]);
      expect(policy, invalid).toEqual(stored(30));
      expect(policy.source).toBe('Cache-Control: max-age');
    }
    // Empty is as if absent too.
    expect(policyOf([['Cache-Control', 'max-age=30'], ['CDN-Cache-Control', '']])).toEqual(stored(30));
  });

  it('C2 CDN-Cache-Control: a member whose value breaks its constraints is not consumed (a decimal max-age)', () => {
    expect(cdnDirectives(['max-age=60.5, private'])).toEqual(new Map([['private', true]]));
    expect(cdnDirectives(['max-age=-1'])?.has('max-age')).toBe(false);
    expect(cdnDirectives(['max-age=60, no-cache="set-cookie", x=tok'])).toEqual(new Map<string, string | true>([['max-age', '60'], ['no-cache', 'set-cookie'], ['x', 'tok']]));
    expect(policyOf([['Cache-Control', 'max-age=30'], ['CDN-Cache-Control', 'max-age=60.5']], { defaultTtl: 5 })).toEqual(stored(5));
  });

  it('C2 a usable CDN-Cache-Control replaces Expires as well as Cache-Control (RFC 9213 §2.2)', () => {
    const policy = policyOf([['CDN-Cache-Control', 'public'], ['Date', httpDate(NOW)], ['Expires', httpDate(NOW + 600_000)]], { defaultTtl: 3 });
    expect(policy).toEqual(stored(3));
    // Ignored CDN-Cache-Control: Expires applies again.
    expect(policyOf([['CDN-Cache-Control', 'PUBLIC'], ['Date', httpDate(NOW)], ['Expires', httpDate(NOW + 600_000)]])).toEqual(stored(600));
  });

  it('C2 must-understand: a cache that understands the status ignores no-store beside it (RFC 9111 §5.2.2.3)', () => {
    expect(policyOf([['Cache-Control', 'max-age=60, must-understand, no-store']])).toEqual(stored(60));
    // A status we do not store stays unstored, and no-store alone is still a pass.
    expect(policyOf([['Cache-Control', 'max-age=60, must-understand, no-store']], { status: 418 })).toEqual(notStored);
    expect(policyOf([['Cache-Control', 'max-age=60, no-store']])).toEqual(notStored);
  });
});
