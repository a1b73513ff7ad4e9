// The ResponseWriter for an HTTP/1 client over a ClientExchange: heads as latin1 text (an object's
// shared head lines reused as they are), bodies as Content-Length bytes or chunks, an abrupt end
// as a closed connection. Everything queued in one call leaves in one write: a hit is one write of
// head, body and (chunked) the last chunk.
// The module's own binding: the global `performance` is a lazy getter, looked up on every call.
import { performance } from 'node:perf_hooks';
import type { ClientExchange, OutgoingBytes } from '../net/client-exchange.js';
import { HeaderFields } from '../http1/headers.js';
import { connectionField } from '../http1/semantics.js';
import { CRLF, LAST_CHUNK, chunkHeader, frameChunk, framedChunk, reasonPhrase } from '../http1/serializer.js';
import type { ErrorResponse, LiveFrameSlot, OutgoingHead } from './response-writer.js';
import { BaseResponseWriter, type WriterOptions } from './writer-base.js';

const EMPTY = Buffer.alloc(0);
/** A live chunk up to this size is framed once per object (a copy) and shared by its chunked writers. */
const SHARED_FRAME_MAX = 16 * 1024;
const ERROR_TYPE = new HeaderFields(['Content-Type', 'text/plain; charset=utf-8']);


export class Http1ResponseWriter extends BaseResponseWriter {
  private pending: OutgoingBytes[] = [];

  constructor(exchange: ClientExchange, options: WriterOptions = {}) {
    super(exchange, options);
  }

  protected sendHead(head: OutgoingHead): void {
    this.pending.push(this.finalizeHead(head));
  }

  body(view: Buffer): void {
    if (this.settledBody(view)) return;
    if (this.framing === 'chunked') this.pending.push(chunkHeader(view.length), view, CRLF);
    else this.pending.push(view);
  }

  live(view: Buffer, index: number, slot: LiveFrameSlot): void {
    if (this.finished) return;
    if (this.pending.length > 0 || (this.framing !== 'chunked' && this.framing !== 'length')) {
      this.body(view);
      return this.flush();
    }
    this.bodyBytes += view.length;
    if (this.framing !== 'chunked') this.exchange.writeNow(view);
    else if (view.length <= SHARED_FRAME_MAX) this.exchange.writeNow(sharedFrame(slot, index, view));
    else this.exchange.write(frameChunk(view));
  }

  flush(urgent = false, written?: () => void): void {
    const batch = this.pending;
    if (batch.length === 0) {
      if (written) this.exchange.write(EMPTY, written);
      return;
    }
    this.pending = [];
    // A head with no body yet (a miss) leaves at once: the origin's first body bytes, read in the
    // same tick, are appended to the store first, and that can take a new slab (and the garbage
    // collection its size may set off) before a head batched to the end of the tick would have left.
    if (urgent && batch.length === 1 && !written) this.exchange.writeNow(batch[0]!);
    else this.exchange.write(batch.length === 1 ? batch[0]! : batch, written);
  }

  end(written?: () => void): void {
    if (this.finished) return;
    const held = this.takeHeld();
    if (held) {
      this.pending = [this.finalizeHead(held.head), ...held.body];
    } else if (this.framing === 'chunked') {
      this.pending.push(LAST_CHUNK);
    }
    this.finished = true;
    const batch = this.pending;
    this.pending = [];
    if (batch.length > 0 || written) this.exchange.write(batch.length === 0 ? EMPTY : batch.length === 1 ? batch[0]! : batch, written);
    this.exchange.end();
  }

  fail(reason: string, error: Partial<ErrorResponse> = {}): void {
    if (this.finished) return;
    this.finished = true;
    this.pending = [];
    if (this.headSent) return this.exchange.abort(reason);
    this.heldHead = null;
    this.heldBody = [];
    const payload = Buffer.from(`${error.reason ?? reason}\n`, 'utf8');
    const head: OutgoingHead = { source: 'error', status: error.status ?? 503, reason: '', headers: ERROR_TYPE, framing: 'length', length: payload.length, fields: this.options.errorFields };
    this.status = head.status;
    const text = this.finalizeHead(head, error.close === true);
    this.exchange.write(this.exchange.request.method === 'HEAD' ? text : [text, payload]);
    if (error.close) this.exchange.endAndClose();
    else this.exchange.end();
  }

  /**
   * Every head any response of this writer sends is finished here, errors and relays included:
   * the place for a field every response gets (Cache-Status) and for a hook on every response.
   */
  private finalizeHead(head: OutgoingHead, close = false): string {
    this.firstByteAt = performance.now();
    let lines = framingLine(head);
    if (head.fields) for (const [name, value] of head.fields) lines += `${name}: ${value}\r\n`;
    // K2: after the stored fields, so our Cache-Status entry follows any an upstream cache left (RFC 9211 §2).
    const served = this.options.servedAs?.(head);
    if (served) lines += served.cacheStatus ? `X-Cache: ${served.xCache}\r\nCache-Status: ${served.cacheStatus}\r\n` : `X-Cache: ${served.xCache}\r\n`;
    if (head.lateFields) for (const [name, value] of head.lateFields) lines += `${name}: ${value}\r\n`;
    const { persistent, request } = this.exchange;
    // A proxy-generated response says only `close` (an HTTP/1.0 keep-alive client is not told).
    const connection = head.source === 'error' ? (close || !persistent ? 'close' : undefined) : connectionField(persistent, request.version);
    if (connection) lines += `Connection: ${connection}\r\n`;
    // K3: the deliver hook sees every response, passes and the proxy's own errors included.
    if (this.options.deliver) return this.deliveredHead(head, lines);
    const block = head.http1Block ?? `HTTP/1.1 ${head.status} ${head.reason || reasonPhrase(head.status)}\r\n${head.headers.toLines()}`;
    return `${block}${lines}\r\n`;
  }

  /** The slow path, only with a deliver hook: the head as fields the embedder may edit. */
  private deliveredHead(head: OutgoingHead, lines: string): string {
    const headers = head.headers.clone();
    for (const line of lines.split('\r\n')) {
      if (!line) continue;
      const colon = line.indexOf(':');
      headers.append(line.slice(0, colon), line.slice(colon + 1).trim());
    }
    const ctx = { request: this.exchange.request, status: head.status, headers };
    this.options.deliver!(ctx);
    this.status = ctx.status;
    return `HTTP/1.1 ${ctx.status} ${reasonPhrase(ctx.status)}\r\n${headers.toLines()}\r\n`;
  }
}

/** The field that tells the client how the body is framed (F1, F2), or what a GET would get (F4). */
function framingLine(head: OutgoingHead): string {
  const framing = head.framing === 'none' ? head.advertise : head.framing;
  if (framing === 'length') return head.status === 204 ? '' : `Content-Length: ${head.length}\r\n`;
  if (framing === 'chunked') return 'Transfer-Encoding: chunked\r\n';
  return '';
}

/**
 * The newest small chunk of an object, framed: every caught-up chunked writer writes this same
 * buffer (an SSE event to thousands of subscribers is one allocation and one write call each).
 */
function sharedFrame(slot: LiveFrameSlot, index: number, chunk: Buffer): Buffer {
  const memo = slot.liveFrame;
  if (memo?.index === index) return memo.bytes;
  const bytes = framedChunk(chunk);
  slot.liveFrame = { index, bytes };
  return bytes;
}
