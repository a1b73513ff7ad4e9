// What embedders (hooks) and CLI users (config rules) can change about a request's handling:
// recv (key, pass), fetch (ttl, doStream, cacheable, compress, esi) and deliver (client headers).
import type { HeaderFields } from '../http1/headers.js';
import type { RequestHead } from '../http1/message.js';
import type { ContentCoding } from '../http1/accept-encoding.js';

/** vcl_recv: before the cache is consulted. Change `key`, or set `pass` to skip the cache. */
export interface RecvContext {
  readonly request: RequestHead;
  /** The path and query the request is for. */
  readonly path: string;
  key: string;
  pass: boolean;
  /** B4: serve this request from segments of this many bytes; 0: not segmented. */
  segmentSize?: number;
}

/** vcl_fetch: after the origin's head arrived. Set `ttl` (seconds), `doStream`, `cacheable`, `compress`, `esi`. */
export interface FetchContext {
  readonly request: RequestHead;
  readonly path: string;
  readonly response: { readonly status: number; readonly headers: HeaderFields };
  ttl: number;
  doStream: boolean;
  cacheable: boolean;
  /** T1: compress a response the origin sent without a content coding (beresp.gzip); streaming goes off. */
  compress?: ContentCoding;
  /** T2: process ESI in the response (beresp.do_esi); streaming goes off for it and its fragments. */
  esi?: boolean;
  /** G1: seconds past expiry the object is served while revalidated (beresp.grace); preset from the headers and --grace. G3 still holds. */
  grace?: number;
  /** G2: seconds past expiry the object is served when its refresh fails; preset from the headers and --stale-if-error. G3 still holds. */
  staleIfError?: number;
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
 * A config rule: for requests whose path (and query) matches, set the same fields the hooks can.
 * Give either `path`, a glob (`*` any run of characters, `?` one character, everything else
 * literal), or `regex`, a regular expression (JavaScript syntax, unanchored unless you anchor it).
 */
export interface CacheRule {
  path?: string;
  regex?: string;
  pass?: boolean;
  ttl?: number;
  doStream?: boolean;
  cacheable?: boolean;
  compress?: ContentCoding;
  esi?: boolean;
  /** G1: the stale-while-revalidate window for matching responses, seconds. */
  grace?: number;
  /** G2: the stale-if-error window for matching responses, seconds. */
  staleIfError?: number;
  /** B4: segment size in bytes for matching requests (0: not segmented), overriding --segment-size. */
  segmentSize?: number;
}

export interface CompiledRule extends CacheRule {
  matches(path: string): boolean;
}

function globToRegExp(glob: string): RegExp {
  const escaped = glob.replace(/[.+^${}()|[\]\\/]/g, '\\$&').replace(/\*/g, '.*').replace(/\?/g, '.');
  return new RegExp(`^${escaped}$`);
}

export function compileRules(rules: readonly CacheRule[]): CompiledRule[] {
  return rules.map((rule) => {
    // No flags: in particular never `g`, whose lastIndex would make test() stateful.
    const regex = rule.regex !== undefined ? new RegExp(rule.regex) : globToRegExp(rule.path ?? '*');
    return { ...rule, matches: (path: string) => regex.test(path) };
  });
}

/** Applies every matching rule in order (a later match overrides an earlier one) at recv. */
export function applyRecvRules(rules: readonly CompiledRule[], ctx: RecvContext): void {
  for (const rule of rules) if (rule.pass !== undefined && rule.matches(ctx.path)) ctx.pass = rule.pass;
  // B4: the segment size is decided before the fetch, since the origin request depends on it.
  for (const rule of rules) if (rule.segmentSize !== undefined && rule.matches(ctx.path)) ctx.segmentSize = rule.segmentSize;
}

/** The same, at fetch. */
export function applyFetchRules(rules: readonly CompiledRule[], ctx: FetchContext): void {
  for (const rule of rules) {
    if (!rule.matches(ctx.path)) continue;
    if (rule.ttl !== undefined) ctx.ttl = rule.ttl;
    if (rule.doStream !== undefined) ctx.doStream = rule.doStream;
    if (rule.cacheable !== undefined) ctx.cacheable = rule.cacheable;
    if (rule.compress !== undefined) ctx.compress = rule.compress;
    if (rule.esi !== undefined) ctx.esi = rule.esi;
    if (rule.grace !== undefined) ctx.grace = rule.grace;
    if (rule.staleIfError !== undefined) ctx.staleIfError = rule.staleIfError;
  }
}
