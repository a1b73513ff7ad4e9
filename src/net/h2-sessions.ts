// The HTTP/2 sessions of a listener: node:http2 does the framing, HPACK and flow control; this
// file turns each stream into a ClientExchange (through H2StreamHost) and guards the session
// against the floods HTTP/2 makes cheap for a client (H1, limits):
//   - streams beyond maxConcurrentStreams are refused (REFUSED_STREAM) by nghttp2, which tells
//     node:http2 nothing; client stream ids only grow, so a gap before the next stream we are given
//     is what we log (one line per session);
//   - rapid reset (CVE-2023-44487): every stream the client cancels before its response ended
//     cost us a dispatch; past `resetLimit` such cancellations in one second the session gets
//     GOAWAY(ENHANCE_YOUR_CALM) and no further stream is dispatched, so the work per session is
//     bounded by resetLimit + maxConcurrentStreams dispatches, whatever the client sends;
//   - PING and SETTINGS floods: each frame costs nghttp2 an ACK; past `pingLimit` / `settingsLimit`
//     frames in one second the session gets the same GOAWAY;
//   - a request header list above maxHeadSize gets 431 (P2), as on HTTP/1; node:http2 resets
//     streams whose list passes maxHeaderListSize (advertised) before we see them;
//   - a client that stops reading: when no write of any stream reaches the socket for sendTimeout
//     while the connection's window is used up, the session is destroyed (as an HTTP/1 socket is).
//     A single stream without window is the client's flow control, held as long as it likes (H3).
import http2, { type Http2Server, type ServerHttp2Session, type ServerHttp2Stream } from 'node:http2';
import type { Socket } from 'node:net';
import { H2StreamHost, headerListSize, requestFromHttp2 } from './h2-stream-host.js';
import type { ClientExchange } from './client-exchange.js';
import { Deadline } from './deadline.js';

const { NGHTTP2_ENHANCE_YOUR_CALM, NGHTTP2_REFUSED_STREAM } = http2.constants;

export interface H2Limits {
  /** Streams open at once on one session (SETTINGS_MAX_CONCURRENT_STREAMS). */
  maxConcurrentStreams: number;
  /** SETTINGS_MAX_HEADER_LIST_SIZE: node:http2 resets a stream whose header list is larger. */
  maxHeaderListSize: number;
  /** Streams the client may cancel per second before the session gets GOAWAY (rapid reset). */
  resetLimit: number;
  /** PING frames per second before GOAWAY. */
  pingLimit: number;
  /** SETTINGS frames per second before GOAWAY. */
  settingsLimit: number;
}

export interface H2SessionConfig {
  maxHeadSize: number;
  idleTimeout: number;
  sendTimeout: number;
  limits: H2Limits;
}

export interface H2SessionEvents {
  onExchange(exchange: ClientExchange): void;
  onProtocolError(status: number, reason: string, remoteAddress: string): void;
  /** A session was sent GOAWAY for abuse, or a stream refused: one log line each. */
  onHttp2Abuse(kind: 'rapid-reset' | 'ping-flood' | 'settings-flood' | 'too-many-streams', detail: string, remoteAddress: string): void;
}

/** A count of events in the current one-second window. */
class RateWindow {
  private windowStart = 0;
  private count = 0;

  /** Counts one event; true when the count in this second passes `limit`. */
  exceeds(limit: number): boolean {
    const now = performance.now();
    if (now - this.windowStart >= 1000) {
      this.windowStart = now;
      this.count = 0;
    }
    return ++this.count > limit;
  }
}

/** One client session: its streams, its abuse counters, its idle timer. */
class H2Session {
  readonly streams = new Set<H2StreamHost>();
  private readonly resets = new RateWindow();
  private readonly pings = new RateWindow();
  private readonly settings = new RateWindow();
  private readonly idle = new Deadline();
  /** Armed while some stream's writes wait: fires when none progressed for sendTimeout. */
  private readonly send = new Deadline();
  private readonly onSendTimeout = (): void => this.checkProgress();
  /** GOAWAY sent: no stream is dispatched any more. */
  private condemned = false;
  private refusedLogged = false;
  /** The id of the last client stream we were given (client ids are odd and only grow). */
  private lastStreamId = -1;
  /** Streams dispatched to the proxy over the session's life (tests read the rapid-reset bound from it). */
  dispatched = 0;
  readonly remoteAddress: string;

  constructor(
    readonly session: ServerHttp2Session,
    private readonly config: H2SessionConfig,
    private readonly events: H2SessionEvents,
    private readonly onGone: (s: H2Session) => void,
  ) {
    this.remoteAddress = session.socket?.remoteAddress ?? '';
    session.on('stream', (stream: ServerHttp2Stream, _headers: unknown, flags: number, rawHeaders: unknown) => this.onStream(stream, flags, rawHeaders as string[]));
    session.on('ping', () => {
      if (this.pings.exceeds(config.limits.pingLimit)) this.goAway('ping-flood', `more than ${config.limits.pingLimit} PING frames in one second`);
    });
    session.on('remoteSettings', () => {
      if (this.settings.exceeds(config.limits.settingsLimit)) this.goAway('settings-flood', `more than ${config.limits.settingsLimit} SETTINGS frames in one second`);
    });
    session.on('error', () => {}); // 'close' follows; a broken client is not our error
    session.on('close', () => {
      this.idle.stop();
      this.send.stop();
      this.onGone(this);
    });
    this.armIdle();
  }

  private onStream(stream: ServerHttp2Stream, flags: number, rawHeaders: string[]): void {
    if (this.condemned) {
      // node:http2 destroys a stream closed with an error code with that error ('error' on the
      // stream): without a listener it was an uncaught exception (seen in the rapid-reset test).
      stream.on('error', () => {});
      return void stream.close(NGHTTP2_REFUSED_STREAM);
    }
    this.noticeRefused(stream.id ?? 0);
    const size = headerListSize(rawHeaders);
    if (size > this.config.maxHeadSize) {
      const reason = `request header list of ${size} bytes passes the limit (${this.config.maxHeadSize} bytes)`;
      return this.answerDirectly(stream, 431, reason);
    }
    const parsed = requestFromHttp2(rawHeaders, flags);
    if (typeof parsed === 'string') return this.answerDirectly(stream, 400, parsed);
    const host = new H2StreamHost(stream, parsed.request, parsed.endStream, {
      onStreamClosed: (closed, cancelled) => this.onStreamClosed(closed, cancelled),
      onBlocked: () => {
        if (!this.send.armed) this.send.arm(this.config.sendTimeout, this.onSendTimeout);
      },
      onProgress: () => {
        if (this.send.armed) this.send.arm(this.config.sendTimeout, this.onSendTimeout);
      },
    });
    this.streams.add(host);
    this.dispatched++;
    this.idle.disarm();
    this.events.onExchange(host.exchange);
  }

  /** Ids skipped since the last stream were refused before node:http2 made streams of them. */
  private noticeRefused(id: number): void {
    const skipped = this.lastStreamId < 0 ? (id - 1) / 2 : (id - this.lastStreamId) / 2 - 1;
    this.lastStreamId = id;
    if (skipped <= 0 || this.refusedLogged) return;
    this.refusedLogged = true;
    const { maxConcurrentStreams } = this.config.limits;
    this.events.onHttp2Abuse('too-many-streams', `${skipped} stream(s) refused: more than ${maxConcurrentStreams} streams open at once (or past node:http2's header or memory limits)`, this.remoteAddress);
  }

  /** A request that never reaches the proxy: the status and reason, and a log line (P1, P2). */
  private answerDirectly(stream: ServerHttp2Stream, status: number, reason: string): void {
    this.events.onProtocolError(status, reason, this.remoteAddress);
    stream.on('error', () => {});
    // The client may have reset it already (in the same read as its HEADERS).
    if (stream.destroyed || stream.closed) return;
    stream.respond({ ':status': status, 'content-type': 'text/plain' });
    stream.end(`${reason}\n`);
  }

  private onStreamClosed(host: H2StreamHost, cancelled: boolean): void {
    this.streams.delete(host);
    if (cancelled && this.resets.exceeds(this.config.limits.resetLimit)) {
      this.goAway('rapid-reset', `more than ${this.config.limits.resetLimit} streams cancelled by the client in one second`);
    }
    if (this.streams.size === 0) this.armIdle();
  }

  /** No write reached the socket for sendTimeout: a client that reads nothing at all is dropped. */
  private checkProgress(): void {
    const waiting = [...this.streams].some((h) => h.bufferedBytes > 0);
    if (!waiting) return;
    const window = this.session.destroyed ? 0 : (this.session.state.remoteWindowSize ?? 0);
    // Window left on the connection: the waiting streams are held by their own flow control.
    if (window > 0) return this.send.arm(this.config.sendTimeout, this.onSendTimeout);
    const reason = `HTTP/2 client read nothing for ${this.config.sendTimeout} ms: connection closed`;
    this.events.onProtocolError(0, reason, this.remoteAddress);
    for (const host of [...this.streams]) host.abort(reason);
    setImmediate(() => this.session.destroy());
  }

  /** GOAWAY(ENHANCE_YOUR_CALM): streams in progress are cut, the session closes. */
  private goAway(kind: 'rapid-reset' | 'ping-flood' | 'settings-flood', detail: string): void {
    if (this.condemned) return;
    this.condemned = true;
    this.events.onHttp2Abuse(kind, `GOAWAY: ${detail}`, this.remoteAddress);
    if (this.session.destroyed) return;
    this.session.goaway(NGHTTP2_ENHANCE_YOUR_CALM);
    // Let the GOAWAY frame leave before the socket goes.
    setImmediate(() => this.session.destroy());
  }

  private armIdle(): void {
    this.idle.arm(this.config.idleTimeout, () => this.shutdown());
  }

  /** Graceful: GOAWAY, the streams in progress finish, then the session closes. */
  shutdown(): void {
    if (!this.session.closed && !this.session.destroyed) this.session.close();
  }
}

export class H2Sessions {
  private readonly server: Http2Server;
  private readonly sessions = new Set<H2Session>();
  /** Streams dispatched by sessions already closed, for `dispatchedStreams`. */
  private dispatchedByClosed = 0;
  private shuttingDown = false;

  constructor(config: H2SessionConfig, events: H2SessionEvents) {
    const { limits } = config;
    const options: http2.ServerOptions & { maxSessionRejectedStreams: number; maxSessionInvalidFrames: number } = {
      settings: { maxConcurrentStreams: limits.maxConcurrentStreams, maxHeaderListSize: limits.maxHeaderListSize, enablePush: false },
      maxHeaderListPairs: Math.max(128, Math.ceil(limits.maxHeaderListSize / 64)),
      // node:http2's own guards, kept at their defaults but stated: streams it refused, frames it could not use.
      maxSessionRejectedStreams: 100,
      maxSessionInvalidFrames: 1000,
      // Our own PINGs awaiting the client's ACK, and entries in one SETTINGS frame (node:http2's defaults).
      maxOutstandingPings: 10,
      maxSettings: 32,
    };
    this.server = http2.createServer(options);
    this.server.on('session', (session: ServerHttp2Session) => {
      // Not at once: node:http2 hands the session the bytes read before it existed on the next
      // tick, and a session destroyed before that throws there (an uncaught TypeError).
      if (this.shuttingDown) return void setImmediate(() => session.destroy());
      const tracked = new H2Session(session, config, events, (gone) => {
        this.sessions.delete(gone);
        this.dispatchedByClosed += gone.dispatched;
      });
      this.sessions.add(tracked);
    });
  }

  get sessionCount(): number {
    return this.sessions.size;
  }

  /** Streams handed to the proxy, over the listener's life. */
  get dispatchedStreams(): number {
    let n = this.dispatchedByClosed;
    for (const s of this.sessions) n += s.dispatched;
    return n;
  }

  /** A connection that speaks HTTP/2 (ALPN h2, or the h2c preface already unshifted into it). */
  accept(socket: Socket): void {
    this.server.emit('connection', socket);
  }

  shutdown(): void {
    this.shuttingDown = true;
    for (const session of this.sessions) session.shutdown();
  }
}
