// One client socket: reads requests, hands each to the proxy as a ClientExchange, writes the
// responses back in request order (F5), and enforces the connection's timeouts (P2).
//
// The connection's states, and the only place they change, `enter()`:
//   idle     no request in progress: the idle timer runs
//   head     bytes of a request head arrived: the header timer runs (408)
//   busy     one or more requests dispatched or queued; responses are being written
//   closing  no further request will be read; close once the queued responses are out
//   closed   the socket is gone
import type { Socket } from 'node:net';
import { clientWantsKeepAlive } from '../http1/semantics.js';
import { RequestParser, type ParseError } from '../http1/parser.js';
import type { BodyFraming, RequestHead } from '../http1/message.js';
import { simpleResponse } from '../http1/serializer.js';
import { ClientExchange, type ExchangeHost } from './client-exchange.js';
import { Deadline } from './deadline.js';
import { OutputBatch, type OutgoingBytes } from './output-batch.js';
import { PeerProbe } from './peer-probe.js';

export type ClientConnectionState = 'idle' | 'head' | 'busy' | 'closing' | 'closed';

export interface ClientConnectionConfig {
  maxHeadSize: number;
  headerTimeout: number;
  idleTimeout: number;
  sendTimeout: number;
  /** Fields for a response the connection writes itself (400, 408, 431): the layer above says which. */
  errorFields?(status: number): readonly (readonly [string, string])[];
}

/** What the connection reports upward: new exchanges, and protocol errors worth a log line. */
export interface ClientConnectionEvents {
  onExchange(exchange: ClientExchange): void;
  onProtocolError(status: number, reason: string, remoteAddress: string): void;
  onClosed(connection: ClientConnection): void;
}

/** Requests parsed ahead of the one being answered; past this the socket is paused. */
const MAX_PIPELINED = 16;
/**
 * Bytes a closing connection reads (and drops) before it stops reading: what a paused 'data'
 * socket would still have read into its buffer (its high-water mark), so that, as there, a
 * client's FIN after its last request is seen (R8's probe starts at it).
 */
const CLOSING_READ_LIMIT = 16 * 1024;

/**
 * How the socket's bytes arrive: as 'data' events (each chunk its own Buffer), or through
 * receive() from a shared-buffer reader (src/net/shared-reads.ts: each chunk a view valid only
 * during the call, so what outlives it is copied).
 */
export type ReadPath = 'data-events' | 'shared-buffer';

export class ClientConnection implements ExchangeHost {
  private connState: ClientConnectionState = 'idle';
  private readonly parser: RequestParser;
  /** Exchanges in request order; the first one owns the socket's output. */
  private readonly queue: ClientExchange[] = [];
  /** The exchange whose request body the parser is reading, if any. */
  private bodyTarget: ClientExchange | null = null;
  private readonly timer = new Deadline();
  private readonly onIdleTimeout = (): void => this.closeSocket();
  private readonly onHeaderTimeout = (): void => this.failRequest(408, 'request head not received in time');
  /** A client that does not read what we write is dropped. */
  private readonly onSendTimeout = (): void => void this.socket.destroy();
  private drainWaiters: Array<() => void> = [];
  private readPaused = false;
  private deferredError: { status: number; reason: string } | null = null;
  /** Everything written in one tick leaves together at its end (a head with its first body bytes). */
  private readonly output: OutputBatch;
  /** After the client's FIN: is it still reading, or gone (R8)? */
  private readonly peerProbe: PeerProbe;
  private shuttingDown = false;
  /** Read chunks are views of a shared buffer: request body bytes are copied before they are kept. */
  private readonly copyBody: boolean;
  /**
   * Bytes still read, and dropped, once closing. A paused shared-buffer socket stops reading at
   * once, where a paused 'data' socket reads on into its buffer, and would miss the client's FIN.
   */
  private closingReadBudget = 0;
  readonly remoteAddress: string;

  constructor(
    private readonly socket: Socket,
    private readonly config: ClientConnectionConfig,
    private readonly events: ClientConnectionEvents,
    readPath: ReadPath = 'data-events',
  ) {
    this.remoteAddress = socket.remoteAddress ?? '';
    this.copyBody = readPath === 'shared-buffer';
    if (this.copyBody) this.closingReadBudget = CLOSING_READ_LIMIT;
    // Raw handle writes where the socket allows them (plain TCP; src/net/raw-write.ts).
    this.output = new OutputBatch(socket, () => this.onSocketDrain(), true);
    this.peerProbe = new PeerProbe(socket);
    this.parser = new RequestParser(
      {
        onHead: (head, framing) => this.onRequestHead(head, framing),
        onBody: (chunk) => this.onRequestBody(chunk),
        onComplete: () => this.onRequestComplete(),
      },
      config.maxHeadSize,
    );
    socket.setNoDelay(true);
    if (readPath === 'data-events') socket.on('data', (chunk: Buffer) => this.receive(chunk));
    socket.on('end', () => this.onClientEnd());
    socket.on('drain', () => this.onSocketDrain());
    socket.on('error', () => {}); // 'close' follows; a reset client is not our error
    socket.on('close', () => this.onSocketClose());
    this.enter('idle');
  }

  get state(): ClientConnectionState {
    return this.connState;
  }

  // ---- the state machine ----

  private enter(next: ClientConnectionState): void {
    if (this.connState === 'closed') return;
    this.connState = next;
    switch (next) {
      case 'idle':
        if (this.shuttingDown) return this.closeSocket();
        return this.timer.arm(this.config.idleTimeout, this.onIdleTimeout);
      case 'head':
        return this.timer.arm(this.config.headerTimeout, this.onHeaderTimeout);
      case 'busy':
        return this.timer.disarm();
      case 'closing':
        if (this.closingReadBudget === 0) this.pauseReading();
        return this.timer.disarm();
      case 'closed':
        this.timer.stop();
        this.peerProbe.stop();
        this.parser.close();
        for (const exchange of this.queue.splice(0)) exchange.clientGone();
        this.bodyTarget = null;
        this.events.onClosed(this);
        return;
    }
  }

  /** Chooses idle, head or busy from what is pending, unless we are already closing. */
  private settle(): void {
    if (this.connState === 'closing' || this.connState === 'closed') return;
    // Only a head in progress runs the header timer: a response may end (a hit) before its own
    // request message has been fully parsed.
    if (this.queue.length > 0) this.enter('busy');
    else if (this.parser.inHead) this.enter('head');
    else this.enter('idle');
  }

  // ---- bytes in ----

  /** The next bytes from the client (from 'data', or from a shared-buffer reader). */
  receive(chunk: Buffer): void {
    if (this.connState === 'closing' || this.connState === 'closed') return this.dropAfterClosing(chunk.length);
    // The responses this read answers at once leave together when it is parsed (see OutputBatch.hold).
    this.output.hold();
    try {
      this.parse(chunk);
    } finally {
      this.output.release();
    }
  }

  private parse(chunk: Buffer): void {
    const error = this.parser.feed(chunk);
    if (error) return this.onParseError(error);
    if (this.connState === 'idle' && this.parser.inHead) this.enter('head');
  }

  private dropAfterClosing(bytes: number): void {
    this.closingReadBudget = Math.max(0, this.closingReadBudget - bytes);
    if (this.closingReadBudget === 0) this.pauseReading();
  }

  private onRequestHead(head: RequestHead, framing: BodyFraming): void {
    const exchange = new ClientExchange(this, head, framing, clientWantsKeepAlive(head));
    this.queue.push(exchange);
    if (framing.kind !== 'none') this.bodyTarget = exchange;
    if (this.queue.length >= MAX_PIPELINED) this.pauseReading();
    if (this.queue.length === 1) {
      this.enter('busy');
      this.events.onExchange(exchange);
    }
  }

  private onRequestBody(chunk: Buffer): void {
    if (!this.bodyTarget) return;
    // The body's reader may keep the chunk past this read (an origin write in flight, a queue).
    if (!this.bodyTarget.pushBody(this.copyBody ? Buffer.from(chunk) : chunk)) this.pauseReading();
  }

  private onRequestComplete(): void {
    const exchange = this.queue[this.queue.length - 1];
    if (this.bodyTarget) {
      this.bodyTarget.bodyComplete();
      this.bodyTarget = null;
    }
    // A request that closes the connection is the last one we read (F5).
    if (exchange && !exchange.clientKeepAlive) {
      this.parser.abort('invalid', 'data after a request with Connection: close');
      this.enter('closing');
    }
  }

  private onParseError(error: ParseError): void {
    if (this.connState === 'closing') return; // bytes after the last request: ignored
    if (this.bodyTarget) {
      // A broken request body: its exchange answers (400, or an abrupt close), then we close.
      const target = this.bodyTarget;
      this.bodyTarget = null;
      this.events.onProtocolError(400, `invalid request body: ${error.message}`, this.remoteAddress);
      this.enter('closing');
      target.bodyFailed(`invalid request body: ${error.message}`);
      return;
    }
    const status = error.kind === 'head-too-large' ? 431 : 400;
    this.failRequest(status, error.kind === 'head-too-large' ? error.message : `malformed request: ${error.message}`);
  }

  /** P1, P2: answer with an error and close, after any responses already owed. */
  private failRequest(status: number, reason: string): void {
    this.events.onProtocolError(status, reason, this.remoteAddress);
    this.deferredError = { status, reason };
    this.enter('closing');
    if (this.queue.length === 0) this.flushDeferredErrorAndClose();
  }

  private flushDeferredErrorAndClose(): void {
    const error = this.deferredError;
    this.deferredError = null;
    if (error) this.output.add(simpleResponse(error.status, `${error.reason}\n`, { close: true, headers: this.config.errorFields?.(error.status) }));
    this.closeSocket();
  }

  private onClientEnd(): void {
    // The client will send nothing more. A head cut short gets no answer; queued responses still go out.
    if (this.bodyTarget) {
      this.bodyTarget.bodyFailed('client closed its side inside the request body');
      this.bodyTarget = null;
    }
    if (this.queue.length === 0) return this.closeSocket();
    this.enter('closing');
    this.peerProbe.start();
  }

  private onSocketClose(): void {
    this.enter('closed');
  }

  private pauseReading(): void {
    if (this.readPaused) return;
    this.readPaused = true;
    this.socket.pause();
  }

  // ---- ExchangeHost: bytes out ----

  canPersist(exchange: ClientExchange): boolean {
    if (this.shuttingDown || this.deferredError) return false;
    if (this.connState === 'closing' && this.queue[this.queue.length - 1] === exchange) return false;
    return this.connState !== 'closed';
  }

  write(data: OutgoingBytes | readonly OutgoingBytes[], onWritten?: (err?: Error | null) => void): boolean {
    if (this.connState === 'closed' || !this.output.open) {
      onWritten?.(null);
      return false;
    }
    return this.afterWrite(this.output.add(data, onWritten));
  }

  writeNow(data: OutgoingBytes): boolean {
    if (this.output.pending) return this.write(data);
    if (this.connState === 'closed' || !this.output.open) return false;
    return this.afterWrite(this.output.writeNow(data));
  }

  /** A client that stops reading gets the send timeout while its buffer is full. */
  private afterWrite(ok: boolean): boolean {
    this.peerProbe.afterWrite();
    if (!ok && !this.timer.armed) this.timer.arm(this.config.sendTimeout, this.onSendTimeout);
    return ok;
  }

  get bufferedBytes(): number {
    return this.output.bufferedBytes;
  }

  waitDrain(_exchange: ClientExchange, callback: () => void): void {
    if (!this.output.full) return callback();
    this.drainWaiters.push(callback);
  }

  private onSocketDrain(): void {
    if (this.drainWaiters.length === 0 && !this.timer.armed) return;
    if (this.connState === 'busy' || this.connState === 'closing') this.timer.disarm();
    for (const waiter of this.drainWaiters.splice(0)) waiter();
  }

  resumeReading(): void {
    if (!this.readPaused || this.connState === 'closing' || this.connState === 'closed') return;
    if (this.queue.length >= MAX_PIPELINED) return;
    this.readPaused = false;
    this.socket.resume();
  }

  exchangeEnded(exchange: ClientExchange, abrupt: boolean): void {
    if (this.queue[0] !== exchange) throw new Error('client connection: an exchange ended out of order');
    const persist = !abrupt && exchange.persistent;
    this.queue.shift();
    this.drainWaiters = [];
    if (abrupt) return this.destroy();
    if (!persist) {
      if (this.deferredError && this.queue.length === 0) return this.flushDeferredErrorAndClose();
      return this.closeSocket();
    }
    if (this.connState !== 'closing') this.resumeReading();
    const next = this.queue[0];
    if (next) {
      this.events.onExchange(next);
      return;
    }
    if (this.connState === 'closing') {
      if (this.deferredError) return this.flushDeferredErrorAndClose();
      return this.closeSocket();
    }
    this.settle();
  }

  // ---- closing ----

  /** Graceful shutdown: idle connections close now, busy ones after their current response. */
  shutdown(): void {
    this.shuttingDown = true;
    if (this.connState === 'idle' || this.connState === 'head') this.closeSocket();
  }

  /** Ends the connection after what is written has been flushed. */
  private closeSocket(): void {
    if (this.connState === 'closed') return;
    this.enter('closing');
    this.output.flush();
    this.socket.end();
    // A client that never reads would keep the socket open forever: give it the send timeout.
    this.timer.arm(this.config.sendTimeout, this.onSendTimeout);
  }

  /** Abrupt close: the client sees the connection end mid-response (O2, L4). */
  destroy(): void {
    // What was written this tick goes to the kernel first: an abrupt close ends a body, it does not unsend it.
    this.output.flush();
    this.socket.destroy();
  }
}
