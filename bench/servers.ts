// The servers under test for the benchmarks (bench/harness.ts starts them), each in its own process:
//   node dist/bench/servers.js origin      [bodyBytes] [cacheControl]  minimal node:net responder (fixed response)
//   node dist/bench/servers.js big-origin  <bodyBytes> [cacheControl]  one huge Content-Length body per request (/big/N: N bytes)
//   node dist/bench/servers.js range-origin [cacheControl]             /file/N: N pattern bytes (byte i = i mod 251), one Range honoured (206)
//   node dist/bench/servers.js sse-origin  '<json SseOriginOptions>'   one shared SSE stream, replayed to late joiners
//   node dist/bench/servers.js streamcache <originPort> ['<json ProxyOptions>']  createProxy() from src/index.ts
//   node dist/bench/servers.js nodehttp    <originPort>                node:http + http.request + pipe, keep-alive Agent
//   node dist/bench/servers.js relay       <originPort>                node:net TCP relay: bytes piped both ways, no HTTP
// cacheControl defaults to `no-store` (a pass-through for the proxy); `max-age=3600` makes it a cache test.
// Every server listens on 127.0.0.1, port 0, and reports { type: 'ready', port } over IPC (fork).
// It answers { type: 'stats' } with its CPU time, memory and the requests it counted (origins), and
// exits on SIGTERM or parent disconnect.
import http from 'node:http';
import net from 'node:net';
import type { AddressInfo } from 'node:net';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { patternSlice } from './common.js';

export type ServerKind = 'origin' | 'big-origin' | 'sse-origin' | 'streamcache' | 'nodehttp' | 'relay' | 'range-origin';

export interface ServerStats {
  type: 'stats';
  /** process.cpuUsage(), µs. */
  user: number;
  system: number;
  rss: number;
  /** Requests received (the origins count them: how collapsing is seen). */
  requests: number;
  /** Event-loop delay since the last stats() call, ms (p99 and max): a busy loop delays every socket. */
  loopDelayP99Ms: number;
  loopDelayMaxMs: number;
  /** sse-origin: events sent so far (the last event id). */
  events?: number;
  /** sse-origin: whether the stream has ended (every response got its terminating chunk). */
  ended?: boolean;
}

export type ServerMessage = { type: 'ready'; port: number } | { type: 'failed'; error: string } | ServerStats;

/** Requests seen by this process's origin server. */
let requestCount = 0;

const HOST = '127.0.0.1';
const CRLFCRLF = Buffer.from('\r\n\r\n', 'latin1');

/** The fixed response of the minimal origin: status line, 3 headers, `bodyBytes` of body. */
export function fixedResponse(bodyBytes: number, cacheControl = 'no-store'): Buffer {
  const head =
    'HTTP/1.1 200 OK\r\n' +
    'Content-Type: application/octet-stream\r\n' +
    `Content-Length: ${bodyBytes}\r\n` +
    // no-store (the default) keeps load.ts a pass-through measurement now that the proxy caches.
    `Cache-Control: ${cacheControl}\r\n` +
    '\r\n';
  return Buffer.concat([Buffer.from(head, 'latin1'), Buffer.alloc(bodyBytes, 'a')]);
}

/**
 * Calls `onRequest` once per request head seen on the socket: parses nothing beyond finding
 * `\r\n\r\n` (requests without bodies only), including pipelined heads and heads split across reads.
 */
function onRequestHeads(socket: net.Socket, onRequest: (count: number) => void): void {
  let carry: Buffer | null = null;
  socket.on('data', (chunk: Buffer) => {
    const buf = carry ? Buffer.concat([carry, chunk]) : chunk;
    let count = 0;
    let from = 0;
    for (let i = buf.indexOf(CRLFCRLF, from); i !== -1; i = buf.indexOf(CRLFCRLF, from)) {
      count++;
      from = i + 4;
    }
    const keep = Math.max(from, buf.length - 3);
    carry = keep < buf.length ? Buffer.from(buf.subarray(keep)) : null;
    if (count > 0) onRequest(count);
  });
}

function originServer(bodyBytes: number, cacheControl?: string): net.Server {
  const response = fixedResponse(bodyBytes, cacheControl);
  return net.createServer({ noDelay: true }, (socket) => {
    socket.on('error', () => socket.destroy());
    onRequestHeads(socket, (count) => {
      requestCount += count;
      if (count === 1) {
        socket.write(response);
        return;
      }
      socket.cork();
      for (let i = 0; i < count; i++) socket.write(response);
      socket.uncork();
    });
  });
}

/**
 * Answers each request with a Content-Length body of `defaultBytes` (or N for a target `/big/N`):
 * one prebuilt 1 MiB buffer written again and again, waiting for 'drain' whenever the socket's
 * buffer is full.
 */
function bigOriginServer(defaultBytes: number, cacheControl = 'no-store'): net.Server {
  const piece = Buffer.alloc(1024 * 1024, 'b');
  const headFor = (total: number): Buffer =>
    Buffer.from(
      'HTTP/1.1 200 OK\r\n' +
        'Content-Type: application/octet-stream\r\n' +
        `Content-Length: ${total}\r\n` +
        `Cache-Control: ${cacheControl}\r\n` +
        '\r\n',
      'latin1',
    );
  return net.createServer({ noDelay: true }, (socket) => {
    socket.on('error', () => socket.destroy());
    const queue: number[] = [];
    let sending = false;
    let input = '';
    const sendNext = (): void => {
      const total = queue.shift();
      if (total === undefined) {
        sending = false;
        return;
      }
      sending = true;
      socket.write(headFor(total));
      let left = total;
      const pump = (): void => {
        while (left > 0) {
          const n = Math.min(left, piece.length);
          left -= n;
          if (!socket.write(n === piece.length ? piece : piece.subarray(0, n))) {
            socket.once('drain', pump);
            return;
          }
        }
        sendNext();
      };
      pump();
    };
    socket.on('data', (chunk: Buffer) => {
      input += chunk.toString('latin1');
      for (let end = input.indexOf('\r\n\r\n'); end !== -1; end = input.indexOf('\r\n\r\n')) {
        const size = /^\S+ \/big\/(\d+)[ ?]/.exec(input)?.[1];
        queue.push(size === undefined ? defaultBytes : Number(size));
        requestCount++;
        input = input.slice(end + 4);
      }
      if (!sending) sendNext();
    });
  });
}

// ---- range-origin (B4 benchmarks): any file length, any single byte range, bytes computed, never stored ----

function rangeOriginServer(cacheControl = 'max-age=3600'): http.Server {
  return http.createServer((req, res) => {
    requestCount++;
    const total = Number(/^\/file\/(\d+)/.exec(req.url ?? '')?.[1] ?? 0);
    const range = /^bytes=(\d+)-(\d*)$/.exec(req.headers.range ?? '');
    let start = 0;
    let end = total;
    const headers: http.OutgoingHttpHeaders = { 'Content-Type': 'application/octet-stream', 'Cache-Control': cacheControl, ETag: '"pattern"', 'Accept-Ranges': 'bytes' };
    if (range) {
      start = Number(range[1]);
      end = range[2] === '' ? total : Math.min(total, Number(range[2]) + 1);
      if (start >= total) {
        res.writeHead(416, { ...headers, 'Content-Range': `bytes */${total}`, 'Content-Length': 0 }).end();
        return;
      }
      res.writeHead(206, { ...headers, 'Content-Range': `bytes ${start}-${end - 1}/${total}`, 'Content-Length': end - start });
    } else {
      res.writeHead(200, { ...headers, 'Content-Length': total });
    }
    let at = start;
    const pump = (): void => {
      while (at < end) {
        const piece = patternSlice(at, end - at);
        at += piece.length;
        if (!res.write(piece)) return void res.once('drain', pump);
      }
      res.end();
    };
    pump();
  });
}

export interface SseOriginOptions {
  /** ms between two events (100). */
  intervalMs?: number;
  /** How long the stream lasts from its first request, ms (10,000). */
  durationMs?: number;
  /** Bytes of padding in each event's data line (0). */
  padding?: number;
}

/**
 * One SSE stream for every request (any path): `Cache-Control: no-cache, s-maxage=28`, chunked, one
 * chunk per event. It starts with the first request and lasts `durationMs`: event n (from 1) is
 * sent at n × intervalMs and carries its send time, `t=<CLOCK_MONOTONIC µs>` (process.hrtime is
 * CLOCK_MONOTONIC on Linux: one clock for every process on the machine). A request that arrives
 * later gets every event sent so far at once, then the live ones: the origin itself does what the
 * proxy does for its late joiners, so the two are comparable. Ends with the terminating chunk.
 */
function sseOriginServer(options: SseOriginOptions): { server: net.Server; stats: () => Partial<ServerStats> } {
  const intervalMs = options.intervalMs ?? 100;
  const durationMs = options.durationMs ?? 10_000;
  const pad = 'x'.repeat(options.padding ?? 0);
  const head = Buffer.from(
    'HTTP/1.1 200 OK\r\n' + 'Content-Type: text/event-stream\r\n' + 'Cache-Control: no-cache, s-maxage=28\r\n' + 'Transfer-Encoding: chunked\r\n' + '\r\n',
    'latin1',
  );
  const sent: Buffer[] = []; // every framed event so far, for late joiners
  const live = new Set<net.Socket>();
  let started = false;
  let ended = false;
  const LAST = Buffer.from('0\r\n\r\n', 'latin1');
  const start = (): void => {
    started = true;
    const t0 = performance.now();
    const total = Math.max(1, Math.floor(durationMs / intervalMs));
    const tick = (): void => {
      const n = sent.length + 1;
      const t = process.hrtime.bigint() / 1000n;
      const data = `id: ${n}\ndata: t=${t}${pad ? ` ${pad}` : ''}\n\n`;
      const chunk = Buffer.from(`${Buffer.byteLength(data).toString(16)}\r\n${data}\r\n`, 'latin1');
      sent.push(chunk);
      for (const s of live) s.write(chunk);
      if (n >= total) {
        ended = true;
        for (const s of live) s.end(LAST);
        live.clear();
        return;
      }
      // Scheduled against the start, so timer lateness does not accumulate.
      setTimeout(tick, Math.max(0, t0 + (n + 1) * intervalMs - performance.now()));
    };
    setTimeout(tick, intervalMs);
  };
  const server = net.createServer({ noDelay: true }, (socket) => {
    socket.on('error', () => socket.destroy());
    socket.on('close', () => live.delete(socket));
    onRequestHeads(socket, (count) => {
      requestCount += count;
      if (!started) start();
      socket.cork();
      socket.write(head);
      for (const chunk of sent) socket.write(chunk);
      if (ended) socket.end(LAST);
      else live.add(socket);
      socket.uncork();
    });
  });
  return { server, stats: () => ({ events: sent.length, ended }) };
}

/** The node:http reverse proxy we compare against: what most Node proxies are built from. */
function nodeHttpProxy(originPort: number): http.Server {
  const agent = new http.Agent({ keepAlive: true, maxSockets: 512 });
  const server = http.createServer((req, res) => {
    const upstream = http.request(
      { host: HOST, port: originPort, method: req.method, path: req.url, headers: req.headers, agent },
      (ures) => {
        res.writeHead(ures.statusCode ?? 502, ures.headers);
        ures.pipe(res);
      },
    );
    upstream.on('error', () => {
      if (!res.headersSent) res.writeHead(502, { 'content-length': '0' });
      res.end();
    });
    req.pipe(upstream);
  });
  server.keepAliveTimeout = 60_000;
  return server;
}

/**
 * A TCP relay: each client connection gets its own origin connection, and bytes are piped both
 * ways unchanged. It parses nothing and decides nothing, so it is the most any proxy written on
 * node:net can do here: the ceiling an HTTP proxy's req/s and MB/s are measured against.
 */
function netRelay(originPort: number): net.Server {
  return net.createServer({ noDelay: true }, (client) => {
    const upstream = net.connect({ host: HOST, port: originPort, noDelay: true });
    const closeBoth = (): void => {
      client.destroy();
      upstream.destroy();
    };
    client.on('error', closeBoth);
    upstream.on('error', closeBoth);
    client.pipe(upstream);
    upstream.pipe(client);
  });
}

/** Loaded on demand, so that only the streamcache server process loads the proxy. */
async function loadCreateProxy(): Promise<typeof import('../src/index.js').createProxy> {
  const mod = await import('../src/index.js');
  if (typeof mod.createProxy !== 'function') throw new Error('src/index.ts does not export createProxy');
  return mod.createProxy;
}

function listenNet(server: net.Server | http.Server): Promise<number> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, HOST, () => resolve((server.address() as AddressInfo).port));
  });
}

function send(message: ServerMessage): void {
  process.send?.(message);
}

async function main(): Promise<void> {
  const [kind, arg, arg2] = process.argv.slice(2) as [ServerKind | undefined, string | undefined, string | undefined];
  let extraStats: () => Partial<ServerStats> = () => ({});
  let port: number;
  let close: () => Promise<void> | void;
  switch (kind) {
    case 'origin': {
      const server = originServer(Number(arg ?? 1024), arg2);
      port = await listenNet(server);
      close = () => void server.close();
      break;
    }
    case 'range-origin': {
      const server = rangeOriginServer(arg);
      port = await listenNet(server);
      close = () => void server.close();
      break;
    }
    case 'big-origin': {
      const server = bigOriginServer(Number(arg), arg2);
      port = await listenNet(server);
      close = () => void server.close();
      break;
    }
    case 'nodehttp': {
      const server = nodeHttpProxy(Number(arg));
      port = await listenNet(server);
      close = () => void server.close();
      break;
    }
    case 'relay': {
      const server = netRelay(Number(arg));
      port = await listenNet(server);
      close = () => void server.close();
      break;
    }
    case 'streamcache': {
      const createProxy = await loadCreateProxy();
      const extra = arg2 ? (JSON.parse(arg2) as Record<string, unknown>) : {};
      const proxy = createProxy({ origin: `http://${HOST}:${Number(arg)}`, logLevel: 'silent', ...extra });
      port = (await proxy.listen(0, HOST)).port;
      // A measurement starts once the store is committed (storePrefault), not while the worker runs.
      await proxy.storeCommitted();
      close = () => proxy.close(100);
      break;
    }
    case 'sse-origin': {
      const sse = sseOriginServer(JSON.parse(arg ?? '{}') as SseOriginOptions);
      port = await listenNet(sse.server);
      extraStats = sse.stats;
      close = () => void sse.server.close();
      break;
    }
    default:
      throw new Error(`unknown server kind "${kind}" (origin | big-origin | sse-origin | streamcache | nodehttp | relay)`);
  }
  const stop = async (): Promise<void> => {
    try {
      await close();
    } finally {
      process.exit(0);
    }
  };
  process.on('SIGTERM', () => void stop());
  process.on('disconnect', () => void stop());
  process.on('message', (m: { type?: string }) => {
    if (m?.type === 'stats') {
      const u = process.cpuUsage();
      const loop = { loopDelayP99Ms: loopDelay.percentile(99) / 1e6, loopDelayMaxMs: loopDelay.max / 1e6 };
      loopDelay.reset();
      send({ type: 'stats', user: u.user, system: u.system, rss: process.memoryUsage.rss(), requests: requestCount, ...loop, ...extraStats() });
    }
  });
  const loopDelay = monitorEventLoopDelay({ resolution: 10 });
  loopDelay.enable();
  send({ type: 'ready', port });
  if (!process.send) console.log(`${kind} listening on ${HOST}:${port}`);
}

main().catch((err: unknown) => {
  const error = err instanceof Error ? (err.stack ?? err.message) : String(err);
  if (process.send) send({ type: 'failed', error });
  else console.error(error);
  process.exit(1);
});
