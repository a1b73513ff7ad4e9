// A pass: the request goes to the origin for this client alone and the response comes back
// streamed, never stored. Request bodies are streamed to the origin with backpressure both ways:
// a slow client pauses its origin read, a slow origin pauses the client's upload.
import type { ClientExchange } from '../net/client-exchange.js';
import type { OriginRequest } from '../net/origin-pool.js';
import { frameChunk, LAST_CHUNK } from '../http1/serializer.js';
import { ClientResponse } from '../stream/client-response.js';
import { logAccess } from './access-log.js';
import { planOriginRequest, type ValidatedTarget } from './origin-request.js';
import type { ProxyContext } from './context.js';

const CONTINUE = Buffer.from('HTTP/1.1 100 Continue\r\n\r\n', 'latin1');

export function passToOrigin(ctx: ProxyContext, exchange: ClientExchange, target: ValidatedTarget): void {
  const { request, bodyFraming } = exchange;
  const response = new ClientResponse(exchange, {
    viaName: ctx.options.viaName,
    maxBufferedBytes: ctx.options.maxObjectSizeBuffered,
    extraHeaders: [['X-Cache', 'PASS']],
  });
  const framing = bodyFraming.kind === 'length' ? 'length' : bodyFraming.kind === 'chunked' ? 'chunked' : 'none';
  const plan = planOriginRequest(request, target, {
    clientAddress: exchange.clientAddress,
    viaName: ctx.options.viaName,
    defaultHost: ctx.options.originUrl.host,
    bodyFraming: framing,
    bodyLength: bodyFraming.kind === 'length' ? bodyFraming.length : undefined,
  });

  let finished = false;
  const finish = (error?: string) => {
    if (finished) return;
    finished = true;
    logAccess(ctx.logger, { exchange, status: response.statusCode, cache: 'PASS', firstByteAt: response.firstByteAt, error });
  };

  const origin = ctx.pool.request(plan.head, { expectNoBody: request.method === 'HEAD', hasBody: framing !== 'none' }, {
    onHead(head, responseFraming) {
      const knownLength = responseFraming.kind === 'length' ? responseFraming.length : responseFraming.kind === 'none' ? 0 : undefined;
      response.start(head, knownLength);
    },
    onBody(chunk) {
      if (!response.body(chunk)) {
        origin.pause();
        response.onDrain(() => origin.resume());
      }
      if (response.isDone) {
        origin.abort();
        finish(response.failure);
      }
    },
    onEnd() {
      response.end();
      finish();
    },
    onError(error) {
      ctx.logger.warn({ err: error.message, kind: error.kind, phase: error.phase, path: request.target }, 'origin fetch failed');
      response.fail(error.message);
      finish(error.message);
    },
  });

  // R8: a pass fetch with no client left is aborted.
  exchange.onClientGone(() => {
    origin.abort();
    finish('client closed the connection');
  });

  if (framing === 'none') return;
  streamRequestBody(exchange, origin, framing, (reason) => {
    // The client's upload broke (bad chunking, or it left): the origin must never take a partial body as whole.
    origin.abort();
    if (response.headSent) response.fail(reason);
    else response.sendError(400, reason);
    finish(reason);
  });
}

function streamRequestBody(exchange: ClientExchange, origin: OriginRequest, framing: 'length' | 'chunked', onBroken: (reason: string) => void): void {
  if (exchange.request.headers.tokens('expect').includes('100-continue') && exchange.request.version.minor >= 1) {
    exchange.write(CONTINUE);
  }
  exchange.readBody({
    onData(chunk) {
      const ok = origin.writeBody(framing === 'chunked' ? frameChunk(chunk) : chunk);
      if (!ok) origin.onDrain(() => exchange.resumeBody());
      return ok;
    },
    onEnd() {
      if (framing === 'chunked') origin.writeBody(LAST_CHUNK);
      origin.endBody();
    },
    onError: onBroken,
  });
}
