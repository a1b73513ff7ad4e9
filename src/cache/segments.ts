// B4 segmented caching, the arithmetic: a file is cut into segments of a fixed size, segment i
// being bytes [i × size, (i + 1) × size) (the last one shorter); each is an object of its own,
// keyed by the file's key and its index. Pure: numbers and strings in, decisions out.
import { parseContentRange, type ParsedContentRange } from '../http1/range.js';

/** The bytes [start, end) of a file (end exclusive). */
export interface ByteWindow {
  readonly start: number;
  readonly end: number;
}

/**
 * A segment's cache key. The separator is a space, which no request-target can contain, so a
 * segment key never equals the key of a URL; the size is part of it, so that segments cut at
 * different sizes (a rule changed) never mix.
 */
export function segmentKey(fileKey: string, index: number, size: number): string {
  return `${segmentKeyPrefix(fileKey)}${size}:${index}`;
}

/** What every segment key of a file starts with, whatever the segment size (I1: a URL purge finds them all). */
export function segmentKeyPrefix(fileKey: string): string {
  return `${fileKey} segment:`;
}

/** The bytes segment `index` covers, cut at the file's end when its length is known. */
export function segmentWindow(index: number, size: number, total?: number): ByteWindow {
  const start = index * size;
  const end = (index + 1) * size;
  return { start, end: total === undefined ? end : Math.min(end, total) };
}

/** The indices of the segments that hold bytes [start, end), first and last inclusive; none for an empty window. */
export function segmentsFor(window: ByteWindow, size: number): { first: number; last: number } | undefined {
  if (window.end <= window.start) return undefined;
  return { first: Math.floor(window.start / size), last: Math.floor((window.end - 1) / size) };
}

/** The part of `window` that segment `index` holds, in offsets relative to the segment's first byte. */
export function windowInSegment(window: ByteWindow, index: number, size: number): ByteWindow {
  const segment = segmentWindow(index, size);
  return { start: Math.max(window.start, segment.start) - segment.start, end: Math.min(window.end, segment.end) - segment.start };
}

/** What identifies the file a segment came from: segments that disagree are not parts of one file. */
export interface SegmentIdentity {
  /** The complete length from Content-Range (undefined for `*`). */
  readonly total: number | undefined;
  /** A strong ETag, else Last-Modified, else undefined (no validator: only the length can tell). */
  readonly validator: string | undefined;
}

/**
 * ok         a 206 for exactly the bytes asked for
 * whole      the origin ignored the Range: a 200 with the whole file (served as an ordinary object)
 * mismatch   a 206 for other bytes, or one whose Content-Range we cannot read
 * past-end   a 416: the file ends before this segment (only the first segment asked for can tell)
 * other      any other status (an error page): never a segment
 */
export type SegmentAnswer =
  | { readonly kind: 'ok'; readonly range: ParsedContentRange; readonly identity: SegmentIdentity }
  | { readonly kind: 'whole' }
  | { readonly kind: 'mismatch'; readonly reason: string }
  | { readonly kind: 'past-end' }
  | { readonly kind: 'other' };

/** Reads the origin's answer to a request for segment `index` of `size` bytes. */
export function classifySegmentAnswer(status: number, fields: { get(name: string): string | undefined }, index: number, size: number): SegmentAnswer {
  if (status === 200) return { kind: 'whole' };
  if (status === 416) return { kind: 'past-end' };
  if (status !== 206) return { kind: 'other' };
  const range = parseContentRange(fields.get('content-range'));
  if (!range) return { kind: 'mismatch', reason: `unreadable Content-Range "${fields.get('content-range') ?? ''}"` };
  const asked = segmentWindow(index, size, range.total);
  if (range.start !== asked.start || range.end !== asked.end) {
    return { kind: 'mismatch', reason: `Content-Range ${range.start}-${range.end - 1} for segment bytes ${asked.start}-${asked.end - 1}` };
  }
  return { kind: 'ok', range, identity: identityOf(range.total, fields) };
}

function identityOf(total: number | undefined, fields: { get(name: string): string | undefined }): SegmentIdentity {
  const etag = fields.get('etag')?.trim();
  const strongTag = etag !== undefined && !etag.startsWith('W/') ? etag : undefined;
  return { total, validator: strongTag ?? fields.get('last-modified')?.trim() };
}

/** Two segments belong to one file when they agree on the total length and the validator (B4). */
export function sameFile(a: SegmentIdentity, b: SegmentIdentity): boolean {
  return a.total === b.total && a.validator === b.validator;
}

/** How many segments a file of `total` bytes has. */
export function segmentCount(total: number, size: number): number {
  return Math.ceil(total / size);
}
