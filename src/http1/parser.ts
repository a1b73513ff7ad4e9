// A stream of HTTP/1.x messages in, heads and body spans out. Strict parsing only (SPEC P1): any
// ambiguity llhttp rejects is an error here, never repaired. The head-size limit (P2) is ours,
// because the wasm build of llhttp has none.
import { HeaderFields } from './headers.js';
import {
  ERR_OK,
  ERR_PAUSED_UPGRADE,
  LlhttpHandle,
  type LlhttpCallbacks,
} from './llhttp.js';
import type { BodyFraming, HttpVersion, RequestHead, ResponseHead } from './message.js';

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

// Bytes of a line beside its spans: "GET" " " target " " "HTTP/1.1" CRLF; "Name" ":" " " value CRLF.
const REQUEST_LINE_OVERHEAD = 1 + 1 + 8 + 2;
const HEADER_LINE_OVERHEAD = 2 + 2;

type HeadState = 'between-messages' | 'in-head' | 'in-body';

abstract class MessageParser<H> implements LlhttpCallbacks {
  protected readonly llhttp: LlhttpHandle;
  private state: HeadState = 'between-messages';
  private headSize = 0;
  private target = '';
  private reason = '';
  private fields: string[] = [];
  private lastWasValue = true;
  private error: ParseError | null = null;

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
    let from = 0;
    for (;;) {
      const result = this.llhttp.execute(input, from);
      if (this.error) return this.error;
      if (result.errno === ERR_OK) return null;
      if (result.errno === ERR_PAUSED_UPGRADE) {
        // We relay Upgrade requests as plain HTTP (Upgrade is hop-by-hop and never forwarded).
        this.llhttp.resumeAfterUpgrade();
        from = result.consumed;
        continue;
      }
      return this.fail('invalid', result.reason);
    }
  }

  /** The peer closed its side: completes a read-until-close body, or reports truncation. */
  finish(): ParseError | null {
    if (this.error) return this.error;
    if (this.state === 'between-messages') return null;
    const result = this.llhttp.finish();
    if (this.error) return this.error;
    if (result.errno === ERR_OK && !this.inMessage) return null;
    return this.fail('truncated', result.reason || `connection closed ${this.state === 'in-head' ? 'inside the head' : 'inside the body'}`);
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
  /**
   * Framing llhttp lets through but we refuse (a reason), checked before anyone sees the head: we
   * only relay the chunked transfer coding, because a coding we dropped would corrupt the body.
   */
  protected rejectHead(head: H): string | null {
    const codings = (head as { headers: HeaderFields }).headers.tokens('transfer-encoding');
    if (codings.length === 0) return null;
    if (codings.length === 1 && codings[0] === 'chunked') return null;
    return `unsupported Transfer-Encoding "${codings.join(', ')}" (only chunked is relayed)`;
  }

  /** The llhttp return value for headers-complete: 1 tells it the message has no body. */
  protected abstract skipBody(head: H): boolean;

  private fail(kind: ParseErrorKind, message: string): ParseError {
    this.error = new ParseError(kind, message);
    return this.error;
  }

  private countHead(bytes: number): number {
    this.headSize += bytes;
    if (this.headSize > this.maxHeadSize) {
      this.fail('head-too-large', `head larger than ${this.maxHeadSize} bytes`);
      return -1;
    }
    return 0;
  }

  onMessageBegin(): number {
    this.state = 'in-head';
    this.headSize = REQUEST_LINE_OVERHEAD;
    this.target = '';
    this.reason = '';
    this.fields = [];
    this.lastWasValue = true;
    return 0;
  }

  onUrl(buf: Buffer, start: number, end: number): number {
    this.target += buf.toString('latin1', start, end);
    return this.countHead(end - start);
  }

  onStatus(buf: Buffer, start: number, end: number): number {
    this.reason += buf.toString('latin1', start, end);
    return this.countHead(end - start);
  }

  onHeaderField(buf: Buffer, start: number, end: number): number {
    // A field name may arrive in several spans when its bytes straddle two reads.
    if (this.lastWasValue) {
      this.fields.push(buf.toString('latin1', start, end), '');
      this.lastWasValue = false;
      return this.countHead(end - start + HEADER_LINE_OVERHEAD);
    }
    this.fields[this.fields.length - 2] += buf.toString('latin1', start, end);
    return this.countHead(end - start);
  }

  onHeaderValue(buf: Buffer, start: number, end: number): number {
    this.fields[this.fields.length - 1] += buf.toString('latin1', start, end);
    this.lastWasValue = true;
    return this.countHead(end - start);
  }

  onHeadersComplete(status: number, upgrade: boolean): number {
    for (let i = 1; i < this.fields.length; i += 2) this.fields[i] = this.fields[i].trim();
    const version = { major: this.llhttp.httpMajor, minor: this.llhttp.httpMinor };
    const head = this.buildHead(version, status, this.target, this.reason, new HeaderFields(this.fields));
    this.fields = [];
    const rejected = this.rejectHead(head);
    if (rejected) {
      this.fail('invalid', rejected);
      return -1;
    }
    const framing = this.framingOf(head, upgrade);
    this.state = 'in-body';
    this.events.onHead(head, framing);
    if (this.error) return -1;
    return this.skipBody(head) ? 1 : 0;
  }

  onBody(buf: Buffer, start: number, end: number): number {
    this.events.onBody(buf.subarray(start, end));
    return this.error ? -1 : 0;
  }

  onMessageComplete(): number {
    this.state = 'between-messages';
    this.events.onComplete(this.llhttp.shouldKeepAlive);
    return this.error ? -1 : 0;
  }

  /** Stops parsing from inside an event handler (e.g. the consumer refused the message). */
  abort(kind: ParseErrorKind, message: string): void {
    this.fail(kind, message);
  }
}

function contentLengthOf(headers: HeaderFields): number | undefined {
  const value = headers.get('content-length');
  return value === undefined ? undefined : Number(value);
}

/** Parses the requests a client sends on one connection (pipelined or one by one). */
export class RequestParser extends MessageParser<RequestHead> {
  constructor(events: MessageEvents<RequestHead>, maxHeadSize = DEFAULT_MAX_HEAD_SIZE) {
    super('request', events, maxHeadSize);
  }

  protected buildHead(version: HttpVersion, _status: number, target: string, _reason: string, headers: HeaderFields): RequestHead {
    return { method: this.llhttp.methodName, target, version, headers };
  }

  protected framingOf(head: RequestHead): BodyFraming {
    // llhttp has already rejected TE+CL, several differing CLs and non-chunked final codings.
    if (head.headers.has('transfer-encoding')) return { kind: 'chunked' };
    const length = contentLengthOf(head.headers);
    return length ? { kind: 'length', length } : { kind: 'none' };
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

  protected framingOf(head: ResponseHead): BodyFraming {
    if (this.expectNoBody || responseStatusHasNoBody(head.status)) return { kind: 'none' };
    const te = head.headers.tokens('transfer-encoding');
    if (te.length > 0) return te[te.length - 1] === 'chunked' ? { kind: 'chunked' } : { kind: 'close' };
    const length = contentLengthOf(head.headers);
    if (length !== undefined) return length === 0 ? { kind: 'none' } : { kind: 'length', length };
    return { kind: 'close' };
  }

  protected skipBody(): boolean {
    return this.expectNoBody;
  }
}

/** 1xx, 204 and 304 responses never carry a body (RFC 9112 §6.3). */
export function responseStatusHasNoBody(status: number): boolean {
  return (status >= 100 && status < 200) || status === 204 || status === 304;
}
