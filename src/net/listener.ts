// The listening socket: accepts clients, enforces the client connection limit (P3), and closes
// gracefully (stop accepting, let responses in flight finish, cut what is left at a deadline).
import net, { type AddressInfo } from 'node:net';
import { simpleResponse } from '../http1/serializer.js';
import { ClientConnection, type ClientConnectionConfig } from './client-connection.js';
import type { ClientExchange } from './client-exchange.js';

export interface ListenerConfig extends ClientConnectionConfig {
  maxClientConnections: number;
}

export interface ListenerEvents {
  onExchange(exchange: ClientExchange): void;
  onProtocolError(status: number, reason: string, remoteAddress: string): void;
  onConnectionRefused(reason: string, remoteAddress: string): void;
}

export class Listener {
  private readonly server: net.Server;
  private readonly connections = new Set<ClientConnection>();
  private readonly sockets = new Set<net.Socket>();

  constructor(
    private readonly config: ListenerConfig,
    private readonly events: ListenerEvents,
  ) {
    // allowHalfOpen: a client may send FIN after its request and still read the response.
    this.server = net.createServer({ allowHalfOpen: true, noDelay: true }, (socket) => this.accept(socket));
  }

  get connectionCount(): number {
    return this.connections.size;
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

  private accept(socket: net.Socket): void {
    this.sockets.add(socket);
    socket.once('close', () => this.sockets.delete(socket));
    if (this.connections.size >= this.config.maxClientConnections) {
      const reason = `too many client connections (limit ${this.config.maxClientConnections})`;
      this.events.onConnectionRefused(reason, socket.remoteAddress ?? '');
      socket.on('error', () => {});
      socket.end(simpleResponse(503, `${reason}\n`, { close: true, headers: this.config.errorFields?.(503) }));
      setTimeout(() => socket.destroy(), 1000).unref();
      return;
    }
    const connection = new ClientConnection(socket, this.config, {
      onExchange: (exchange) => this.events.onExchange(exchange),
      onProtocolError: (status, reason, remote) => this.events.onProtocolError(status, reason, remote),
      onClosed: (closed) => this.connections.delete(closed),
    });
    this.connections.add(connection);
  }

  /** Stops accepting; idle connections close now, busy ones after their response; the rest are cut at the deadline. */
  async close(deadlineMs: number): Promise<void> {
    const closed = new Promise<void>((resolve) => this.server.close(() => resolve()));
    for (const connection of this.connections) connection.shutdown();
    const deadline = setTimeout(() => {
      for (const socket of this.sockets) socket.destroy();
    }, deadlineMs);
    await closed;
    clearTimeout(deadline);
  }
}
