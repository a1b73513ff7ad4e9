// One relayed response (a pass): the origin's head with the fields a proxy removes and adds (F6,
// C2), its body with backpressure, and a failure, all through the client's ResponseWriter, which
// frames it (F1-F4) and turns a failure into a 503 while the head is not out, an abrupt close
// after (O1, O2).
import type { ClientExchange } from '../net/client-exchange.js';
import type { HeaderFields } from '../http1/headers.js';
import type { ResponseHead } from '../http1/message.js';
import { appendVia, withoutHopByHop, type ClientFraming } from '../http1/semantics.js';
import type { DeliverHook, ResponseWriter, ServedAsLabel } from './response-writer.js';
import { writerFor } from './client-writer.js';

const NOT_RELAYED: ReadonlySet<string> = new Set(['surrogate-control', 'surrogate-key']);
const NOT_RELAYED_WITH_LENGTH: ReadonlySet<string> = new Set(['surrogate-control', 'surrogate-key', 'content-length']);
/** I2: what a tier of ours does not get: only our framing. */
const NOT_RELAYED_TO_TIER: ReadonlySet<string> = new Set();
const NOT_RELAYED_TO_TIER_WITH_LENGTH: ReadonlySet<string> = new Set(['content-length']);

export interface ClientResponseOptions {
  viaName: string;
  /** Largest body held for a client that must wait for the whole body (L3). */
  maxBufferedBytes: number;
  /** Streaming off (`--no-stream`, doStream false): the client gets the body once complete, with Content-Length. */
  waitForWholeBody?: boolean;
  /** Fields added to every head this response writes, errors included. */
  extraHeaders?: readonly (readonly [string, string])[];
  /** K3: the deliver hook, for the relayed head and for the proxy's own errors. */
  deliver?: DeliverHook;
  /** K2: X-Cache and Cache-Status of every head this response writes. */
  servedAs?: ServedAsLabel;
  /** I2: the client is a tier of ours: Surrogate-Key and Surrogate-Control are relayed. */
  forwardSurrogate?: boolean;
}

/** One relayed origin response to one client (a pass): the origin's head, our framing, with backpressure. */
export class ClientResponse {
  private readonly writer: ResponseWriter;
  private started = false;
  private framing: ClientFraming = 'none';
  /** Why the response failed, when it did: for the access log. */
  failure = '';

  constructor(
    private readonly exchange: ClientExchange,
    private readonly options: ClientResponseOptions,
  ) {
    this.writer = writerFor(exchange, { errorFields: options.extraHeaders, deliver: options.deliver, servedAs: options.servedAs });
  }

  get statusCode(): number {
    return this.writer.status;
  }

  get headSent(): boolean {
    return this.writer.headSent;
  }

  get isDone(): boolean {
    return this.writer.done;
  }

  /** performance.now() when the head went out (time to first byte in the access log). */
  get firstByteAt(): number | undefined {
    return this.writer.firstByteAt;
  }

  /** Body bytes delivered to the client (excluding framing). */
  get bodyBytesSent(): number {
    return this.writer.bodyBytes;
  }

  /** The origin's head arrived: decide the framing and, unless buffering, write the head. */
  start(head: ResponseHead, knownLength: number | undefined): void {
    if (this.started || this.writer.done) return;
    this.started = true;
    let framing: ClientFraming = this.writer.framingFor(head.status, knownLength);
    if (this.options.waitForWholeBody && framing !== 'none') framing = 'buffered';
    this.framing = framing;
    const headers = this.clientHeaders(head, framing);
    if (framing === 'none' && head.status === 204) headers.delete('content-length');
    this.writer.head({ source: 'relay', status: head.status, reason: head.reason, headers, fields: this.options.extraHeaders, framing, length: knownLength });
    this.writer.flush();
  }

  /** Body bytes (unframed). Returns false when the client is full: wait for onDrain before more. */
  body(chunk: Buffer): boolean {
    if (chunk.length === 0 || this.writer.done || !this.started || this.framing === 'none') return true;
    if (!this.writer.headSent) {
      // Buffering (F3, V1): the whole body waits, within the buffered limit (L3).
      if (this.writer.bodyBytes + chunk.length > this.options.maxBufferedBytes) {
        this.fail(`body passed the buffered object size limit (${this.options.maxBufferedBytes} bytes)`);
        return true;
      }
      this.writer.body(chunk);
      return true;
    }
    this.writer.body(chunk);
    this.writer.flush();
    return this.writer.room > 0;
  }

  onDrain(callback: () => void): void {
    this.writer.onDrain(callback);
  }

  /** The body is complete: terminate it properly and let the connection go on. */
  end(): void {
    if (!this.started) return;
    this.writer.end();
  }

  /**
   * The fetch failed. Head not out: 503 with a short reason. Head out: abrupt close, so the client
   * can tell the body is incomplete (O2, L4).
   */
  fail(reason: string): void {
    if (this.writer.done) return;
    this.failure = reason;
    this.writer.fail(reason);
  }

  /** A response generated by the proxy itself (503, 400, ...), with the client's persistence. */
  sendError(status: number, reason: string): void {
    this.writer.fail(reason, { status });
  }

  private clientHeaders(head: ResponseHead, framing: ClientFraming): HeaderFields {
    // Surrogate-Control is addressed to us (C2), whether or not we store the response. Content-Length
    // is ours to set, except on a bodiless answer to HEAD, where it tells the length of a GET.
    const keepLength = framing === 'none' && this.exchange.request.method === 'HEAD';
    const drop = this.options.forwardSurrogate ? (keepLength ? NOT_RELAYED_TO_TIER : NOT_RELAYED_TO_TIER_WITH_LENGTH) : keepLength ? NOT_RELAYED : NOT_RELAYED_WITH_LENGTH;
    const headers = withoutHopByHop(head.headers, drop);
    return appendVia(headers, head.version, this.options.viaName);
  }
}
