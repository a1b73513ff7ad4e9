// B1-B3: which part of an object one client gets, and the head lines that say so. A range is a
// window on the reader's cursor: the reader walks the object's chunks as always and writes only
// the views (subarrays) that fall inside the window, so a 206 copies no byte either.
//
// This is the one place that turns a request's Range (and If-Range) and an object into 200, 206 or
// 416; the segmented walker (src/stream/segmented.ts) uses it for a file made of segments.
import type { RequestHead } from '../http1/message.js';
import { contentRange, parseRange, resolveRange, unsatisfiedRange } from '../http1/range.js';
import { ifRangeHolds } from '../cache/conditional.js';

/** Bytes [start, end) of an object or file (end exclusive). */
export interface BodyWindow {
  readonly start: number;
  readonly end: number;
}

/**
 * whole          200, every byte (no Range, or one we do not honour)
 * partial        206 with Content-Range, the bytes of `window`
 * unsatisfiable  416 with `Content-Range: bytes *\/length`, no body
 * wait           a range on an object whose length is not known yet: wait until it is complete (B2)
 */
export type RangePlan =
  | { readonly kind: 'whole' }
  | { readonly kind: 'partial'; readonly window: BodyWindow; readonly contentRange: string }
  | { readonly kind: 'unsatisfiable'; readonly contentRange: string }
  | { readonly kind: 'wait' };

/** What a range decision needs to know of the object (or file). */
export interface RangeTarget {
  readonly status: number;
  /** The body length, when known (a complete object, or a declared Content-Length). */
  readonly length: number | undefined;
  readonly etag?: string;
  readonly lastModified?: string;
  readonly date?: string;
}

const WHOLE: RangePlan = { kind: 'whole' };

/**
 * B1: one byte range of a GET on a 200 is served (If-Range permitting). HEAD is answered as a
 * whole: range handling is defined for GET only (RFC 9110 §14.2), so a HEAD tells the length of
 * the whole representation, as nginx and Varnish answer it.
 */
export function planRange(request: RequestHead, target: RangeTarget): RangePlan {
  if (request.method !== 'GET' || target.status !== 200) return WHOLE;
  const range = parseRange(request.headers.getAll('range'));
  if (range.kind !== 'bytes' || range.ranges.length !== 1) return WHOLE;
  if (!ifRangeHolds(request.headers.get('if-range'), target)) return WHOLE;
  if (target.length === undefined) return { kind: 'wait' };
  const resolved = resolveRange(range, target.length);
  if (resolved.kind === 'whole') return WHOLE;
  if (resolved.kind === 'unsatisfiable') return { kind: 'unsatisfiable', contentRange: unsatisfiedRange(target.length) };
  const window = { start: resolved.start, end: resolved.end };
  return { kind: 'partial', window, contentRange: contentRange(window.start, window.end, target.length) };
}

/** A stored head block (`HTTP/1.1 200 OK\r\n` + fields) with another status line. */
export function withStatusLine(block: string, statusLine: string): string {
  return statusLine + block.slice(block.indexOf('\r\n') + 2);
}

/**
 * The part of chunk [position, position + chunk.length) of an object inside `window`, as a view
 * (no copy); undefined when none of it is.
 */
export function windowView(chunk: Buffer, position: number, window: BodyWindow): Buffer | undefined {
  const from = Math.max(0, window.start - position);
  const to = Math.min(chunk.length, window.end - position);
  if (to <= from) return undefined;
  return from === 0 && to === chunk.length ? chunk : chunk.subarray(from, to);
}
