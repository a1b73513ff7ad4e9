// In-flight fetches by cache key, apart from the index of complete objects: a request finds here
// the fetch it may attach to (R2). Several fetches of one key can run at once: an older one that
// went stale (R6) keeps serving its readers while a newer one takes the new requests, and Vary
// variants fetch side by side.
import type { HeaderFields } from '../http1/headers.js';
import type { InflightFetch } from './fetch.js';

export class FetchRegistry {
  private readonly byKey = new Map<string, InflightFetch[]>();
  private count = 0;
  /** K4: performance.now() when each fetch was registered, for its age in /stats. */
  private readonly addedAt = new WeakMap<InflightFetch, number>();

  /** The newest fetch of `key` that a request with these headers may attach to now. */
  find(key: string, requestHeaders: HeaderFields, now: number): InflightFetch | undefined {
    const fetches = this.byKey.get(key);
    if (!fetches) return undefined;
    for (let i = fetches.length - 1; i >= 0; i--) {
      if (fetches[i].canAttach(requestHeaders, now)) return fetches[i];
    }
    return undefined;
  }

  /** G1: the fetch in flight that refreshes this stored object, if any (one per object at a time). */
  refreshing(object: InflightFetch['revalidating']): InflightFetch | undefined {
    return this.byKey.get(object!.key)?.find((fetch) => fetch.revalidating === object);
  }

  add(fetch: InflightFetch): void {
    const fetches = this.byKey.get(fetch.key);
    if (fetches) fetches.push(fetch);
    else this.byKey.set(fetch.key, [fetch]);
    this.count++;
    this.addedAt.set(fetch, performance.now());
  }

  remove(fetch: InflightFetch): void {
    const fetches = this.byKey.get(fetch.key);
    const index = fetches?.indexOf(fetch) ?? -1;
    if (!fetches || index < 0) return;
    fetches.splice(index, 1);
    this.count--;
    if (fetches.length === 0) this.byKey.delete(fetch.key);
  }

  /**
   * C4, I4: every fetch of `key` in flight stops taking clients and will not be committed; `abrupt`
   * also ends its clients (O2). Returns how many fetches there were.
   */
  invalidate(key: string, abrupt = false): number {
    const fetches = [...(this.byKey.get(key) ?? [])];
    for (const fetch of fetches) fetch.invalidate(abrupt);
    return fetches.length;
  }

  /** I4 for purges by surrogate key and purge-all: every fetch that `matches`. */
  invalidateWhere(matches: (fetch: InflightFetch) => boolean, abrupt = false): number {
    const found = [...this.all()].filter(matches);
    for (const fetch of found) fetch.invalidate(abrupt);
    return found.length;
  }

  /** K4: milliseconds since `fetch` was registered. */
  ageMs(fetch: InflightFetch, now = performance.now()): number {
    return now - (this.addedAt.get(fetch) ?? now);
  }

  get size(): number {
    return this.count;
  }

  *all(): IterableIterator<InflightFetch> {
    for (const fetches of this.byKey.values()) yield* fetches;
  }
}
