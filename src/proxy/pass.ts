// A pass: the request goes to the origin for this client alone and the response comes back
// streamed, never stored. Request bodies are streamed to the origin with backpressure both ways:
// a slow client pauses its origin read, a slow origin pauses the client's upload.
import type { ClientExchange } from '../net/client-exchange.js';
import type { OriginError, OriginResponseHandler } from '../net/origin-connection.js';
import type { OriginRequest } from '../net/origin-pool.js';
import type { BodyFraming, ResponseHead } from '../http1/message.js';
import { frameChunk, LAST_CHUNK } from '../http1/serializer.js';
import { relayInterim } from '../stream/interim.js';
import { ClientResponse } from '../stream/client-response.js';
import { recordResponse } from './access-log.js';
import { planOriginRequest, type ValidatedTarget } from './origin-request.js';
import type { ProxyContext } from './context.js';
import type { PassReason } from '../stream/reasons.js';
import { passServedAs } from './cache-status.js';
import { isFromTier } from './tier.js';

const CONTINUE = Buffer.from('HTTP/1.1 100 Continue\r\n\r\n', 'latin1');

/** Relays one origin response to one client, with backpressure from the client to the origin. */
export class PassRelay implements OriginResponseHandler {
  private origin: OriginRequest | null = null;
  private readonly response: ClientResponse;
  private logged = false;
  /** K2: what failed, for Cache-Status `detail` on the 503 (the origin failure's kind). */
  private failureKind: string | undefined;

  constructor(
    private readonly ctx: ProxyContext,
    private readonly exchange: ClientExchange,
    /** Why this request passes (access log, stats). */
    private readonly reason: PassReason,
    /** Called with 2xx/3xx statuses of unsafe methods, so the cache can invalidate (C4). */
    private readonly onStatus?: (status: number) => void,
    /** Streaming on for this response (the configured default unless a fetch decision says otherwise). */
    stream = ctx.options.stream,
  ) {
    ctx.stats.responses.PASS++; // K4: when the pass starts
    this.response = new ClientResponse(exchange, {
      viaName: ctx.options.viaName,
      maxBufferedBytes: ctx.options.maxObjectSizeBuffered,
      waitForWholeBody: !stream,
      deliver: ctx.hooks.deliver,
      servedAs: (head) => passServedAs(ctx.options.viaName, reason, head, this.failureKind),
      forwardSurrogate: isFromTier(exchange.request, ctx.options.viaName),
    });
    // R8: a pass fetch with no client left is aborted.
    exchange.onClientGone(() => {
      this.origin?.abort();
      this.log('client closed the connection');
    });
  }

  /** The origin request this relay reads from (set once it exists). */
  attach(origin: OriginRequest): void {
    this.origin = origin;
  }

  onHead(head: ResponseHead, framing: BodyFraming): void {
    this.onStatus?.(head.status);
    const knownLength = framing.kind === 'length' ? framing.length : framing.kind === 'none' ? 0 : undefined;
    this.response.start(head, knownLength);
    // A HEAD client whose request went to the origin as GET (a cache miss turned pass) wants no body.
    if (this.exchange.request.method === 'HEAD' && framing.kind !== 'none') {
      this.origin?.abort();
      this.onEnd();
    }
  }

  /** 103 Early Hints, 102: relayed to an HTTP/1.1 client before its final head (never stored). */
  onInterim(head: ResponseHead): void {
    relayInterim(this.exchange, head, this.response.headSent);
  }

  onBody(chunk: Buffer): void {
    if (!this.response.body(chunk)) {
      const origin = this.origin;
      origin?.pause();
      this.response.onDrain(() => origin?.resume());
    }
    if (this.response.isDone) {
      this.origin?.abort();
      this.log(this.response.failure);
    }
  }

  onEnd(): void {
    this.response.end();
    this.log();
  }

  onError(error: OriginError): void {
    this.ctx.logger.warn({ err: error.message, kind: error.kind, phase: error.phase, path: this.exchange.request.target }, 'origin fetch failed');
    this.failureKind = error.kind;
    this.response.fail(error.message);
    this.log(error.message);
  }

  /** The client's upload broke (bad chunking, or it left): the origin must never take a partial body as whole. */
  requestBodyBroken(reason: string): void {
    this.origin?.abort();
    this.failureKind = 'request-body-broken';
    if (this.response.headSent) this.response.fail(reason);
    else this.response.sendError(400, reason);
    this.log(reason);
  }

  private log(error?: string): void {
    if (this.logged) return;
    this.logged = true;
    recordResponse(this.ctx, { exchange: this.exchange, status: this.response.statusCode, cache: 'PASS', firstByteAt: this.response.firstByteAt, error: error || undefined, reason: this.reason });
  }
}

export function passToOrigin(ctx: ProxyContext, exchange: ClientExchange, target: ValidatedTarget, reason: PassReason, onStatus?: (status: number) => void): void {
  const { request, bodyFraming } = exchange;
  const framing = bodyFraming.kind === 'length' ? 'length' : bodyFraming.kind === 'chunked' ? 'chunked' : 'none';
  const plan = planOriginRequest(request, target, {
    clientAddress: exchange.clientAddress,
    viaName: ctx.options.viaName,
    defaultHost: ctx.options.originUrl.host,
    bodyFraming: framing,
    bodyLength: bodyFraming.kind === 'length' ? bodyFraming.length : undefined,
  });
  const relay = new PassRelay(ctx, exchange, reason, onStatus);
  const origin = ctx.pool.request(plan.head, { expectNoBody: request.method === 'HEAD', hasBody: framing !== 'none' }, relay);
  relay.attach(origin);
  if (framing !== 'none') streamRequestBody(exchange, origin, framing, (reason) => relay.requestBodyBroken(reason));
}

function streamRequestBody(exchange: ClientExchange, origin: OriginRequest, framing: 'length' | 'chunked', onBroken: (reason: string) => void): void {
  // An HTTP/2 client sends its body without waiting for 100 (and a stream takes no HTTP/1 bytes).
  if (exchange.request.headers.tokens('expect').includes('100-continue') && exchange.request.version.minor >= 1 && !exchange.http2) {
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
