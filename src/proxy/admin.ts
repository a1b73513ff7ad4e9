// The admin listener: stats as JSON (`/stats`), as Prometheus text (`/metrics`), and `/healthz`, on a
// port of its own. It runs on our own socket layer, like the proxy, with the same limits and timeouts.
import type { AddressInfo } from 'node:net';
import { Listener, type ListenerConfig } from '../net/listener.js';
import type { ClientExchange } from '../net/client-exchange.js';
import { reasonPhrase } from '../http1/serializer.js';
import { connectionField } from '../http1/semantics.js';
import { statsSnapshot, toPrometheus, type StatsSources } from './stats.js';
import { HeaderFields } from '../http1/headers.js';
import { writerFor } from '../stream/client-writer.js';

export class AdminListener {
  private readonly listener: Listener;

  constructor(
    config: ListenerConfig,
    private readonly sources: () => StatsSources,
    /** I1: the purge endpoints (POST /purge...); true when it answered the request. */
    private readonly purge?: (exchange: ClientExchange) => boolean,
  ) {
    this.listener = new Listener(config, {
      onExchange: (exchange) => this.answer(exchange),
      onProtocolError: () => {},
      onConnectionRefused: () => {},
    });
  }

  listen(port: number, host: string): Promise<AddressInfo> {
    return this.listener.listen(port, host);
  }

  address(): AddressInfo | null {
    return this.listener.address();
  }

  close(deadlineMs: number): Promise<void> {
    return this.listener.close(deadlineMs);
  }

  private answer(exchange: ClientExchange): void {
    const path = exchange.request.target.split('?')[0];
    const method = exchange.request.method;
    if (this.purge?.(exchange)) return;
    if (method !== 'GET' && method !== 'HEAD') return this.send(exchange, 405, 'text/plain; charset=utf-8', 'GET only\n');
    if (path === '/stats') return this.send(exchange, 200, 'application/json', `${JSON.stringify(statsSnapshot(this.sources()), null, 2)}\n`);
    if (path === '/metrics') return this.send(exchange, 200, 'text/plain; version=0.0.4; charset=utf-8', toPrometheus(statsSnapshot(this.sources())));
    // K4: liveness for a load balancer or systemd watchdog script: this process answers on its event loop.
    if (path === '/healthz') return this.send(exchange, 200, 'application/json', `${JSON.stringify({ status: 'ok', uptimeS: Math.round(process.uptime()) })}\n`);
    this.send(exchange, 404, 'text/plain; charset=utf-8', 'try /stats (JSON), /metrics (Prometheus) or /healthz\n');
  }

  private send(exchange: ClientExchange, status: number, type: string, body: string): void {
    sendGenerated(exchange, status, type, body);
  }
}

/** A response of our own (stats, a purge's answer), never cached downstream, with the client's persistence. */
export function sendGenerated(exchange: ClientExchange, status: number, type: string, body: string, close = false): void {
  const payload = Buffer.from(body, 'utf8');
  // A PURGE on an HTTP/2 stream (H2): the stream's writer frames it.
  if (exchange.http2) return sendThroughWriter(exchange, status, type, payload);
  // A request body we will not read leaves the connection unusable (`close`).
  const connection = close ? 'close' : connectionField(exchange.persistent, exchange.request.version);
  const head = `HTTP/1.1 ${status} ${reasonPhrase(status)}\r\nContent-Type: ${type}\r\nContent-Length: ${payload.length}\r\nCache-Control: no-store\r\n${connection ? `Connection: ${connection}\r\n` : ''}\r\n`;
  exchange.write(exchange.request.method === 'HEAD' ? Buffer.from(head, 'latin1') : [Buffer.from(head, 'latin1'), payload]);
  if (close) exchange.endAndClose();
  else exchange.end();
}

function sendThroughWriter(exchange: ClientExchange, status: number, type: string, payload: Buffer): void {
  const writer = writerFor(exchange);
  const framing = writer.framingFor(status, payload.length);
  const headers = HeaderFields.from([['Content-Type', type], ['Cache-Control', 'no-store']]);
  writer.head({ source: 'relay', status, reason: reasonPhrase(status), headers, framing, length: payload.length, advertise: 'length' });
  if (framing !== 'none') writer.body(payload);
  writer.end();
}
