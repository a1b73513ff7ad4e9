// src/cache/stale.ts: the stale-while-revalidate and stale-if-error windows (SPEC G1, G2) and what
// forbids them (G3), as pure functions of response headers and the configured windows.
import { describe, expect, it } from 'vitest';
import { HeaderFields } from '../../src/http1/headers.js';
import { NO_STALE, overrideWindows, staleWindows, withinIfError, withinWhileRevalidate, type StaleSettings } from '../../src/cache/stale.js';

const NONE: StaleSettings = { grace: 0, staleIfError: 0 };
const windowsOf = (fields: [string, string][], settings: StaleSettings = NONE) => staleWindows(HeaderFields.from(fields), settings);

describe('G1: the stale-while-revalidate window', () => {
  it('G1 Cache-Control stale-while-revalidate gives the window', () => {
    expect(windowsOf([['Cache-Control', 'max-age=10, stale-while-revalidate=30']])).toEqual({ whileRevalidate: 30, ifError: 0 });
  });

  it('G1 Surrogate-Control stale-while-revalidate comes first', () => {
    expect(windowsOf([['Cache-Control', 'max-age=10, stale-while-revalidate=30'], ['Surrogate-Control', 'max-age=10, stale-while-revalidate=5']])).toMatchObject({ whileRevalidate: 5 });
  });

  it('G1 CDN-Cache-Control replaces Cache-Control here too (RFC 9213)', () => {
    expect(windowsOf([['Cache-Control', 'max-age=10, stale-while-revalidate=30'], ['CDN-Cache-Control', 'max-age=10, stale-while-revalidate=7']])).toMatchObject({ whileRevalidate: 7 });
    // CDN-Cache-Control states none: Cache-Control's does not apply, the configured grace does.
    expect(windowsOf([['Cache-Control', 'stale-while-revalidate=30'], ['CDN-Cache-Control', 'max-age=10']], { grace: 4, staleIfError: 0 })).toMatchObject({ whileRevalidate: 4 });
  });

  it('G1 --grace is the window for a response that states none', () => {
    expect(windowsOf([['Cache-Control', 'max-age=10']], { grace: 60, staleIfError: 0 })).toEqual({ whileRevalidate: 60, ifError: 0 });
    // A stated window wins over the configured one, even a shorter one.
    expect(windowsOf([['Cache-Control', 'max-age=10, stale-while-revalidate=2']], { grace: 60, staleIfError: 0 })).toMatchObject({ whileRevalidate: 2 });
  });

  it('G1 an invalid window value is ignored: the next source decides', () => {
    expect(windowsOf([['Cache-Control', 'max-age=1, stale-while-revalidate=soon']], { grace: 9, staleIfError: 0 })).toMatchObject({ whileRevalidate: 9 });
    expect(windowsOf([['Cache-Control', 'max-age=1, stale-while-revalidate=-4']])).toMatchObject({ whileRevalidate: 0 });
  });

  it('G1 inside the window: past the TTL and less than the window past it', () => {
    const windows = { whileRevalidate: 30, ifError: 0 };
    expect(withinWhileRevalidate(windows, 10, 9.999)).toBe(false); // still fresh
    expect(withinWhileRevalidate(windows, 10, 10)).toBe(true);
    expect(withinWhileRevalidate(windows, 10, 39.999)).toBe(true);
    expect(withinWhileRevalidate(windows, 10, 40)).toBe(false);
    expect(withinWhileRevalidate(NO_STALE, 10, 11)).toBe(false);
  });
});

describe('G2: the stale-if-error window', () => {
  it('G2 stale-if-error from Surrogate-Control, then Cache-Control, then --stale-if-error', () => {
    expect(windowsOf([['Cache-Control', 'max-age=1, stale-if-error=300']])).toEqual({ whileRevalidate: 0, ifError: 300 });
    expect(windowsOf([['Cache-Control', 'max-age=1, stale-if-error=300'], ['Surrogate-Control', 'stale-if-error=20']])).toMatchObject({ ifError: 20 });
    expect(windowsOf([['Cache-Control', 'max-age=1']], { grace: 0, staleIfError: 86_400 })).toMatchObject({ ifError: 86_400 });
  });

  it('G2 the two windows are independent', () => {
    const windows = windowsOf([['Cache-Control', 'max-age=10, stale-while-revalidate=5, stale-if-error=100']]);
    expect(withinWhileRevalidate(windows, 10, 16)).toBe(false);
    expect(withinIfError(windows, 10, 16)).toBe(true);
    expect(withinIfError(windows, 10, 110)).toBe(false);
    expect(withinIfError(windows, 10, 5)).toBe(false); // fresh: nothing to fall back on
  });
});

describe('G3: what forbids serving stale', () => {
  const generous: StaleSettings = { grace: 3600, staleIfError: 3600 };

  for (const directive of ['must-revalidate', 'proxy-revalidate', 'no-cache', 's-maxage=60']) {
    it(`G3 Cache-Control ${directive} forbids every window, configured or stated in Cache-Control`, () => {
      const windows = windowsOf([['Cache-Control', `max-age=10, ${directive}, stale-while-revalidate=30, stale-if-error=30`]], generous);
      expect(windows.whileRevalidate).toBe(0);
      expect(windows.ifError).toBe(0);
      expect(windows.forbiddenBy).toBe(`Cache-Control: ${directive.replace(/=.*/, '')}`);
    });
  }

  it('G3 the push recipe (no-cache, s-maxage) is never served stale', () => {
    expect(windowsOf([['Cache-Control', 'no-cache, s-maxage=28']], generous)).toMatchObject({ whileRevalidate: 0, ifError: 0 });
  });

  it('G3 CDN-Cache-Control must-revalidate forbids; Cache-Control must-revalidate does not apply beside it', () => {
    expect(windowsOf([['CDN-Cache-Control', 'max-age=10, must-revalidate']], generous)).toMatchObject({ whileRevalidate: 0, forbiddenBy: 'CDN-Cache-Control: must-revalidate' });
    expect(windowsOf([['Cache-Control', 'must-revalidate'], ['CDN-Cache-Control', 'max-age=10']], generous)).toEqual({ whileRevalidate: 3600, ifError: 3600 });
  });

  it('G3 Surrogate-Control windows still apply where Cache-Control forbids (addressed to us alone)', () => {
    const windows = windowsOf([['Cache-Control', 'must-revalidate, max-age=10'], ['Surrogate-Control', 'max-age=10, stale-while-revalidate=15, stale-if-error=25']], generous);
    expect(windows).toMatchObject({ whileRevalidate: 15, ifError: 25, forbiddenBy: 'Cache-Control: must-revalidate' });
    // Only what Surrogate-Control states: the configured window stays off.
    expect(windowsOf([['Cache-Control', 's-maxage=10'], ['Surrogate-Control', 'stale-if-error=25']], generous)).toMatchObject({ whileRevalidate: 0, ifError: 25 });
  });

  it('G3 a rule or hook override (grace, staleIfError) is refused where G3 forbids, taken otherwise', () => {
    const forbidden = windowsOf([['Cache-Control', 'max-age=10, must-revalidate']]);
    expect(overrideWindows(forbidden, 600, 600)).toEqual(forbidden);
    expect(overrideWindows(windowsOf([['Cache-Control', 'max-age=10, stale-while-revalidate=5']]), 600, 60)).toEqual({ whileRevalidate: 600, ifError: 60 });
    expect(overrideWindows(NO_STALE, -5, -1)).toEqual({ whileRevalidate: 0, ifError: 0 });
  });
});
