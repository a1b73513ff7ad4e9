// streamcache: an HTTP/1.x caching reverse proxy core. The embedding API.
export { createProxy, type Proxy, type CreateProxyOptions } from './proxy/proxy.js';
export { DEFAULTS, OptionError, parseSize, resolveOptions, type ProxyOptions, type ResolvedOptions, type LogLevel } from './proxy/options.js';
export type { CacheState } from './proxy/access-log.js';
export { PurgeError, type PurgeRequest } from './proxy/purge.js';
