// What every request handler of the proxy shares: options, logger, origin pool, and the cache.
import type { Logger } from 'pino';
import type { OriginPool } from '../net/origin-pool.js';
import type { RingStore } from '../cache/store.js';
import type { CacheIndex } from '../cache/index.js';
import type { FetchRegistry } from '../stream/registry.js';
import type { SegmentFiles } from '../cache/segment-files.js';
import type { ClientExchange } from '../net/client-exchange.js';
import type { ReaderHooks } from '../stream/reader.js';
import type { EsiAssembler } from '../stream/transform.js';
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
  /** Replaced by a reload (K1): read at each use, never kept past one request or fetch. */
  hooks: ProxyHooks;
  /** Replaced by a reload (K1), like hooks. */
  rules: readonly CompiledRule[];
  readonly stats: ProxyCounters;
  /** B4: the identity of each segmented file, and the URLs not served as segments. */
  readonly segments: SegmentFiles;
  /** Runs one exchange through the pipeline (src/proxy/pipeline.ts): injected so that what re-enters it (a released reader, an ESI include) does not import it. */
  readonly dispatch: (exchange: ClientExchange) => void;
  /** T2: assembles an ESI page for one reader; one for the proxy, shared by every reader. */
  readonly esi: EsiAssembler;
  /** The hooks of a reader with no fetch (a hit): one object for the proxy, no closure per reader. */
  readonly hitReaderHooks: ReaderHooks;
  /** I1-I5: the purge doors' shared parts (purger, access rules). */
  readonly purge: PurgeHttp;
  /** Cache fetches go through this shield node, when `--shield` is set. */
  readonly shield: Shield | null;
}
