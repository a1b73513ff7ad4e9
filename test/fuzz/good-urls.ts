// The well-behaved half of the origin's URL space, shared by the origin (which serves it) and the
// well-behaved clients (which check it byte for byte):
//
//   /good/<id>/<size>/<framing>/<cache>
//
// The path alone decides the response: the body is `size` bytes drawn from a PRNG seeded by
// (id, size), so a body served for the wrong URL, shifted, truncated or spliced never matches;
// `framing` is how the origin delimits it; `cache` is its caching class:
//   c  Cache-Control: max-age=60 (sometimes with Surrogate-Control): stored, shared, collapsed (R2)
//   n  no-store: never shared (R4, hit-for-pass)
//   e  max-age=1 with an ETag: soon stale, then revalidated with If-None-Match (C3)
//   v  no-cache with an ETag: stored, revalidated before every reuse (C2, C3)
// Ids below HOT_GOOD_URLS are "hot": clients of every kind pick them often, so collapsing, hits,
// eviction and revalidation happen on URLs that hostile clients are hammering at the same time.
import { Rng, mix32 } from './prng.js';

export type GoodFraming = 'length' | 'chunked' | 'close';
export type GoodCache = 'c' | 'n' | 'e' | 'v';

export interface GoodSpec {
  id: number;
  size: number;
  framing: GoodFraming;
  cache: GoodCache;
}

/** How many hot URLs there are (ids 0 .. HOT_GOOD_URLS-1). */
export const HOT_GOOD_URLS = 48;
/** Larger bodies than this are never generated (and the origin refuses to serve them). */
export const MAX_GOOD_SIZE = 4 * 1024 * 1024;

export function goodPath(spec: GoodSpec): string {
  return `/good/${spec.id}/${spec.size}/${spec.framing}/${spec.cache}`;
}

/** The spec a /good/ request-target names (a query string is ignored), or undefined. */
export function parseGoodPath(target: string): GoodSpec | undefined {
  const path = target.split('?')[0];
  const m = /^\/good\/(\d{1,10})\/(\d{1,8})\/(length|chunked|close)\/([cnev])$/.exec(path);
  if (!m) return undefined;
  const id = Number(m[1]);
  const size = Number(m[2]);
  if (id > 0xffffffff || size > MAX_GOOD_SIZE) return undefined;
  return { id, size, framing: m[3] as GoodFraming, cache: m[4] as GoodCache };
}

/** The one spec a well-behaved client uses for URL id `id`: size, framing and class follow from the id. */
export function goodSpecFor(id: number): GoodSpec {
  const rng = new Rng(mix32(id, 0x600d));
  const size = rng.weighted<() => number>([
    [2, () => 0],
    [30, () => rng.logInt(1, 4096)],
    [35, () => rng.logInt(4097, 128 * 1024)],
    [24, () => rng.logInt(128 * 1024, 1024 * 1024)],
    [9, () => rng.logInt(1024 * 1024, 3 * 1024 * 1024)],
  ])();
  const framing = rng.weighted<GoodFraming>([[45, 'length'], [35, 'chunked'], [20, 'close']]);
  const cache = rng.weighted<GoodCache>([[55, 'c'], [15, 'n'], [15, 'e'], [15, 'v']]);
  return { id, size, framing, cache };
}

/** A hot spec (ids 0..HOT_GOOD_URLS-1) or, less often, a fresh one, chosen by `rng`. */
export function pickGoodSpec(rng: Rng, hotShare = 0.6): GoodSpec {
  return goodSpecFor(rng.chance(hotShare) ? rng.int(0, HOT_GOOD_URLS - 1) : rng.int(HOT_GOOD_URLS, 0xffffffff));
}

export function goodEtag(spec: GoodSpec): string {
  return `"g${spec.id.toString(16)}-${spec.size.toString(16)}"`;
}

// ---- bodies, generated on demand and kept in a small LRU ----

const BODY_CACHE = new Map<string, Buffer>();
const BODY_CACHE_BUDGET = 64 * 1024 * 1024;
let bodyCacheBytes = 0;

/** The body of /good/<id>/<size>/...: `size` bytes from a PRNG seeded by (id, size). */
export function goodBody(spec: Pick<GoodSpec, 'id' | 'size'>): Buffer {
  const key = `${spec.id}/${spec.size}`;
  const cached = BODY_CACHE.get(key);
  if (cached) {
    BODY_CACHE.delete(key);
    BODY_CACHE.set(key, cached);
    return cached;
  }
  // Its own ArrayBuffer, so that a Uint32Array can fill it 4 bytes at a time.
  const body = Buffer.allocUnsafeSlow(spec.size);
  let state = mix32(spec.id, spec.size, 0xb0d1) | 1;
  const words = new Uint32Array(body.buffer, body.byteOffset, Math.floor(spec.size / 4));
  for (let i = 0; i < words.length; i++) {
    // xorshift32: fast, and every 4-byte word depends on the URL.
    state ^= state << 13;
    state ^= state >>> 17;
    state ^= state << 5;
    words[i] = state;
  }
  for (let i = words.length * 4; i < spec.size; i++) body[i] = (state >>> ((i % 4) * 8)) & 0xff;
  BODY_CACHE.set(key, body);
  bodyCacheBytes += body.length;
  for (const [k, b] of BODY_CACHE) {
    if (bodyCacheBytes <= BODY_CACHE_BUDGET || k === key) break;
    BODY_CACHE.delete(k);
    bodyCacheBytes -= b.length;
  }
  return body;
}

/** First offset where `actual` differs from `expected` (or where one of them ends), -1 if equal. */
export function firstDifference(actual: Buffer, expected: Buffer): number {
  if (actual.equals(expected)) return -1;
  const n = Math.min(actual.length, expected.length);
  const step = 4096;
  for (let at = 0; at < n; at += step) {
    const end = Math.min(n, at + step);
    if (!actual.subarray(at, end).equals(expected.subarray(at, end))) {
      for (let i = at; i < end; i++) if (actual[i] !== expected[i]) return i;
    }
  }
  return n;
}

// ---- how the origin delivers a good response (also decided by the path alone) ----

export interface GoodDelivery {
  /** Wait before the head, ms. */
  headDelayMs: number;
  /** Sizes of the body writes (the chunks, for chunked); the last repeats. */
  pieceSizes: number[];
  /** Pause between body writes, ms (0: all written at once). */
  gapMs: number;
  /** Extra fields the client must never see: `Connection: X-Hop`, `X-Hop`, `Keep-Alive` (F6). */
  hopByHop: boolean;
  /** Surrogate-Control: max-age=60 beside Cache-Control (class c only); removed by the proxy (C2). */
  surrogate: boolean;
  /** Chunk extensions and a trailer field (chunked only). */
  chunkExtras: boolean;
  /** Status line HTTP/1.0 (close framing only). */
  http10: boolean;
}

export function goodDelivery(spec: GoodSpec): GoodDelivery {
  const rng = new Rng(mix32(spec.id, spec.size, spec.framing.length, spec.cache.charCodeAt(0), 0xd11));
  const gapMs = rng.chance(0.7) ? 0 : rng.int(1, 15);
  // At most ~512 writes (~24 with pauses between them): a big body in 1-byte chunks would cost
  // seconds of CPU on both sides and starve every timer in the process.
  const minPiece = Math.max(1, Math.ceil(spec.size / (gapMs > 0 ? 24 : 512)));
  const pieceSizes = [Math.max(minPiece, rng.logInt(1, 256 * 1024)), Math.max(minPiece, rng.logInt(1, 256 * 1024))];
  return {
    headDelayMs: rng.chance(0.8) ? 0 : rng.int(1, 30),
    pieceSizes,
    gapMs,
    hopByHop: rng.chance(0.5),
    surrogate: spec.cache === 'c' && rng.chance(0.3),
    chunkExtras: spec.framing === 'chunked' && rng.chance(0.3),
    http10: spec.framing === 'close' && rng.chance(0.3),
  };
}

/** The head of a good response for `spec` (framing fields included) and how to send the body. */
export function goodResponseHead(spec: GoodSpec, path: string): string {
  const d = goodDelivery(spec);
  const lines: string[] = [`${d.http10 ? 'HTTP/1.0' : 'HTTP/1.1'} 200 OK`, 'Content-Type: application/octet-stream', `X-Path: ${path}`];
  switch (spec.cache) {
    case 'c':
      lines.push('Cache-Control: max-age=60');
      if (d.surrogate) lines.push('Surrogate-Control: max-age=60');
      break;
    case 'n':
      lines.push('Cache-Control: no-store');
      break;
    case 'e':
      lines.push('Cache-Control: max-age=1', `ETag: ${goodEtag(spec)}`);
      break;
    case 'v':
      lines.push('Cache-Control: no-cache', `ETag: ${goodEtag(spec)}`);
      break;
  }
  if (d.hopByHop) lines.push('Connection: X-Hop', 'X-Hop: must-not-be-forwarded', 'Keep-Alive: timeout=5');
  if (spec.framing === 'length') lines.push(`Content-Length: ${spec.size}`);
  if (spec.framing === 'chunked') lines.push('Transfer-Encoding: chunked');
  if (spec.framing === 'close' && d.hopByHop) lines[lines.indexOf('Connection: X-Hop')] = 'Connection: close, X-Hop';
  else if (spec.framing === 'close') lines.push('Connection: close');
  return `${lines.join('\r\n')}\r\n\r\n`;
}
