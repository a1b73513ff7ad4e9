// The listening socket: accepts clients, enforces the client connection limit (P3), and closes
// gracefully (stop accepting, let responses in flight finish, cut what is left at a deadline).
// It also chooses each connection's protocol (H1): with TLS, by ALPN (`h2` to the HTTP/2
// sessions, `http/1.1` or none to our HTTP/1 engine, the TLS socket handed over unchanged);
// in cleartext with h2c on, by the connection preface in the first bytes (src/net/h2-preface.ts).
import net, { type AddressInfo } from 'node:net';
import tls from 'node:tls';
import { simpleResponse } from '../http1/serializer.js';
import { ClientConnection, type ClientConnectionConfig } from './client-connection.js';
import type { ClientExchange } from './client-exchange.js';
import { Deadline } from './deadline.js';
import { classifyPreface } from './h2-preface.js';
import { H2Sessions, type H2Limits, type H2SessionEvents } from './h2-sessions.js';
import { shareReads } from './shared-reads.js';

export interface TlsMaterial {
  cert: string | Buffer;
  key: string | Buffer;
}

export interface ListenerConfig extends ClientConnectionConfig {
  maxClientConnections: number;
  /** Speak TLS (ALPN h2 and http/1.1). */
  tls?: TlsMaterial;
  /** Cleartext: accept HTTP/2 with prior knowledge beside HTTP/1.x (needs `h2`). */
  h2c?: boolean;
  /** HTTP/2's limits; without them the listener speaks HTTP/1.x only (ALPN offers http/1.1 alone). */
  h2?: H2Limits;
}

export interface ListenerEvents {
  onExchange(exchange: ClientExchange): void;
  onProtocolError(status: number, reason: string, remoteAddress: string): void;
  onConnectionRefused(reason: string, remoteAddress: string): void;
  onHttp2Abuse?: H2SessionEvents['onHttp2Abuse'];
}

const ALPN = ['h2', 'http/1.1'];

export class Listener {
  private readonly server: net.Server | tls.Server;
  private readonly connections = new Set<ClientConnection>();
  private readonly sockets = new Set<net.Socket>();
  private readonly h2: H2Sessions | null;

  constructor(
    private readonly config: ListenerConfig,
    private readonly events: ListenerEvents,
  ) {
    this.h2 = config.h2
      ? new H2Sessions(
          { maxHeadSize: config.maxHeadSize, idleTimeout: config.idleTimeout, sendTimeout: config.sendTimeout, limits: config.h2 },
          { ...events, onHttp2Abuse: events.onHttp2Abuse ?? (() => {}) },
        )
      : null;
    // allowHalfOpen: a client may send FIN after its request and still read the response.
    if (config.tls) {
      const ALPNProtocols = this.h2 ? ALPN : ['http/1.1'];
      this.server = tls.createServer({ ...config.tls, ALPNProtocols, allowHalfOpen: true, handshakeTimeout: config.headerTimeout });
      this.server.on('secureConnection', (socket: tls.TLSSocket) => this.accept(socket));
      this.server.on('tlsClientError', () => {}); // a failed handshake is the client's problem; the socket is gone
    } else {
      // pauseOnConnect: nothing is read before the socket's reader is chosen (src/net/shared-reads.ts).
      this.server = net.createServer({ allowHalfOpen: true, noDelay: true, pauseOnConnect: true }, (socket) => this.accept(socket));
    }
  }

  get connectionCount(): number {
    return this.connections.size + (this.h2?.sessionCount ?? 0);
  }

  /** Streams handed to the proxy by HTTP/2 sessions so far. */
  get http2Streams(): number {
    return this.h2?.dispatchedStreams ?? 0;
  }

  listen(port: number, host: string): Promise<AddressInfo> {
    return new Promise((resolve, reject) => {
      const onError = (err: Error) => reject(err);
      this.server.once('error', onError);
      this.server.listen({ port, host, backlog: 4096 }, () => {
        this.server.off('error', onError);
        resolve(this.server.address() as AddressInfo);
      });
    });
  }

  address(): AddressInfo | null {
    const address = this.server.address();
    return address && typeof address === 'object' ? address : null;
  }

  /** New certificate and key for connections from now on; open ones keep theirs. Throws on bad PEM. */
  reloadTls(material: TlsMaterial): void {
    if (!(this.server instanceof tls.Server)) throw new Error('reloadTls: the listener does not speak TLS');
    this.server.setSecureContext({ ...material });
  }

  private accept(socket: net.Socket): void {
    if (this.connectionCount >= this.config.maxClientConnections) return this.refuse(this.track(socket));
    if (socket instanceof tls.TLSSocket) {
      if (socket.alpnProtocol === 'h2' && this.h2) return this.h2.accept(this.track(socket));
      return void this.startHttp1(socket);
    }
    if (this.config.h2c && this.h2) return this.sniff(this.h2, this.track(socket));
    this.startHttp1(socket);
  }

  /** The sockets the close deadline cuts. */
  private track(socket: net.Socket): net.Socket {
    this.sockets.add(socket);
    socket.once('close', () => this.sockets.delete(socket));
    return socket;
  }

  private refuse(socket: net.Socket): void {
    const reason = `too many client connections (limit ${this.config.maxClientConnections})`;
    this.events.onConnectionRefused(reason, socket.remoteAddress ?? '');
    socket.on('error', () => {});
    if (socket instanceof tls.TLSSocket && socket.alpnProtocol === 'h2') return void socket.destroy();
    // Accepted paused: read (and drop) what the client sends, so that closing does not reset the answer away.
    socket.resume();
    socket.end(simpleResponse(503, `${reason}\n`, { close: true, headers: this.config.errorFields?.(503) }));
    setTimeout(() => socket.destroy(), 1000).unref();
  }

  /**
   * h2c: read until the first bytes tell HTTP/2's preface from anything else, give them back to
   * the socket, and hand it over. The check runs on the first read(s) of a connection only.
   */
  private sniff(h2: H2Sessions, socket: net.Socket): void {
    let seen: Buffer = Buffer.alloc(0);
    const timer = new Deadline();
    const decide = (verdict: 'h2' | 'http1'): void => {
      timer.stop();
      socket.off('data', onData);
      socket.off('end', onEnd);
      // Paused, so that the bytes given back wait in the socket's buffer for their new reader.
      socket.pause();
      if (verdict === 'http1' && this.startHttp1(socket, seen)) return;
      if (seen.length > 0) socket.unshift(seen);
      if (verdict === 'h2') return h2.accept(socket);
      this.startHttp1(socket, null);
      socket.resume();
    };
    const onData = (chunk: Buffer): void => {
      seen = seen.length === 0 ? chunk : Buffer.concat([seen, chunk]);
      const verdict = classifyPreface(seen);
      if (verdict !== 'undecided') decide(verdict);
    };
    // A client that ends inside the preface, or stalls there, is an HTTP/1 engine's case (400, 408).
    const onEnd = (): void => decide('http1');
    socket.on('data', onData);
    socket.once('end', onEnd);
    socket.on('error', () => {});
    timer.arm(this.config.headerTimeout, () => decide('http1'));
    socket.resume(); // accepted paused
  }

  /**
   * An HTTP/1 connection, read into the shared buffer (src/net/shared-reads.ts) when its socket
   * allows it, else with 'data' events. `firstBytes`: bytes read already (h2c's check), handed to
   * the connection first; null when they were given back to the socket instead. Returns false,
   * starting nothing, when there are first bytes and the socket cannot be moved to the shared
   * buffer: the caller gives them back to the socket and calls again with null.
   */
  private startHttp1(socket: net.Socket, firstBytes: Buffer | null = null): boolean {
    let connection: ClientConnection | null = null;
    const shared = shareReads(socket, (bytes) => connection?.receive(bytes));
    if (!shared && firstBytes) return false;
    const reading = shared ?? socket;
    connection = new ClientConnection(reading, this.config, this.eventsOf(), shared ? 'shared-buffer' : 'data-events');
    this.connections.add(connection);
    this.track(reading);
    if (firstBytes && firstBytes.length > 0) connection.receive(firstBytes);
    if (!shared) reading.resume();
    return true;
  }

  private eventsOf(): ConstructorParameters<typeof ClientConnection>[2] {
    return {
      onExchange: (exchange) => this.events.onExchange(exchange),
      onProtocolError: (status, reason, remote) => this.events.onProtocolError(status, reason, remote),
      onClosed: (closed) => this.connections.delete(closed),
    };
  }

  /** Stops accepting; idle connections close now, busy ones after their response; the rest are cut at the deadline. */
  async close(deadlineMs: number): Promise<void> {
    const closed = new Promise<void>((resolve) => this.server.close(() => resolve()));
    for (const connection of this.connections) connection.shutdown();
    this.h2?.shutdown();
    const deadline = setTimeout(() => {
      for (const socket of this.sockets) socket.destroy();
    }, deadlineMs);
    await closed;
    clearTimeout(deadline);
  }
}
