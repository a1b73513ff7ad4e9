// Reads back an HTTP/1.1 response that this proxy itself wrote (our serializer's heads, our chunk
// framing), so that a client speaking another protocol (HTTP/2, src/net/h2-stream-host.ts) can be
// served by the same response paths. It is not a parser for a peer's bytes: those go through
// llhttp (src/http1/parser.ts), strictly. llhttp cannot be used here because a response is often
// written from inside the origin parser's own callback, and the wasm parser is not re-entrant.
// What we write is well-formed by construction; anything else is reported, never repaired.
import { HeaderFields } from './headers.js';
import { responseStatusHasNoBody } from './parser.js';

export interface OwnResponseEvents {
  /** The head; `bodyless` when no body follows (HEAD, 1xx, 204, 304, Content-Length: 0). */
  onHead(status: number, headers: HeaderFields, bodyless: boolean): void;
  /** Body bytes, chunk framing removed: views of the input, not copies. */
  onBody(chunk: Buffer): void;
}

/**
 * head       collecting the head's bytes
 * size       inside a chunk-size line
 * data       inside chunk data (`remaining` bytes left)
 * data-crlf  the CRLF after chunk data
 * trailer    after the last chunk, until the blank line
 * body       a Content-Length body or one that ends with the response
 * done       the message is complete
 */
type DecoderState = 'head' | 'size' | 'data' | 'data-crlf' | 'trailer' | 'body' | 'done';

const HEAD_END = Buffer.from('\r\n\r\n', 'latin1');
const STATUS_LINE = /^HTTP\/1\.[01] (\d{3})(?: .*)?$/;

export class OwnResponseDecoder {
  private state: DecoderState = 'head';
  private head: Buffer = Buffer.alloc(0);
  private line = '';
  private remaining = 0;
  private chunked = false;

  constructor(
    private readonly events: OwnResponseEvents,
    /** The request was HEAD: the head says what a GET would get, and no body follows. */
    private readonly headRequest: boolean,
  ) {}

  get complete(): boolean {
    return this.state === 'done';
  }

  /** Returns an error message when the bytes are not a response we could have written. */
  feed(input: Buffer): string | null {
    let at = 0;
    while (at < input.length) {
      switch (this.state) {
        case 'head': {
          const result = this.feedHead(input, at);
          if (typeof result === 'string') return result;
          at = result;
          break;
        }
        case 'size': {
          const lf = input.indexOf(0x0a, at);
          const end = lf < 0 ? input.length : lf + 1;
          this.line += input.toString('latin1', at, end);
          at = end;
          if (lf < 0) break;
          const size = parseInt(this.line, 16);
          this.line = '';
          if (!Number.isSafeInteger(size) || size < 0) return 'invalid chunk size';
          this.remaining = size;
          this.state = size === 0 ? 'trailer' : 'data';
          break;
        }
        case 'data':
        case 'body': {
          const take = Math.min(this.remaining, input.length - at); // Infinity: until the response ends
          if (take > 0) this.events.onBody(input.subarray(at, at + take));
          at += take;
          this.remaining -= take;
          if (this.remaining === 0) this.state = this.state === 'data' ? 'data-crlf' : 'done';
          break;
        }
        case 'data-crlf': {
          this.line += input.toString('latin1', at, at + 1);
          at++;
          if (this.line.length === 2) {
            if (this.line !== '\r\n') return 'chunk data not followed by CRLF';
            this.line = '';
            this.state = 'size';
          }
          break;
        }
        case 'trailer': {
          // We write no trailers: the last chunk is `0\r\n\r\n`.
          const lf = input.indexOf(0x0a, at);
          at = lf < 0 ? input.length : lf + 1;
          if (lf >= 0) this.state = 'done';
          break;
        }
        case 'done':
          return 'bytes after the end of the response';
      }
    }
    return null;
  }

  private feedHead(input: Buffer, at: number): number | string {
    const seen = this.head.length;
    this.head = seen === 0 && at === 0 ? input : Buffer.concat([this.head, input.subarray(at)]);
    const end = this.head.indexOf(HEAD_END, Math.max(0, seen - 3));
    if (end < 0) {
      if (seen === 0 && at === 0) this.head = Buffer.from(input); // the caller's buffer may be reused
      return input.length;
    }
    const text = this.head.toString('latin1', 0, end);
    const consumed = end + HEAD_END.length - seen; // bytes of this input that belonged to the head
    this.head = Buffer.alloc(0);
    const lines = text.split('\r\n');
    const status = STATUS_LINE.exec(lines[0]);
    if (!status) return `not a status line: ${JSON.stringify(lines[0].slice(0, 40))}`;
    const raw: string[] = [];
    for (let i = 1; i < lines.length; i++) {
      const colon = lines[i].indexOf(':');
      if (colon <= 0) return `not a field line: ${JSON.stringify(lines[i].slice(0, 40))}`;
      raw.push(lines[i].slice(0, colon), lines[i].slice(colon + 1).trim());
    }
    const headers = new HeaderFields(raw);
    const code = Number(status[1]);
    if (code < 200) {
      // An interim response (100 Continue): the final one follows.
      this.events.onHead(code, headers, true);
      return at + consumed;
    }
    this.chunked = headers.tokens('transfer-encoding').includes('chunked');
    const length = headers.get('content-length');
    const bodyless = this.headRequest || responseStatusHasNoBody(code) || (!this.chunked && length !== undefined && Number(length) === 0);
    this.events.onHead(code, headers, bodyless);
    if (bodyless) this.state = 'done';
    else if (this.chunked) this.state = 'size';
    else {
      this.state = 'body';
      this.remaining = length === undefined ? Infinity : Number(length);
    }
    return at + consumed;
  }
}
