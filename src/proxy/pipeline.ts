// The decision for each request (vcl_recv): unsafe methods and request bodies pass (C4); the recv
// hook and config rules may change the key or force a pass; everything else goes to the cache:
// hit, attach to an in-flight fetch, or miss (src/proxy/cache-flow.ts).
import type { ClientExchange } from '../net/client-exchange.js';
import { isSafeMethod } from '../http1/semantics.js';
import { writerFor } from '../stream/client-writer.js';
import { PASS_REASONS } from '../stream/reasons.js';
import { cacheKey } from '../cache/index.js';
import { recordResponse } from './access-log.js';
import type { ProxyContext } from './context.js';
import { applyRecvRules, type RecvContext } from './hooks.js';
import { validateRequest } from './origin-request.js';
import { passToOrigin } from './pass.js';
import { serveFromCache } from './cache-flow.js';
import { passServedAs } from './cache-status.js';
import { answerPurgeMethod } from './purge-http.js';

export function handleExchange(ctx: ProxyContext, exchange: ClientExchange): void {
  const { request } = exchange;
  const target = validateRequest(request);
  if (typeof target === 'string') return rejectRequest(ctx, exchange, 400, target);
  // I1: a purge is answered here, never forwarded.
  if (request.method === 'PURGE') return answerPurgeMethod(ctx.purge, exchange);
  const key = cacheKey(request, target.path, target.authority);
  if (!isSafeMethod(request.method) || exchange.hasBody) {
    // C4: streamed both ways, never collapsed; a successful unsafe request invalidates its URL.
    const invalidate = (status: number) => {
      if (status >= 400) return;
      ctx.index.purge(key);
      ctx.segments.forget(key, ctx.index);
      ctx.registry.invalidate(key);
    };
    const safe = isSafeMethod(request.method);
    return passToOrigin(ctx, exchange, target, safe ? PASS_REASONS.requestBody : PASS_REASONS.method, safe ? undefined : invalidate);
  }
  // Credentials make a response personal: such requests pass without marking the URL for anyone
  // else (as Varnish's builtin vcl_recv does), unless a rule or hook decides otherwise.
  const byDefault = request.headers.has('authorization');
  // Without rules or a recv hook the decision is the default one: no context to build and walk.
  if (ctx.rules.length === 0 && ctx.hooks.recv === undefined) {
    if (byDefault) return passToOrigin(ctx, exchange, target, PASS_REASONS.authorization);
    return serveFromCache(ctx, exchange, target, key, ctx.options.segmentSize);
  }
  const recv: RecvContext = { request, path: target.path, key, pass: byDefault, segmentSize: ctx.options.segmentSize };
  applyRecvRules(ctx.rules, recv);
  ctx.hooks.recv?.(recv);
  if (recv.pass) return passToOrigin(ctx, exchange, target, recv.pass === byDefault ? PASS_REASONS.authorization : PASS_REASONS.recv);
  serveFromCache(ctx, exchange, target, recv.key, recv.segmentSize);
}

function rejectRequest(ctx: ProxyContext, exchange: ClientExchange, status: number, reason: string): void {
  ctx.logger.warn({ status, reason, client: exchange.clientAddress, path: exchange.request.target }, 'request rejected');
  ctx.stats.responses.PASS++; // K4: the proxy's own answer counts as a pass, as in the access log
  const writer = writerFor(exchange, {
    deliver: ctx.hooks.deliver,
    servedAs: (head) => passServedAs(ctx.options.viaName, { kind: 'bad-request' }, head, 'bad-request'),
  });
  // The request may have a body we will not read: the connection cannot be reused.
  writer.fail(reason, { status, close: true });
  recordResponse(ctx, { exchange, status, cache: 'PASS', firstByteAt: writer.firstByteAt, error: reason, reason: { kind: 'bad-request', message: reason } });
}
