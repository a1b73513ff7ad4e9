// The plain hit (issue 18): a complete object, whole, to an HTTP/1 client, written in one piece
// without an ObjectReader or a ResponseWriter. Most hits are this one case, and the general path
// (a reader that can wait, follow, window and transform; a writer that can frame, hold and fail)
// cost as much per hit as the rest of the proxy. The bytes are the general path's, byte for byte
// (test/property/plain-hit.property.test.ts draws objects and requests and compares the two):
// the object's shared head with Content-Length (CacheObject.headBlockWithLength), then the fields
// of this response in the writer's order (Age; X-Cache and Cache-Status; X-Cache-Hits; Connection),
// then the body views as they are in the store.
// The module's own binding: the global `performance` is a lazy getter, looked up on every call.
import { performance } from 'node:perf_hooks';
import type { ClientExchange } from '../net/client-exchange.js';
import type { CacheObject } from '../cache/object.js';
import { connectionField, responseHasNoBody } from '../http1/semantics.js';
import { WRITE_AHEAD } from './response-writer.js';

/**
 * The writer's side of "is this a plain hit": an HTTP/1 client whose exchange is open, and an
 * object the general path would write at once and whole: complete, untransformed (T1, T2), held in
 * the store, with a body status (a 204 or 304 has its own framing rules), and within the client's
 * write-ahead room (R7: a bigger one is written as the client drains). The request's side (no
 * conditional, no Range, not a tier) and the deliver hook are the proxy's to check.
 */
export function writesAsPlainHit(exchange: ClientExchange, object: CacheObject): boolean {
  if (!exchange.isOpen || exchange.http2 !== undefined || exchange.request.version.major !== 1) return false;
  if (!object.complete || object.transform !== null || object.overflowed || responseHasNoBody('GET', object.head.status)) return false;
  return object.length <= WRITE_AHEAD - exchange.bufferedBytes;
}

/** K2: the Cache-Status entry of a hit from the cache's name and the object's remaining ttl (src/proxy/cache-status.ts). */
export type HitCacheStatus = (cacheName: string, ttl: number) => string;

/**
 * Writes the hit and ends the exchange; `age` (F6) and the Cache-Status entry (K2, made by
 * `cacheStatus` from `cacheName` and `ttl`, only when the head of this second is not kept yet) as
 * the general path computes them. The object stays pinned until the kernel has every byte that
 * points into the store. Returns performance.now() when the head was made (time to first byte in
 * the access log).
 */
export function writePlainHit(exchange: ClientExchange, object: CacheObject, age: number, cacheName: string, ttl: number, cacheStatus: HitCacheStatus): number {
  const firstByteAt = performance.now();
  const { request } = exchange;
  const connection = connectionField(exchange.persistent, request.version);
  const head = `${headUpToHits(object, age, cacheName, ttl, cacheStatus)}${object.hits}${connection === undefined ? END : connection === 'close' ? END_CLOSE : END_KEEP_ALIVE}`;
  object.pin();
  const chunks = object.chunks as readonly Buffer[];
  // F4: HEAD gets the head a GET would, and no body.
  if (request.method === 'HEAD' || chunks.length === 0) exchange.write(head, object.unpinAfterWrite);
  else if (chunks.length === 1) exchange.write([head, chunks[0]!], object.unpinAfterWrite);
  else exchange.write([head, ...chunks], object.unpinAfterWrite);
  exchange.end();
  return firstByteAt;
}

const END = '\r\n\r\n';
const END_CLOSE = '\r\nConnection: close\r\n\r\n';
const END_KEEP_ALIVE = '\r\nConnection: keep-alive\r\n\r\n';

/**
 * The object's head with Content-Length, Age, X-Cache, Cache-Status and the name of X-Cache-Hits:
 * made once per second of Age (and per head version) and shared by the hits of that second, as
 * one flat string (each hit adds only its count and its Connection line).
 */
function headUpToHits(object: CacheObject, age: number, cacheName: string, ttl: number, cacheStatus: HitCacheStatus): string {
  const block = object.headBlockWithLength();
  const memo = object.plainHitHead;
  // Kept by what the entry is made of, not by the entry: building it to compare would cost a
  // string per hit and a compare that flattens it (callgrind: ~800 Ir per hit).
  const ttlKey = Number.isFinite(ttl) ? Math.trunc(ttl) : Infinity;
  if (memo !== null && memo.age === age && memo.block === block && memo.cacheName === cacheName && memo.ttl === ttlKey) return memo.text;
  const text = `${block}Age: ${age}\r\nX-Cache: HIT\r\nCache-Status: ${cacheStatus(cacheName, ttl)}\r\nX-Cache-Hits: `;
  void Number(text); // made flat once, since every hit of this second copies it (see CacheObject's flattened)
  object.plainHitHead = { block, age, cacheName, ttl: ttlKey, text };
  return text;
}
