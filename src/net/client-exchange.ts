// One request and its response on a client connection. The proxy layer gets one of these per
// request: it reads the request head and body from it and writes response bytes to it. It knows
// bytes and backpressure, never what the bytes mean.
// The module's own binding: the global `performance` is a lazy getter, looked up on every call.
import { performance } from 'node:perf_hooks';
import type { BodyFraming, RequestHead } from '../http1/message.js';
import type { OutgoingBytes } from './output-batch.js';

export type { OutgoingBytes } from './output-batch.js';

/** Receives a request body. Return false from onData to stop the client's bytes until resumeBody(). */
export interface BodyReader {
  onData(chunk: Buffer): boolean;
  onEnd(): void;
  onError(reason: string): void;
}

/** What the exchange needs from its connection; implemented by ClientConnection. */
export interface ExchangeHost {
  readonly remoteAddress: string;
  /** True while the connection would be kept after a clean end of the current response. */
  canPersist(exchange: ClientExchange): boolean;
  write(data: OutgoingBytes | readonly OutgoingBytes[], onWritten?: (err?: Error | null) => void): boolean;
  writeNow(data: OutgoingBytes): boolean;
  waitDrain(exchange: ClientExchange, callback: () => void): void;
  /** Bytes accepted by write() and not yet handed to the kernel. */
  readonly bufferedBytes: number;
  resumeReading(): void;
  exchangeEnded(exchange: ClientExchange, abrupt: boolean, reason?: string): void;
  /** Present when the client is an HTTP/2 stream: the response goes as HEADERS and DATA, not as bytes. */
  readonly http2?: Http2Output;
}

/**
 * An HTTP/2 stream's response side, as a ResponseWriter needs it (src/stream/http2-writer.ts):
 * a head as status and fields, body views as DATA. The end is the exchange's: end() is END_STREAM,
 * abort() is RST_STREAM(INTERNAL_ERROR) (src/net/h2-stream-host.ts).
 */
export interface Http2Output {
  /** HEADERS; `endStream` for a response without a body. Field names lower-case, no hop-by-hop field. */
  respond(status: number, fields: Record<string, string | string[]>, endStream: boolean): void;
  /** One DATA view, handed on as it is. False when the stream's buffer is full (wait for onDrain). */
  data(view: Buffer): boolean;
  /** Calls back once every DATA view handed on so far has left (or the stream is gone). */
  afterWrites(callback: () => void): void;
}

type BodyState = 'none' | 'streaming' | 'complete' | 'failed';
/** The response side: open → ended (cleanly) | aborted (abrupt close) | gone (client left first). */
export type ResponseState = 'open' | 'ended' | 'aborted' | 'gone';

export class ClientExchange {
  readonly startedAt = performance.now();
  readonly receivedAt = Date.now();
  /** Bytes written to the client for this response (head and body, as framed). */
  bytesSent = 0;
  private responseState: ResponseState = 'open';
  private bodyState: BodyState;
  private pendingBody: Buffer[] = [];
  private pendingError = '';
  private reader: BodyReader | null = null;
  private goneListeners: Array<() => void> = [];
  private closeAfterResponse = false;

  constructor(
    private readonly host: ExchangeHost,
    readonly request: RequestHead,
    readonly bodyFraming: BodyFraming,
    /** Whether the client asked to keep the connection (version and Connection header, F5). */
    readonly clientKeepAlive: boolean,
  ) {
    this.bodyState = bodyFraming.kind === 'none' ? 'none' : 'streaming';
  }

  get clientAddress(): string {
    return this.host.remoteAddress;
  }

  /** The HTTP/2 stream behind this exchange, when its client speaks HTTP/2. */
  get http2(): Http2Output | undefined {
    return this.host.http2;
  }

  get hasBody(): boolean {
    return this.bodyFraming.kind !== 'none';
  }

  /** Will the connection stay open after this response ends cleanly? Decide the Connection header with it. */
  get persistent(): boolean {
    return this.clientKeepAlive && !this.closeAfterResponse && this.host.canPersist(this);
  }

  get state(): ResponseState {
    return this.responseState;
  }

  get isOpen(): boolean {
    return this.responseState === 'open';
  }

  // ---- request body, fed by the connection's parser ----

  /** @internal Returns false when the reader (or the buffer for a reader yet to come) is full. */
  pushBody(chunk: Buffer): boolean {
    if (this.reader) return this.reader.onData(chunk);
    this.pendingBody.push(chunk);
    return this.pendingBody.length < 16;
  }

  /** @internal */
  bodyComplete(): void {
    this.bodyState = 'complete';
    this.reader?.onEnd();
  }

  /** @internal */
  bodyFailed(reason: string): void {
    if (this.bodyState !== 'streaming') return;
    this.bodyState = 'failed';
    this.pendingError = reason;
    this.reader?.onError(reason);
  }

  /** Attaches the reader of the request body; chunks that arrived before are delivered first. */
  readBody(reader: BodyReader): void {
    this.reader = reader;
    const pending = this.pendingBody;
    this.pendingBody = [];
    for (const chunk of pending) reader.onData(chunk);
    if (this.bodyState === 'complete') reader.onEnd();
    else if (this.bodyState === 'failed') reader.onError(this.pendingError);
    else if (this.bodyState === 'none') reader.onEnd();
    this.host.resumeReading();
  }

  /** The reader can take more request body bytes. */
  resumeBody(): void {
    this.host.resumeReading();
  }

  // ---- response bytes ----

  /** Writes bytes to the client. False means its socket buffer is full: wait for onDrain. */
  write(data: OutgoingBytes | readonly OutgoingBytes[], onWritten?: (err?: Error | null) => void): boolean {
    if (this.responseState !== 'open') {
      onWritten?.(null);
      return false;
    }
    this.bytesSent += Array.isArray(data) ? data.reduce((n: number, b: OutgoingBytes) => n + b.length, 0) : (data as OutgoingBytes).length;
    return this.host.write(data, onWritten);
  }

  /**
   * Writes one buffer that is all this response has to say for now (a live body chunk): it goes
   * to the socket at once instead of waiting for the end of the tick, unless something written
   * earlier in this tick is still waiting, which it then joins. Same result as write(), one
   * syscall sooner and without the end-of-tick batch.
   */
  writeNow(data: OutgoingBytes): boolean {
    if (this.responseState !== 'open') return false;
    this.bytesSent += data.length;
    return this.host.writeNow(data);
  }

  /** Bytes written and not yet flushed to the client's socket: lets a reader write ahead in batches. */
  get bufferedBytes(): number {
    return this.host.bufferedBytes;
  }

  /** Calls back once when the client's socket buffer has room again (or at once if it has). */
  onDrain(callback: () => void): void {
    this.host.waitDrain(this, callback);
  }

  /** The response is complete; the connection goes on to the next request or closes (F5). */
  end(): void {
    if (this.responseState !== 'open') return;
    this.responseState = 'ended';
    this.host.exchangeEnded(this, false);
  }

  /** The response is complete, and the connection closes after it (e.g. an unread request body). */
  endAndClose(): void {
    this.closeAfterResponse = true;
    this.end();
  }

  /** Abrupt termination: the connection closes now, mid-response (O2, L4, F5). */
  abort(reason: string): void {
    if (this.responseState !== 'open') return;
    this.responseState = 'aborted';
    this.host.exchangeEnded(this, true, reason);
  }

  /** Called when the client goes away before the response ended (R8). */
  onClientGone(listener: () => void): void {
    if (this.responseState === 'gone') listener();
    else this.goneListeners.push(listener);
  }

  /** @internal The client closed or reset its connection. */
  clientGone(): void {
    if (this.responseState !== 'open') return;
    this.responseState = 'gone';
    if (this.bodyState === 'streaming') this.bodyFailed('client closed the connection');
    for (const listener of this.goneListeners.splice(0)) listener();
  }
}
