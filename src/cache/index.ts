// The index: cache key → the complete objects stored for it, one per Vary variant (C1), plus the
// hit-for-pass marks of R4. Only complete objects enter it (R5); in-flight fetches live in their own
// registry (src/stream/registry.ts).
import type { HeaderFields } from '../http1/headers.js';
import type { RequestHead } from '../http1/message.js';
import { normalizedAcceptEncoding } from '../http1/accept-encoding.js';
import type { CacheObject } from './object.js';
import type { RingStore } from './store.js';
import { SurrogateIndex, taggedKeys } from './surrogate-index.js';
import { ExpiringKeyMarks } from './key-marks.js';

/** C1: GET and HEAD share a key; the key is Host, path and query. */
export function cacheKey(request: RequestHead, path: string, authority?: string): string {
  const host = authority ?? request.headers.get('host') ?? '';
  const last = lastKey;
  if (last.host === host && last.path === path) return last.key;
  // The same key string as the last request's when it asks for the same URL (a hot object): one
  // flat string, hashed once, instead of a new concatenation to flatten and hash at every lookup.
  const key = `${host.toLowerCase()}${path}`;
  void Number(key); // flat once (see CacheObject's flattened)
  lastKey = { host, path, key };
  return key;
}

let lastKey: { readonly host: string; readonly path: string; readonly key: string } = { host: '', path: '', key: '' };

/**
 * The request's values of the fields a response varies on, normalised for comparison.
 * Accept-Encoding is normalised as Fastly does (T1): `br`, `gzip` or '' (src/http1/accept-encoding.ts).
 */
export function varyValues(names: readonly string[], headers: HeaderFields): string[] {
  return names.map((name) => (name === 'accept-encoding' ? normalizedAcceptEncoding(headers) : headers.getAll(name).join(',').replace(/\s+/g, ' ').trim()));
}

export function varyNamesOf(responseHeaders: HeaderFields): string[] {
  return [...new Set(responseHeaders.tokens('vary'))].sort();
}

export function variantMatches(object: CacheObject, requestHeaders: HeaderFields): boolean {
  if (object.varyNames.length === 0) return true;
  const values = varyValues(object.varyNames, requestHeaders);
  return values.every((value, i) => value === object.varyValues[i]);
}

export interface IndexStats {
  keys: number;
  objects: number;
  hitForPass: number;
}

export class CacheIndex {
  private readonly entries = new Map<string, CacheObject[]>();
  private readonly hitForPass = new ExpiringKeyMarks();
  /** I2: surrogate key -> objects, kept in step with `entries` by insert and forgetAt. */
  private readonly surrogates = new SurrogateIndex();
  private objectCount = 0;

  constructor(
    private readonly store: RingStore,
    /** Most objects kept; past it the oldest inserted key goes (bodiless objects take no store room). */
    private readonly maxObjects = 1_000_000,
  ) {}

  stats(): IndexStats {
    return { keys: this.entries.size, objects: this.objectCount, hitForPass: this.hitForPass.size };
  }

  /**
   * I4: may a response with these Surrogate-Key fields, whose fetch started at `since`, hold what a
   * purge by key (or of everything) removed since? Then it must not be committed.
   */
  purgedSince(surrogateKeyFields: readonly string[], since: number): boolean {
    return this.surrogates.purgedSince(taggedKeys(surrogateKeyFields), since);
  }

  /** I2: surrogate keys in use, and objects tagged with one at least. */
  surrogateStats(): { surrogateKeys: number; taggedObjects: number } {
    return this.surrogates.stats();
  }

  /** The stored variant of `key` that matches the request, fresh or not. */
  lookup(key: string, requestHeaders: HeaderFields): CacheObject | undefined {
    const variants = this.entries.get(key);
    if (!variants) return undefined;
    // A loop, not find(): no closure per lookup (every hit makes one).
    for (let i = 0; i < variants.length; i++) if (variantMatches(variants[i], requestHeaders)) return variants[i];
    return undefined;
  }

  /** Any variant of `key` stored, fresh or not (K2: a miss on a key with other variants is a vary-miss). */
  hasKey(key: string): boolean {
    return this.entries.has(key);
  }

  /** R5: a complete object enters the index, replacing the variant with the same Vary values. */
  insert(object: CacheObject): void {
    if (object.dead || object.state !== 'complete') return;
    const variants = this.entries.get(object.key) ?? [];
    if (variants.includes(object)) return; // already there (a refreshed object is not re-inserted)
    const same = variants.findIndex((v) => v.varyNames.join() === object.varyNames.join() && v.varyValues.join('\0') === object.varyValues.join('\0'));
    if (same >= 0) this.forgetAt(variants, same);
    variants.push(object);
    this.objectCount++;
    this.entries.delete(object.key); // re-insert: Map order is our insertion age
    this.entries.set(object.key, variants);
    this.hitForPass.clear(object.key);
    this.surrogates.tag(object, taggedKeys(object.originHead.headers.getAll('surrogate-key')));
    object.onEvict((evicted) => this.remove(evicted));
    if (this.objectCount > this.maxObjects) this.evictOldestKey();
  }

  /** Forgets one object (evicted by the store, or found unusable). */
  remove(object: CacheObject): void {
    const variants = this.entries.get(object.key);
    const index = variants?.indexOf(object) ?? -1;
    if (!variants || index < 0) return;
    this.forgetAt(variants, index);
    if (variants.length === 0) this.entries.delete(object.key);
  }

  /**
   * C4, I1: forgets every variant of a key; `soft` (I3) marks them stale instead. Returns how many
   * objects were purged.
   */
  purge(key: string, soft = false, now = Date.now()): number {
    const variants = this.entries.get(key);
    if (!variants) return 0;
    const count = variants.length;
    if (soft) {
      for (const object of variants) object.expire(now);
      return count;
    }
    while (variants.length) this.forgetAt(variants, variants.length - 1);
    this.entries.delete(key);
    this.store.reclaimTail();
    return count;
  }

  /** I2: purges every object tagged with any of `keys`, in time proportional to those objects. */
  purgeTagged(keys: readonly string[], soft = false, now = Date.now()): number {
    this.surrogates.notePurge(keys, now);
    const objects = this.surrogates.tagged(keys);
    for (const object of objects) {
      if (soft) object.expire(now);
      else this.remove(object);
    }
    if (!soft && objects.length > 0) this.store.reclaimTail();
    return objects.length;
  }

  /** Purge-all (I1, as Fastly's): every object, soft or not; hit-for-pass marks stay (they are not content). */
  purgeAll(soft = false, now = Date.now()): number {
    this.surrogates.notePurge('all', now);
    const count = this.objectCount;
    if (soft) {
      for (const variants of this.entries.values()) for (const object of variants) object.expire(now);
      return count;
    }
    for (const variants of this.entries.values()) while (variants.length) this.forgetAt(variants, variants.length - 1);
    this.entries.clear();
    this.surrogates.clear();
    this.store.reclaimTail();
    return count;
  }

  /** R4: requests for `key` skip the wait and pass until `until` (ms since epoch). */
  markHitForPass(key: string, until: number): void {
    this.hitForPass.mark(key, until);
  }

  isHitForPass(key: string, now: number): boolean {
    return this.hitForPass.has(key, now);
  }

  private forgetAt(variants: CacheObject[], index: number): void {
    const [object] = variants.splice(index, 1);
    this.objectCount--;
    this.surrogates.untag(object);
    object.forget();
  }

  private evictOldestKey(): void {
    const oldest = this.entries.keys().next();
    if (!oldest.done) this.purge(oldest.value);
  }
}
