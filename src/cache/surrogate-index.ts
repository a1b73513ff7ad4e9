// Surrogate keys (I2): the origin tags a response with `Surrogate-Key: a b c`; a purge by key
// removes every object tagged with it. A map key -> objects kept beside the index, so that a purge
// costs the objects it tags, never a walk over the cache; each object remembers its own keys so
// that forgetting it (eviction, replacement, purge) untags it in time proportional to its keys.
import type { CacheObject } from './object.js';

/** Longest key we index or accept in a purge (Fastly's limit): a longer one is ignored or refused. */
export const MAX_SURROGATE_KEY_BYTES = 1024;
/** Most bytes of Surrogate-Key we read from one response (Fastly's limit); the rest is not indexed. */
export const MAX_SURROGATE_HEADER_BYTES = 16 * 1024;
/** Most keys one purge may name. */
export const MAX_PURGE_KEYS = 256;
/**
 * How long a key's purge time is remembered (I4): a fetch whose head arrives later than this after
 * a purge of one of its keys is not caught (far beyond the first-byte timeout, 15 s by default).
 */
export const PURGE_MEMORY_MS = 5 * 60_000;
/** Most purged keys remembered; past it the oldest are forgotten first. */
export const PURGE_MEMORY_KEYS = 100_000;

/**
 * The keys an origin response is tagged with: space-separated tokens of every Surrogate-Key
 * field, duplicates once, keys longer than MAX_SURROGATE_KEY_BYTES left out, nothing past
 * MAX_SURROGATE_HEADER_BYTES read. Never throws: a bad tag must not fail a response.
 */
export function taggedKeys(values: readonly string[]): string[] {
  if (values.length === 0) return [];
  const joined = values.join(' ');
  const text = joined.length > MAX_SURROGATE_HEADER_BYTES ? joined.slice(0, joined.lastIndexOf(' ', MAX_SURROGATE_HEADER_BYTES) + 1) : joined;
  const keys = new Set<string>();
  for (const key of text.split(/[ \t]+/)) if (key && Buffer.byteLength(key) <= MAX_SURROGATE_KEY_BYTES) keys.add(key);
  return [...keys];
}

/** The keys a purge names (a PURGE's Surrogate-Key field, an admin path): the reason when they cannot be used. */
export function purgeKeys(text: string): string[] | string {
  const keys = [...new Set(text.split(/[ \t]+/).filter(Boolean))];
  if (keys.length === 0) return 'empty Surrogate-Key list';
  if (keys.length > MAX_PURGE_KEYS) return `too many surrogate keys (${keys.length}, at most ${MAX_PURGE_KEYS})`;
  if (keys.some((key) => Buffer.byteLength(key) > MAX_SURROGATE_KEY_BYTES)) return `a surrogate key is longer than ${MAX_SURROGATE_KEY_BYTES} bytes`;
  return keys;
}

/**
 * A key's objects: the object itself while it is the only one (a key per product, per page: the
 * common case, and no Set to allocate for it), a Set from the second on.
 */
type Tagged = CacheObject | Set<CacheObject>;

export class SurrogateIndex {
  private readonly byKey = new Map<string, Tagged>();
  private readonly keysOf = new Map<CacheObject, readonly string[]>();
  /** When each key was last purged (ms since epoch), oldest first: for fetches whose head was not in yet (I4). */
  private readonly purgedAt = new Map<string, number>();
  private allPurgedAt = -Infinity;

  /** Remembers that `keys` (or, without keys, everything) were purged at `now`. */
  notePurge(keys: readonly string[] | 'all', now: number): void {
    if (keys === 'all') {
      this.allPurgedAt = now;
      this.purgedAt.clear();
      return;
    }
    for (const key of keys) {
      this.purgedAt.delete(key); // re-insert: Map order is purge order
      this.purgedAt.set(key, now);
    }
    for (const [key, at] of this.purgedAt) {
      if (at > now - PURGE_MEMORY_MS && this.purgedAt.size <= PURGE_MEMORY_KEYS) break;
      this.purgedAt.delete(key);
    }
  }

  /** I4: was any of `keys` (or everything) purged at or after `since`? Then a fetch started then may hold what was purged. */
  purgedSince(keys: readonly string[], since: number): boolean {
    if (this.allPurgedAt >= since) return true;
    for (const key of keys) {
      const at = this.purgedAt.get(key);
      if (at !== undefined && at >= since) return true;
    }
    return false;
  }

  /** Tags `object` with `keys` (an object is tagged once, when it enters the index). */
  tag(object: CacheObject, keys: readonly string[]): void {
    if (keys.length === 0 || this.keysOf.has(object)) return;
    this.keysOf.set(object, keys);
    for (const key of keys) {
      const objects = this.byKey.get(key);
      if (objects === undefined) this.byKey.set(key, object);
      else if (objects instanceof Set) objects.add(object);
      else if (objects !== object) this.byKey.set(key, new Set([objects, object]));
    }
  }

  untag(object: CacheObject): void {
    const keys = this.keysOf.get(object);
    if (!keys) return;
    this.keysOf.delete(object);
    for (const key of keys) {
      const objects = this.byKey.get(key);
      if (objects === object) {
        this.byKey.delete(key);
      } else if (objects instanceof Set) {
        objects.delete(object);
        if (objects.size === 0) this.byKey.delete(key);
      }
    }
  }

  /** Every object tagged with any of `keys`, each once (a copy: the caller may untag while it walks). */
  tagged(keys: readonly string[]): CacheObject[] {
    if (keys.length === 1) return objectsOf(this.byKey.get(keys[0]));
    const found = new Set<CacheObject>();
    for (const key of keys) for (const object of objectsOf(this.byKey.get(key))) found.add(object);
    return [...found];
  }

  /** Keys in use and objects tagged, for stats. */
  stats(): { surrogateKeys: number; taggedObjects: number } {
    return { surrogateKeys: this.byKey.size, taggedObjects: this.keysOf.size };
  }

  clear(): void {
    this.byKey.clear();
    this.keysOf.clear();
  }
}

function objectsOf(tagged: Tagged | undefined): CacheObject[] {
  if (tagged === undefined) return [];
  return tagged instanceof Set ? [...tagged] : [tagged];
}
