// What every request handler of the proxy shares: options, logger, origin pool, and the cache.
import type { Logger } from 'pino';
import type { OriginPool } from '../net/origin-pool.js';
import type { RingStore } from '../cache/store.js';
import type { CacheIndex } from '../cache/index.js';
import type { FetchRegistry } from '../stream/registry.js';
import type { CompiledRule, ProxyHooks } from './hooks.js';
import type { ResolvedOptions } from './options.js';
import type { ProxyCounters } from './stats.js';
import type { PurgeHttp } from './purge-http.js';
import type { Shield } from './shield.js';

export interface ProxyContext {
  readonly options: ResolvedOptions;
  readonly logger: Logger;
  readonly pool: OriginPool;
  readonly store: RingStore;
  readonly index: CacheIndex;
  readonly registry: FetchRegistry;
  readonly hooks: ProxyHooks;
  readonly rules: readonly CompiledRule[];
  readonly stats: ProxyCounters;
  /** I1-I5: the purge doors' shared parts (purger, access rules). */
  readonly purge: PurgeHttp;
  /** Cache fetches go through this shield node, when `--shield` is set. */
  readonly shield: Shield | null;
}
