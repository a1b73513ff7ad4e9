// How a response was served: the access log's `cache` field and the stats' response counters.

/**
 * HIT: from a stored object. MISS: this client's request started the fetch. COLLAPSED: attached to
 * a fetch already in flight (R2). PASS: relayed for this client alone, never stored.
 */
export type CacheState = 'HIT' | 'MISS' | 'PASS' | 'COLLAPSED';
export const CACHE_STATES: readonly CacheState[] = ['HIT', 'MISS', 'COLLAPSED', 'PASS'];
