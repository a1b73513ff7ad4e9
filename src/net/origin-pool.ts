// Connections to one origin: keep-alive reuse, a limit on how many are open (P3), a queue for the
// requests that find the limit reached, and a queue timeout after which they get an error (503).
import {
  OriginConnection,
  OriginError,
  type OriginResponseHandler,
  type OriginTarget,
  type OriginTimeouts,
} from './origin-connection.js';

export interface OriginPoolConfig extends OriginTimeouts {
  maxConnections: number;
  queueTimeout: number;
}

interface Waiter {
  grant(connection: OriginConnection | null, error: OriginError | null): void;
  timer: NodeJS.Timeout;
}

export interface OriginPoolStats {
  open: number;
  idle: number;
  queued: number;
  connectsStarted: number;
  /** Requests sent to the origin (a retry on a stale connection counts once). */
  requests: number;
  bytesIn: number;
}

export class OriginPool {
  private readonly idle: OriginConnection[] = [];
  private readonly waiters: Waiter[] = [];
  private open = 0;
  private connectsStarted = 0;
  private requests = 0;
  private bytesIn = 0;
  private closed = false;
  private readonly all = new Set<OriginConnection>();

  constructor(
    private readonly target: OriginTarget,
    private readonly config: OriginPoolConfig,
  ) {}

  stats(): OriginPoolStats {
    return { open: this.open, idle: this.idle.length, queued: this.waiters.length, connectsStarted: this.connectsStarted, requests: this.requests, bytesIn: this.bytesIn };
  }

  /**
   * Sends one request to the origin and reports its response to `handler`. Returns the handle for
   * the request body and for backpressure. A bodiless request that fails on a stale keep-alive
   * connection before any response byte is retried once on a new connection.
   */
  request(head: string, options: OriginRequestOptions, handler: OriginResponseHandler): OriginRequest {
    this.requests++;
    return new OriginRequest(this, head, options, handler);
  }

  /**
   * Opens one connection ahead of the first request and keeps it idle (no request is sent), so
   * that the first client after start does not wait for a handshake. When the origin is down (or
   * slow: the connect timeout), nothing happens: no error, no retry, just no pre-connect; the first
   * request connects as it always did. Nothing when a connection is already open.
   */
  preconnect(): void {
    if (this.closed || this.open > 0 || this.config.maxConnections < 1) return;
    this.connect((connection) => {
      if (!connection) return;
      // Never used yet, so a close by the origin before our first request is retried like a stale reuse.
      connection.openedAhead = true;
      this.release(connection);
    });
  }

  /** @internal A request that fell back to this pool from another (see OriginRequestOptions.fallback). */
  countRequest(): void {
    this.requests++;
  }

  /** @internal Gives a connection to `grant`, now or when one frees up; returns a cancel function. */
  acquire(grant: Waiter['grant'], fresh = false): () => void {
    if (this.closed) {
      grant(null, new OriginError('connect-failed', 'head', 'proxy is shutting down'));
      return () => {};
    }
    if (!fresh) {
      const reused = this.takeIdle();
      if (reused) {
        grant(reused, null);
        return () => {};
      }
    } else if (this.open >= this.config.maxConnections) {
      // A retry needs a new connection: make room by closing an idle one, if any.
      this.takeIdle()?.abort();
    }
    if (this.open < this.config.maxConnections) {
      this.connect(grant);
      return () => {};
    }
    const waiter: Waiter = {
      grant,
      timer: setTimeout(() => {
        this.removeWaiter(waiter);
        grant(null, new OriginError('queue-timeout', 'head', `no origin connection free within ${this.config.queueTimeout} ms (limit ${this.config.maxConnections})`));
      }, this.config.queueTimeout),
    };
    this.waiters.push(waiter);
    return () => this.removeWaiter(waiter);
  }

  private removeWaiter(waiter: Waiter): void {
    const index = this.waiters.indexOf(waiter);
    if (index >= 0) this.waiters.splice(index, 1);
    clearTimeout(waiter.timer);
  }

  private takeIdle(): OriginConnection | null {
    // Its idle timeout stands until the request is sent, in this same tick.
    return this.idle.pop() ?? null;
  }

  private connect(grant: Waiter['grant']): void {
    this.open++;
    this.connectsStarted++;
    const connection: OriginConnection = new OriginConnection(
      this.target,
      this.config,
      {
        onReusable: (c) => this.release(c),
        onClosed: (c) => this.onConnectionClosed(c),
        onIdleTimeout: (c) => this.dropIdle(c),
        onBytesIn: (count) => (this.bytesIn += count),
      },
      (error) => (error ? grant(null, error) : grant(connection, null)),
    );
    this.all.add(connection);
  }

  private release(connection: OriginConnection): void {
    const waiter = this.waiters.shift();
    if (waiter) {
      clearTimeout(waiter.timer);
      waiter.grant(connection, null);
      return;
    }
    if (this.closed) return connection.abort();
    this.idle.push(connection);
  }

  private dropIdle(connection: OriginConnection): void {
    const index = this.idle.indexOf(connection);
    if (index >= 0) this.idle.splice(index, 1);
    connection.abort();
  }

  private onConnectionClosed(connection: OriginConnection): void {
    this.open--;
    this.all.delete(connection);
    const index = this.idle.indexOf(connection);
    if (index >= 0) this.idle.splice(index, 1);
    // A slot freed up: the oldest waiter gets a new connection.
    const waiter = this.waiters.shift();
    if (waiter) {
      clearTimeout(waiter.timer);
      this.connect(waiter.grant);
    }
  }

  /** Closes idle connections and fails queued requests; busy connections finish their response. */
  close(): void {
    this.closed = true;
    for (const connection of this.idle.splice(0)) connection.abort();
    for (const waiter of this.waiters.splice(0)) {
      clearTimeout(waiter.timer);
      waiter.grant(null, new OriginError('connect-failed', 'head', 'proxy is shutting down'));
    }
  }

  /** Cuts every origin connection (the deadline of a graceful close has passed). */
  destroy(): void {
    this.close();
    for (const connection of this.all) connection.abort();
  }
}

type RequestState = 'waiting-connection' | 'sending' | 'done';

export interface OriginRequestOptions {
  expectNoBody: boolean;
  hasBody: boolean;
  /**
   * When no connection to this pool's server can be made (connect failure or connect timeout),
   * send the request to `pool` instead, once, and say so (a shield that is down: the origin).
   */
  fallback?: { pool: OriginPool; onFallback(error: OriginError): void };
}

/** One request to the origin, from waiting for a connection to the end of its response. */
export class OriginRequest {
  private state: RequestState = 'waiting-connection';
  private connection: OriginConnection | null = null;
  private cancelWait: () => void = () => {};
  private retried = false;
  private bodyQueued: Array<Buffer | readonly Buffer[]> = [];
  private bodyEnded = false;
  private drainWaiter: (() => void) | null = null;
  private pausedByConsumer = false;

  constructor(
    private pool: OriginPool,
    private readonly head: string,
    private readonly options: OriginRequestOptions,
    private readonly handler: OriginResponseHandler,
  ) {
    this.cancelWait = pool.acquire((c, e) => this.onGranted(c, e));
  }

  private onGranted(connection: OriginConnection | null, error: OriginError | null): void {
    if (this.state === 'done') {
      // Aborted while waiting: hand the connection straight back by closing it cleanly.
      connection?.abort();
      return;
    }
    if (!connection) {
      const fallback = this.options.fallback;
      if (fallback && fallback.pool !== this.pool && (error!.kind === 'connect-failed' || error!.kind === 'connect-timeout')) return this.fallBack(fallback, error!);
      return this.finish(() => this.handler.onError(error!));
    }
    this.connection = connection;
    this.state = 'sending';
    connection.send(this.head, this.options.expectNoBody, this.options.hasBody, {
      onHead: (head, framing) => this.handler.onHead(head, framing),
      onInterim: (head) => this.handler.onInterim?.(head),
      onBody: (chunk) => this.handler.onBody(chunk),
      onEnd: () => this.finish(() => this.handler.onEnd()),
      onError: (err) => this.onConnectionError(err),
      bodyTarget: this.handler.bodyTarget ? (max) => this.handler.bodyTarget!(max) : undefined,
    });
    if (this.pausedByConsumer) connection.pause();
    if (this.bodyQueued.length > 0) for (const data of this.bodyQueued.splice(0)) connection.writeBody(data);
    if (this.bodyEnded) connection.endBody();
    const waiter = this.drainWaiter;
    this.drainWaiter = null;
    if (waiter) connection.onDrain(waiter);
  }

  private fallBack(fallback: NonNullable<OriginRequestOptions['fallback']>, error: OriginError): void {
    this.pool = fallback.pool;
    this.pool.countRequest();
    fallback.onFallback(error);
    this.cancelWait = this.pool.acquire((c, e) => this.onGranted(c, e));
  }

  private onConnectionError(error: OriginError): void {
    if (error.retryable && !this.retried && !this.options.hasBody && this.state === 'sending') {
      this.retried = true;
      this.connection = null;
      this.state = 'waiting-connection';
      this.cancelWait = this.pool.acquire((c, e) => this.onGranted(c, e), true);
      return;
    }
    this.finish(() => this.handler.onError(error));
  }

  private finish(report: () => void): void {
    if (this.state === 'done') return;
    this.state = 'done';
    this.connection = null;
    report();
  }

  /** Request body bytes, already framed for the origin. False: wait for onDrain. */
  writeBody(data: Buffer | readonly Buffer[]): boolean {
    if (this.state === 'done') return false;
    if (!this.connection) {
      this.bodyQueued.push(data);
      return false;
    }
    return this.connection.writeBody(data);
  }

  endBody(): void {
    this.bodyEnded = true;
    this.connection?.endBody();
  }

  onDrain(callback: () => void): void {
    if (this.connection) this.connection.onDrain(callback);
    else this.drainWaiter = callback;
  }

  pause(): void {
    this.pausedByConsumer = true;
    this.connection?.pause();
  }

  resume(): void {
    this.pausedByConsumer = false;
    this.connection?.resume();
  }

  /** Nobody wants this response any more (R8 for a pass): drop the request and its connection. */
  abort(): void {
    if (this.state === 'done') return;
    this.state = 'done';
    this.cancelWait();
    this.connection?.abort();
    this.connection = null;
  }
}
