// One connection to the origin, plain TCP or TLS, carrying one request at a time (we always speak
// HTTP/1.1 to origins, V4). It applies Fastly's three fetch timeouts (O1) and turns every way a
// response can go wrong into one OriginError that says whether the head had arrived (503) or not.
//
// States, changed only in `enter()`:
//   connecting      TCP (and TLS) handshake under the connect timeout
//   idle            connected, no request; waiting in the pool
//   awaiting-head   request sent; the first-byte timeout runs until the response's first byte
//   receiving       response bytes are arriving; the between-bytes timeout runs between reads
//   closed          the socket is gone
import net from 'node:net';
import tls from 'node:tls';
import { ResponseParser, type ParseError } from '../http1/parser.js';
import { Deadline } from './deadline.js';
import type { BodyFraming, ResponseHead } from '../http1/message.js';

export type OriginConnectionState = 'connecting' | 'idle' | 'awaiting-head' | 'receiving' | 'closed';

export type OriginFailure =
  | 'connect-failed'
  | 'connect-timeout'
  | 'queue-timeout'
  | 'first-byte-timeout'
  | 'between-bytes-timeout'
  | 'reset'
  | 'premature-close'
  | 'invalid-response';

export class OriginError extends Error {
  constructor(
    readonly kind: OriginFailure,
    /** `head`: no response head was received (a 503 can still be sent); `body`: it was. */
    readonly phase: 'head' | 'body',
    message: string,
    /** True when nothing of the response was received on a reused connection: a bodiless request may be retried. */
    readonly retryable = false,
  ) {
    super(message);
    this.name = 'OriginError';
  }
}

export interface OriginResponseHandler {
  onHead(head: ResponseHead, framing: BodyFraming): void;
  /** A 1xx interim response other than 100 Continue (103 Early Hints, 102): it precedes onHead. */
  onInterim?(head: ResponseHead): void;
  /** Body bytes, chunk framing removed. A view: copy it if you keep it past the call. */
  onBody(chunk: Buffer): void;
  onEnd(): void;
  onError(error: OriginError): void;
  /**
   * Where the next read of a Content-Length body may land (at most `max` bytes, all of them body):
   * a buffer the handler owns, e.g. the store's next bytes, or null for the connection's own. The
   * bytes read come back through onBody as a view of its start. The buffer must stay the
   * handler's until the read lands or the connection closes.
   */
  bodyTarget?(max: number): Buffer | null;
}

export interface OriginTarget {
  host: string;
  port: number;
  tls: boolean;
  servername?: string;
  ca?: string | Buffer;
  insecure: boolean;
}

export interface OriginTimeouts {
  connectTimeout: number;
  firstByteTimeout: number;
  betweenBytesTimeout: number;
  /** An idle keep-alive connection closes after this long, before the origin closes it under us. */
  idleTimeout: number;
}

export interface OriginConnectionEvents {
  /** The response ended and the connection may carry another request. */
  onReusable(connection: OriginConnection): void;
  onClosed(connection: OriginConnection): void;
  /** Idle for the idle timeout: the pool drops it. */
  onIdleTimeout(connection: OriginConnection): void;
  /** Bytes read from the origin, for the stats. */
  onBytesIn(count: number): void;
}

export class OriginConnection {
  private connState: OriginConnectionState = 'connecting';
  private readonly socket: net.Socket;
  private readonly parser: ResponseParser;
  private handler: OriginResponseHandler | null = null;
  private readonly timer = new Deadline();
  private paused = false;
  private responseDone = false;
  private keepAlive = false;
  private interim = false;
  /** Whether this response's head reached the handler: decides 503 versus abrupt close upstream. */
  private headDelivered = false;
  private bytesThisResponse = 0;
  private connectWaiter: ((error: OriginError | null) => void) | null = null;
  /** Bytes read since reading last gave way to the rest of the event loop (mayReadOn). */
  private bytesSinceYield = 0;
  private yieldTurn: NodeJS.Immediate | null = null;
  private readonly onIdleTimeout = (): void => this.events.onIdleTimeout(this);
  private readonly onFirstByteTimeout = (): void => this.fail(this.timeoutError('first-byte-timeout', this.timeouts.firstByteTimeout));
  private readonly onBetweenBytesTimeout = (): void => this.fail(this.timeoutError('between-bytes-timeout', this.timeouts.betweenBytesTimeout));
  /** How many responses this connection has completed: a reused connection may have gone stale. */
  completed = 0;
  /** Opened before any request (OriginPool.preconnect): idle since, so it may have gone stale too. */
  openedAhead = false;

  constructor(
    target: OriginTarget,
    private readonly timeouts: OriginTimeouts,
    private readonly events: OriginConnectionEvents,
    onConnected: (error: OriginError | null) => void,
  ) {
    this.connectWaiter = onConnected;
    this.parser = new ResponseParser({
      onHead: (head, framing) => this.onResponseHead(head, framing),
      onBody: (chunk) => this.handler?.onBody(chunk),
      onComplete: (keepAlive) => this.onResponseComplete(keepAlive),
    });
    const options = { host: target.host, port: target.port, noDelay: true, allowHalfOpen: true };
    if (target.tls) {
      this.socket = tls.connect({ ...options, servername: target.servername, ca: target.ca, rejectUnauthorized: !target.insecure, ALPNProtocols: ['http/1.1'] });
      this.socket.on('data', (chunk: Buffer) => this.onData(chunk));
    } else {
      // Plain TCP reads land in an arena of ours (up to 2 MiB per read instead of Node's 64 KiB),
      // or, inside a Content-Length body, wherever the handler says: straight into the store.
      const arena = new ReadArena();
      this.socket = net.connect({
        ...options,
        onread: {
          // Node asks for the next read's buffer right after each read's callback.
          buffer: () => this.bodyReadTarget() ?? arena.next(this.expectsHead ? HEAD_READ_BYTES : undefined),
          callback: (bytes: number, buffer: Uint8Array) => {
            this.onData(arena.owns(buffer) ? arena.take(buffer, bytes) : (buffer as Buffer).subarray(0, bytes));
            return this.mayReadOn(bytes);
          },
        },
      });
    }
    this.socket.once(target.tls ? 'secureConnect' : 'connect', () => this.onConnect());
    this.socket.on('end', () => this.onOriginEnd());
    this.socket.on('error', (err) => this.onSocketError(err));
    this.socket.on('close', () => this.onSocketClose());
    this.timer.arm(timeouts.connectTimeout, () => this.fail(new OriginError('connect-timeout', 'head', `connect timeout (${timeouts.connectTimeout} ms)`)));
  }

  get state(): OriginConnectionState {
    return this.connState;
  }

  // ---- the state machine ----

  private enter(next: OriginConnectionState): void {
    if (this.connState === 'closed') return;
    this.connState = next;
    switch (next) {
      case 'idle':
        this.timer.arm(this.timeouts.idleTimeout, this.onIdleTimeout);
        // An idle connection must notice the origin closing it, whatever its last consumer paused.
        this.paused = false;
        this.socket.resume();
        this.socket.unref();
        return;
      case 'awaiting-head':
        this.socket.ref();
        return this.timer.arm(this.timeouts.firstByteTimeout, this.onFirstByteTimeout);
      case 'receiving':
        return this.armBetweenBytes();
      case 'closed':
        this.timer.stop();
        if (this.yieldTurn) clearImmediate(this.yieldTurn);
        this.parser.close();
        this.events.onClosed(this);
        return;
      case 'connecting':
        return;
    }
  }

  private armBetweenBytes(): void {
    if (this.paused) return this.timer.disarm();
    this.timer.arm(this.timeouts.betweenBytesTimeout, this.onBetweenBytesTimeout);
  }

  private timeoutError(kind: 'first-byte-timeout' | 'between-bytes-timeout', ms: number): OriginError {
    return new OriginError(kind, this.phase, `${kind.replace(/-/g, ' ')} (${ms} ms)`);
  }

  // ---- one request ----

  /**
   * Sends a request head (and, later, its body through writeBody/endBody). `expectNoBody` marks a
   * HEAD request, whose response never has a body (F4). `bodyFollows`: the first-byte timer starts
   * at endBody() instead of now.
   */
  send(head: string, expectNoBody: boolean, bodyFollows: boolean, handler: OriginResponseHandler): void {
    if (this.connState !== 'idle') throw new Error(`origin connection: send() in state ${this.connState}`);
    this.handler = handler;
    this.responseDone = false;
    this.interim = false;
    this.headDelivered = false;
    this.bytesThisResponse = 0;
    this.parser.expectNoBody = expectNoBody;
    this.socket.write(head, 'latin1');
    this.enter('awaiting-head');
    if (bodyFollows) this.timer.disarm();
  }

  writeBody(data: Buffer | readonly Buffer[]): boolean {
    if (this.connState === 'closed') return false;
    if (!Array.isArray(data)) return this.socket.write(data as Buffer);
    this.socket.cork();
    let ok = true;
    for (const piece of data) ok = this.socket.write(piece);
    this.socket.uncork();
    return ok;
  }

  /** The request body is fully written: now we wait for the first byte. */
  endBody(): void {
    if (this.connState === 'awaiting-head' && this.bytesThisResponse === 0) this.enter('awaiting-head');
  }

  onDrain(callback: () => void): void {
    if (!this.socket.writableNeedDrain) return callback();
    this.socket.once('drain', callback);
  }

  /** Backpressure from the slowest consumer: stop reading the origin (and its between-bytes clock). */
  pause(): void {
    if (this.paused) return;
    this.paused = true;
    this.socket.pause();
    if (this.connState === 'receiving') this.timer.disarm();
  }

  resume(): void {
    if (!this.paused) return;
    this.paused = false;
    this.socket.resume();
    if (this.connState === 'receiving') this.armBetweenBytes();
  }

  /** Drops the request: nobody wants the response any more. */
  abort(): void {
    this.handler = null;
    this.socket.destroy();
  }

  // ---- bytes in ----

  /**
   * The next read starts a response: it is kept short, so that the head reaches the handler (and
   * the client) without waiting for a copy of megabytes of body into the store; once the head is
   * known, a Content-Length body is read in place (bodyReadTarget) and nothing more is copied.
   */
  private get expectsHead(): boolean {
    return this.connState === 'connecting' || this.connState === 'idle' || this.connState === 'awaiting-head';
  }

  /**
   * libuv reads a socket up to 32 times in one poll phase while each read fills its buffer; with
   * reads of 2 MiB straight into the store that was 30-60 MiB before readers were woken or another
   * socket was served (other clients' requests waited ~20 ms unread). So after READ_TURN_BYTES the
   * read loop stops (false: Node stops reading) and reading resumes on the next turn, after the
   * readers' wake, unless a consumer paused us meanwhile (then its resume() restarts it).
   */
  private mayReadOn(bytes: number): boolean {
    this.bytesSinceYield += bytes;
    if (this.bytesSinceYield < READ_TURN_BYTES) return true;
    this.bytesSinceYield = 0;
    this.yieldTurn ??= setImmediate(this.readOnNextTurn);
    return false;
  }

  private readonly readOnNextTurn = (): void => {
    this.yieldTurn = null;
    if (!this.paused && !this.socket.destroyed) this.socket.resume();
  };

  /** Inside a Content-Length body, the handler's buffer for the next read (never past the body's end). */
  private bodyReadTarget(): Buffer | null {
    if (this.connState !== 'receiving' || !this.handler?.bodyTarget || this.interim) return null;
    const left = this.parser.lengthBodyLeft;
    return left > 0 ? this.handler.bodyTarget(left) : null;
  }

  private onConnect(): void {
    const waiter = this.connectWaiter;
    this.connectWaiter = null;
    this.enter('idle');
    waiter?.(null);
  }

  private onData(chunk: Buffer): void {
    if (this.connState === 'idle' || this.connState === 'connecting') {
      // Bytes nobody asked for: the origin is confused. Do not reuse this connection.
      this.socket.destroy();
      return;
    }
    this.bytesThisResponse += chunk.length;
    this.events.onBytesIn(chunk.length);
    if (this.connState === 'awaiting-head') this.enter('receiving');
    else this.armBetweenBytes();
    const error = this.parser.feed(chunk);
    if (error) return this.failParse(error);
    if (this.responseDone) this.afterResponse();
  }

  private onResponseHead(head: ResponseHead, framing: BodyFraming): void {
    // 1xx interim responses are not the response: 100 Continue is dropped (we answer it to our
    // client ourselves); the others (103 Early Hints, 102) are reported for the client to relay.
    this.interim = head.status >= 100 && head.status < 200;
    if (this.interim) {
      if (head.status !== 100) this.handler?.onInterim?.(head);
      return;
    }
    this.headDelivered = true;
    this.handler?.onHead(head, framing);
  }

  private onResponseComplete(keepAlive: boolean): void {
    if (this.interim) {
      this.interim = false;
      return;
    }
    this.responseDone = true;
    this.keepAlive = keepAlive;
    const handler = this.handler;
    this.handler = null;
    handler?.onEnd();
  }

  /** After a response: back to the pool when the origin lets us, else close. */
  private afterResponse(): void {
    this.completed++;
    if (this.keepAlive && !this.parser.inMessage && this.connState !== 'closed') {
      this.enter('idle');
      this.events.onReusable(this);
    } else {
      this.socket.destroy();
    }
  }

  private onOriginEnd(): void {
    if (this.connState === 'receiving' || this.connState === 'awaiting-head') {
      // A read-until-close body ends here (O3); any other message is cut short (O2).
      const error = this.parser.finish();
      if (this.responseDone) {
        this.keepAlive = false;
        this.afterResponse();
        return;
      }
      const reason = error ? `origin closed the connection: ${error.message}` : 'origin closed the connection';
      this.fail(new OriginError('premature-close', this.phase, reason, this.retryable));
      return;
    }
    this.socket.destroy();
  }

  private failParse(error: ParseError): void {
    this.fail(new OriginError('invalid-response', this.phase, `invalid response from origin: ${error.message}`));
  }

  private get phase(): 'head' | 'body' {
    return this.headDelivered ? 'body' : 'head';
  }

  /** Nothing of the response arrived on a connection that served before (or waited idle): it had gone stale. */
  private get retryable(): boolean {
    return this.bytesThisResponse === 0 && (this.completed > 0 || this.openedAhead);
  }

  private onSocketError(err: NodeJS.ErrnoException): void {
    if (this.connState === 'connecting') {
      this.fail(new OriginError('connect-failed', 'head', `cannot connect to origin: ${err.code ?? err.message}`));
      return;
    }
    const reason = err.code === 'ECONNRESET' ? 'origin connection reset' : `origin connection failed: ${err.code ?? err.message}`;
    this.fail(new OriginError('reset', this.phase, reason, this.retryable));
  }

  private onSocketClose(): void {
    if (this.handler || this.connectWaiter) this.fail(new OriginError('premature-close', this.phase, 'origin connection closed', this.retryable));
    this.enter('closed');
  }

  /** Reports the failure once, to whoever waits, and closes the connection. */
  private fail(error: OriginError): void {
    const waiter = this.connectWaiter;
    const handler = this.handler;
    this.connectWaiter = null;
    this.handler = null;
    this.socket.destroy();
    if (waiter) waiter(error);
    else handler?.onError(error);
  }
}

/** What the reads of one turn of the event loop take before giving way (see mayReadOn). */
const READ_TURN_BYTES = 4 * 1024 * 1024;

/** What the read that brings a response head may hold: the head and a first piece of body. */
const HEAD_READ_BYTES = 64 * 1024;

/**
 * Where origin reads land: slices of a large buffer, handed out in order and never reused. Each
 * chunk read is a view that consumers may keep (a socket write holds it until flushed); the arena
 * is garbage once no view of it is left. Reading into a large free slice lets one syscall take as
 * much as the kernel has, which is what makes big bodies fast.
 */
class ReadArena {
  private static readonly SIZE = 2 * 1024 * 1024;
  /** Below this much room, a read starts a new arena rather than being cut short. */
  private static readonly MIN_READ = 256 * 1024;
  // Allocated when the socket asks for its first read buffer (at connect).
  private arena: Buffer | null = null;
  private offset = 0;

  /** The free slice for the next read, `max` bytes at most when given. */
  next(max?: number): Buffer {
    if (!this.arena || ReadArena.SIZE - this.offset < ReadArena.MIN_READ) {
      this.arena = Buffer.allocUnsafeSlow(ReadArena.SIZE);
      this.offset = 0;
    }
    return this.arena.subarray(this.offset, max === undefined ? undefined : this.offset + max);
  }

  /** Whether `buffer` is a slice next() returned (else it is a handler's, see bodyTarget). */
  owns(buffer: Uint8Array): boolean {
    return buffer.buffer === this.arena?.buffer;
  }

  /** The `bytes` just read into `buffer` (the slice next() returned), as a view of their own. */
  take(buffer: Uint8Array, bytes: number): Buffer {
    const chunk = Buffer.from(buffer.buffer, buffer.byteOffset, bytes);
    if (buffer.buffer === this.arena?.buffer) this.offset += bytes;
    return chunk;
  }
}
