// A cacheable request's way through the cache: a fresh object is a hit (R5); a fetch in flight
// takes the request as one more reader (R2, R3); a stale object with validators is revalidated
// (C3); a hit-for-pass key passes (R4); anything else starts a fetch, the streaming miss (R1).
// A stale object inside its stale-while-revalidate window is a hit while one background fetch
// refreshes it (G1); one inside its stale-if-error window stands in for a failed refresh (G2).
import type { ClientExchange } from '../net/client-exchange.js';
import type { HttpVersion, RequestHead } from '../http1/message.js';
import type { CacheObject } from '../cache/object.js';
import { revalidationFields } from '../cache/conditional.js';
import { InflightFetch, type FetchEnvironment, type HeadDecision } from '../stream/fetch.js';
import { ObjectReader, type ReaderHooks, type ReaderRole } from '../stream/reader.js';
import { TransformingReader } from '../stream/transform.js';
import { normalizedAcceptEncoding } from '../http1/accept-encoding.js';
import { recordHit, recordResponse } from './access-log.js';
import type { ProxyContext } from './context.js';
import { planOriginRequest, type ValidatedTarget } from './origin-request.js';
import { PassRelay, passToOrigin } from './pass.js';
import { decideAtHead } from './policy.js';
import { PASS_REASONS, type Reason } from '../stream/reasons.js';
import { hitCacheStatus, objectServedAs, type ForwardReason } from './cache-status.js';
import { writePlainHit, writesAsPlainHit } from '../stream/plain-hit.js';
import { serveSegmented, type SegmentFetching } from './segment-flow.js';
import { isFromTier } from './tier.js';
import { cacheFetchRequest } from './shield.js';

/** Request fields that belong to the client's own conditional or partial request, not to our fetch. */
const CLIENT_CONDITIONALS = new Set(['if-none-match', 'if-modified-since', 'if-match', 'if-unmodified-since', 'if-range', 'range']);

export function serveFromCache(ctx: ProxyContext, exchange: ClientExchange, target: ValidatedTarget, key: string, segmentSize = 0): void {
  const { headers } = exchange.request;
  const now = Date.now();
  let stored = ctx.index.lookup(key, headers);
  if (stored && stored.isFresh(now)) return isPlainHit(ctx, exchange, stored) ? servePlainHit(ctx, exchange, stored, now) : serveHit(ctx, exchange, stored);
  // B4: an object kept whole (the origin would not serve segments) is a hit as above; else segments.
  if (segmentSize > 0 && !ctx.segments.isUnsegmented(key, now)) return serveSegmented(ctx, exchange, target, key, segmentSize, SEGMENT_FETCHING);
  if (stored && stored.withinWhileRevalidate(now)) {
    revalidateInBackground(ctx, exchange, target, key, stored, now);
    ctx.stats.stale.whileRevalidate++;
    return serveHit(ctx, exchange, stored);
  }
  // K2: why this request's own lookup gave no fresh hit.
  const fwd: ForwardReason = stored ? 'stale' : ctx.index.hasKey(key) ? 'vary-miss' : 'uri-miss';
  // Kept to be revalidated (C3) or to stand in for a failure (G2); anything else is refetched.
  if (stored && !stored.hasValidators && !stored.withinIfError(now)) {
    ctx.index.remove(stored);
    stored = undefined;
  }
  const inflight = ctx.registry.find(key, headers, now);
  if (inflight) return inflight.attach(newReader(ctx, exchange, 'COLLAPSED', inflight, fwd));
  if (ctx.index.isHitForPass(key, now)) return passToOrigin(ctx, exchange, target, PASS_REASONS.hitForPass);
  startFetch(ctx, exchange, target, key, stored ?? null, fwd);
}

/** A hit through an object reader: the general path, which can do everything (exported for the plain-hit property test). */
export function serveHit(ctx: ProxyContext, exchange: ClientExchange, object: CacheObject): void {
  object.hits++;
  newReader(ctx, exchange, 'HIT', null, undefined, object).begin(object, true);
}

/**
 * The common hit, written without a reader (src/stream/plain-hit.ts): a fresh object, whole, to an
 * HTTP/1 client that asks for nothing per client: no conditional (C3) and no Range (B1), not a
 * tier of ours (I2: its Via), and no deliver hook (K3) to edit the head.
 */
export function isPlainHit(ctx: ProxyContext, exchange: ClientExchange, object: CacheObject): boolean {
  return ctx.hooks.deliver === undefined && exchange.request.headers.findName(asksPerClient) === undefined && writesAsPlainHit(exchange, object);
}

/** Request fields after which a hit is more than the object as it is: a conditional, a range, a tier's Via. */
function asksPerClient(lowerName: string): boolean {
  return lowerName === 'range' || lowerName === 'if-none-match' || lowerName === 'if-modified-since' || lowerName === 'via';
}

/** A plain hit: what serveHit would write, counted and logged as serveHit's reader would be (`now`: the lookup's clock). */
export function servePlainHit(ctx: ProxyContext, exchange: ClientExchange, object: CacheObject, now: number): void {
  object.hits++;
  ctx.stats.responses.HIT++;
  const age = object.age(now);
  const firstByteAt = writePlainHit(exchange, object, age, ctx.options.viaName, object.policy.ttl - age, hitCacheStatus);
  recordHit(ctx, exchange, object.head.status, firstByteAt);
}

/** `hit`: the object a reader with no fetch serves (it needs no transforming reader when the object has no transform). */
function newReader(ctx: ProxyContext, exchange: ClientExchange, role: ReaderRole, fetch: InflightFetch | null, fwd?: ForwardReason, hit?: CacheObject): ObjectReader {
  ctx.stats.responses[role]++; // K4: a hit when served, a miss when its fetch starts, an attach when it attaches
  const hooks: ReaderHooks = fetch
    ? {
        progressed: () => fetch.readerProgressed(),
        finished(reader, error) {
          fetch.readerFinished(reader);
          recordReader(ctx, reader, error, fetch.noCacheReason);
        },
        servedAs: (reader, head, object) => objectServedAs(ctx.options.viaName, reader.role, fwd, head, object, reader.failure, fetch.noCacheReason, reader.staleBecause),
      }
    : ctx.hitReaderHooks;
  // T1, T2: a reader that decodes our compression for clients that do not accept it, and assembles ESI.
  const reader =
    hit !== undefined && hit.transform === null
      ? new ObjectReader(exchange, role, hooks, ctx.hooks.deliver)
      : new TransformingReader(exchange, role, hooks, ctx.hooks.deliver, ctx.esi, ctx.options.maxObjectSizeBuffered);
  reader.forwardSurrogate = isFromTier(exchange.request, ctx.options.viaName);
  return reader;
}

/**
 * The hooks of every reader with no fetch (a hit): one object per proxy (ProxyContext.hitReaderHooks),
 * no closure per reader. `context`: the proxy's context, asked for at each call (the hooks are
 * made while the context is).
 */
export function hitReaderHooks(context: () => ProxyContext): ReaderHooks {
  return {
    finished: (reader, error) => recordReader(context(), reader, error),
    servedAs: (reader, head, object) => objectServedAs(context().options.viaName, reader.role, undefined, head, object, reader.failure),
  };
}

/** The access log line and counters of one reader's response. */
export function recordReader(ctx: ProxyContext, reader: ObjectReader, error?: string, noCache?: Reason): void {
  recordResponse(ctx, { exchange: reader.exchange, status: reader.status, cache: reader.role, firstByteAt: reader.firstByteAt, error, reason: reader.failure ?? reader.staleBecause ?? noCache });
}

/**
 * G1: one background fetch per stale object, conditional when it has validators. It is registered
 * like any other, so a request that finds the object past its window attaches to it (R2). Its
 * request is this client's, as HTTP/1.1: it has no client whose version could turn streaming off.
 */
function revalidateInBackground(ctx: ProxyContext, exchange: ClientExchange, target: ValidatedTarget, key: string, stale: CacheObject, now: number): void {
  if (ctx.registry.refreshing(stale) || ctx.registry.find(key, exchange.request.headers, now)) return;
  const request: RequestHead = { ...exchange.request, method: 'GET', version: HTTP_1_1 };
  const fetch = new InflightFetch(fetchEnvironment(ctx, target.path), key, request, stale, true);
  ctx.registry.add(fetch);
  ctx.stats.stale.backgroundRevalidations++;
  const head = originRequestHead(ctx, exchange, target, stale);
  fetch.start(ctx.pool.request(head, { expectNoBody: false, hasBody: false }, fetch));
}

const HTTP_1_1: HttpVersion = { major: 1, minor: 1 };

/** B4: what a segment fetch shares with every fetch through the cache (passed, so that segment-flow does not import this file). */
const SEGMENT_FETCHING: SegmentFetching = { environment: fetchEnvironment, originRequest: originRequestHead };

/** A miss: one fetch for the key, which this client and every later one reads from (R2). */
function startFetch(ctx: ProxyContext, exchange: ClientExchange, target: ValidatedTarget, key: string, revalidating: CacheObject | null, fwd: ForwardReason): void {
  const { request } = exchange;
  const fetch: InflightFetch = new InflightFetch(fetchEnvironment(ctx, target.path), key, request, revalidating);
  ctx.registry.add(fetch);
  fetch.attach(newReader(ctx, exchange, 'MISS', fetch, fwd));
  const head = originRequestHead(ctx, exchange, target, revalidating);
  // HEAD misses fetch with GET, so that the object can be stored (C1: GET and HEAD share a key).
  fetch.start(cacheFetchRequest(ctx, request, head, fetch));
}

/** The origin request of a fetch through the cache; `range` (B4: one segment) is ours, never the client's (B3). */
export function originRequestHead(ctx: ProxyContext, exchange: ClientExchange, target: ValidatedTarget, revalidating: CacheObject | null, range?: string): string {
  const headers = exchange.request.headers.copyWithout((name) => CLIENT_CONDITIONALS.has(name));
  if (range !== undefined) headers.append('Range', range);
  // C1, T1: the origin sees Accept-Encoding as the variant is keyed (`br`, `gzip` or none), as with Fastly.
  const acceptEncoding = normalizedAcceptEncoding(headers);
  if (acceptEncoding) headers.set('Accept-Encoding', acceptEncoding);
  else headers.delete('accept-encoding');
  if (revalidating) for (const [name, value] of revalidationFields(revalidating.etag, revalidating.lastModified)) headers.append(name, value);
  const asGet: RequestHead = { ...exchange.request, method: 'GET', headers };
  return planOriginRequest(asGet, target, {
    clientAddress: exchange.clientAddress,
    viaName: ctx.options.viaName,
    defaultHost: ctx.options.originUrl.host,
    bodyFraming: 'none',
  }).head;
}

/** B1: we serve byte ranges of every 200 fetched through the cache, whatever the origin says. */
function withAcceptRanges(decision: HeadDecision): HeadDecision {
  if (decision.clientHead.status === 200) decision.clientHead.headers.set('Accept-Ranges', 'bytes');
  return decision;
}

export function fetchEnvironment(ctx: ProxyContext, path: string): FetchEnvironment {
  const { options } = ctx;
  // K1: a fetch decides at its head with the rules and hooks in force when it started.
  const settings = { defaultTtl: options.defaultTtl, stream: options.stream, viaName: options.viaName, rules: ctx.rules, hooks: ctx.hooks, stale: { grace: options.grace, staleIfError: options.staleIfError } };
  return {
    store: ctx.store,
    index: ctx.index,
    logger: ctx.logger,
    maxObjectSize: options.maxObjectSize,
    maxObjectSizeBuffered: options.maxObjectSizeBuffered,
    hitForPassMs: options.hitForPassTtl * 1000,
    overflowWindow: options.overflowWindow,
    backlogWarningBytes: options.backlogWarningBytes,
    backlogPassed(fetch, bytes) {
      ctx.stats.backlogWarnings++;
      ctx.logger.warn({ key: fetch.key, bufferedBytes: bytes, threshold: options.backlogWarningBytes }, 'in-flight object backlog passed the threshold: late joiners replay all of it; end streams sooner');
    },
    decide: (request, head, now, framing) => withAcceptRanges(decideAtHead(settings, request, path, head, now, framing)),
    redispatch(reader) {
      reader.release();
      ctx.dispatch(reader.exchange);
    },
    handOff(reader, origin, stream) {
      reader.release();
      const relay = new PassRelay(ctx, reader.exchange, PASS_REASONS.unshareable, undefined, stream);
      relay.attach(origin);
      return relay;
    },
    settled: (fetch) => ctx.registry.remove(fetch),
    refreshFailed(fetch, failure, servedStale) {
      ctx.stats.stale.refreshFailures++;
      ctx.stats.stale.ifError += servedStale;
      const stale = fetch.revalidating!;
      const fields = { key: fetch.key, kind: failure.kind, reason: failure.message, background: fetch.background, servedStale, staleAge: stale.age(Date.now()) };
      ctx.logger.warn(fields, servedStale > 0 ? 'refresh failed: served the stale object (stale-if-error)' : 'refresh failed: the stale object stays');
    },
  };
}
