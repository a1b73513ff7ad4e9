// streamcache: an HTTP/1.x caching reverse proxy core. The embedding API.
export { createProxy, type Proxy, type CreateProxyOptions } from './proxy/proxy.js';
export { DEFAULTS, OptionError, parseSize, resolveOptions, type ProxyOptions, type ResolvedOptions, type LogLevel } from './proxy/options.js';
export type { CacheState } from './proxy/access-log.js';
// Hooks, rules and reload (issue 13): everything an embedder's code names in its own types.
export type { ProxyHooks, RecvContext, FetchContext, DeliverContext, CacheRule } from './proxy/hooks.js';
export type { ReloadOptions, ReloadResult } from './proxy/proxy.js';
export { RESTART_ONLY, type RestartOnlyKey } from './proxy/reload.js';
export type { Size } from './proxy/options.js';
export { PurgeError, type PurgeRequest } from './proxy/purge.js';
