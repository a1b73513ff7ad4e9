// The ResponseWriter for an HTTP/2 client (H2): the same heads and body views as every other
// response, sent as HEADERS and DATA on the exchange's stream (Http2Output, src/net/h2-stream-host.ts).
// No chunk framing and no Connection field: the stream frames itself. A complete body ends with
// END_STREAM (exchange.end()); an abrupt end is RST_STREAM(INTERNAL_ERROR) (exchange.abort()). An
// HTTP/2 request has every capability of an HTTP/1.1 one, so the 1.0 rules (F3 buffering) never
// apply; `buffered` comes only from streaming being off. Body views go to the stream as they are.
import type { ClientExchange, Http2Output } from '../net/client-exchange.js';
import { HeaderFields } from '../http1/headers.js';
import { HOP_BY_HOP } from '../http1/semantics.js';
import type { ErrorResponse, OutgoingHead, ServedAsLabel } from './response-writer.js';
import { BaseResponseWriter, type WriterOptions } from './writer-base.js';

export class Http2ResponseWriter extends BaseResponseWriter {
  constructor(
    exchange: ClientExchange,
    private readonly stream: Http2Output,
    options: WriterOptions = {},
  ) {
    super(exchange, options);
  }

  body(view: Buffer): void {
    if (!this.settledBody(view)) this.stream.data(view);
  }

  live(view: Buffer): void {
    this.body(view);
  }

  flush(): void {
    // Nothing waits here: HEADERS and DATA are queued on the stream as they come, and node:http2
    // sends what is queued at the end of the tick. (`chunked` framing means "length unknown,
    // DATA until END_STREAM": an HTTP/2 request is read as HTTP/1.1, so F3 never applies.)
  }

  end(written?: () => void): void {
    if (this.finished) return;
    const held = this.takeHeld();
    if (held) {
      this.sendHead(held.head);
      for (const view of held.body) this.stream.data(view);
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
    for (const [name, value] of this.servedFields({ source: 'error', status: this.status })) addField(fields, name, value);
    const bodyless = this.exchange.request.method === 'HEAD';
    // K3: the proxy's own errors go through the deliver hook too.
    const delivered = this.options.deliver ? this.delivered(this.status, fields) : { status: this.status, fields };
    this.status = delivered.status;
    this.stream.respond(delivered.status, delivered.fields, bodyless);
    if (!bodyless) this.stream.data(payload);
    // An unread request body needs no closed connection here: the stream's end stops it.
    this.exchange.end();
  }

  /** HEADERS for this head: its fields, the length, this response's own fields; the deliver hook first. */
  protected sendHead(head: OutgoingHead): void {
    this.firstByteAt = performance.now();
    let status = head.status;
    let headers: HeaderFields = head.headers;
    const framing = head.framing === 'none' ? head.advertise : head.framing;
    const extra: Array<readonly [string, string]> = [];
    if (framing === 'length' && head.status !== 204 && head.length !== undefined) extra.push(['content-length', String(head.length)]);
    if (head.fields) extra.push(...head.fields);
    // K2: X-Cache and Cache-Status after this response's own fields, then its late ones.
    extra.push(...this.servedFields(head));
    if (head.lateFields) extra.push(...head.lateFields);
    // K3: the deliver hook sees every response, passes and the proxy's own errors included.
    if (this.options.deliver) {
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

  /** K2: the fields servedAs gives for a head. */
  private servedFields(head: Parameters<ServedAsLabel>[0]): Array<readonly [string, string]> {
    const served = this.options.servedAs?.(head);
    if (!served) return [];
    return served.cacheStatus ? [['x-cache', served.xCache], ['cache-status', served.cacheStatus]] : [['x-cache', served.xCache]];
  }

  /** K3 for an error built as a field record: the hook edits it as HeaderFields. */
  private delivered(status: number, record: Record<string, string | string[]>): { status: number; fields: Record<string, string | string[]> } {
    const headers = new HeaderFields();
    for (const [name, value] of Object.entries(record)) for (const one of Array.isArray(value) ? value : [value]) headers.append(name, one);
    const ctx = { request: this.exchange.request, status, headers };
    this.options.deliver!(ctx);
    const fields: Record<string, string | string[]> = {};
    for (const [name, value] of headers) addField(fields, name, value);
    return { status: ctx.status, fields };
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
