// The decision for each request (vcl_recv): unsafe methods and request bodies pass (C4); the recv
// hook and config rules may change the key or force a pass; everything else goes to the cache:
// hit, attach to an in-flight fetch, or miss (src/proxy/cache-flow.ts).
import type { ClientExchange } from '../net/client-exchange.js';
import { isSafeMethod } from '../http1/semantics.js';
import { simpleResponse } from '../http1/serializer.js';
import { cacheKey } from '../cache/index.js';
import { recordResponse } from './access-log.js';
import type { ProxyContext } from './context.js';
import { applyRecvRules, type RecvContext } from './hooks.js';
import { validateRequest } from './origin-request.js';
import { passToOrigin } from './pass.js';
import { serveFromCache } from './cache-flow.js';

export function handleExchange(ctx: ProxyContext, exchange: ClientExchange): void {
  const { request } = exchange;
  const target = validateRequest(request);
  if (typeof target === 'string') return rejectRequest(ctx, exchange, 400, target);
  const key = cacheKey(request, target.path, target.authority);
  if (!isSafeMethod(request.method) || exchange.hasBody) {
    // C4: streamed both ways, never collapsed; a successful unsafe request invalidates its URL.
    const invalidate = (status: number) => {
      if (status >= 400) return;
      ctx.index.purge(key);
      ctx.registry.invalidate(key);
    };
    return passToOrigin(ctx, exchange, target, isSafeMethod(request.method) ? undefined : invalidate);
  }
  // Credentials make a response personal: such requests pass without marking the URL for anyone
  // else (as Varnish's builtin vcl_recv does), unless a rule or hook decides otherwise.
  const recv: RecvContext = { request, path: target.path, key, pass: request.headers.has('authorization') };
  applyRecvRules(ctx.rules, recv);
  ctx.hooks.recv?.(recv);
  if (recv.pass) return passToOrigin(ctx, exchange, target);
  serveFromCache(ctx, exchange, target, recv.key);
}

function rejectRequest(ctx: ProxyContext, exchange: ClientExchange, status: number, reason: string): void {
  ctx.logger.warn({ status, reason, client: exchange.clientAddress, path: exchange.request.target }, 'request rejected');
  ctx.stats.responses.PASS++; // K4: the proxy's own answer counts as a pass, as in the access log
  const firstByteAt = performance.now();
  // The request may have a body we will not read: the connection cannot be reused.
  exchange.write(simpleResponse(status, `${reason}\n`, { close: true, head: exchange.request.method === 'HEAD' }));
  exchange.endAndClose();
  recordResponse(ctx, { exchange, status, cache: 'PASS', firstByteAt, error: reason });
}
