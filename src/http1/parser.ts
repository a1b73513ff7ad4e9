// A stream of HTTP/1.x messages in, heads and body spans out. Strict parsing only (SPEC P1): any
// ambiguity llhttp rejects is an error here, never repaired. The head-size limit (P2) is ours,
// because the wasm build of llhttp has none.
import { knownSpelling, lowerFieldName } from './field-names.js';
import { HeaderFields, trimOws } from './headers.js';
import {
  ERR_OK,
  ERR_PAUSED,
  ERR_PAUSED_UPGRADE,
  LlhttpHandle,
  type LlhttpCallbacks,
} from './llhttp.js';
import { isHttp10, type BodyFraming, type HttpVersion, type RequestHead, type ResponseHead } from './message.js';

export type ParseErrorKind =
  /** The bytes are not a valid HTTP/1.x message, or their framing is ambiguous. */
  | 'invalid'
  /** The head passed the configured size limit. */
  | 'head-too-large'
  /** The input ended inside a message (truncated body, or a head cut short). */
  | 'truncated';

export class ParseError extends Error {
  constructor(
    readonly kind: ParseErrorKind,
    message: string,
  ) {
    super(message);
    this.name = 'ParseError';
  }
}

export interface MessageEvents<H> {
  /** The head is complete. `framing` says how its body (if any) is delimited. */
  onHead(head: H, framing: BodyFraming): void;
  /** A view of body bytes (chunk framing removed). Valid as long as the caller keeps the input. */
  onBody(chunk: Buffer): void;
  /** The message ended; `keepAlive` is llhttp's verdict on reusing the connection. */
  onComplete(keepAlive: boolean): void;
}

export const DEFAULT_MAX_HEAD_SIZE = 16 * 1024;

/**
 * The most bytes a head can have after its last span: llhttp reports no position at the end of a
 * head, so we add the longest fixed ending there is (`HTTP/1.1 200\r\n\r\n`, a status line with
 * no reason and no field). The size we check is thus exact up to the last span, and an upper bound
 * at the end.
 */
const HEAD_END_MAX = 16;

// The Transfer-Encoding we relay: one field, exactly `chunked`. llhttp drops the whitespace before
// a value and keeps the spaces after it inside the same coding, but reads `chunked<TAB>` or
// `chunked,` as other codings: anything else is refused rather than read two ways (P1).
const TE_CHUNKED = /^chunked *$/i;
/** CTLs other than HTAB, which llhttp lets into a reason phrase (RFC 9112 §4 does not). */
const REASON_CTL = /[\x00-\x08\x0a-\x1f\x7f]/;
/** The first byte of "HTTP/": llhttp also takes "RTSP/" and "ICE/", and calls them HTTP/1.0. */
const HTTP_FIRST_BYTE = 0x48;
const EMPTY = Buffer.alloc(0);
/** Bytes of input turned into head text at a time: most heads fit, and little of a body read with its head is converted. */
const TEXT_WINDOW = 512;

type HeadState = 'between-messages' | 'in-head' | 'in-body' | 'in-trailers';

abstract class MessageParser<H> implements LlhttpCallbacks {
  protected readonly llhttp: LlhttpHandle;
  private state: HeadState = 'between-messages';
  private target = '';
  private reason = '';
  private fields: string[] = [];
  /**
   * The lower-cased name of each field so far, or null where it is still to be computed: a name
   * that arrived as a known spelling in one span has its literal here (no string cut, no
   * lower-casing); any other, or one continued in a later span, is lower-cased at the head's end.
   */
  private lowerNames: Array<string | null> = [];
  private lastWasValue = true;
  /**
   * What the current head says about its framing, read off the fields once at the head's end
   * (a lookup each was most of what framing a request cost).
   */
  protected hasTransferEncoding = false;
  /** The first Content-Length value as a number, or undefined when there is none. */
  protected contentLength: number | undefined = undefined;
  private error: ParseError | null = null;
  /** Set when the current message must be the connection's last, whatever llhttp says. */
  private mustClose = false;
  /** The last message closed the connection: no byte after it is parsed. */
  private closed = false;
  // Positions in the whole stream fed so far (a head may span feeds): `base` is the stream offset
  // of `input[0]`; the head (or trailer section) starts at `headStart`, its last span so far ends
  // at `spanEnd`.
  private input: Buffer = EMPTY;
  private base = 0;
  private headStart = 0;
  private spanEnd = 0;
  /** Where the protocol name starts, and its first byte once fed (-1 until then). */
  private protocolAt = 0;
  private protocolByte = -1;
  /**
   * Bytes still to come of a Content-Length body. Once llhttp has read a head, these bytes need no
   * parsing: feed() hands them to onBody itself, without copying them into wasm memory, and resets
   * llhttp when the body ends (a 1 GiB pass-through spent an eighth of its CPU on that copy).
   */
  private lengthLeft = 0;
  /**
   * A window of the current input's head bytes as one latin1 string, `input[textStart..textEnd]`:
   * spans are cut from it, one native conversion per head (or per window of a long one) instead
   * of one per span, which was a third of the time a request head took to parse.
   */
  private text = '';
  private textStart = 0;
  private textEnd = 0;

  constructor(
    type: 'request' | 'response',
    protected readonly events: MessageEvents<H>,
    private readonly maxHeadSize: number,
  ) {
    this.llhttp = new LlhttpHandle(type, this);
  }

  /**
   * Parses `input`. Returns null when all of it was consumed, else the error that stopped parsing.
   * After an error the parser stays failed: the connection must be closed.
   */
  feed(input: Buffer): ParseError | null {
    if (this.error) return this.error;
    if (this.closed) return input.length === 0 ? null : this.fail('invalid', 'data after the last message of the connection');
    this.input = input;
    this.textStart = this.textEnd = 0;
    this.peekProtocol(); // the protocol may start in this input, after a target that ended before
    let from = 0;
    if (this.lengthLeft > 0) {
      from = this.feedLengthBody(input);
      if (this.error) return this.error;
    }
    while (from < input.length) {
      const result = this.llhttp.execute(input, from);
      if (this.error) return this.error;
      if (result.errno === ERR_OK) break;
      if (this.closed && (result.errno === ERR_PAUSED || result.errno === ERR_PAUSED_UPGRADE)) {
        if (result.consumed < input.length) return this.fail('invalid', 'data after the last message of the connection');
        break;
      }
      if (result.errno === ERR_PAUSED_UPGRADE) {
        // We relay Upgrade requests as plain HTTP (Upgrade is hop-by-hop and never forwarded).
        this.llhttp.resumeAfterUpgrade();
        from = result.consumed;
        continue;
      }
      return this.fail('invalid', result.reason);
    }
    // A head still arriving counts every byte fed, whitespace outside spans included (P2).
    const inFields = this.state === 'in-head' || this.state === 'in-trailers';
    if (inFields && this.overLimit(this.base + input.length)) return this.fail('head-too-large', this.tooLarge());
    this.base += input.length;
    this.input = EMPTY;
    return null;
  }

  /**
   * The next bytes of a Content-Length body, straight to onBody; returns how many were taken. At
   * the body's end llhttp (which saw only its first bytes) starts afresh, and the message completes
   * here exactly as onMessageComplete would have completed it.
   */
  private feedLengthBody(input: Buffer): number {
    const taken = Math.min(this.lengthLeft, input.length);
    this.lengthLeft -= taken;
    this.events.onBody(input.subarray(0, taken));
    if (this.error || this.lengthLeft > 0) return taken;
    // llhttp, still inside the body, gives the verdict it would give at the body's end.
    const keepAlive = this.llhttp.shouldKeepAlive;
    this.llhttp.reset();
    if (this.completeMessage(keepAlive) === ERR_PAUSED && taken < input.length) {
      this.fail('invalid', 'data after the last message of the connection');
    }
    return taken;
  }

  /** The peer closed its side: completes a read-until-close body, or reports truncation. */
  finish(): ParseError | null {
    if (this.error) return this.error;
    if (this.state === 'between-messages') return null;
    const result = this.llhttp.finish();
    if (this.error) return this.error;
    // PAUSED: the completed message closed the connection (see onMessageComplete).
    if ((result.errno === ERR_OK || result.errno === ERR_PAUSED) && !this.inMessage) return null;
    return this.fail('truncated', result.reason || `connection closed ${this.state === 'in-head' ? 'inside the head' : 'inside the body'}`);
  }

  /**
   * Bytes still to come of the current Content-Length body (0 outside one): a reader may take
   * exactly this many into a buffer of its choosing and feed() them (src/net/origin-connection.ts).
   */
  get lengthBodyLeft(): number {
    return this.lengthLeft;
  }

  /** True while a message has started and not ended. */
  get inMessage(): boolean {
    return this.state !== 'between-messages';
  }

  get inHead(): boolean {
    return this.state === 'in-head';
  }

  close(): void {
    this.llhttp.free();
  }

  protected abstract buildHead(version: HttpVersion, status: number, target: string, reason: string, headers: HeaderFields): H;
  protected abstract framingOf(head: H, upgrade: boolean): BodyFraming;
  /** What this kind of message refuses beyond the common checks (a reason), before anyone sees it. */
  protected abstract rejectHead(head: H): string | null;
  /** True when this message must be the last of the connection (llhttp may think otherwise). */
  protected abstract closesConnection(head: H): boolean;
  /** The llhttp return value for headers-complete: 1 tells it the message has no body. */
  protected abstract skipBody(head: H): boolean;

  private fail(kind: ParseErrorKind, message: string): ParseError {
    this.error = new ParseError(kind, message);
    return this.error;
  }

  /** Fails the parse from inside a callback; the return value stops llhttp. */
  private stop(kind: ParseErrorKind, message: string): number {
    this.fail(kind, message);
    return -1;
  }

  /** True when the head, up to stream offset `end`, is over the limit. */
  private overLimit(end: number): boolean {
    return end - this.headStart > this.maxHeadSize;
  }

  private tooLarge(): string {
    return `head larger than ${this.maxHeadSize} bytes`;
  }

  /** A span of the head ends at `input[end]`. */
  private countHead(end: number): number {
    this.spanEnd = this.base + end;
    return this.overLimit(this.spanEnd) ? this.stop('head-too-large', this.tooLarge()) : 0;
  }

  /** Trailer fields are dropped, but counted as a head of their own (P2), from their first line. */
  private countTrailer(start: number, end: number): number {
    if (this.state === 'in-body') {
      this.state = 'in-trailers';
      this.headStart = this.base + start;
    }
    return this.countHead(end);
  }

  private peekProtocol(): void {
    const i = this.protocolAt - this.base;
    if (this.protocolByte < 0 && i >= 0 && i < this.input.length) this.protocolByte = this.input[i];
  }

  onMessageBegin(_buf: Buffer, at: number): void {
    this.state = 'in-head';
    this.headStart = this.spanEnd = this.base + at;
    this.target = '';
    this.reason = '';
    this.fields = [];
    this.lowerNames = [];
    this.lastWasValue = true;
    // A status line starts with the protocol; a request line has it after the target (onUrl).
    this.protocolAt = this.headStart;
    this.protocolByte = -1;
    this.peekProtocol();
  }

  /** The span `buf[start..end]` of a head, as a string. */
  private spanText(buf: Buffer, start: number, end: number): string {
    if (start < this.textStart || end > this.textEnd) {
      this.textStart = start;
      this.textEnd = Math.max(end, Math.min(buf.length, start + TEXT_WINDOW));
      this.text = buf.toString('latin1', start, this.textEnd);
    }
    return this.text.slice(start - this.textStart, end - this.textStart);
  }

  onUrl(buf: Buffer, start: number, end: number): number {
    this.target += this.spanText(buf, start, end);
    // The target may come in pieces: the protocol is one space after the end of the last one.
    this.protocolAt = this.base + end + 1;
    this.protocolByte = -1;
    this.peekProtocol();
    return this.countHead(end);
  }

  onStatus(buf: Buffer, start: number, end: number): number {
    this.reason += this.spanText(buf, start, end);
    return this.countHead(end);
  }

  onHeaderField(buf: Buffer, start: number, end: number): number {
    if (this.state !== 'in-head') return this.countTrailer(start, end);
    // A field name may arrive in several spans when its bytes straddle two reads.
    if (this.lastWasValue) {
      const known = knownSpelling(this.llhttp.spanView(), this.llhttp.spanOffset(start), end - start);
      // Stores at the end rather than push(), which V8 did not inline here (a builtin call each).
      const fields = this.fields;
      const n = fields.length;
      fields[n] = known === undefined ? this.spanText(buf, start, end) : known.raw;
      fields[n + 1] = '';
      this.lowerNames[n >> 1] = known === undefined ? null : known.lower;
      this.lastWasValue = false;
    } else {
      this.fields[this.fields.length - 2] += this.spanText(buf, start, end);
      this.lowerNames[this.lowerNames.length - 1] = null;
    }
    return this.countHead(end);
  }

  onHeaderValue(buf: Buffer, start: number, end: number): number {
    if (this.state !== 'in-head') return this.countTrailer(start, end);
    this.fields[this.fields.length - 1] += this.spanText(buf, start, end);
    this.lastWasValue = true;
    return this.countHead(end);
  }

  onHeadersComplete(status: number, upgrade: boolean): number {
    // From the last span, not from where a feed ended: the verdict must not depend on the split.
    if (this.overLimit(this.spanEnd + HEAD_END_MAX)) return this.stop('head-too-large', this.tooLarge());
    const version = { major: this.llhttp.httpMajor, minor: this.llhttp.httpMinor };
    // llhttp also parses HTTP/0.9 and 2.0 lines, and RTSP and ICE ones: we speak HTTP/1.0 and 1.1.
    if (version.major !== 1 || version.minor > 1 || this.protocolByte !== HTTP_FIRST_BYTE) {
      return this.stop('invalid', 'unsupported protocol or version (only HTTP/1.0 and HTTP/1.1)');
    }
    // Transfer-Encoding is judged on the raw values, before trimming (see TE_CHUNKED).
    const fields = this.fields;
    const lowerNames = this.lowerNames;
    let transferEncodings = 0;
    let chunked = false;
    let length: string | undefined; // the first Content-Length (llhttp refused several that differ)
    for (let i = 0; i < fields.length; i += 2) {
      const lower = lowerNames[i >> 1] ?? (lowerNames[i >> 1] = lowerFieldName(fields[i]));
      if (lower === 'transfer-encoding') {
        transferEncodings++;
        chunked = TE_CHUNKED.test(fields[i + 1]);
      }
      fields[i + 1] = trimOws(fields[i + 1]);
      if (lower === 'content-length' && length === undefined) length = fields[i + 1];
    }
    if (transferEncodings > 1 || (transferEncodings === 1 && !chunked)) {
      return this.stop('invalid', 'unsupported Transfer-Encoding (only one field saying chunked is relayed)');
    }
    const headers = new HeaderFields(fields, lowerNames as string[]);
    // The arrays are the head's now; the parser writes fields only in a head (trailers are
    // dropped), and the next message starts with new ones (onMessageBegin).
    const head = this.buildHead(version, status, this.target, this.reason, headers);
    if (length !== undefined && !Number.isSafeInteger(Number(length))) return this.stop('invalid', 'Content-Length too large');
    this.hasTransferEncoding = transferEncodings > 0;
    this.contentLength = length === undefined ? undefined : Number(length);
    const rejected = this.rejectHead(head);
    if (rejected) return this.stop('invalid', rejected);
    const framing = this.framingOf(head, upgrade);
    // What we announce must be how llhttp will read the body: the one thing it could differ on is
    // whether the body ends at the close.
    if (framing.kind !== 'none' && (framing.kind === 'close') !== this.llhttp.needsEof) {
      return this.stop('invalid', 'ambiguous body framing');
    }
    this.mustClose = this.closesConnection(head);
    this.state = 'in-body';
    const skip = this.skipBody(head);
    this.lengthLeft = framing.kind === 'length' && !skip ? framing.length : 0;
    this.events.onHead(head, framing);
    if (this.error) return -1;
    return skip ? 1 : 0;
  }

  onBody(buf: Buffer, start: number, end: number): number {
    if (this.lengthLeft > 0) this.lengthLeft -= end - start;
    this.events.onBody(buf.subarray(start, end));
    return this.error ? -1 : 0;
  }

  onMessageComplete(): number {
    // As at the end of a head: the last trailer line's ending is in no span.
    if (this.state === 'in-trailers' && this.overLimit(this.spanEnd + HEAD_END_MAX)) return this.stop('head-too-large', this.tooLarge());
    return this.completeMessage(this.llhttp.shouldKeepAlive);
  }

  /** The message ended: 0 to go on, ERR_PAUSED when it closes the connection, -1 on error. */
  private completeMessage(llhttpKeepAlive: boolean): number {
    this.lengthLeft = 0;
    this.state = 'between-messages';
    const keepAlive = llhttpKeepAlive && !this.mustClose;
    this.events.onComplete(keepAlive);
    if (this.error) return -1;
    if (keepAlive) return 0;
    // Stop here: what follows a closing message is never parsed as another one (F5).
    this.closed = true;
    return ERR_PAUSED;
  }

  /** Stops parsing from inside an event handler (e.g. the consumer refused the message). */
  abort(kind: ParseErrorKind, message: string): void {
    this.fail(kind, message);
  }
}

/** Parses the requests a client sends on one connection (pipelined or one by one). */
export class RequestParser extends MessageParser<RequestHead> {
  constructor(events: MessageEvents<RequestHead>, maxHeadSize = DEFAULT_MAX_HEAD_SIZE) {
    super('request', events, maxHeadSize);
  }

  protected buildHead(version: HttpVersion, _status: number, target: string, _reason: string, headers: HeaderFields): RequestHead {
    return { method: this.llhttp.methodName, target, version, headers };
  }

  protected rejectHead(head: RequestHead): string | null {
    // llhttp reads no body after CONNECT (RFC 9110 §9.3.6) but the next request: refuse any framing.
    if (head.method === 'CONNECT' && (this.contentLength !== undefined || this.hasTransferEncoding)) {
      return 'CONNECT with a body';
    }
    return null;
  }

  protected framingOf(head: RequestHead): BodyFraming {
    // llhttp has already rejected TE+CL and several differing CLs; TE is exactly chunked.
    if (this.hasTransferEncoding) return { kind: 'chunked' };
    const length = this.contentLength;
    return length ? { kind: 'length', length } : { kind: 'none' };
  }

  /**
   * We do not tunnel: what follows a CONNECT would be tunnel bytes, never HTTP to parse. And after
   * an HTTP/1.0 request with Transfer-Encoding, RFC 9112 §6.1 closes the connection (llhttp only
   * does so without `Connection: keep-alive`).
   */
  protected closesConnection(head: RequestHead): boolean {
    return head.method === 'CONNECT' || (isHttp10(head.version) && this.hasTransferEncoding);
  }

  protected skipBody(): boolean {
    return false;
  }
}

/** Parses the responses of one origin connection. The caller says which request each answers. */
export class ResponseParser extends MessageParser<ResponseHead> {
  /** Set before each response: true when it answers a HEAD request (its body is never sent). */
  expectNoBody = false;

  constructor(events: MessageEvents<ResponseHead>, maxHeadSize = DEFAULT_MAX_HEAD_SIZE) {
    super('response', events, maxHeadSize);
  }

  protected buildHead(version: HttpVersion, status: number, _target: string, reason: string, headers: HeaderFields): ResponseHead {
    return { status, reason, version, headers };
  }

  protected rejectHead(head: ResponseHead): string | null {
    return REASON_CTL.test(head.reason) ? 'control character in the reason phrase' : null;
  }

  protected framingOf(head: ResponseHead): BodyFraming {
    if (this.expectNoBody || responseStatusHasNoBody(head.status)) return { kind: 'none' };
    if (this.hasTransferEncoding) return { kind: 'chunked' };
    const length = this.contentLength;
    if (length !== undefined) return length === 0 ? { kind: 'none' } : { kind: 'length', length };
    return { kind: 'close' };
  }

  protected closesConnection(): boolean {
    return false;
  }

  protected skipBody(): boolean {
    return this.expectNoBody;
  }
}

/** 1xx, 204 and 304 responses never carry a body (RFC 9112 §6.3). */
export function responseStatusHasNoBody(status: number): boolean {
  return (status >= 100 && status < 200) || status === 204 || status === 304;
}
