// Property (SPEC I2, I3; DESIGN "Purge is an index operation"): the surrogate-key map beside the
// index stays consistent with it whatever happens to the objects. Random sequences of inserts
// (new keys, and replacements of a variant), evictions by the store, removals, purges by URL, by
// surrogate key and of everything, soft or not, run against a real CacheIndex and a plain model
// (cache key -> the objects stored, each with its tags). After every command:
//   - a purge by keys returns exactly the number of stored objects the model tags with any of them;
//   - a hard purge removes exactly those objects, a soft one keeps them all and makes them stale;
//   - stats() agrees: objects, tagged objects, surrogate keys in use;
//   - no forgotten object (evicted, replaced, purged) is still reachable by a key purge.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { HeaderFields } from '../../src/http1/headers.js';
import { CacheIndex } from '../../src/cache/index.js';
import { CacheObject } from '../../src/cache/object.js';
import { RingStore } from '../../src/cache/store.js';
import { MAX_SURROGATE_KEY_BYTES, PURGE_MEMORY_KEYS, PURGE_MEMORY_MS, SurrogateIndex, purgeKeys, taggedKeys } from '../../src/cache/surrogate-index.js';
import { fcOptions } from '../support/fc.js';

const NOW = Date.parse('2024-05-01T12:00:00Z');
const TAGS = ['a', 'b', 'c', 'd'];
const URLS = ['h/1', 'h/2', 'h/3'];
const LANGS = ['en', 'fr'];

function object(key: string, lang: string, tags: string[]): CacheObject {
  const origin = HeaderFields.from([['Vary', 'Accept-Language'], ...(tags.length ? [['Surrogate-Key', tags.join(' ')] as [string, string]] : [])]);
  const head = { status: 200, reason: 'OK', headers: HeaderFields.from([['Vary', 'Accept-Language']]) };
  const o = new CacheObject(key, { ...head, headers: origin, version: { major: 1, minor: 1 } }, head, { storable: true, ttl: 60, mustRevalidate: false, source: 'test' }, NOW, 0, 0);
  o.varyNames = ['accept-language'];
  o.varyValues = [lang];
  o.markComplete();
  return o;
}

type Command =
  | { op: 'insert'; url: string; lang: string; tags: string[] }
  | { op: 'evict' | 'remove'; pick: number }
  | { op: 'purgeUrl'; url: string; soft: boolean }
  | { op: 'purgeKeys'; keys: string[]; soft: boolean }
  | { op: 'purgeAll'; soft: boolean };

const command: fc.Arbitrary<Command> = fc.oneof(
  { weight: 5, arbitrary: fc.record({ op: fc.constant('insert' as const), url: fc.constantFrom(...URLS), lang: fc.constantFrom(...LANGS), tags: fc.subarray(TAGS) }) },
  fc.record({ op: fc.constantFrom('evict' as const, 'remove' as const), pick: fc.nat() }),
  fc.record({ op: fc.constant('purgeUrl' as const), url: fc.constantFrom(...URLS), soft: fc.boolean() }),
  { weight: 2, arbitrary: fc.record({ op: fc.constant('purgeKeys' as const), keys: fc.subarray(TAGS, { minLength: 1 }), soft: fc.boolean() }) },
  fc.record({ op: fc.constant('purgeAll' as const), soft: fc.boolean() }),
);

describe('I2: the surrogate-key index follows the cache index', () => {
  it('I2 I3: purge counts, removals, staleness and stats agree with a model after any sequence', () => {
    fc.assert(
      fc.property(fc.array(command, { maxLength: 40 }), (commands) => {
        const index = new CacheIndex(new RingStore(64 * 1024, 16 * 1024));
        /** The model: every object stored, with its tags. */
        const stored = new Map<CacheObject, string[]>();
        const forgotten: CacheObject[] = [];
        const forget = (o: CacheObject) => {
          stored.delete(o);
          forgotten.push(o);
        };
        const taggedWith = (keys: string[]) => [...stored].filter(([, tags]) => tags.some((t) => keys.includes(t))).map(([o]) => o);
        for (const c of commands) {
          const all = [...stored.keys()];
          switch (c.op) {
            case 'insert': {
              const o = object(c.url, c.lang, c.tags);
              for (const old of all) if (old.key === c.url && old.varyValues[0] === c.lang) forget(old);
              index.insert(o);
              stored.set(o, c.tags);
              break;
            }
            case 'evict':
            case 'remove': {
              if (all.length === 0) break;
              const o = all[c.pick % all.length];
              if (c.op === 'evict') o.onEvicted();
              else index.remove(o);
              forget(o);
              break;
            }
            case 'purgeUrl': {
              const matching = all.filter((o) => o.key === c.url);
              expect(index.purge(c.url, c.soft, NOW + 1_000)).toBe(matching.length);
              if (c.soft) for (const o of matching) expect(o.isFresh(NOW + 1_000)).toBe(false);
              else matching.forEach(forget);
              break;
            }
            case 'purgeKeys': {
              const matching = taggedWith(c.keys);
              expect(index.purgeTagged(c.keys, c.soft, NOW + 1_000)).toBe(matching.length);
              if (c.soft) for (const o of matching) expect(o.isFresh(NOW + 1_000)).toBe(false);
              else matching.forEach(forget);
              break;
            }
            case 'purgeAll': {
              expect(index.purgeAll(c.soft, NOW + 1_000)).toBe(all.length);
              if (!c.soft) all.forEach(forget);
              break;
            }
          }
          const stats = { ...index.stats(), ...index.surrogateStats() };
          expect(stats.objects).toBe(stored.size);
          expect(stats.taggedObjects).toBe([...stored.values()].filter((tags) => tags.length > 0).length);
          expect(stats.surrogateKeys).toBe(new Set([...stored.values()].flat()).size);
          for (const o of forgotten) expect(o.dead).toBe(true);
        }
        // Nothing forgotten comes back through a key purge: it counts the stored ones only.
        expect(index.purgeTagged(TAGS)).toBe(taggedWith(TAGS).length);
        expect(index.surrogateStats()).toEqual({ taggedObjects: 0, surrogateKeys: 0 });
      }),
      fcOptions(300),
    );
  });
});

describe('I2: reading Surrogate-Key lists', () => {
  it('I2 taggedKeys: space-separated, duplicates once, over-long keys and bytes past 16 KiB left out', () => {
    expect(taggedKeys(['a  b', 'b\tc'])).toEqual(['a', 'b', 'c']);
    expect(taggedKeys([`ok ${'x'.repeat(MAX_SURROGATE_KEY_BYTES + 1)} fine`])).toEqual(['ok', 'fine']);
    const many = Array.from({ length: 3000 }, (_, i) => `key${i}`).join(' ');
    const keys = taggedKeys([many]);
    expect(keys.join(' ').length).toBeLessThanOrEqual(16 * 1024);
    expect(keys[keys.length - 1]).toMatch(/^key\d+$/);
    expect(many.startsWith(keys.join(' '))).toBe(true);
  });

  it('I2 purgeKeys: an empty list, too many keys or an over-long key is refused with the reason', () => {
    expect(purgeKeys(' a b a ')).toEqual(['a', 'b']);
    expect(purgeKeys(' \t ')).toBe('empty Surrogate-Key list');
    expect(purgeKeys(Array.from({ length: 257 }, (_, i) => `k${i}`).join(' '))).toBe('too many surrogate keys (257, at most 256)');
    expect(purgeKeys('é'.repeat(513))).toBe('a surrogate key is longer than 1024 bytes');
  });
});

describe('I4: purge times, for fetches whose head was not in yet', () => {
  it('I4 purgedSince: a key purged at or after the fetch started; purge-all covers every key; old and excess entries are forgotten', () => {
    const index = new SurrogateIndex();
    index.notePurge(['a', 'b'], NOW);
    expect(index.purgedSince(['x', 'a'], NOW)).toBe(true);
    expect(index.purgedSince(['a'], NOW - 5)).toBe(true);
    expect(index.purgedSince(['a'], NOW + 1)).toBe(false);
    expect(index.purgedSince(['c'], 0)).toBe(false);
    expect(index.purgedSince([], 0)).toBe(false);
    // A later purge of one key leaves the other's memory; past PURGE_MEMORY_MS the old one goes.
    index.notePurge(['c'], NOW + PURGE_MEMORY_MS + 1);
    expect(index.purgedSince(['a'], 0)).toBe(false);
    expect(index.purgedSince(['c'], NOW + PURGE_MEMORY_MS)).toBe(true);
    index.notePurge('all', NOW + PURGE_MEMORY_MS + 2);
    expect(index.purgedSince(['never-tagged'], NOW + PURGE_MEMORY_MS + 2)).toBe(true);
    expect(index.purgedSince(['never-tagged'], NOW + PURGE_MEMORY_MS + 3)).toBe(false);
    // At most PURGE_MEMORY_KEYS keys: the oldest are forgotten first.
    const many = new SurrogateIndex();
    const keys = Array.from({ length: PURGE_MEMORY_KEYS + 10 }, (_, i) => `k${i}`);
    for (let i = 0; i < keys.length; i += 1000) many.notePurge(keys.slice(i, i + 1000), NOW);
    expect(many.purgedSince(['k0'], NOW)).toBe(false);
    expect(many.purgedSince([keys[keys.length - 1]], NOW)).toBe(true);
  });
});
