// What embedders (hooks) and CLI users (config rules) can change about a request's handling:
// recv (key, pass), fetch (ttl, doStream, cacheable) and deliver (client headers).
import type { HeaderFields } from '../http1/headers.js';
import type { RequestHead } from '../http1/message.js';

/** vcl_recv: before the cache is consulted. Change `key`, or set `pass` to skip the cache. */
export interface RecvContext {
  readonly request: RequestHead;
  /** The path and query the request is for. */
  readonly path: string;
  key: string;
  pass: boolean;
}

/** vcl_fetch: after the origin's head arrived. Set `ttl` (seconds), `doStream`, `cacheable`. */
export interface FetchContext {
  readonly request: RequestHead;
  readonly path: string;
  readonly response: { readonly status: number; readonly headers: HeaderFields };
  ttl: number;
  doStream: boolean;
  cacheable: boolean;
}

/** vcl_deliver: edit the head one client is about to get. */
export interface DeliverContext {
  readonly request: RequestHead;
  status: number;
  readonly headers: HeaderFields;
}

export interface ProxyHooks {
  recv?(ctx: RecvContext): void;
  fetch?(ctx: FetchContext): void;
  deliver?(ctx: DeliverContext): void;
}

/**
 * A config rule: for requests whose path matches `path`, set the same fields the hooks can.
 * `path` is a glob (`*` any run of characters, `?` one) matched against path and query, or a
 * regular expression written `/.../`.
 */
export interface CacheRule {
  path: string;
  pass?: boolean;
  ttl?: number;
  doStream?: boolean;
  cacheable?: boolean;
}

export interface CompiledRule extends CacheRule {
  matches(path: string): boolean;
}

export function compileRules(rules: readonly CacheRule[]): CompiledRule[] {
  return rules.map((rule) => {
    const pattern = /^\/(.*)\/([a-z]*)$/.exec(rule.path);
    const regex = pattern
      ? new RegExp(pattern[1], pattern[2])
      : new RegExp(`^${rule.path.replace(/[.+^${}()|[\]\\]/g, '\\$&').replace(/\*/g, '.*').replace(/\?/g, '.')}$`);
    return { ...rule, matches: (path: string) => regex.test(path) };
  });
}

/** Applies every matching rule in order (a later match overrides an earlier one) at recv. */
export function applyRecvRules(rules: readonly CompiledRule[], ctx: RecvContext): void {
  for (const rule of rules) if (rule.pass !== undefined && rule.matches(ctx.path)) ctx.pass = rule.pass;
}

/** The same, at fetch. */
export function applyFetchRules(rules: readonly CompiledRule[], ctx: FetchContext): void {
  for (const rule of rules) {
    if (!rule.matches(ctx.path)) continue;
    if (rule.ttl !== undefined) ctx.ttl = rule.ttl;
    if (rule.doStream !== undefined) ctx.doStream = rule.doStream;
    if (rule.cacheable !== undefined) ctx.cacheable = rule.cacheable;
  }
}
