// A small origin to put streamcache in front of: the push-messaging demo (a page, an SSE stream
// with a publisher, large payloads by URL, stats for the page) and large deterministic bodies.
// It is an origin, not the proxy, so node:http is the right tool here.

import { createHash } from 'node:crypto';
import { createServer } from 'node:http';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { DEMO_PAGE } from './page.js';
import { Publisher, PublishError, type PublisherOptions, type PublisherStats, type PublishInput, type PublishResult } from './publisher.js';

export interface DemoOriginOptions extends PublisherOptions {
  host?: string;
  port?: number;
  /**
   * The proxy's admin `/stats` URL (e.g. `http://127.0.0.1:9090/stats`). `/demo-stats` fetches it
   * server-side and adds the proxy's numbers (subscribers connected) to the origin's own.
   */
  statsUrl?: string;
}

export interface DemoOrigin {
  url: string;
  port: number;
  /** Requests received so far, in total or for one path (`/events`): how tests see collapsing. */
  requests(pathname?: string): number;
  /** Start times (ms since epoch) of every /events stream served, oldest first. */
  streamStarts(): number[];
  /** /events streams open right now. */
  openStreams(): number;
  /** What POST /publish does, without HTTP. */
  publish(input: PublishInput): PublishResult;
  /** What `/demo-stats` serves. */
  demoStats(): Promise<DemoStats>;
  /** Sets (or clears) the admin URL `/demo-stats` reads, e.g. once the proxy has its port. */
  setStatsUrl(url: string | undefined): void;
  close(): Promise<void>;
}

/** `/demo-stats`: the origin's own numbers, and the proxy's when it knows where to ask. */
export interface DemoStats {
  at: number;
  origin: PublisherStats;
  /** From the proxy's admin `/stats`; null when no statsUrl is set or it did not answer. */
  proxy: ProxyStatsSummary | null;
  proxyError?: string;
}

export interface ProxyStatsSummary {
  /** Clients reading in-flight responses (the stream's subscribers): `inflight.readers`. */
  subscribers: number;
  clientConnections: number;
  originFetches: number;
  collapsedAttaches: number;
  inflightObjects: number;
  inflightBufferedBytes: number;
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

/** Largest POST /publish body. */
const MAX_PUBLISH_BODY = 1024 * 1024;
/** /demo-stats asks the proxy at most this often, however many pages poll it. */
const PROXY_STATS_MAX_AGE_MS = 250;
const PROXY_STATS_TIMEOUT_MS = 1_000;

interface OriginState {
  readonly publisher: Publisher;
  readonly requestsByPath: Map<string, number>;
  statsUrl: string | undefined;
  proxyStats: { at: number; url: string; result: Promise<Pick<DemoStats, 'proxy' | 'proxyError'>> } | undefined;
}

export async function startDemoOrigin(opts: DemoOriginOptions = {}): Promise<DemoOrigin> {
  const state: OriginState = {
    publisher: new Publisher(opts),
    requestsByPath: new Map(),
    statsUrl: opts.statsUrl,
    proxyStats: undefined,
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
    streamStarts: () => state.publisher.streamStarts(),
    openStreams: () => state.publisher.openStreams,
    publish: (input) => state.publisher.publish(input),
    demoStats: () => demoStats(state),
    setStatsUrl(url) {
      state.statsUrl = url;
      state.proxyStats = undefined;
    },
    close: () =>
      new Promise<void>((resolve) => {
        state.publisher.close();
        server.close(() => resolve());
        // Streams in progress would hold close() open for up to streamDurationMs.
        server.closeAllConnections();
      }),
  };
}

function route(req: IncomingMessage, res: ServerResponse, state: OriginState): void {
  const [pathname, query = ''] = (req.url ?? '/').split('?', 2);
  state.requestsByPath.set(pathname, (state.requestsByPath.get(pathname) ?? 0) + 1);
  if (pathname === '/publish') {
    if (req.method !== 'POST') return sendText(res, 405, 'POST an event here\n', { Allow: 'POST' });
    return void receivePublish(req, res, state, new URLSearchParams(query));
  }
  if (req.method !== 'GET' && req.method !== 'HEAD') return sendText(res, 405, 'only GET and HEAD here\n', { Allow: 'GET, HEAD' });
  if (pathname === '/' || pathname === '/demo') return send(res, 200, 'text/html; charset=utf-8', DEMO_PAGE, { 'Cache-Control': 'max-age=60' });
  if (pathname === '/events') return state.publisher.openStream(res, req.method === 'HEAD');
  if (pathname === '/demo-stats') return void sendDemoStats(res, state);
  const payload = /^\/payload\/(\d{1,15})$/.exec(pathname);
  if (payload) return sendPayload(res, state, Number(payload[1]));
  const large = /^\/large\/([^/]*)$/.exec(pathname);
  if (large) return sendLargeBody(req, res, large[1], new URLSearchParams(query).get('chunked') === '1');
  sendText(res, 404, `not found: ${pathname}\n`);
}

function send(res: ServerResponse, status: number, type: string, body: string | Buffer, headers: Record<string, string> = {}): void {
  const bytes = typeof body === 'string' ? Buffer.from(body) : body;
  res.writeHead(status, { 'Content-Type': type, 'Content-Length': bytes.length, ...headers });
  res.end(res.req.method === 'HEAD' ? undefined : bytes);
}

function sendText(res: ServerResponse, status: number, text: string, headers: Record<string, string> = {}): void {
  send(res, status, 'text/plain; charset=utf-8', text, headers);
}

function sendJson(res: ServerResponse, status: number, value: unknown): void {
  send(res, status, 'application/json', `${JSON.stringify(value)}\n`, { 'Cache-Control': 'no-store' });
}

/**
 * POST /publish. A JSON body `{ "event"?: string, "data": any }` (Content-Type application/json);
 * anything else is the data as text, with the event name from `?event=`. Answers with what the
 * publisher did (id, streams reached, payload URL).
 */
async function receivePublish(req: IncomingMessage, res: ServerResponse, state: OriginState, query: URLSearchParams): Promise<void> {
  const chunks: Buffer[] = [];
  let size = 0;
  try {
    for await (const chunk of req as AsyncIterable<Buffer>) {
      size += chunk.length;
      if (size > MAX_PUBLISH_BODY) throw new PublishError(413, `body above ${MAX_PUBLISH_BODY} bytes`);
      chunks.push(chunk);
    }
    const text = Buffer.concat(chunks).toString('utf8');
    const isJson = /^application\/(?:[\w.+-]+\+)?json\b/i.test(req.headers['content-type'] ?? '');
    let input: PublishInput;
    if (isJson) {
      let parsed: unknown;
      try {
        parsed = JSON.parse(text);
      } catch {
        throw new PublishError(400, 'body is not JSON');
      }
      if (!parsed || typeof parsed !== 'object' || Array.isArray(parsed) || !('data' in parsed)) {
        throw new PublishError(400, 'JSON body must be { "event"?: string, "data": any }');
      }
      const { event, data } = parsed as { event?: unknown; data: unknown };
      if (event !== undefined && typeof event !== 'string') throw new PublishError(400, 'event must be a string');
      input = { event, data };
    } else {
      input = { event: query.get('event') ?? undefined, data: text, contentType: 'text/plain; charset=utf-8' };
    }
    sendJson(res, 200, state.publisher.publish(input));
  } catch (err) {
    if (err instanceof PublishError) {
      sendJson(res, err.status, { error: err.message });
      // Stop reading an oversized body; the connection closes with the response.
      if (err.status === 413) req.destroy();
      return;
    }
    if (!res.headersSent) sendJson(res, 500, { error: String(err) });
  }
}

function sendPayload(res: ServerResponse, state: OriginState, id: number): void {
  const payload = state.publisher.payload(id);
  if (!payload) return sendText(res, 404, `no payload ${id} (it may have been dropped: the origin keeps the latest ones)\n`);
  send(res, 200, payload.contentType, payload.body, { 'Cache-Control': 'max-age=3600' });
}

async function sendDemoStats(res: ServerResponse, state: OriginState): Promise<void> {
  sendJson(res, 200, await demoStats(state));
}

async function demoStats(state: OriginState): Promise<DemoStats> {
  const proxy = await proxyStats(state);
  return { at: Date.now(), origin: state.publisher.stats(), ...proxy };
}

/** The proxy's admin stats, shared by every /demo-stats request within PROXY_STATS_MAX_AGE_MS. */
function proxyStats(state: OriginState): Promise<Pick<DemoStats, 'proxy' | 'proxyError'>> {
  const url = state.statsUrl;
  if (url === undefined) return Promise.resolve({ proxy: null });
  const now = Date.now();
  const cached = state.proxyStats;
  if (cached && cached.url === url && now - cached.at < PROXY_STATS_MAX_AGE_MS) return cached.result;
  const result = fetchProxyStats(url);
  state.proxyStats = { at: now, url, result };
  return result;
}

async function fetchProxyStats(url: string): Promise<Pick<DemoStats, 'proxy' | 'proxyError'>> {
  try {
    const response = await fetch(url, { signal: AbortSignal.timeout(PROXY_STATS_TIMEOUT_MS) });
    if (!response.ok) return { proxy: null, proxyError: `${url}: HTTP ${response.status}` };
    const s = (await response.json()) as {
      inflight?: { readers?: number; objects?: number; bufferedBytes?: number };
      connections?: { clients?: number };
      originFetches?: number;
      collapsedAttaches?: number;
    };
    const clientConnections = s.connections?.clients ?? 0;
    return {
      proxy: {
        subscribers: s.inflight?.readers ?? clientConnections,
        clientConnections,
        originFetches: s.originFetches ?? 0,
        collapsedAttaches: s.collapsedAttaches ?? 0,
        inflightObjects: s.inflight?.objects ?? 0,
        inflightBufferedBytes: s.inflight?.bufferedBytes ?? 0,
      },
    };
  } catch (err) {
    return { proxy: null, proxyError: `${url}: ${err instanceof Error ? err.message : String(err)}` };
  }
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
