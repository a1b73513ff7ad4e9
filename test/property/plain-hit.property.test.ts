// Issue 18: the plain hit (src/stream/plain-hit.ts) writes what the general path (an object reader
// and its HTTP/1 writer) writes, byte for byte, for any object and any request it takes: stored
// fields, status and reason, body split across store views, Age and TTL at any clock, hit counts,
// GET and HEAD, HTTP/1.0 and 1.1, keep-alive asked for or not, a connection that can persist or
// not. The two paths also end the exchange alike, count alike, log the same access line and let
// go of their pin once written.
import fc from 'fast-check';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { pino } from 'pino';
import { HeaderFields } from '../../src/http1/headers.js';
import { CacheObject } from '../../src/cache/object.js';
import { RingStore } from '../../src/cache/store.js';
import { ClientExchange } from '../../src/net/client-exchange.js';
import { hitReaderHooks, isPlainHit, serveHit, servePlainHit } from '../../src/proxy/cache-flow.js';
import type { ProxyContext } from '../../src/proxy/context.js';
import { ProxyCounters } from '../../src/proxy/stats.js';
import { FakeHost } from '../support/stream-fakes.js';
import { fcOptions } from '../support/fc.js';
import { fieldNameArb, fieldValueArb, tokenArb } from './http1-arbitraries.js';

/** A client connection that may or may not be kept after this response (shutdown, a deferred error). */
class Host extends FakeHost {
  constructor(private readonly persists: boolean) {
    super();
  }
  override canPersist(): boolean {
    return this.persists;
  }
}

interface ObjectSpec {
  status: number;
  reason: string;
  fields: [string, string][];
  body: Buffer[];
  ttl: number;
  /** ms between the head's arrival and now. */
  sinceHead: number;
  ageAtOrigin: number;
  responseDelay: number;
  hits: number;
}

interface RequestSpec {
  method: 'GET' | 'HEAD';
  minor: 0 | 1;
  keepAlive: boolean;
  persists: boolean;
  fields: [string, string][];
}

/** Request fields a plain hit may carry: none asks for a conditional, a range or a tier's treatment. */
const HARMLESS = ['Accept', 'Accept-Language', 'User-Agent', 'Cookie', 'Referer', 'If-Match', 'If-Unmodified-Since', 'If-Range', 'X-Request-Id', 'Connection'];

const objectArb: fc.Arbitrary<ObjectSpec> = fc.record({
  status: fc.constantFrom(200, 203, 300, 301, 308, 404, 410, 500, 503),
  reason: fc.oneof(fc.constant('OK'), tokenArb(10)),
  fields: fc.array(fc.tuple(fieldNameArb, fieldValueArb), { maxLength: 8 }),
  body: fc.array(fc.uint8Array({ minLength: 1, maxLength: 3000 }).map((b) => Buffer.from(b)), { maxLength: 4 }),
  ttl: fc.oneof(fc.integer({ min: 1, max: 2 ** 31 }), fc.double({ min: 0.5, max: 1e6, noNaN: true })),
  sinceHead: fc.integer({ min: 0, max: 400_000 }),
  ageAtOrigin: fc.integer({ min: 0, max: 100_000 }),
  responseDelay: fc.oneof(fc.constant(0), fc.double({ min: 0, max: 5, noNaN: true })),
  hits: fc.integer({ min: 0, max: 1_000_000 }),
});

const requestArb: fc.Arbitrary<RequestSpec> = fc.record({
  method: fc.constantFrom('GET' as const, 'HEAD' as const),
  minor: fc.constantFrom(0 as const, 1 as const),
  keepAlive: fc.boolean(),
  persists: fc.boolean(),
  fields: fc.array(fc.tuple(fc.constantFrom(...HARMLESS), fieldValueArb), { maxLength: 4 }),
});

const NOW = Date.UTC(2026, 11, 7, 12, 0, 0);

function objectOf(spec: ObjectSpec): CacheObject {
  const headers = HeaderFields.from(spec.fields);
  const head = { status: spec.status, reason: spec.reason, headers };
  const policy = { storable: true, ttl: spec.ttl, mustRevalidate: false, source: 'test' };
  const object = new CacheObject('example/x', { ...head, version: { major: 1, minor: 1 } }, head, policy, NOW - spec.sinceHead, spec.ageAtOrigin, undefined);
  const store = new RingStore(64 * 1024, 4096);
  for (const piece of spec.body) object.append(piece, store);
  object.markComplete();
  object.responseDelay = spec.responseDelay;
  object.hits = spec.hits;
  return object;
}

function exchangeOf(spec: RequestSpec): { host: Host; exchange: ClientExchange } {
  const host = new Host(spec.persists);
  const request = { method: spec.method, target: '/x', version: { major: 1, minor: spec.minor }, headers: HeaderFields.from([['Host', 'example'], ...spec.fields]) };
  return { host, exchange: new ClientExchange(host, request, { kind: 'none' }, spec.keepAlive) };
}

/** A proxy context with what a hit reads: no hooks, the counters, an info logger whose lines are kept. */
function contextOf(viaName: string): { ctx: ProxyContext; lines: string[] } {
  const lines: string[] = [];
  const logger = pino({ name: 'streamcache', base: undefined, level: 'info' }, { write: (line: string) => void lines.push(line) });
  const ctx = {
    options: { viaName, maxObjectSizeBuffered: 1024 * 1024 },
    hooks: {},
    stats: new ProxyCounters(),
    logger,
    esi: undefined,
    hitReaderHooks: hitReaderHooks(() => ctx),
  } as unknown as ProxyContext;
  return { ctx, lines };
}

/** The line without what depends on when it was written (performance.now()). */
function timeless(line: string | undefined): unknown {
  const fields = JSON.parse(line ?? 'null') as Record<string, unknown>;
  return { ...fields, ttfbMs: typeof fields.ttfbMs, durationMs: typeof fields.durationMs };
}

async function both(objectSpec: ObjectSpec, requestSpec: RequestSpec, viaName = 'streamcache') {
  const general = { ...contextOf(viaName), ...exchangeOf(requestSpec), object: objectOf(objectSpec) };
  const plain = { ...contextOf(viaName), ...exchangeOf(requestSpec), object: objectOf(objectSpec) };
  const taken = isPlainHit(plain.ctx, plain.exchange, plain.object);
  serveHit(general.ctx, general.exchange, general.object);
  servePlainHit(plain.ctx, plain.exchange, plain.object, Date.now());
  const pinnedAfterWrite = [general.object.pins, plain.object.pins];
  await Promise.resolve();
  return { general, plain, taken, pinnedAfterWrite };
}

describe('plain hit == general hit (property)', () => {
  beforeEach(() => {
    vi.useFakeTimers({ toFake: ['Date'] });
    vi.setSystemTime(NOW);
  });
  afterEach(() => {
    vi.useRealTimers();
  });

  it('issue 18: any object and plain request: the same bytes, end, counters, access line and pins', async () => {
    await fc.assert(
      fc.asyncProperty(objectArb, requestArb, fc.constantFrom('streamcache', 'edge-1', 'my cache'), async (objectSpec, requestSpec, viaName) => {
        const { general, plain, taken, pinnedAfterWrite } = await both(objectSpec, requestSpec, viaName);
        expect(taken).toBe(true);
        expect(plain.host.text).toBe(general.host.text);
        expect(Buffer.concat(plain.host.pieces).equals(Buffer.concat(general.host.pieces))).toBe(true);
        expect(plain.exchange.bytesSent).toBe(general.exchange.bytesSent);
        expect(plain.host.ended).toEqual(general.host.ended);
        expect(plain.exchange.state).toBe(general.exchange.state);
        expect(plain.object.hits).toBe(general.object.hits);
        expect(plain.ctx.stats.responses).toEqual(general.ctx.stats.responses);
        expect(plain.ctx.stats.bytesOut).toBe(general.ctx.stats.bytesOut);
        expect(plain.lines).toHaveLength(1);
        expect(timeless(plain.lines[0])).toEqual(timeless(general.lines[0]));
        expect(pinnedAfterWrite).toEqual([1, 1]);
        expect([general.object.pins, plain.object.pins]).toEqual([0, 0]);
      }),
      fcOptions(300),
    );
  });

  it('issue 18: hits after hits of the same object (its head kept per second of Age): the same bytes as the general path, whatever the clock did between them', async () => {
    await fc.assert(
      fc.asyncProperty(objectArb, fc.array(fc.tuple(requestArb, fc.integer({ min: 0, max: 2500 })), { minLength: 2, maxLength: 5 }), async (objectSpec, requests) => {
        const generalObject = objectOf(objectSpec);
        const plainObject = objectOf(objectSpec);
        const general = contextOf('streamcache');
        const plain = contextOf('streamcache');
        for (const [requestSpec, pause] of requests) {
          vi.setSystemTime(Date.now() + pause);
          const g = exchangeOf(requestSpec);
          const p = exchangeOf(requestSpec);
          expect(isPlainHit(plain.ctx, p.exchange, plainObject)).toBe(true);
          serveHit(general.ctx, g.exchange, generalObject);
          servePlainHit(plain.ctx, p.exchange, plainObject, Date.now());
          expect(p.host.text).toBe(g.host.text);
        }
        await Promise.resolve();
        expect([generalObject.pins, plainObject.pins, plainObject.hits]).toEqual([0, 0, generalObject.hits]);
      }),
      fcOptions(150),
    );
  });

  it('issue 18: the plain hit is not taken where the response is more than the object (conditional, range, tier, deliver hook, HTTP/2, transform, bodiless status)', () => {
    const object = objectOf({ status: 200, reason: 'OK', fields: [['ETag', '"a"']], body: [Buffer.from('abc')], ttl: 60, sinceHead: 0, ageAtOrigin: 0, responseDelay: 0, hits: 0 });
    const plainRequest: RequestSpec = { method: 'GET', minor: 1, keepAlive: true, persists: true, fields: [] };
    const { ctx } = contextOf('streamcache');
    expect(isPlainHit(ctx, exchangeOf(plainRequest).exchange, object)).toBe(true);
    for (const field of [['If-None-Match', '"b"'], ['If-Modified-Since', 'Sun, 06 Nov 1994 08:49:37 GMT'], ['Range', 'bytes=0-1'], ['Via', '1.1 streamcache']] as [string, string][]) {
      expect(isPlainHit(ctx, exchangeOf({ ...plainRequest, fields: [field] }).exchange, object), field[0]).toBe(false);
    }
    const withDeliver = { ...ctx, hooks: { deliver: () => {} } } as ProxyContext;
    expect(isPlainHit(withDeliver, exchangeOf(plainRequest).exchange, object)).toBe(false);
    const transformed = objectOf({ status: 200, reason: 'OK', fields: [], body: [Buffer.from('abc')], ttl: 60, sinceHead: 0, ageAtOrigin: 0, responseDelay: 0, hits: 0 });
    transformed.transform = { esi: true };
    expect(isPlainHit(ctx, exchangeOf(plainRequest).exchange, transformed)).toBe(false);
    const noContent = objectOf({ status: 204, reason: 'No Content', fields: [], body: [], ttl: 60, sinceHead: 0, ageAtOrigin: 0, responseDelay: 0, hits: 0 });
    expect(isPlainHit(ctx, exchangeOf(plainRequest).exchange, noContent)).toBe(false);
    const h2 = exchangeOf(plainRequest);
    Object.defineProperty(h2.host, 'http2', { value: {} });
    expect(isPlainHit(ctx, h2.exchange, object)).toBe(false);
  });
});
