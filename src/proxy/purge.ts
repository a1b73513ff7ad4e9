// Invalidation (I1-I4): one function applies every purge, whichever door it came through (the
// PURGE method, the admin listener, the library call, the bus); the index does the removing
// (src/cache/index.ts), the registry stops fetches in flight (I4), and an accepted purge that did
// not come from the bus is published on it (I5).
import type { Logger } from 'pino';
import type { CacheIndex } from '../cache/index.js';
import type { SegmentFiles } from '../cache/segment-files.js';
import { segmentKeyPrefix } from '../cache/segments.js';
import type { FetchRegistry } from '../stream/registry.js';
import { purgeKeys } from '../cache/surrogate-index.js';
import type { InflightFetch } from '../stream/fetch.js';

/** What the library (`proxy.purge()`) and the admin listener take. */
export type PurgeRequest = ({ url: string; host?: string } | { key: string | readonly string[] } | { all: true }) & {
  /** I3: mark stale instead of removing. */
  soft?: boolean;
  /** I4: also end the clients attached to a purged fetch in flight, abruptly (O2). */
  hard?: boolean;
};

/** A purge checked and reduced to what the index needs: also what travels on the bus. */
export type Purge = ({ kind: 'url'; cacheKey: string } | { kind: 'keys'; keys: string[] } | { kind: 'all' }) & { soft: boolean; hard: boolean };

/** Who asked: for the log line and the counters. */
export type PurgeDoor = 'method' | 'admin' | 'library' | 'bus';
export const PURGE_DOORS: readonly PurgeDoor[] = ['method', 'admin', 'library', 'bus'];

export interface PurgeOrigin {
  door: PurgeDoor;
  /** The client's address (method, admin), or the node id of the publisher (bus). */
  who: string;
}

/** A purge that cannot be applied as given: the message says why. */
export class PurgeError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'PurgeError';
  }
}

/** The cache key of a URL purge (C1: host and path), from an absolute URL or an origin-form target and a host. */
export function purgeCacheKey(url: string, host: string | undefined): string {
  if (url.startsWith('/')) {
    if (!host) throw new PurgeError('a URL purge of an origin-form target needs a host');
    if (!/^[A-Za-z0-9._~%-]*(?::\d*)?$|^\[[0-9A-Fa-f:.]+\](?::\d*)?$/.test(host)) throw new PurgeError(`invalid host "${host}"`);
    return `${host.toLowerCase()}${url}`;
  }
  if (!/^https?:\/\//i.test(url)) throw new PurgeError(`"${url}" is neither an origin-form target (/path) nor an http(s) URL`);
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    throw new PurgeError(`"${url}" is not a valid URL`);
  }
  return `${parsed.host.toLowerCase()}${parsed.pathname}${parsed.search}`;
}

/** Checks a library or admin purge request; throws PurgeError naming what is wrong. */
export function toPurge(request: PurgeRequest): Purge {
  if (!request || typeof request !== 'object') throw new PurgeError('a purge is { url } , { key } or { all: true }');
  const soft = request.soft === true;
  const hard = request.hard === true;
  if ('url' in request) {
    if (typeof request.url !== 'string') throw new PurgeError('url: must be a string');
    return { kind: 'url', cacheKey: purgeCacheKey(request.url, request.host), soft, hard };
  }
  if ('key' in request) {
    const text = Array.isArray(request.key) ? request.key.join(' ') : request.key;
    if (typeof text !== 'string') throw new PurgeError('key: must be a string or a list of strings');
    const keys = purgeKeys(text);
    if (typeof keys === 'string') throw new PurgeError(keys);
    return { kind: 'keys', keys, soft, hard };
  }
  if ('all' in request && request.all === true) return { kind: 'all', soft, hard };
  throw new PurgeError('a purge is { url }, { key } or { all: true }');
}

export function describePurge(purge: Purge): string {
  const what = purge.kind === 'url' ? `url ${purge.cacheKey}` : purge.kind === 'keys' ? `keys ${purge.keys.join(' ')}` : 'all';
  return `${purge.soft ? 'soft ' : ''}${purge.hard ? 'hard ' : ''}${what}`;
}

export interface PurgeStats {
  /** Purges applied, by the door they came through (bus: received from another node). */
  applied: Record<PurgeDoor, number>;
  /** Objects removed or (soft) marked stale. */
  objects: number;
  /** Fetches in flight kept out of the cache (I4). */
  inflight: number;
  /** Refused: 403 (not allowed) and 400 (bad input). */
  refused: number;
  invalid: number;
}

/** Sends an accepted local purge to the other nodes (src/proxy/purge-bus.ts). */
export interface PurgePublisher {
  publish(purge: Purge): void;
}

export class Purger {
  readonly counters: PurgeStats = { applied: { method: 0, admin: 0, library: 0, bus: 0 }, objects: 0, inflight: 0, refused: 0, invalid: 0 };
  publisher: PurgePublisher | null = null;

  constructor(private readonly ctx: { index: CacheIndex; registry: FetchRegistry; logger: Logger; segments: SegmentFiles }) {}

  /** The one function every door calls. Returns how many objects were purged here. */
  apply(purge: Purge, origin: PurgeOrigin): number {
    const { index, registry } = this.ctx;
    const now = Date.now();
    let purged: number;
    let stopped: number;
    if (purge.kind === 'url') {
      ({ purged, stopped } = this.purgeUrl(purge.cacheKey, purge, now));
    } else if (purge.kind === 'keys') {
      purged = index.purgeTagged(purge.keys, purge.soft, now);
      // A fetch whose head is not in yet is checked when it arrives (CacheIndex.purgedSince), unless
      // the purge is hard: that one cannot wait to know, and cuts those too.
      stopped = registry.invalidateWhere((fetch) => isTaggedOrUnknown(fetch, purge.keys, purge.hard), purge.hard);
    } else {
      purged = index.purgeAll(purge.soft, now);
      stopped = registry.invalidateWhere(() => true, purge.hard);
    }
    this.counters.applied[origin.door]++;
    this.counters.objects += purged;
    this.counters.inflight += stopped;
    // A flood of purges must not pay for a line nobody reads.
    if (this.ctx.logger.isLevelEnabled('info')) this.ctx.logger.info({ purge: describePurge(purge), door: origin.door, who: origin.who, purged, inflight: stopped }, 'purge');
    if (origin.door !== 'bus') this.publisher?.publish(purge);
    return purged;
  }

  /** I1: every variant of the key, and (B4) every segment of it, stored or in flight. */
  private purgeUrl(key: string, purge: Purge, now: number): { purged: number; stopped: number } {
    const { index, registry, segments } = this.ctx;
    let purged = index.purge(key, purge.soft, now);
    let stopped = registry.invalidate(key, purge.hard);
    for (const segment of segments.segmentKeys(key)) purged += index.purge(segment, purge.soft, now);
    // Segments in flight, also of a file whose first segment has not told its length yet.
    const prefix = segmentKeyPrefix(key);
    stopped += registry.invalidateWhere((fetch) => fetch.key.startsWith(prefix), purge.hard);
    if (!purge.soft) segments.forget(key, index);
    return { purged, stopped };
  }
}

function isTaggedOrUnknown(fetch: InflightFetch, keys: readonly string[], unknownToo: boolean): boolean {
  const object = fetch.object;
  if (!object) return unknownToo && fetch.state === 'awaiting-head';
  const tags = object.originHead.headers.getAll('surrogate-key').join(' ').split(/[ \t]+/);
  return keys.some((key) => tags.includes(key));
}
