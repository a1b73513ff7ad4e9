// The decision at the origin's head (vcl_fetch): the edge policy of C2, then config rules, then the
// embedder's fetch hook; from them, whether the response is shared, stored, streamed (V1).
import type { HeaderFields } from '../http1/headers.js';
import type { BodyFraming, RequestHead, ResponseHead } from '../http1/message.js';
import { appendVia, withoutHopByHop } from '../http1/semantics.js';
import { reasonPhrase } from '../http1/serializer.js';
import { edgePolicy, type EdgePolicy } from '../cache/freshness.js';
import { NO_STALE, overrideWindows, staleWindows, type StaleSettings } from '../cache/stale.js';
import type { NoCacheReason } from '../stream/reasons.js';
import type { ObjectHead } from '../cache/object.js';
import type { HeadDecision } from '../stream/fetch.js';
import { applyFetchRules, type CompiledRule, type FetchContext, type ProxyHooks } from './hooks.js';
import { planTransform } from './transform-policy.js';
import { isEsiFragmentRequest } from './esi/fragment.js';

export interface PolicySettings {
  defaultTtl: number;
  stream: boolean;
  viaName: string;
  rules: readonly CompiledRule[];
  hooks: ProxyHooks;
  /** G1, G2: the configured windows (`--grace`, `--stale-if-error`); none when unset. */
  stale?: StaleSettings;
}

/**
 * Fields an object's client head never has: framing is per client, Age is recomputed,
 * Surrogate-Control and Surrogate-Key are for us (C2, I2); a tier of ours gets those two from the
 * origin's head, kept with the object (CacheObject.surrogateLines).
 */
const NOT_STORED = new Set(['content-length', 'age', 'surrogate-control', 'surrogate-key']);

const NO_STALE_SETTINGS: StaleSettings = { grace: 0, staleIfError: 0 };

export function clientHeadOf(head: ResponseHead, viaName: string): ObjectHead {
  const headers: HeaderFields = withoutHopByHop(head.headers, NOT_STORED);
  appendVia(headers, head.version, viaName);
  return { status: head.status, reason: head.reason || reasonPhrase(head.status), headers };
}

/** Why a response is not stored, or stored but not shared (undefined when it is both). */
function noCacheReason(storableByOrigin: boolean, cacheable: boolean, store: boolean, share: boolean, policy: EdgePolicy): NoCacheReason | undefined {
  if (!cacheable) return storableByOrigin ? { kind: 'uncacheable-by-rule', message: 'cacheable false by a rule or the fetch hook' } : { kind: 'not-storable', message: policy.source };
  if (store && share) return undefined;
  if (policy.mustRevalidate) return { kind: 'must-revalidate', message: policy.source };
  return { kind: 'no-ttl', message: policy.source };
}

export function decideAtHead(settings: PolicySettings, request: RequestHead, path: string, head: ResponseHead, now: number, framing: BodyFraming): HeadDecision {
  const policy = edgePolicy({ status: head.status, responseHeaders: head.headers, requestHeaders: request.headers, now, defaultTtl: settings.defaultTtl });
  const windows = staleWindows(head.headers, settings.stale ?? NO_STALE_SETTINGS);
  const ctx: FetchContext = {
    request,
    path,
    response: { status: head.status, headers: head.headers },
    ttl: policy.ttl,
    doStream: settings.stream,
    cacheable: policy.storable,
    grace: windows.whileRevalidate,
    staleIfError: windows.ifError,
  };
  applyFetchRules(settings.rules, ctx);
  settings.hooks.fetch?.(ctx);
  // G1-G3: a rule's or hook's windows replace the others, unless G3 forbids.
  const changed = ctx.grace !== windows.whileRevalidate || ctx.staleIfError !== windows.ifError;
  const stale = changed ? overrideWindows(windows, ctx.grace ?? 0, ctx.staleIfError ?? 0) : windows;
  // A TTL set by a rule or hook is explicit freshness: it overrides no-cache's revalidate-always.
  const ttlOverridden = ctx.ttl !== policy.ttl;
  const effective = ttlOverridden ? { ...policy, ttl: Math.max(0, ctx.ttl), mustRevalidate: false, source: 'rule or hook' } : policy;
  // A response that is stale at once (max-age=0) but may be served stale is worth storing (G1, G2).
  const servableStale = stale.whileRevalidate > 0 || stale.ifError > 0;
  const store = ctx.cacheable && (effective.ttl > 0 || effective.mustRevalidate || servableStale);
  const share = store && effective.ttl > 0 && !effective.mustRevalidate;
  // V1: an HTTP/1.0 request that triggers a fetch without Content-Length turns streaming off.
  const v1 = request.version.minor === 0 && framing.kind !== 'length';
  // T1, T2: compression and ESI turn streaming off, and so does being fetched for an ESI include.
  // They apply to every response fetched through the cache, stored or not; a request passed at
  // recv (Authorization, a pass rule, an unsafe method) is relayed as the origin sent it.
  const transform = planTransform(ctx.compress, ctx.esi, head);
  const t2 = isEsiFragmentRequest(request);
  return {
    policy: effective,
    stale: store ? stale : NO_STALE,
    share,
    store,
    stream: ctx.doStream && !v1 && !transform && !t2,
    // A transformed response that is not stored still goes through a fetch each time (to be transformed).
    hitForPass: !store && !transform,
    clientHead: clientHeadOf(head, settings.viaName),
    transform,
    noCache: noCacheReason(policy.storable, ctx.cacheable, store, share, effective),
  };
}
