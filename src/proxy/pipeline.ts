// The decision for each request. For now every valid request is a pass (relayed, never stored);
// the cache decides hit / attach / miss / pass here once it exists.
import type { ClientExchange } from '../net/client-exchange.js';
import { simpleResponse } from '../http1/serializer.js';
import { logAccess } from './access-log.js';
import type { ProxyContext } from './context.js';
import { validateRequest } from './origin-request.js';
import { passToOrigin } from './pass.js';

export function handleExchange(ctx: ProxyContext, exchange: ClientExchange): void {
  const target = validateRequest(exchange.request);
  if (typeof target === 'string') return rejectRequest(ctx, exchange, 400, target);
  passToOrigin(ctx, exchange, target);
}

function rejectRequest(ctx: ProxyContext, exchange: ClientExchange, status: number, reason: string): void {
  ctx.logger.warn({ status, reason, client: exchange.clientAddress, path: exchange.request.target }, 'request rejected');
  const firstByteAt = performance.now();
  // The request may have a body we will not read: the connection cannot be reused.
  exchange.write(simpleResponse(status, `${reason}\n`, { close: true, head: exchange.request.method === 'HEAD' }));
  exchange.endAndClose();
  logAccess(ctx.logger, { exchange, status, cache: 'PASS', firstByteAt, error: reason });
}
