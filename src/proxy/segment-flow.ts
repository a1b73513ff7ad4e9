// B4 segmented caching, the decisions: each segment of a file is found like any object (a fresh
// hit, then a fetch in flight to attach to, R2, else a new fetch), under its own key; a new fetch
// asks the origin for that segment alone (`Range: bytes=a-b`). The origin's answer decides:
//   a 206 for exactly that segment, storable   a segment: cached, streamed to its readers
//   anything else (a 200, an error, other      the origin does not serve this file as segments:
//   bytes, no total length, not storable)      the URL takes the ordinary path for a while, and
//                                               a client that has nothing yet is sent down it
// A segment that disagrees with the file's others (validator, total length) drops them.
import type { ClientExchange } from '../net/client-exchange.js';
import type { OriginResponseHandler } from '../net/origin-connection.js';
import { rangeFieldValue } from '../http1/range.js';
import { classifySegmentAnswer, segmentKey, segmentWindow } from '../cache/segments.js';
import { InflightFetch, type FetchEnvironment, type HeadDecision } from '../stream/fetch.js';
import { ObjectReader, type ReaderPart, type ReaderRole } from '../stream/reader.js';
import { segmentedServedAs } from './cache-status.js';
import { writerFor } from '../stream/client-writer.js';
import { SegmentWalker, type SegmentSource } from '../stream/segmented.js';
import { recordResponse } from './access-log.js';
import type { ProxyContext } from './context.js';
import type { ValidatedTarget } from './origin-request.js';
import { cacheFetchRequest } from './shield.js';

/** What a segment fetch shares with every fetch through the cache (src/proxy/cache-flow.ts). */
export interface SegmentFetching {
  environment(ctx: ProxyContext, path: string): FetchEnvironment;
  originRequest(ctx: ProxyContext, exchange: ClientExchange, target: ValidatedTarget, revalidating: null, range: string): string;
}

export function serveSegmented(ctx: ProxyContext, exchange: ClientExchange, target: ValidatedTarget, key: string, size: number, fetching: SegmentFetching): void {
  const source: SegmentSource = {
    knownTotal: () => ctx.segments.identity(key, size)?.total,
    open: (index, part, finished) => openSegment(ctx, fetching, exchange, target, key, size, index, part, finished),
    drop: () => ctx.segments.forget(key, ctx.index),
  };
  const writer = writerFor(exchange, { deliver: ctx.hooks.deliver, servedAs: (head) => segmentedServedAs(ctx.options.viaName, head) });
  const walker = new SegmentWalker(exchange, writer, size, source, {
    unsegmented(reason) {
      ctx.logger.info({ key, reason }, 'origin does not serve this file as segments: served as an ordinary object');
      ctx.segments.markUnsegmented(key, Date.now() + ctx.options.hitForPassTtl * 1000);
      ctx.stats.segments.unsegmented++;
      ctx.dispatch(exchange);
    },
    finished: ({ status, role, firstByteAt, error }) => recordResponse(ctx, { exchange, status, cache: role, firstByteAt, error }),
  });
  walker.start();
}

function openSegment(
  ctx: ProxyContext,
  fetching: SegmentFetching,
  exchange: ClientExchange,
  target: ValidatedTarget,
  key: string,
  size: number,
  index: number,
  part: ReaderPart,
  finished: (reader: ObjectReader, error?: string) => void,
): ObjectReader {
  const { headers } = exchange.request;
  const segKey = segmentKey(key, index, size);
  const now = Date.now();
  const stored = ctx.index.lookup(segKey, headers);
  if (stored?.isFresh(now)) {
    stored.hits++;
    ctx.stats.segments.hits++;
    const reader = partReader(ctx, exchange, 'HIT', null, part, finished);
    reader.begin(stored, true);
    return reader;
  }
  // A stale segment is fetched again whole (segments are not revalidated one by one).
  if (stored) ctx.index.remove(stored);
  const inflight = ctx.registry.find(segKey, headers, now);
  if (inflight) {
    ctx.stats.segments.collapsed++;
    const reader = partReader(ctx, exchange, 'COLLAPSED', inflight, part, finished);
    inflight.attach(reader);
    return reader;
  }
  const fetch: InflightFetch = new InflightFetch(segmentEnvironment(ctx, fetching.environment(ctx, target.path), key, size, index), segKey, exchange.request, null);
  ctx.registry.add(fetch);
  ctx.stats.segments.fetches++;
  const reader = partReader(ctx, exchange, 'MISS', fetch, part, finished);
  fetch.attach(reader);
  const bytes = segmentWindow(index, size);
  const head = fetching.originRequest(ctx, exchange, target, null, rangeFieldValue(bytes.start, bytes.end));
  fetch.start(cacheFetchRequest(ctx, exchange.request, head, fetch));
  return reader;
}

function partReader(ctx: ProxyContext, exchange: ClientExchange, role: ReaderRole, fetch: InflightFetch | null, part: ReaderPart, finished: (reader: ObjectReader, error?: string) => void): ObjectReader {
  return new ObjectReader(
    exchange,
    role,
    {
      progressed: fetch ? () => fetch.readerProgressed() : undefined,
      finished(reader, error) {
        fetch?.readerFinished(reader);
        finished(reader, error);
      },
    },
    ctx.hooks.deliver,
    part,
  );
}

/** Does nothing: what a refused segment fetch hands the rest of the origin's response to. */
const DISCARD: OriginResponseHandler = { onHead() {}, onBody() {}, onEnd() {}, onError() {} };

/** A fetch of one segment: the ordinary environment, with the origin's answer read as B4 says. */
function segmentEnvironment(ctx: ProxyContext, base: FetchEnvironment, key: string, size: number, index: number): FetchEnvironment {
  let refusal = '';
  let pastEnd = false;
  const refuse = (reader: ObjectReader, reason: string) => {
    reader.release();
    reader.part?.refused(reason, pastEnd);
  };
  return {
    ...base,
    decide(request, head, now, framing): HeadDecision {
      const answer = classifySegmentAnswer(head.status, head.headers, index, size);
      const notSegment = (reason: string): HeadDecision => {
        refusal = reason;
        ctx.segments.markUnsegmented(key, now + base.hitForPassMs);
        // Unshareable and unstored: the fetch hands its clients back (handOff, redispatch below).
        return { ...base.decide(request, head, now, framing), share: false, store: false, hitForPass: false, transform: undefined };
      };
      if (answer.kind === 'past-end' && index > 0) {
        // Not a refusal of segments: this one does not exist. The walker asks for segment 0 instead.
        pastEnd = true;
        refusal = 'the file ends before this segment';
        return { ...base.decide(request, head, now, framing), share: false, store: false, hitForPass: false, transform: undefined };
      }
      if (answer.kind === 'past-end') return notSegment('the origin answered segment 0 with 416 (an empty file)');
      if (answer.kind === 'whole') return notSegment('the origin answered a segment request with the whole file (200)');
      if (answer.kind === 'mismatch') return notSegment(answer.reason);
      if (answer.kind === 'other') return notSegment(`the origin answered a segment request with ${head.status}`);
      if (answer.identity.total === undefined) return notSegment('the origin gave no total length (Content-Range */*)');
      if (!ctx.segments.agree(key, size, answer.identity, ctx.index)) {
        ctx.logger.warn({ key, segment: index }, 'segment disagrees with the cached segments of its file (validator or length): they are dropped');
      }
      // Judged as the 200 it is a part of: a 206 is not storable as such (we are a cache that understands ranges).
      const asWhole = { ...head, status: 200, reason: 'OK', headers: head.headers.copyWithout((name) => name === 'content-range') };
      const decision = base.decide(request, asWhole, now, framing);
      if (!decision.store || !decision.share) return notSegment('the segment is not cacheable');
      // A segment is stored as the origin sent it: never compressed or assembled (T1, T2 apply to whole objects).
      return { ...decision, transform: undefined };
    },
    handOff(reader, origin): OriginResponseHandler {
      origin.abort();
      refuse(reader, refusal);
      return DISCARD;
    },
    redispatch: (reader) => refuse(reader, refusal),
  };
}
