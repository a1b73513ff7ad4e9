// src/proxy/cache-status.ts: the Cache-Status field value (K2, RFC 9211 with RFC 8941 syntax).
import { describe, expect, it } from 'vitest';
import { formatCacheStatus } from '../../src/proxy/cache-status.js';

describe('formatCacheStatus (K2)', () => {
  it('K2: a hit names the cache and its remaining ttl', () => {
    expect(formatCacheStatus({ hit: true, ttl: 28.7 })).toBe('streamcache; hit; ttl=28');
  });

  it('K2: a miss that is stored, and a collapsed client of it', () => {
    expect(formatCacheStatus({ fwd: 'uri-miss', fwdStatus: 200, ttl: 30, stored: true })).toBe('streamcache; fwd=uri-miss; fwd-status=200; ttl=30; stored');
    expect(formatCacheStatus({ fwd: 'uri-miss', fwdStatus: 200, ttl: 30, stored: true, collapsed: true })).toBe('streamcache; fwd=uri-miss; fwd-status=200; ttl=30; stored; collapsed');
  });

  it('K2: passes carry the forward reason and our detail; a detail that is not a token is quoted', () => {
    expect(formatCacheStatus({ fwd: 'method', fwdStatus: 201 })).toBe('streamcache; fwd=method; fwd-status=201');
    expect(formatCacheStatus({ fwd: 'bypass', detail: 'hit-for-pass' })).toBe('streamcache; fwd=bypass; detail=hit-for-pass');
    expect(formatCacheStatus({ fwd: 'miss', detail: 'first byte timeout (15000 ms)' })).toBe('streamcache; fwd=miss; detail="first byte timeout (15000 ms)"');
    expect(formatCacheStatus({ detail: 'say "hi" \\ \u00e9' })).toBe('streamcache; detail="say \\"hi\\" \\\\ ?"');
  });

  it('K2: a stale entry has a negative ttl; a cache name that is not a token is a string', () => {
    expect(formatCacheStatus({ hit: true, ttl: -3.2 })).toBe('streamcache; hit; ttl=-3');
    expect(formatCacheStatus({ hit: true }, 'edge 1')).toBe('"edge 1"; hit');
  });
});
