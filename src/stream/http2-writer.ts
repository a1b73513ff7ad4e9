// The ResponseWriter for an HTTP/2 client (H2): the same heads and body views as every other
// response, sent as HEADERS and DATA on the exchange's stream (Http2Output, src/net/h2-stream-host.ts).
// No chunk framing and no Connection field: the stream frames itself. A complete body ends with
// END_STREAM (exchange.end()); an abrupt end is RST_STREAM(INTERNAL_ERROR) (exchange.abort()). An
// HTTP/2 request has every capability of an HTTP/1.1 one, so the 1.0 rules (F3 buffering) never
// apply; `buffered` comes only from streaming being off. Body views go to the stream as they are.
import type { ClientExchange, Http2Output } from '../net/client-exchange.js';
import type { HeaderFields } from '../http1/headers.js';
import { HOP_BY_HOP, chooseClientFraming, type ClientFraming } from '../http1/semantics.js';
import type { Http1WriterOptions } from './http1-writer.js';
import { WRITE_AHEAD, type ErrorResponse, type OutgoingHead, type ResponseWriter } from './response-writer.js';

const HTTP11 = { major: 1, minor: 1 };

export class Http2ResponseWriter implements ResponseWriter {
  status = 0;
  firstByteAt: number | undefined = undefined;
  bodyBytes = 0;
  private framing: ClientFraming = 'none';
  private finished = false;
  /** `buffered`: the head and a copy of the body, held until end(). */
  private heldHead: OutgoingHead | null = null;
  private heldBody: Buffer[] = [];

  constructor(
    private readonly exchange: ClientExchange,
    private readonly stream: Http2Output,
    private readonly options: Http1WriterOptions = {},
  ) {}

  get headSent(): boolean {
    return this.firstByteAt !== undefined;
  }

  get done(): boolean {
    return this.finished;
  }

  get bufferedBytes(): number {
    return this.exchange.bufferedBytes;
  }

  get room(): number {
    return WRITE_AHEAD - this.exchange.bufferedBytes;
  }

  framingFor(status: number, knownLength: number | undefined): ClientFraming {
    // `chunked` here means "length unknown, DATA until END_STREAM".
    return chooseClientFraming(HTTP11, this.exchange.request.method, status, knownLength);
  }

  head(head: OutgoingHead): void {
    if (this.finished) return;
    this.framing = head.framing;
    this.status = head.status;
    if (head.framing === 'buffered') {
      this.heldHead = head;
      return;
    }
    this.send(head);
  }

  body(view: Buffer): void {
    if (this.finished || view.length === 0) return;
    if (this.framing === 'buffered') {
      this.bodyBytes += view.length;
      // The view may belong to an origin socket's read: keep our own copy while we wait.
      this.heldBody.push(Buffer.from(view));
      return;
    }
    if (this.framing === 'none') return;
    this.bodyBytes += view.length;
    this.stream.data(view);
  }

  live(view: Buffer): void {
    this.body(view);
  }

  flush(): void {
    // Nothing waits here: HEADERS and DATA are queued on the stream as they come, and node:http2
    // sends what is queued at the end of the tick.
  }

  end(written?: () => void): void {
    if (this.finished) return;
    if (this.heldHead) {
      const held = this.heldHead;
      this.heldHead = null;
      this.send({ ...held, framing: 'length', length: this.bodyBytes });
      for (const view of this.heldBody) this.stream.data(view);
      this.heldBody = [];
    }
    this.finished = true;
    if (written) this.stream.afterWrites(written);
    this.exchange.end();
  }

  fail(reason: string, error: Partial<ErrorResponse> = {}): void {
    if (this.finished) return;
    this.finished = true;
    if (this.headSent) return this.exchange.abort(reason);
    this.heldHead = null;
    this.heldBody = [];
    const payload = Buffer.from(`${error.reason ?? reason}\n`, 'utf8');
    this.status = error.status ?? 503;
    this.firstByteAt = performance.now();
    const fields: Record<string, string | string[]> = { 'content-type': 'text/plain; charset=utf-8', 'content-length': String(payload.length) };
    for (const [name, value] of this.options.errorFields ?? []) addField(fields, name, value);
    const bodyless = this.exchange.request.method === 'HEAD';
    this.stream.respond(this.status, fields, bodyless);
    if (!bodyless) this.stream.data(payload);
    // An unread request body needs no closed connection here: the stream's end stops it.
    this.exchange.end();
  }

  onDrain(callback: () => void): void {
    this.exchange.onDrain(callback);
  }

  /** HEADERS for this head: its fields, the length, this response's own fields; the deliver hook first. */
  private send(head: OutgoingHead): void {
    this.firstByteAt = performance.now();
    let status = head.status;
    let headers: HeaderFields = head.headers;
    const framing = head.framing === 'none' ? head.advertise : head.framing;
    const extra: Array<readonly [string, string]> = [];
    if (framing === 'length' && head.status !== 204 && head.length !== undefined) extra.push(['content-length', String(head.length)]);
    if (head.fields) extra.push(...head.fields);
    if (head.source === 'object' && this.options.deliver) {
      headers = head.headers.clone();
      for (const [name, value] of extra) headers.append(name, value);
      extra.length = 0;
      const ctx = { request: this.exchange.request, status, headers };
      this.options.deliver(ctx);
      status = ctx.status;
      this.status = status;
    }
    const fields: Record<string, string | string[]> = {};
    for (const [name, value] of headers) addField(fields, name, value);
    for (const [name, value] of extra) addField(fields, name, value);
    this.stream.respond(status, fields, head.framing === 'none');
  }
}

/** Adds one field (lower-case name; repeats become a list); a hop-by-hop field never goes out in HTTP/2. */
function addField(fields: Record<string, string | string[]>, name: string, value: string): void {
  const key = name.toLowerCase();
  if (HOP_BY_HOP.has(key) || key === 'transfer-encoding') return;
  const earlier = fields[key];
  if (earlier === undefined) fields[key] = value;
  else if (Array.isArray(earlier)) earlier.push(value);
  else fields[key] = [earlier, value];
}
