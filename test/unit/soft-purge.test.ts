// src/cache/object.ts expire() (SPEC I3): a soft-purged object is stale from that instant, keeps
// its validators, and counts its stale windows (G1, G2) from there.
import { describe, expect, it } from 'vitest';
import { HeaderFields } from '../../src/http1/headers.js';
import { CacheObject } from '../../src/cache/object.js';

const NOW = Date.parse('2024-05-01T12:00:00Z');

function object(ttl: number, ageAtOrigin = 0): CacheObject {
  const head = { status: 200, reason: 'OK', headers: HeaderFields.from([['ETag', '"v1"']]) };
  const o = new CacheObject('k', { ...head, version: { major: 1, minor: 1 } }, head, { storable: true, ttl, mustRevalidate: false, source: 'test' }, NOW, ageAtOrigin, 0);
  o.markComplete();
  return o;
}

describe('I3: expire()', () => {
  it('I3: fresh before, stale at the very instant of the purge and after; validators kept', () => {
    for (const [elapsed, ageAtOrigin] of [[0, 0], [10_000, 0], [3_333, 7], [999, 0]] as const) {
      const o = object(60, ageAtOrigin);
      const at = NOW + elapsed;
      expect(o.isFresh(at)).toBe(true);
      o.expire(at);
      expect(o.isFresh(at), `${elapsed} ms`).toBe(false);
      expect(o.isFresh(at + 1)).toBe(false);
      expect(o.etag).toBe('"v1"');
      // The TTL now ends a millisecond before the purge: stale windows count from there.
      expect(o.policy.ttl * 1000).toBeCloseTo(Math.max(0, ageAtOrigin * 1000 + elapsed - 1), 6);
      expect(o.policy.source).toBe('soft purge');
    }
  });

  it('I3: an object already stale keeps its TTL (a soft purge never makes anything fresher)', () => {
    const o = object(5);
    o.expire(NOW + 20_000);
    expect(o.policy).toMatchObject({ ttl: 5, source: 'test' });
  });
});
