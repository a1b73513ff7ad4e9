// One HTTP/2 stream as the host of one ClientExchange: the proxy serves it like any HTTP/1.1
// request, and its ResponseWriter (src/stream/http2-writer.ts) sends the response through this
// host's Http2Output: HEADERS without hop-by-hop fields, DATA views handed to nghttp2 as they are
// (no copy per client before framing), END_STREAM at a clean end, RST_STREAM(INTERNAL_ERROR) at
// an abrupt one (H2). HTTP/1 bytes have no place here: a raw write is a bug, and resets the stream.
//
// Framing, HPACK and flow control are node:http2's. Backpressure is the stream's own: a stream
// whose peer gives no window holds its writes (up to the writer's write-ahead) and nothing else;
// it is never cut for that (H3). The send timeout is the session's (src/net/h2-sessions.ts).
import type { ServerHttp2Stream } from 'node:http2';
import { HeaderFields } from '../http1/headers.js';
import type { BodyFraming, RequestHead } from '../http1/message.js';
import { ClientExchange, type ExchangeHost, type Http2Output } from './client-exchange.js';
import type { OutgoingBytes } from './output-batch.js';

/** An HTTP/2 request has every capability of an HTTP/1.1 one (chunk-free streaming, persistence). */
const HTTP11 = { major: 1, minor: 1 };
const END_STREAM_FLAG = 0x1;

export interface H2StreamEvents {
  /** The exchange's response ended or the stream closed: the session forgets the stream. */
  onStreamClosed(host: H2StreamHost, clientCancelled: boolean): void;
  /** A write left the stream's buffer full: the session watches for progress (send timeout). */
  onBlocked(): void;
  /** A write of the stream reached the socket: the client is reading. */
  onProgress(): void;
}

/**
 * writing   the response is open (the head may or may not be out)
 * ended     END_STREAM written (or about to be, after the queued DATA)
 * reset     RST_STREAM sent, by us or by the client, or the session died
 */
type StreamState = 'writing' | 'ended' | 'reset';

export class H2StreamHost implements ExchangeHost, Http2Output {
  readonly exchange: ClientExchange;
  readonly remoteAddress: string;
  private streamState: StreamState = 'writing';
  private responded = false;
  /** DATA views to hand to the stream (flushBody). */
  private out: Buffer[] = [];
  private writesIssued = 0;
  private writesDone = 0;
  /** Write callbacks waiting for every stream write issued before them to finish. */
  private waiters: Array<{ after: number; callback: (err?: Error | null) => void }> = [];
  private closedReported = false;

  constructor(
    private readonly stream: ServerHttp2Stream,
    request: RequestHead,
    endStream: boolean,
    private readonly events: H2StreamEvents,
  ) {
    this.remoteAddress = stream.session?.socket?.remoteAddress ?? '';
    this.exchange = new ClientExchange(this, request, requestFraming(request, endStream), true);
    stream.on('data', (chunk: Buffer) => this.onRequestData(chunk));
    stream.on('end', () => this.exchange.bodyComplete());
    stream.on('error', () => {}); // 'close' follows; a reset by the client is not our error
    stream.on('close', () => this.onStreamClose());
  }

  // ---- request body ----

  private onRequestData(chunk: Buffer): void {
    // A response that ended without reading the body (a 400, say) discards the rest.
    if (this.streamState !== 'writing') return;
    if (!this.exchange.pushBody(chunk)) this.stream.pause();
  }

  resumeReading(): void {
    if (this.stream.isPaused()) this.stream.resume();
  }

  // ---- ExchangeHost: response ----

  canPersist(): boolean {
    // Nothing to keep or close per request: the connection is the session's.
    return true;
  }

  write(_data: OutgoingBytes | readonly OutgoingBytes[], onWritten?: (err?: Error | null) => void): boolean {
    onWritten?.(null);
    this.reset('HTTP/1 bytes written to an HTTP/2 stream');
    return false;
  }

  writeNow(data: OutgoingBytes): boolean {
    return this.write(data);
  }

  get bufferedBytes(): number {
    return this.stream.writableLength;
  }

  waitDrain(_exchange: ClientExchange, callback: () => void): void {
    if (!this.stream.writableNeedDrain || this.streamState !== 'writing') return callback();
    this.stream.once('drain', callback);
  }

  exchangeEnded(_exchange: ClientExchange, abrupt: boolean, reason?: string): void {
    if (this.streamState !== 'writing') return;
    if (abrupt) return this.reset(reason ?? 'response aborted');
    this.streamState = 'ended';
    if (!this.responded) {
      // The exchange ended without a head: only possible through a bug upstream; never a clean end.
      return this.reset('response ended without a head');
    }
    if (!this.stream.writableEnded) this.stream.end();
    // Unread request body: the peer is told to stop sending it (RFC 9113 §8.1).
    if (!this.stream.readableEnded) this.stream.resume();
  }

  // ---- Http2Output: the response as HEADERS and DATA (the HTTP/2 ResponseWriter's way) ----

  get http2(): Http2Output {
    return this;
  }

  respond(status: number, fields: Record<string, string | string[]>, endStream: boolean): void {
    if (this.streamState !== 'writing' || this.responded || this.stream.destroyed) return;
    this.responded = true;
    this.stream.respond({ ...fields, ':status': status }, { endStream });
    if (endStream) this.streamState = 'ended';
  }

  data(view: Buffer): boolean {
    if (this.streamState !== 'writing' || this.stream.destroyed) return false;
    this.out.push(view);
    return this.flushBody();
  }

  afterWrites(callback: () => void): void {
    if (this.writesDone === this.writesIssued || this.stream.destroyed) return queueMicrotask(callback);
    this.waiters.push({ after: this.writesIssued, callback });
  }

  private flushBody(onWritten?: (err?: Error | null) => void): boolean {
    const chunks = this.out;
    this.out = [];
    let ok = true;
    for (let i = 0; i < chunks.length; i++) {
      const last = i === chunks.length - 1;
      this.writesIssued++;
      ok = this.stream.write(chunks[i], (err) => this.writeFinished(last ? onWritten : undefined, err));
    }
    if (chunks.length === 0 && onWritten) {
      // Nothing of this call points into a buffer; the writes before it may still do.
      if (this.writesDone === this.writesIssued) queueMicrotask(() => onWritten(null));
      else this.waiters.push({ after: this.writesIssued, callback: onWritten });
    }
    if (!ok) this.events.onBlocked();
    return ok;
  }

  private writeFinished(callback: ((err?: Error | null) => void) | undefined, err?: Error | null): void {
    this.writesDone++;
    this.events.onProgress();
    callback?.(err ?? null);
    while (this.waiters.length > 0 && this.waiters[0].after <= this.writesDone) this.waiters.shift()!.callback(null);
  }

  /** The session is going away abruptly: this stream is reset, never left to look complete. */
  abort(reason: string): void {
    this.reset(reason);
  }

  /**
   * RST_STREAM(INTERNAL_ERROR): the client sees the stream end without END_STREAM (O2, L4); the
   * session goes on. Not stream.close(code): node:http2 ends the writable side first there, and
   * the END_STREAM that ending queues can leave before the RST_STREAM, a clean end to the client.
   * A destroy with an error resets without ending; DATA already queued is still sent first.
   */
  private reset(reason: string): void {
    if (this.streamState === 'reset') return;
    this.streamState = 'reset';
    if (!this.stream.destroyed) this.stream.destroy(new Error(reason));
    if (this.exchange.isOpen) this.exchange.abort('stream reset');
  }

  private onStreamClose(): void {
    const cancelled = this.exchange.isOpen;
    if (this.streamState === 'writing') this.streamState = 'reset';
    if (cancelled) this.exchange.clientGone();
    for (const waiter of this.waiters.splice(0)) waiter.callback(null);
    if (this.closedReported) return;
    this.closedReported = true;
    this.events.onStreamClosed(this, cancelled);
  }
}

/** The request's body framing: a declared length, none (END_STREAM on HEADERS), else streamed until END_STREAM. */
function requestFraming(request: RequestHead, endStream: boolean): BodyFraming {
  if (endStream) return { kind: 'none' };
  // nghttp2 checks that the DATA frames add up to a declared Content-Length.
  const declared = request.headers.get('content-length');
  if (declared !== undefined && /^\d+$/.test(declared)) return Number(declared) > 0 ? { kind: 'length', length: Number(declared) } : { kind: 'none' };
  return { kind: 'chunked' };
}

/**
 * The HTTP/1.1 request an HTTP/2 stream stands for: method and target from the pseudo-fields,
 * Host from :authority (RFC 9113 §8.3.1), every other field as received and in order. Returns a
 * short reason instead when the request cannot be one (a CONNECT, a missing :path).
 */
export function requestFromHttp2(rawHeaders: readonly string[], flags: number): { request: RequestHead; endStream: boolean } | string {
  let method = '';
  let path = '';
  let authority = '';
  const raw: string[] = [];
  for (let i = 0; i < rawHeaders.length; i += 2) {
    const name = rawHeaders[i];
    const value = rawHeaders[i + 1];
    if (name === ':method') method = value;
    else if (name === ':path') path = value;
    else if (name === ':authority') authority = value;
    else if (name[0] !== ':') raw.push(name, value);
  }
  if (method === 'CONNECT') return 'CONNECT is not supported by a reverse proxy';
  if (!method || !path) return 'HTTP/2 request without :method or :path';
  const headers = new HeaderFields(raw);
  if (authority) {
    headers.delete('host');
    headers.append('host', authority);
  }
  return { request: { method, target: path, version: HTTP11, headers }, endStream: (flags & END_STREAM_FLAG) !== 0 };
}

/** RFC 9113 §6.5.2: the size of a header list is the sum of name, value and 32 per field. */
export function headerListSize(rawHeaders: readonly string[]): number {
  let size = 0;
  for (let i = 0; i < rawHeaders.length; i += 2) size += rawHeaders[i].length + rawHeaders[i + 1].length + 32;
  return size;
}
