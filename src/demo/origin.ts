// A small origin to put streamcache in front of: a cacheable page, a push stream (SSE) and large
// deterministic bodies. It is an origin, not the proxy, so node:http is the right tool here.

import { createHash } from 'node:crypto';
import { createServer } from 'node:http';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface DemoOriginOptions {
  host?: string;
  port?: number;
  /** How long one /events response lasts before the origin ends it (default 30 s). */
  streamDurationMs?: number;
  /** Time between two /events events (default 300 ms). */
  eventIntervalMs?: number;
}

export interface DemoOrigin {
  url: string;
  port: number;
  /** Requests received so far, in total or for one path (`/events`): how tests see collapsing. */
  requests(pathname?: string): number;
  close(): Promise<void>;
}

// ---- The /large body: byte i depends only on i, so any range can be produced (and checked) alone.

/** The body repeats with this period; a prime, so no power-of-two slicing error lines up with it. */
export const LARGE_BODY_PERIOD = 65_521;
/** Size of the writes /large makes: big enough to move a GiB quickly, small enough to pace. */
const LARGE_SLICE_SIZE = 1 << 20;
/** Refuse silly sizes rather than stream for days. */
const LARGE_BODY_MAX = 64 * 1024 ** 3;

/** Byte `i` of every /large body. Covers all 256 values, so a text decoding anywhere corrupts it. */
export function largeBodyByte(i: number): number {
  let x = Math.imul((i % LARGE_BODY_PERIOD) + 1, 0x9e3779b1);
  x ^= x >>> 16;
  x = Math.imul(x, 0x85ebca6b);
  x ^= x >>> 13;
  return x & 0xff;
}

let pattern: Buffer | undefined;

/** One period plus one slice, so any slice of the body is a view of it: nothing is copied per write. */
function largeBodyPattern(): Buffer {
  if (!pattern) {
    pattern = Buffer.allocUnsafe(LARGE_BODY_PERIOD + LARGE_SLICE_SIZE);
    for (let i = 0; i < pattern.length; i++) pattern[i] = largeBodyByte(i);
  }
  return pattern;
}

/** Bytes [offset, offset + length) of a /large body as a shared read-only view; length ≤ 1 MiB. */
export function largeBodySlice(offset: number, length: number): Buffer {
  if (length > LARGE_SLICE_SIZE) throw new RangeError(`largeBodySlice: ${length} is above ${LARGE_SLICE_SIZE}`);
  const start = offset % LARGE_BODY_PERIOD;
  return largeBodyPattern().subarray(start, start + length);
}

/** Fills `target` with bytes [offset, offset + target.length) of a /large body. */
export function fillLargeBody(target: Buffer, offset: number): Buffer {
  for (let done = 0; done < target.length; ) {
    const length = Math.min(LARGE_SLICE_SIZE, target.length - done);
    largeBodySlice(offset + done, length).copy(target, done);
    done += length;
  }
  return target;
}

/** SHA-256 (hex) of the first `size` bytes of a /large body, computed without holding the body. */
export function largeBodySha256(size: number): string {
  const hash = createHash('sha256');
  for (let offset = 0; offset < size; offset += LARGE_SLICE_SIZE) {
    hash.update(largeBodySlice(offset, Math.min(LARGE_SLICE_SIZE, size - offset)));
  }
  return hash.digest('hex');
}

// ---- The server.

interface OriginState {
  readonly streamDurationMs: number;
  readonly eventIntervalMs: number;
  /** Event ids continue across /events responses: a client can tell one fetch from two. */
  lastEventId: number;
  readonly requestsByPath: Map<string, number>;
}

export async function startDemoOrigin(opts: DemoOriginOptions = {}): Promise<DemoOrigin> {
  const state: OriginState = {
    streamDurationMs: opts.streamDurationMs ?? 30_000,
    eventIntervalMs: opts.eventIntervalMs ?? 300,
    lastEventId: 0,
    requestsByPath: new Map(),
  };
  const server = createServer((req, res) => route(req, res, state));
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(opts.port ?? 0, opts.host ?? '127.0.0.1', () => {
      server.off('error', reject);
      resolve();
    });
  });
  const address = server.address() as AddressInfo;
  const host = address.address.includes(':') ? `[${address.address}]` : address.address;
  return {
    url: `http://${host}:${address.port}`,
    port: address.port,
    requests: (pathname) =>
      pathname === undefined ? [...state.requestsByPath.values()].reduce((a, b) => a + b, 0) : (state.requestsByPath.get(pathname) ?? 0),
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        // Streams in progress would hold close() open for up to streamDurationMs.
        server.closeAllConnections();
      }),
  };
}

function route(req: IncomingMessage, res: ServerResponse, state: OriginState): void {
  const [pathname, query = ''] = (req.url ?? '/').split('?', 2);
  state.requestsByPath.set(pathname, (state.requestsByPath.get(pathname) ?? 0) + 1);
  if (req.method !== 'GET' && req.method !== 'HEAD') return sendText(res, 405, 'only GET and HEAD here\n', { Allow: 'GET, HEAD' });
  if (pathname === '/') return sendHomePage(res);
  if (pathname === '/events') return sendEvents(req, res, state);
  const large = /^\/large\/([^/]*)$/.exec(pathname);
  if (large) return sendLargeBody(req, res, large[1], new URLSearchParams(query).get('chunked') === '1');
  sendText(res, 404, `not found: ${pathname}\n`);
}

function sendText(res: ServerResponse, status: number, text: string, headers: Record<string, string> = {}): void {
  const body = Buffer.from(text);
  res.writeHead(status, { 'Content-Type': 'text/plain; charset=utf-8', 'Content-Length': body.length, ...headers });
  res.end(body);
}

const HOME_PAGE = `<!doctype html>
<html><head><meta charset="utf-8"><title>streamcache demo origin</title></head>
<body>
<h1>streamcache demo origin</h1>
<ul>
<li><a href="/events">/events</a>: a server-sent event stream, cached at the edge for 28 s (<code>Cache-Control: no-cache, s-maxage=28</code>)</li>
<li><a href="/large/1048576">/large/1048576</a>: 1 MiB of deterministic bytes, with Content-Length</li>
<li><a href="/large/1048576?chunked=1">/large/1048576?chunked=1</a>: the same bytes, chunked</li>
</ul>
</body></html>
`;

function sendHomePage(res: ServerResponse): void {
  const body = Buffer.from(HOME_PAGE);
  res.writeHead(200, { 'Content-Type': 'text/html; charset=utf-8', 'Content-Length': body.length, 'Cache-Control': 'max-age=60' });
  res.end(body);
}

/** The push-stream recipe: no-cache for browsers, s-maxage so the edge collapses every viewer onto one fetch. */
function sendEvents(req: IncomingMessage, res: ServerResponse, state: OriginState): void {
  res.writeHead(200, { 'Content-Type': 'text/event-stream', 'Cache-Control': 'no-cache, s-maxage=28' });
  if (req.method === 'HEAD') return void res.end();
  const sendTick = (): void => {
    const id = ++state.lastEventId;
    res.write(`id: ${id}\nevent: tick\ndata: ${JSON.stringify({ id, sentAt: Date.now() })}\n\n`);
  };
  const stop = (): void => {
    clearInterval(ticker);
    clearTimeout(ending);
  };
  // The first event goes out with the head, so a viewer sees data at once rather than after one interval.
  sendTick();
  const ticker = setInterval(sendTick, state.eventIntervalMs);
  const ending = setTimeout(() => {
    stop();
    res.end();
  }, state.streamDurationMs);
  res.on('close', stop);
}

function sendLargeBody(req: IncomingMessage, res: ServerResponse, sizeText: string, chunked: boolean): void {
  const size = /^\d{1,15}$/.test(sizeText) ? Number(sizeText) : NaN;
  if (!(size <= LARGE_BODY_MAX)) return sendText(res, 400, `bad size "${sizeText}": a number of bytes up to ${LARGE_BODY_MAX}\n`);
  const headers: Record<string, string | number> = { 'Content-Type': 'application/octet-stream', 'Cache-Control': 'max-age=3600' };
  // Without Content-Length, node:http frames the body chunked for an HTTP/1.1 request.
  if (!chunked) headers['Content-Length'] = size;
  res.writeHead(200, headers);
  if (req.method === 'HEAD') return void res.end();
  let offset = 0;
  const pump = (): void => {
    while (offset < size) {
      if (res.destroyed) return;
      const length = Math.min(LARGE_SLICE_SIZE, size - offset);
      const slice = largeBodySlice(offset, length);
      offset += length;
      if (!res.write(slice)) return void res.once('drain', pump);
    }
    res.end();
  };
  pump();
}
