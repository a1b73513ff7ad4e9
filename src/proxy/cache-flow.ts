// A cacheable request's way through the cache: a fresh object is a hit (R5); a fetch in flight
// takes the request as one more reader (R2, R3); a stale object with validators is revalidated
// (C3); a hit-for-pass key passes (R4); anything else starts a fetch, the streaming miss (R1).
import type { ClientExchange } from '../net/client-exchange.js';
import type { RequestHead } from '../http1/message.js';
import type { CacheObject } from '../cache/object.js';
import { revalidationFields } from '../cache/conditional.js';
import { InflightFetch, type FetchEnvironment, type HeadDecision } from '../stream/fetch.js';
import type { ObjectReader, ReaderHooks, ReaderRole } from '../stream/reader.js';
import { TransformingReader } from '../stream/transform.js';
import { normalizedAcceptEncoding } from '../http1/accept-encoding.js';
import { recordResponse } from './access-log.js';
import type { ProxyContext } from './context.js';
import { planOriginRequest, type ValidatedTarget } from './origin-request.js';
import { PassRelay, passToOrigin } from './pass.js';
import { decideAtHead } from './policy.js';
import { PASS_REASONS, type Reason } from '../stream/reasons.js';
import { serveSegmented, type SegmentFetching } from './segment-flow.js';

/** Request fields that belong to the client's own conditional or partial request, not to our fetch. */
const CLIENT_CONDITIONALS = new Set(['if-none-match', 'if-modified-since', 'if-match', 'if-unmodified-since', 'if-range', 'range']);

export function serveFromCache(ctx: ProxyContext, exchange: ClientExchange, target: ValidatedTarget, key: string, segmentSize = 0): void {
  const { headers } = exchange.request;
  const now = Date.now();
  let stored = ctx.index.lookup(key, headers);
  if (stored && stored.isFresh(now)) return serveHit(ctx, exchange, stored);
  // B4: an object kept whole (the origin would not serve segments) is a hit as above; else segments.
  if (segmentSize > 0 && !ctx.segments.isUnsegmented(key, now)) return serveSegmented(ctx, exchange, target, key, segmentSize, SEGMENT_FETCHING);
  if (stored && !stored.hasValidators) {
    ctx.index.remove(stored);
    stored = undefined;
  }
  const inflight = ctx.registry.find(key, headers, now);
  if (inflight) return inflight.attach(newReader(ctx, exchange, 'COLLAPSED', inflight));
  if (ctx.index.isHitForPass(key, now)) return passToOrigin(ctx, exchange, target, PASS_REASONS.hitForPass);
  startFetch(ctx, exchange, target, key, stored ?? null);
}

function serveHit(ctx: ProxyContext, exchange: ClientExchange, object: CacheObject): void {
  object.hits++;
  newReader(ctx, exchange, 'HIT', null).begin(object, true);
}

function newReader(ctx: ProxyContext, exchange: ClientExchange, role: ReaderRole, fetch: InflightFetch | null): ObjectReader {
  const hooks: ReaderHooks = fetch
    ? {
        progressed: () => fetch.readerProgressed(),
        finished(reader, error) {
          fetch.readerFinished(reader);
          recordReader(ctx, reader, error, fetch.noCacheReason);
        },
      }
    : ctx.hitReaderHooks;
  // T1, T2: a reader that decodes our compression for clients that do not accept it, and assembles ESI.
  return new TransformingReader(exchange, role, hooks, ctx.hooks.deliver, ctx.esi, ctx.options.maxObjectSizeBuffered);
}

/** The access log line and counters of one reader's response. */
export function recordReader(ctx: ProxyContext, reader: ObjectReader, error?: string, noCache?: Reason): void {
  recordResponse(ctx, { exchange: reader.exchange, status: reader.status, cache: reader.role, firstByteAt: reader.firstByteAt, error, reason: reader.failure ?? noCache });
}

/** B4: what a segment fetch shares with every fetch through the cache (passed, so that segment-flow does not import this file). */
const SEGMENT_FETCHING: SegmentFetching = { environment: fetchEnvironment, originRequest: originRequestHead };

/** A miss: one fetch for the key, which this client and every later one reads from (R2). */
function startFetch(ctx: ProxyContext, exchange: ClientExchange, target: ValidatedTarget, key: string, revalidating: CacheObject | null): void {
  const { request } = exchange;
  const fetch: InflightFetch = new InflightFetch(fetchEnvironment(ctx, target.path), key, request, revalidating);
  ctx.registry.add(fetch);
  fetch.attach(newReader(ctx, exchange, 'MISS', fetch));
  const head = originRequestHead(ctx, exchange, target, revalidating);
  // HEAD misses fetch with GET, so that the object can be stored (C1: GET and HEAD share a key).
  fetch.start(ctx.pool.request(head, { expectNoBody: false, hasBody: false }, fetch));
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
    decide: (request, head, now, framing) =>
      withAcceptRanges(decideAtHead({ defaultTtl: options.defaultTtl, stream: options.stream, viaName: options.viaName, rules: ctx.rules, hooks: ctx.hooks }, request, path, head, now, framing)),
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
  };
}
