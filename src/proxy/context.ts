// What every request handler of the proxy shares: the resolved options, the logger, the origin pool.
import type { Logger } from 'pino';
import type { OriginPool } from '../net/origin-pool.js';
import type { ResolvedOptions } from './options.js';

export interface ProxyContext {
  readonly options: ResolvedOptions;
  readonly logger: Logger;
  readonly pool: OriginPool;
}
