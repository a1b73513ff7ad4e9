// First-class shielding: with `--shield URL`, a cache fetch (a miss, a revalidation) goes to a
// shield node, another streamcache, so that the misses of every edge collapse there once more.
// When the shield cannot be reached (connect failure or connect timeout) the fetch goes to the
// origin directly, logged and counted. A request that came from another tier is never shielded
// again: the shield of a shield would be a loop. Passes go to the origin: nothing to collapse.
import type { Logger } from 'pino';
import type { RequestHead } from '../http1/message.js';
import type { OriginResponseHandler } from '../net/origin-connection.js';
import type { OriginPool, OriginRequest } from '../net/origin-pool.js';
import { isFromTier } from './tier.js';
import type { ProxyContext } from './context.js';

/** A cache fetch (a miss, a revalidation, a segment) goes upstream: through the shield when there is one. */
export function cacheFetchRequest(ctx: ProxyContext, request: RequestHead, head: string, handler: OriginResponseHandler): OriginRequest {
  if (ctx.shield) return ctx.shield.request(ctx.pool, request, ctx.options.viaName, head, handler);
  return ctx.pool.request(head, { expectNoBody: false, hasBody: false }, handler);
}

export class Shield {
  fallbacks = 0;

  constructor(
    readonly pool: OriginPool,
    private readonly url: URL,
    private readonly logger: Logger,
  ) {}

  /** Sends a cache fetch upstream: to the shield, or to `origin` for a tier's request or a shield that is down. */
  request(origin: OriginPool, request: RequestHead, viaName: string, head: string, handler: OriginResponseHandler): OriginRequest {
    const options = { expectNoBody: false, hasBody: false };
    if (isFromTier(request, viaName)) return origin.request(head, options, handler);
    return this.pool.request(head, {
      ...options,
      fallback: {
        pool: origin,
        onFallback: (error) => {
          this.fallbacks++;
          this.logger.warn({ shield: this.url.origin, err: error.message, kind: error.kind, path: request.target }, 'shield unreachable: miss sent to the origin');
        },
      },
    }, handler);
  }
}
