// One client's response: chooses its framing from its HTTP version (F1-F4), writes the head and
// body bytes, and turns a failure into what SPEC says the client sees: a 503 while the head is not
// out, an abrupt close after (O1, O2) — a chunked body never gets its terminating chunk, a
// Content-Length body stops short.
import type { ClientExchange } from '../net/client-exchange.js';
import type { HeaderFields } from '../http1/headers.js';
import type { ResponseHead } from '../http1/message.js';
import { appendVia, chooseClientFraming, connectionField, withoutHopByHop, type ClientFraming } from '../http1/semantics.js';
import { LAST_CHUNK, frameChunk, responseHeadString, simpleResponse } from '../http1/serializer.js';

const HTTP11 = { major: 1, minor: 1 };
const NOT_RELAYED: ReadonlySet<string> = new Set(['surrogate-control', 'surrogate-key']);
const NOT_RELAYED_WITH_LENGTH: ReadonlySet<string> = new Set(['surrogate-control', 'surrogate-key', 'content-length']);
/** I2: what a tier of ours does not get: only our framing. */
const NOT_RELAYED_TO_TIER: ReadonlySet<string> = new Set();
const NOT_RELAYED_TO_TIER_WITH_LENGTH: ReadonlySet<string> = new Set(['content-length']);
/** Bytes queued for a slow client before its origin read is paused (backpressure, R7 for a pass). */
const WRITE_AHEAD = 1024 * 1024;

/**
 * head-pending  nothing written yet (a failure can still be a 503)
 * streaming     head written; body bytes go out as they come
 * buffering     HTTP/1.0 client, unknown length: the body is held until complete (F3, V1)
 * done          ended, failed or aborted
 */
export type ClientResponseState = 'head-pending' | 'streaming' | 'buffering' | 'done';

export interface ClientResponseOptions {
  viaName: string;
  /** Largest body held for a client that must wait for the whole body (L3). */
  maxBufferedBytes: number;
  /** Streaming off (`--no-stream`, doStream false): the client gets the body once complete, with Content-Length. */
  waitForWholeBody?: boolean;
  /** Fields added to every head this response writes, errors included (e.g. X-Cache). */
  extraHeaders?: readonly (readonly [string, string])[];
  /** I2: the client is a tier of ours: Surrogate-Key and Surrogate-Control are relayed. */
  forwardSurrogate?: boolean;
}

export class ClientResponse {
  private state: ClientResponseState = 'head-pending';
  private framing: ClientFraming = 'none';
  private status = 0;
  private bodyBytes = 0;
  private buffered: Buffer[] = [];
  private bufferedHead: { head: ResponseHead; headers: HeaderFields } | null = null;
  /** performance.now() when the head went out (time to first byte in the access log). */
  firstByteAt: number | undefined = undefined;
  /** Why the response failed, when it did: for the access log. */
  failure = '';

  constructor(
    private readonly exchange: ClientExchange,
    private readonly options: ClientResponseOptions,
  ) {}

  get statusCode(): number {
    return this.status;
  }

  get headSent(): boolean {
    return this.firstByteAt !== undefined;
  }

  get isDone(): boolean {
    return this.state === 'done';
  }

  /** Body bytes delivered to the client (excluding framing). */
  get bodyBytesSent(): number {
    return this.bodyBytes;
  }

  /** The origin's head arrived: decide the framing and, unless buffering, write the head. */
  start(head: ResponseHead, knownLength: number | undefined): void {
    if (this.state !== 'head-pending') return;
    this.status = head.status;
    const request = this.exchange.request;
    this.framing = chooseClientFraming(request.version, request.method, head.status, knownLength);
    if (this.options.waitForWholeBody && this.framing !== 'none') this.framing = 'buffered';
    const headers = this.clientHeaders(head);
    if (this.framing === 'buffered') {
      this.state = 'buffering';
      this.bufferedHead = { head, headers };
      return;
    }
    if (this.framing === 'length') headers.set('Content-Length', String(knownLength));
    if (this.framing === 'chunked') headers.set('Transfer-Encoding', 'chunked');
    if (this.framing === 'none' && head.status === 204) headers.delete('content-length');
    this.state = 'streaming';
    this.exchange.write(this.headText(head, headers));
  }

  /** Body bytes (unframed). Returns false when the client is full: wait for onDrain before more. */
  body(chunk: Buffer): boolean {
    if (chunk.length === 0) return true;
    if (this.state === 'buffering') {
      this.bodyBytes += chunk.length;
      if (this.bodyBytes > this.options.maxBufferedBytes) {
        this.fail(`body passed the buffered object size limit (${this.options.maxBufferedBytes} bytes)`);
        return true;
      }
      // The view belongs to the origin socket's read; keep our own copy while we wait.
      this.buffered.push(Buffer.from(chunk));
      return true;
    }
    if (this.state !== 'streaming' || this.framing === 'none') return true;
    this.bodyBytes += chunk.length;
    this.exchange.write(this.framing === 'chunked' ? frameChunk(chunk) : chunk);
    // Pausing the origin at every full socket buffer (16 KiB) would stall it after each 64 KiB
    // read; keeping up to WRITE_AHEAD queued lets both sockets run at full speed.
    return this.exchange.bufferedBytes < WRITE_AHEAD;
  }

  onDrain(callback: () => void): void {
    this.exchange.onDrain(callback);
  }

  /** The body is complete: terminate it properly and let the connection go on. */
  end(): void {
    if (this.state === 'buffering' && this.bufferedHead) {
      const { head, headers } = this.bufferedHead;
      headers.set('Content-Length', String(this.bodyBytes));
      this.exchange.write([this.headText(head, headers), ...this.buffered]);
      this.buffered = [];
    } else if (this.state === 'streaming' && this.framing === 'chunked') {
      this.exchange.write(LAST_CHUNK);
    } else if (this.state !== 'streaming') {
      return;
    }
    this.state = 'done';
    this.exchange.end();
  }

  /**
   * The fetch failed. Head not out: 503 with a short reason. Head out: abrupt close, so the client
   * can tell the body is incomplete (O2, L4).
   */
  fail(reason: string): void {
    if (this.state === 'done') return;
    this.failure = reason;
    if (this.state === 'streaming') {
      this.state = 'done';
      this.exchange.abort(reason);
      return;
    }
    this.state = 'done';
    this.buffered = [];
    this.status = 503;
    this.sendError(503, reason);
  }

  /** A response generated by the proxy itself (503, 400, ...), with the client's persistence. */
  sendError(status: number, reason: string): void {
    this.status = status;
    this.state = 'done';
    const close = !this.exchange.persistent;
    const head = this.exchange.request.method === 'HEAD';
    this.firstByteAt = performance.now();
    this.exchange.write(simpleResponse(status, `${reason}\n`, { close, head, headers: this.options.extraHeaders }));
    this.exchange.end();
  }

  private clientHeaders(head: ResponseHead): HeaderFields {
    // Surrogate-Control is addressed to us (C2), whether or not we store the response. Content-Length
    // is ours to set, except on a bodiless answer to HEAD, where it tells the length of a GET.
    const keepLength = this.framing === 'none' && this.exchange.request.method === 'HEAD';
    const drop = this.options.forwardSurrogate ? (keepLength ? NOT_RELAYED_TO_TIER : NOT_RELAYED_TO_TIER_WITH_LENGTH) : keepLength ? NOT_RELAYED : NOT_RELAYED_WITH_LENGTH;
    const headers = withoutHopByHop(head.headers, drop);
    return appendVia(headers, head.version, this.options.viaName);
  }

  private headText(head: ResponseHead, headers: HeaderFields): string {
    this.firstByteAt = performance.now();
    for (const [name, value] of this.options.extraHeaders ?? []) headers.append(name, value);
    const connection = connectionField(this.exchange.persistent, this.exchange.request.version);
    if (connection) headers.set('Connection', connection);
    return responseHeadString(HTTP11, head.status, head.reason, headers);
  }
}
