// T2: an ESI include is fetched through the cache like any client request (recv hook and rules,
// hit, collapse onto a fetch in flight, miss: the same pipeline and cache-flow code), by an
// in-process client: a ClientExchange whose host is a buffer instead of a socket. What the proxy
// writes to it is read back with our own strict response parser into status, fields and body.
// Fragment requests are marked (src/proxy/esi/fragment.ts). The proxy is reached through
// ctx.dispatch, injected by createProxy: this module does not import the pipeline.
import { ClientExchange, type ExchangeHost, type OutgoingBytes } from '../../net/client-exchange.js';
import type { HeaderFields } from '../../http1/headers.js';
import type { RequestHead, ResponseHead } from '../../http1/message.js';
import { ResponseParser } from '../../http1/parser.js';
import type { ProxyContext } from '../context.js';
import { markFragmentRequest } from './fragment.js';

export { includePathOf, isEsiFragmentRequest } from './fragment.js';

export interface SubResponse {
  status: number;
  reason: string;
  headers: HeaderFields;
  body: Buffer;
}

export interface SubrequestOptions {
  /** The page client's address (X-Forwarded-For, access log). */
  clientAddress: string;
  /** The include path of the fragment: its ancestors, then itself. */
  includePath: readonly string[];
  /** Largest body taken (the non-streaming limit, L1); past it the fragment fails. */
  maxBodyBytes: number;
}

/** Head bytes allowed beside the body, and the head size the reading parser accepts. */
const HEAD_ALLOWANCE = 1024 * 1024;

/** The in-process client's side of the exchange: collects what the proxy writes. */
class BufferHost implements ExchangeHost {
  readonly bufferedBytes = 0;
  exchange: ClientExchange | null = null;
  private readonly chunks: Buffer[] = [];
  private bytes = 0;
  private over = false;

  constructor(
    readonly remoteAddress: string,
    private readonly maxBytes: number,
    private readonly done: (result: SubResponse | string) => void,
  ) {}

  canPersist(): boolean {
    return true;
  }

  write(data: OutgoingBytes | readonly OutgoingBytes[], onWritten?: (err?: Error | null) => void): boolean {
    if (!this.over) {
      // Views of the store are only valid until onWritten: keep copies.
      for (const piece of Array.isArray(data) ? data : [data as OutgoingBytes]) {
        if (piece.length === 0) continue;
        this.chunks.push(typeof piece === 'string' ? Buffer.from(piece, 'latin1') : Buffer.from(piece));
        this.bytes += piece.length;
      }
      if (this.bytes > this.maxBytes) this.overflow();
    }
    if (onWritten) queueMicrotask(() => onWritten(null));
    return true;
  }

  writeNow(data: OutgoingBytes): boolean {
    return this.write(data);
  }

  waitDrain(_exchange: ClientExchange, callback: () => void): void {
    setImmediate(callback);
  }

  resumeReading(): void {}

  exchangeEnded(_exchange: ClientExchange, abrupt: boolean, reason?: string): void {
    if (this.over) return;
    if (abrupt) return this.done(`response cut short${reason ? ` (${reason})` : ''}`);
    // Not now: this may run inside a callback of the (one, shared, non-re-entrant) llhttp parser
    // that is reading the origin's or a client's bytes.
    const bytes = Buffer.concat(this.chunks, this.bytes);
    queueMicrotask(() => this.done(parseResponse(bytes)));
  }

  /** Too big for an include: the producer is told its client left (R8) and the fragment fails. */
  private overflow(): void {
    this.over = true;
    this.chunks.length = 0;
    this.done(`fragment passed the maximum object size (${this.maxBytes - HEAD_ALLOWANCE} bytes)`);
    const exchange = this.exchange;
    queueMicrotask(() => exchange?.clientGone());
  }
}

/** The one response the proxy wrote, or why it cannot be read as one. */
function parseResponse(bytes: Buffer): SubResponse | string {
  const got: { head: ResponseHead | null; body: Buffer[]; complete: boolean } = { head: null, body: [], complete: false };
  const parser = new ResponseParser(
    {
      onHead(head) {
        if (head.status >= 200) got.head = head;
      },
      onBody(chunk) {
        if (got.head) got.body.push(chunk);
      },
      onComplete() {
        if (got.head) got.complete = true;
      },
    },
    HEAD_ALLOWANCE,
  );
  const error = parser.feed(bytes) ?? parser.finish();
  if (error) return `unreadable response (${error.message})`;
  if (!got.head || !got.complete) return 'incomplete response';
  return { status: got.head.status, reason: got.head.reason, headers: got.head.headers, body: Buffer.concat(got.body) };
}

/** Runs `request` through the proxy as an in-process client; resolves with the response, or a reason. */
export function subrequest(ctx: ProxyContext, request: RequestHead, options: SubrequestOptions): Promise<SubResponse | string> {
  return new Promise((resolve) => {
    let settled = false;
    const settle = (result: SubResponse | string) => {
      if (settled) return;
      settled = true;
      resolve(result);
    };
    const host = new BufferHost(options.clientAddress, options.maxBodyBytes + HEAD_ALLOWANCE, settle);
    const exchange = new ClientExchange(host, markFragmentRequest(request, options.includePath), { kind: 'none' }, true);
    host.exchange = exchange;
    try {
      ctx.dispatch(exchange);
    } catch (err) {
      settle(`proxy error: ${err instanceof Error ? err.message : String(err)}`);
    }
  });
}
