// What every request handler of the proxy shares: options, logger, origin pool, and the cache.
import type { Logger } from 'pino';
import type { OriginPool } from '../net/origin-pool.js';
import type { RingStore } from '../cache/store.js';
import type { CacheIndex } from '../cache/index.js';
import type { FetchRegistry } from '../stream/registry.js';
import type { CompiledRule, ProxyHooks } from './hooks.js';
import type { ResolvedOptions } from './options.js';
import type { ProxyCounters } from './stats.js';

export interface ProxyContext {
  readonly options: ResolvedOptions;
  readonly logger: Logger;
  readonly pool: OriginPool;
  readonly store: RingStore;
  readonly index: CacheIndex;
  readonly registry: FetchRegistry;
  /** Replaced by a reload (K1): read at each use, never kept past one request or fetch. */
  hooks: ProxyHooks;
  /** Replaced by a reload (K1), like hooks. */
  rules: readonly CompiledRule[];
  readonly stats: ProxyCounters;
}
