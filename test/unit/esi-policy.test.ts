// src/proxy/policy.ts with src/stream/transform.ts: what the fetch hook and rules decide for T1
// (compress) and T2 (esi), and what turns streaming off: compression of a response that becomes
// an object, ESI, and being fetched for an ESI include. Also the head a compressed object gets.
import { describe, expect, it } from 'vitest';
import { HeaderFields } from '../../src/http1/headers.js';
import type { RequestHead, ResponseHead } from '../../src/http1/message.js';
import { decideAtHead, type PolicySettings } from '../../src/proxy/policy.js';
import { compileRules, type CacheRule, type ProxyHooks } from '../../src/proxy/hooks.js';
import { transformedHead } from '../../src/stream/transform.js';
import { planTransform } from '../../src/proxy/transform-policy.js';
import { isEsiFragmentRequest, subrequest } from '../../src/proxy/esi/subrequest.js';

const NOW = Date.parse('2024-05-01T12:00:00Z');
const fields = (...pairs: [string, string][]) => HeaderFields.from(pairs);

function settings(rules: CacheRule[] = [], hooks: ProxyHooks = {}): PolicySettings {
  return { defaultTtl: 0, stream: true, viaName: 'streamcache', rules: compileRules(rules), hooks };
}

const request = (): RequestHead => ({ method: 'GET', target: '/p', version: { major: 1, minor: 1 }, headers: fields(['Host', 'x']) });
const response = (headers: [string, string][], status = 200): ResponseHead => ({ status, reason: 'OK', version: { major: 1, minor: 1 }, headers: fields(...headers) });
const CACHEABLE: [string, string][] = [['Cache-Control', 'max-age=60']];

function decide(head: ResponseHead, s: PolicySettings, req: RequestHead = request()) {
  return decideAtHead(s, req, '/p', head, NOW, { kind: 'length', length: 10 });
}

describe('T1/T2 policy', () => {
  it('T1: compress from a rule or the hook: a transform, streaming off', () => {
    const byRule = decide(response(CACHEABLE), settings([{ path: '/p', compress: 'br' }]));
    expect(byRule.transform).toEqual({ coding: 'br' });
    expect(byRule.stream).toBe(false);
    const byHook = decide(response(CACHEABLE), settings([], { fetch: (ctx) => void (ctx.compress = 'gzip') }));
    expect(byHook.transform).toEqual({ coding: 'gzip' });
    expect(byHook.stream).toBe(false);
    // Without it, nothing changes.
    const plain = decide(response(CACHEABLE), settings());
    expect(plain.transform).toBeUndefined();
    expect(plain.stream).toBe(true);
  });

  it('T1: no compression (and streaming stays on) for an encoded response, no-transform, or a bodiless status', () => {
    const s = settings([{ path: '/p', compress: 'gzip' }]);
    for (const head of [
      response([...CACHEABLE, ['Content-Encoding', 'br']]),
      response([...CACHEABLE, ['Cache-Control', 'no-transform']]),
      response(CACHEABLE, 204),
    ]) {
      const d = decide(head, s);
      expect(d.transform).toBeUndefined();
      expect(d.stream).toBe(true);
    }
    // An uncacheable response is compressed too (each fetch transforms it; nothing is stored), and
    // it does not mark the key hit-for-pass, so the next request is transformed as well.
    const unstored = decide(response([['Cache-Control', 'no-store']]), s);
    expect(unstored.transform).toEqual({ coding: 'gzip' });
    expect(unstored.store).toBe(false);
    expect(unstored.hitForPass).toBe(false);
    expect(unstored.stream).toBe(false);
    // identity is no coding.
    expect(decide(response([...CACHEABLE, ['Content-Encoding', 'identity']]), s).transform).toEqual({ coding: 'gzip' });
  });

  it('T2: esi from a rule or the hook: a transform, streaming off; esi wins over compress', () => {
    const d = decide(response(CACHEABLE), settings([{ path: '/p', esi: true, compress: 'gzip' }]));
    expect(d.transform).toEqual({ esi: true });
    expect(d.stream).toBe(false);
    expect(decide(response(CACHEABLE), settings([], { fetch: (ctx) => void (ctx.esi = true) })).stream).toBe(false);
  });

  it('T2: a fetch caused by an ESI include is never streamed, whatever the rules say', () => {
    const fragment = request();
    const ctx = { options: { maxObjectSizeBuffered: 1 } } as never;
    // subrequest() marks its request before running it; running it here fails harmlessly (no proxy).
    void subrequest(ctx, fragment, { clientAddress: '127.0.0.1', includePath: ['x/p'], maxBodyBytes: 1 });
    expect(isEsiFragmentRequest(fragment)).toBe(true);
    const d = decide(response(CACHEABLE), settings([{ path: '/p', doStream: true }]), fragment);
    expect(d.stream).toBe(false);
    expect(d.transform).toBeUndefined();
  });

  it('T1: planTransform only knows gzip and br', () => {
    expect(planTransform('deflate' as 'gzip', false, response(CACHEABLE))).toBeUndefined();
  });

  it('T1: a compressed object head: Content-Encoding, Vary with Accept-Encoding once, a weak ETag', () => {
    const head = { status: 200, reason: 'OK', headers: fields(['Vary', 'Cookie'], ['ETag', '"a"']) };
    const out = transformedHead(head, { coding: 'gzip' });
    expect(out.headers.get('content-encoding')).toBe('gzip');
    expect(out.headers.get('vary')).toBe('Cookie, Accept-Encoding');
    expect(out.headers.get('etag')).toBe('W/"a"');
    expect(transformedHead(out, { coding: 'gzip' }).headers.toObject()).toEqual(out.headers.toObject());
    expect(head.headers.get('content-encoding')).toBeUndefined(); // the input is not changed
    expect(transformedHead(head, { esi: true })).toBe(head);
  });
});
