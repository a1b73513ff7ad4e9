// A scriptable origin on raw node:net (optionally TLS) whose every byte and fault is chosen by the
// test: exact heads, chunk framing that lies, resets mid-body, stalls, clean closes, slow drips.
//
//   const origin = await startScriptedOrigin(async (req, res) => {
//     if (req.target === '/slow') return res.send({ body: 'abc', framing: 'chunked', gapMs: 50 });
//     await res.head(200, [['Content-Length', '10']]);
//     await res.write('hello');
//     await res.reset();                       // RST after 5 of 10 bytes
//   });
//   ... origin.requests, origin.connections ...
//   await origin.close();
//
// Requests on one connection are answered one at a time, in order: the script for the next one
// starts when the previous script has returned (its promise settled) and every responder operation
// it started has finished. Responder operations run in the order they were called even when not
// awaited. After a response, the connection stays open for the next request unless the script
// ended it (end, reset, or send() with 'close' framing or a request that asked to close).
//
// Requests are parsed with the project's RequestParser (strict llhttp): a request it rejects is
// recorded in `errors` and answered with 400 and a close.
import net from 'node:net';
import tls from 'node:tls';
import { STATUS_CODES } from 'node:http';
import { RequestParser } from '../../src/http1/parser.js';
import type { BodyFraming, RequestHead } from '../../src/http1/message.js';
import type { BodySource } from './bytes.js';
import { LOOPBACK, closeServer, listenOnFreePort } from './ports.js';

export interface ReceivedRequest {
  readonly method: string;
  /** The request-target exactly as received. */
  readonly target: string;
  /** 'HTTP/1.1' or 'HTTP/1.0'. */
  readonly version: string;
  /** Header fields in order, names as received, values trimmed. */
  readonly headers: [string, string][];
  /** Every value of a field (case-insensitive) joined with ", ", or undefined. */
  header(name: string): string | undefined;
  headerAll(name: string): string[];
  /** The body bytes received so far (all of them when `complete`), chunk framing removed. */
  readonly body: Buffer;
  /** The whole request (head and body) has arrived. */
  readonly complete: boolean;
  /** Resolves with the body once complete, or with what arrived when the connection closed first. */
  readonly bodyDone: Promise<Buffer>;
  /** How the request body was framed. */
  readonly framing: 'none' | 'length' | 'chunked';
  /** 1, 2, 3, ... in order of accepted connections: equal ids mean a reused (keep-alive) connection. */
  readonly connectionId: number;
  /** 0 for the first request on its connection, 1 for the second, ... */
  readonly indexOnConnection: number;
  /** Date.now() when the head arrived. */
  readonly receivedAt: number;
  /** The request asked to close the connection (Connection: close, or HTTP/1.0 without keep-alive). */
  readonly wantsClose: boolean;
}

export interface SendSpec {
  /** Default 200. */
  status?: number;
  /** Sent exactly, in order. send() adds Content-Length ('length') or Transfer-Encoding: chunked
   * ('chunked') only when the list has no field of that name, so a test can send lying values. */
  headers?: [string, string][];
  /** Default empty. Strings are latin1. A BodySource (e.g. patternBody(1 << 30)) is sliced on demand. */
  body?: Buffer | string | BodySource;
  /** Default 'length'. 'close': neither Content-Length nor Transfer-Encoding; the connection ends after the body. */
  framing?: 'length' | 'chunked' | 'close';
  /**
   * Sizes of the successive body writes (the chunks, for 'chunked'); the last size repeats until the
   * body is out. Default: 64 KiB pieces. Sizes must be positive.
   */
  chunkSizes?: number[];
  /** Pause between body pieces, in ms. */
  gapMs?: number;
  /** Pause before the head, in ms. */
  delayHeadMs?: number;
  /** Status-line version HTTP/1.0 instead of HTTP/1.1. */
  http10?: boolean;
  /** Reason phrase; default the standard one for the status. */
  reason?: string;
  /**
   * Fail once exactly `byte` body bytes are out (for 'chunked', the piece holding that byte is cut
   * and sent as a complete, shorter chunk). 'reset' sends a RST (after a short settle, see reset()),
   * 'close' a clean FIN, 'stall' stops writing with the socket left open. For 'chunked', byte =
   * body length sends the whole body without the terminating chunk. `settleMs` is reset()'s.
   */
  failAt?: { byte: number; how: 'reset' | 'close' | 'stall'; settleMs?: number };
  /**
   * Body bytes are not sent (the head still says what it says). Default: true for a HEAD request
   * and for 1xx/204/304 statuses.
   */
  omitBody?: boolean;
  /** End the connection after the response. Default: true for 'close' framing or when the request
   * asked to close. */
  close?: boolean;
}

export interface HeadOptions {
  /** Pause before writing the head, in ms. */
  delayMs?: number;
  /** HTTP/1.0 status line. */
  http10?: boolean;
  /** Reason phrase; default the standard one for the status ('' if none). */
  reason?: string;
}

/**
 * Writes a response piece by piece. Every method returns a promise that settles when its bytes are
 * handed to the kernel (never rejects); once the connection is closed, stalled or reset, every
 * method does nothing.
 */
export interface ScriptedResponder {
  readonly connectionId: number;
  /** The socket the response goes out on (the TLS socket for a TLS origin). */
  readonly socket: net.Socket;
  /** Status line and header fields, then the empty line: `HTTP/1.1 <status> <reason>\r\n(<name>: <value>\r\n)*\r\n`. */
  head(status: number, headers?: [string, string][], opts?: HeadOptions): Promise<void>;
  /** Body bytes as they are (no framing). Strings are latin1. */
  write(bytes: Buffer | string): Promise<void>;
  /** Any bytes, as they are (same as write; reads better for malformed protocol). */
  raw(bytes: Buffer | string): Promise<void>;
  /** One chunk: `<hex size>\r\n<bytes>\r\n`. An empty `bytes` is the last-chunk line `0\r\n\r\n`. */
  chunk(bytes: Buffer | string): Promise<void>;
  /** The terminating chunk and trailer section: `0\r\n(<name>: <value>\r\n)*\r\n`. */
  lastChunk(trailers?: [string, string][]): Promise<void>;
  /** A chunk whose size line lies: `<hex declared>\r\n<actual>\r\n`. */
  lyingChunk(declared: number, actual: Buffer | string): Promise<void>;
  sleep(ms: number): Promise<void>;
  /** Never writes again on this connection (later operations are no-ops) and keeps it open. */
  stall(): Promise<void>;
  /** Clean close: a FIN after everything written. */
  end(): Promise<void>;
  /**
   * Abortive close (RST, `resetAndDestroy`). Linux discards the bytes a peer has received but not
   * yet read when a RST arrives (the lingering-close problem), so by default we wait `settleMs`
   * (50 ms) first to let the peer read what was written; pass 0 for an immediate RST. For a
   * deterministic test, make the script await something observable first (e.g. the client having
   * received those bytes through the proxy), then reset.
   */
  reset(opts?: { settleMs?: number }): Promise<void>;
  /** write(bytes), then end(). */
  closeAt(bytes: Buffer | string): Promise<void>;
  /** A whole response in one call; see SendSpec. */
  send(spec?: SendSpec): Promise<void>;
}

export type OriginScript = (req: ReceivedRequest, res: ScriptedResponder) => void | Promise<void>;

export interface ScriptedOriginOptions {
  /** Serve TLS with this key and certificate (see generateTestCertificate). */
  tls?: { key: string | Buffer; cert: string | Buffer };
  /** Listen address, default 127.0.0.1. */
  host?: string;
  /** Run the script as soon as a request head arrives, not when the request is complete
   * (`req.body` then grows; await `req.bodyDone`). */
  respondAtHead?: boolean;
}

export interface ScriptedOrigin {
  readonly port: number;
  /** `http://127.0.0.1:<port>` or `https://127.0.0.1:<port>`. */
  readonly url: string;
  /** `127.0.0.1:<port>`, for Host headers. */
  readonly authority: string;
  /** Every request received, in order of arrival of its head. */
  readonly requests: ReceivedRequest[];
  /** Connections accepted so far. */
  readonly connections: number;
  /** Connections currently open. */
  openConnections(): number;
  /** Requests the parser rejected and scripts that threw; empty in a healthy test. */
  readonly errors: string[];
  /** Resolves once at least `count` requests have arrived; rejects after `timeoutMs` (default 5000). */
  waitForRequests(count: number, timeoutMs?: number): Promise<void>;
  /** Resolves once no connection is open; rejects after `timeoutMs` (default 5000). */
  waitForNoConnections(timeoutMs?: number): Promise<void>;
  /** Stops listening, destroys every connection, cancels every pending sleep. */
  close(): Promise<void>;
}

const CRLF = Buffer.from('\r\n', 'latin1');
const DEFAULT_PIECE = 64 * 1024;
const DEFAULT_RESET_SETTLE_MS = 50;

function toBuffer(bytes: Buffer | string): Buffer {
  return typeof bytes === 'string' ? Buffer.from(bytes, 'latin1') : bytes;
}

function fieldLines(fields: [string, string][]): string {
  let out = '';
  for (const [name, value] of fields) out += `${name}: ${value}\r\n`;
  return out;
}

function findAll(fields: [string, string][], name: string): string[] {
  const lower = name.toLowerCase();
  return fields.filter(([n]) => n.toLowerCase() === lower).map(([, v]) => v);
}

class Request implements ReceivedRequest {
  readonly method: string;
  readonly target: string;
  readonly version: string;
  readonly headers: [string, string][];
  readonly framing: 'none' | 'length' | 'chunked';
  readonly receivedAt = Date.now();
  readonly wantsClose: boolean;
  readonly bodyDone: Promise<Buffer>;
  complete = false;
  private parts: Buffer[] = [];
  private joined: Buffer | undefined = Buffer.alloc(0);
  private settle!: (body: Buffer) => void;

  constructor(
    head: RequestHead,
    framing: BodyFraming,
    readonly connectionId: number,
    readonly indexOnConnection: number,
  ) {
    this.method = head.method;
    this.target = head.target;
    this.version = `HTTP/${head.version.major}.${head.version.minor}`;
    this.headers = [...head.headers.entries()];
    this.framing = framing.kind === 'length' || framing.kind === 'chunked' ? framing.kind : 'none';
    const connection = head.headers.tokens('connection');
    this.wantsClose = connection.includes('close') || (this.version === 'HTTP/1.0' && !connection.includes('keep-alive'));
    this.bodyDone = new Promise((resolve) => (this.settle = resolve));
  }

  header(name: string): string | undefined {
    const values = findAll(this.headers, name);
    return values.length === 0 ? undefined : values.join(', ');
  }

  headerAll(name: string): string[] {
    return findAll(this.headers, name);
  }

  get body(): Buffer {
    this.joined ??= Buffer.concat(this.parts);
    return this.joined;
  }

  append(chunk: Buffer): void {
    this.parts.push(Buffer.from(chunk)); // the parser hands out views of the socket's buffer
    this.joined = undefined;
  }

  finish(complete: boolean): void {
    this.complete = complete;
    this.settle(this.body);
  }
}

class Origin implements ScriptedOrigin {
  port = 0;
  url = '';
  authority = '';
  readonly requests: ReceivedRequest[] = [];
  readonly errors: string[] = [];
  connections = 0;
  readonly open = new Set<Connection>();
  readonly sleeps = new Map<NodeJS.Timeout, () => void>();
  closing = false;
  readonly server: net.Server;
  readonly secureContext: tls.SecureContext | undefined;
  private readonly changeWaiters = new Set<() => void>();

  constructor(
    readonly script: OriginScript,
    readonly opts: ScriptedOriginOptions,
  ) {
    this.secureContext = opts.tls ? tls.createSecureContext({ key: opts.tls.key, cert: opts.tls.cert }) : undefined;
    this.server = net.createServer({ allowHalfOpen: true }, (socket) => this.accept(socket));
    this.server.on('error', (err) => this.errors.push(`server error: ${err.message}`));
  }

  openConnections(): number {
    return this.open.size;
  }

  private accept(tcp: net.Socket): void {
    if (this.closing) {
      tcp.on('error', () => {});
      tcp.destroy();
      return;
    }
    this.connections++;
    const conn = new Connection(this, ++this.connectionSeq, tcp);
    this.open.add(conn);
    this.changed();
  }
  private connectionSeq = 0;

  sleep(ms: number): Promise<void> {
    if (this.closing) return Promise.resolve();
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        this.sleeps.delete(timer);
        resolve();
      }, ms);
      this.sleeps.set(timer, resolve);
    });
  }

  changed(): void {
    for (const w of [...this.changeWaiters]) w();
  }

  private waitUntil(condition: () => boolean, timeoutMs: number, what: () => string): Promise<void> {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.changeWaiters.delete(check);
        reject(new Error(`scripted origin: timed out after ${timeoutMs} ms waiting for ${what()}`));
      }, timeoutMs);
      const check = (): void => {
        if (!condition()) return;
        this.changeWaiters.delete(check);
        clearTimeout(timer);
        resolve();
      };
      this.changeWaiters.add(check);
      check();
    });
  }

  waitForRequests(count: number, timeoutMs = 5000): Promise<void> {
    return this.waitUntil(() => this.requests.length >= count, timeoutMs, () => `${count} requests (have ${this.requests.length})`);
  }

  waitForNoConnections(timeoutMs = 5000): Promise<void> {
    return this.waitUntil(() => this.open.size === 0, timeoutMs, () => `every connection to close (${this.open.size} open)`);
  }

  async close(): Promise<void> {
    this.closing = true;
    const closed = closeServer(this.server);
    for (const [timer, resolve] of this.sleeps) {
      clearTimeout(timer);
      resolve();
    }
    this.sleeps.clear();
    const gone = [...this.open].map((c) => c.destroy());
    await Promise.all([closed, ...gone]);
  }
}

class Connection {
  /** The socket HTTP goes over (TLS or plain). */
  readonly socket: net.Socket;
  private readonly parser: RequestParser;
  private readonly queue: Request[] = [];
  private current: Request | undefined;
  private requestCount = 0;
  private busy = false;
  stalled = false;
  dead = false;
  private peerEnded = false;
  private parseFailed = false;
  private readonly closed: Promise<void>;

  constructor(
    private readonly origin: Origin,
    readonly id: number,
    private readonly tcp: net.Socket,
  ) {
    tcp.on('error', () => {});
    this.socket = origin.secureContext
      ? new tls.TLSSocket(tcp, { isServer: true, secureContext: origin.secureContext })
      : tcp;
    this.socket.on('error', () => {}); // peers reset connections; that is what tests do
    this.closed = new Promise((resolve) => this.socket.once('close', () => resolve()));

    this.parser = new RequestParser({
      onHead: (head, framing) => {
        const req = new Request(head, framing, this.id, this.requestCount++);
        this.current = req;
        origin.requests.push(req);
        origin.changed();
        if (origin.opts.respondAtHead) this.enqueue(req);
      },
      onBody: (chunk) => this.current?.append(chunk),
      onComplete: () => {
        const req = this.current;
        this.current = undefined;
        if (!req) return;
        req.finish(true);
        if (!origin.opts.respondAtHead) this.enqueue(req);
      },
    });

    this.socket.on('data', (chunk: Buffer) => {
      if (this.parseFailed || this.dead) return;
      const err = this.parser.feed(chunk);
      if (err) this.failParse(`${err.kind}: ${err.message}`);
    });
    this.socket.on('end', () => {
      this.peerEnded = true;
      // A request cut short by the peer is not an error of the test: it stays `complete: false`.
      this.current?.finish(false);
      this.current = undefined;
      this.maybeEnd();
    });
    this.socket.on('close', () => {
      this.dead = true;
      this.parser.close();
      this.current?.finish(false);
      this.current = undefined;
      origin.open.delete(this);
      origin.changed();
    });
  }

  private failParse(message: string): void {
    this.parseFailed = true;
    this.origin.errors.push(`connection ${this.id}: request rejected by the parser: ${message}`);
    this.current?.finish(false);
    this.current = undefined;
    if (this.busy) {
      this.destroy();
    } else if (this.socket.writable) {
      this.socket.end('HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\nConnection: close\r\n\r\n');
    }
  }

  private enqueue(req: Request): void {
    this.queue.push(req);
    void this.pump();
  }

  private async pump(): Promise<void> {
    if (this.busy) return;
    this.busy = true;
    while (this.queue.length > 0 && !this.dead && !this.stalled) {
      const req = this.queue.shift() as Request;
      const res = new Responder(this.origin, this, req);
      try {
        await this.origin.script(req, res);
      } catch (err) {
        this.origin.errors.push(`script threw for ${req.method} ${req.target}: ${(err as Error)?.stack ?? String(err)}`);
        await this.destroy();
      }
      await res.settled();
    }
    this.busy = false;
    this.maybeEnd();
  }

  /** The peer half-closed: end our side once every queued request is answered. */
  private maybeEnd(): void {
    if (this.peerEnded && !this.busy && !this.stalled && !this.dead && this.queue.length === 0 && this.socket.writable) {
      this.socket.end();
    }
  }

  get writable(): boolean {
    return !this.dead && !this.stalled && this.socket.writable && !this.socket.destroyed;
  }

  /** Settles when the latest write so far has been handed to the kernel (and so every earlier one). */
  private lastWrite: Promise<void> = Promise.resolve();

  /**
   * Writes `buffers` (corked into one writev). By default resolves once they are handed to the
   * kernel. With `flush: false` it resolves as soon as the socket accepts more (at once, or on
   * 'drain'): for bulk bodies, where waiting for each write's callback would halve throughput.
   */
  write(buffers: Buffer[], flush = true): Promise<void> {
    if (!this.writable) return Promise.resolve();
    const socket = this.socket;
    let more = true;
    this.lastWrite = new Promise((resolve) => {
      socket.cork();
      for (let i = 0; i < buffers.length - 1; i++) socket.write(buffers[i]);
      more = socket.write(buffers[buffers.length - 1], () => resolve());
      socket.uncork();
    });
    if (flush) return this.lastWrite;
    if (more) return Promise.resolve();
    return new Promise((resolve) => {
      const done = (): void => {
        socket.off('drain', done);
        socket.off('close', done);
        resolve();
      };
      socket.on('drain', done);
      socket.on('close', done);
    });
  }

  /** Resolves once everything written so far is handed to the kernel. */
  flush(): Promise<void> {
    return this.lastWrite;
  }

  end(): Promise<void> {
    if (!this.writable) return Promise.resolve();
    return new Promise((resolve) => {
      this.socket.end(() => resolve());
      // 'finish' may never come if the peer resets; 'close' settles it too.
      this.socket.once('close', () => resolve());
    });
  }

  reset(): Promise<void> {
    if (this.dead) return Promise.resolve();
    this.dead = true;
    this.tcp.resetAndDestroy();
    if (this.socket !== this.tcp) this.socket.destroy();
    return this.closed;
  }

  destroy(): Promise<void> {
    this.dead = true;
    this.tcp.destroy();
    if (this.socket !== this.tcp) this.socket.destroy();
    return this.closed;
  }
}

class Responder implements ScriptedResponder {
  private chain: Promise<void> = Promise.resolve();

  constructor(
    private readonly origin: Origin,
    private readonly conn: Connection,
    private readonly req: Request,
  ) {}

  get connectionId(): number {
    return this.conn.id;
  }

  get socket(): net.Socket {
    return this.conn.socket;
  }

  /** Resolves when every operation called so far has finished. */
  settled(): Promise<void> {
    return this.chain;
  }

  private enqueue(op: () => Promise<void>): Promise<void> {
    const next = this.chain.then(op).catch((err: unknown) => {
      this.origin.errors.push(`responder operation failed: ${(err as Error)?.stack ?? String(err)}`);
    });
    this.chain = next;
    return next;
  }

  head(status: number, headers: [string, string][] = [], opts: HeadOptions = {}): Promise<void> {
    return this.enqueue(() => this.doHead(status, headers, opts));
  }
  write(bytes: Buffer | string): Promise<void> {
    return this.enqueue(() => this.conn.write([toBuffer(bytes)]));
  }
  raw(bytes: Buffer | string): Promise<void> {
    return this.write(bytes);
  }
  chunk(bytes: Buffer | string): Promise<void> {
    return this.enqueue(() => this.doChunk(toBuffer(bytes)));
  }
  lastChunk(trailers: [string, string][] = []): Promise<void> {
    return this.enqueue(() => this.conn.write([Buffer.from(`0\r\n${fieldLines(trailers)}\r\n`, 'latin1')]));
  }
  lyingChunk(declared: number, actual: Buffer | string): Promise<void> {
    return this.enqueue(() => this.conn.write([Buffer.from(`${declared.toString(16)}\r\n`, 'latin1'), toBuffer(actual), CRLF]));
  }
  sleep(ms: number): Promise<void> {
    return this.enqueue(() => this.origin.sleep(ms));
  }
  stall(): Promise<void> {
    return this.enqueue(async () => {
      this.conn.stalled = true;
    });
  }
  end(): Promise<void> {
    return this.enqueue(() => this.conn.end());
  }
  reset(opts: { settleMs?: number } = {}): Promise<void> {
    return this.enqueue(() => this.doReset(opts.settleMs ?? DEFAULT_RESET_SETTLE_MS));
  }
  closeAt(bytes: Buffer | string): Promise<void> {
    return this.enqueue(async () => {
      await this.conn.write([toBuffer(bytes)]);
      await this.conn.end();
    });
  }
  send(spec: SendSpec = {}): Promise<void> {
    return this.enqueue(() => this.doSend(spec));
  }

  private async doHead(status: number, headers: [string, string][], opts: HeadOptions): Promise<void> {
    if (opts.delayMs) await this.origin.sleep(opts.delayMs);
    const reason = opts.reason ?? STATUS_CODES[status] ?? '';
    const head = `HTTP/1.${opts.http10 ? 0 : 1} ${status} ${reason}\r\n${fieldLines(headers)}\r\n`;
    await this.conn.write([Buffer.from(head, 'latin1')]);
  }

  private doChunk(data: Buffer, flush = true): Promise<void> {
    return this.conn.write([Buffer.from(`${data.length.toString(16)}\r\n`, 'latin1'), data, CRLF], flush);
  }

  private async doReset(settleMs: number): Promise<void> {
    if (!this.conn.writable && this.conn.stalled) return; // stalled: nothing more happens
    if (settleMs > 0) await this.origin.sleep(settleMs);
    await this.conn.reset();
  }

  private async doSend(spec: SendSpec): Promise<void> {
    const status = spec.status ?? 200;
    const framing = spec.framing ?? 'length';
    const body: BodySource = typeof spec.body === 'string' ? Buffer.from(spec.body, 'latin1') : (spec.body ?? Buffer.alloc(0));
    const headers = [...(spec.headers ?? [])];
    if (framing === 'length' && findAll(headers, 'content-length').length === 0) headers.push(['Content-Length', String(body.length)]);
    if (framing === 'chunked' && findAll(headers, 'transfer-encoding').length === 0) headers.push(['Transfer-Encoding', 'chunked']);
    const noBody = spec.omitBody ?? (this.req.method === 'HEAD' || (status >= 100 && status < 200) || status === 204 || status === 304);
    const sizes = spec.chunkSizes && spec.chunkSizes.length > 0 ? spec.chunkSizes : [DEFAULT_PIECE];
    if (sizes.some((n) => !(n > 0) || !Number.isInteger(n))) throw new Error(`send: chunkSizes must be positive integers, got ${sizes.join(',')}`);

    await this.doHead(status, headers, { delayMs: spec.delayHeadMs, http10: spec.http10, reason: spec.reason });

    const failAt = spec.failAt;
    const stopAt = failAt ? Math.min(failAt.byte, body.length) : body.length;
    if (!noBody) {
      let offset = 0;
      let piece = 0;
      while (offset < stopAt && this.conn.writable) {
        if (piece > 0 && spec.gapMs) await this.origin.sleep(spec.gapMs);
        const size = sizes[Math.min(piece, sizes.length - 1)];
        const end = Math.min(offset + size, stopAt);
        const data = body.subarray(offset, end);
        // Each piece is on the wire before a gap; without gaps, only socket backpressure paces us.
        const flush = Boolean(spec.gapMs);
        if (framing === 'chunked') await this.doChunk(data, flush);
        else await this.conn.write([data], flush);
        offset = end;
        piece++;
      }
      await this.conn.flush();
    }

    if (failAt) {
      if (failAt.how === 'reset') return this.doReset(failAt.settleMs ?? DEFAULT_RESET_SETTLE_MS);
      if (failAt.how === 'close') return this.conn.end();
      this.conn.stalled = true;
      return;
    }
    if (framing === 'chunked' && !noBody) await this.conn.write([Buffer.from('0\r\n\r\n', 'latin1')]);
    if (spec.close ?? (framing === 'close' || this.req.wantsClose)) await this.conn.end();
  }
}

/** Starts a scripted origin on an ephemeral loopback port. */
export async function startScriptedOrigin(script: OriginScript, opts: ScriptedOriginOptions = {}): Promise<ScriptedOrigin> {
  const origin = new Origin(script, opts);
  const host = opts.host ?? LOOPBACK;
  origin.port = await listenOnFreePort(origin.server, host);
  origin.authority = `${host}:${origin.port}`;
  origin.url = `${opts.tls ? 'https' : 'http'}://${origin.authority}`;
  return origin;
}
