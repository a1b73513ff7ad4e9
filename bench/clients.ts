// The load generators of the benchmarks, each run in its own process (forked, result sent over IPC):
//   node dist/bench/clients.js autocannon '<json AutocannonJob>'
//   node dist/bench/clients.js big <port> <path>               one raw-socket GET, body counted
//   node dist/bench/clients.js bigmany <port> <path> <count>   `count` of those at once (all connected first)
//   node dist/bench/clients.js sse '<json SseJob>'             many raw-socket SSE clients (bench/fanout.ts)
import { createRequire } from 'node:module';
import { writeFileSync } from 'node:fs';
import net from 'node:net';
import http2, { type ClientHttp2Session, type ClientHttp2Stream } from 'node:http2';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { LatencyHistogram } from './common.js';

export interface AutocannonJob {
  url: string;
  connections: number;
  duration: number;
  workers?: number;
  /** Request fields, `Name: value`. */
  headers?: string[];
}

/** What every load generator (autocannon here, wrk in load.ts) reports. */
export interface LoadResult {
  requests: number;
  seconds: number;
  rps: number;
  p50ms: number;
  p99ms: number;
  bytes: number;
  errors: number;
  timeouts: number;
  non2xx: number;
  /** CPU time of the generator process over the run, µs (autocannon only). */
  generatorCpuUs?: number;
}

export interface BigResult {
  status: number;
  framing: string;
  bodyBytes: number;
  ttfbMs: number;
  totalMs: number;
  mbps: number;
  /** The response's X-Cache header (HIT / MISS), when it had one. */
  xCache?: string;
  error?: string;
}

export type ClientMessage =
  | { type: 'result'; result: LoadResult | BigResult | BigResult[] | SseResult }
  | { type: 'failed'; error: string }
  | { type: 'ready' };

interface AutocannonResult {
  duration: number;
  errors: number;
  timeouts: number;
  non2xx: number;
  latency: { p50: number; p99: number };
  requests: { total: number; average: number };
  throughput: { total: number };
}
interface AutocannonInstance {
  on(event: 'response', listener: (client: unknown, statusCode: number, resBytes: number, responseTime: number) => void): void;
}
type Autocannon = (opts: Record<string, unknown>, cb: (err: Error | null, result: AutocannonResult) => void) => AutocannonInstance;

// Response times at 10 µs resolution: autocannon's own histogram stores whole milliseconds, too
// coarse for loopback latencies; it hands each exact time to the 'response' event, kept in one of these.
function runAutocannon(job: AutocannonJob): Promise<LoadResult> {
  const require = createRequire(import.meta.url);
  const autocannon = require('autocannon') as Autocannon;
  // With worker threads the per-response event stays in the workers: use autocannon's ms histogram.
  const exact = job.workers && job.workers > 1 ? null : new LatencyHistogram();
  const cpu0 = process.cpuUsage();
  return new Promise((resolve, reject) => {
    const instance = autocannon(
      {
        url: job.url,
        connections: job.connections,
        duration: job.duration,
        pipelining: 1,
        ...(job.headers?.length ? { headers: Object.fromEntries(job.headers.map((h) => [h.slice(0, h.indexOf(':')), h.slice(h.indexOf(':') + 1).trim()])) } : {}),
        ...(job.workers && job.workers > 1 ? { workers: job.workers } : {}),
      },
      (err, r) => {
        if (err) return reject(err);
        const cpu = process.cpuUsage(cpu0);
        resolve({
          generatorCpuUs: cpu.user + cpu.system,
          requests: r.requests.total,
          seconds: r.duration,
          rps: r.requests.total / r.duration,
          p50ms: exact ? exact.percentile(50) : r.latency.p50,
          p99ms: exact ? exact.percentile(99) : r.latency.p99,
          bytes: r.throughput.total,
          errors: r.errors,
          timeouts: r.timeouts,
          non2xx: r.non2xx,
        });
      },
    );
    if (exact) instance.on('response', (_client, _status, _bytes, ms) => exact.record(ms));
  });
}

/**
 * One GET over a raw socket; the body is counted and discarded. Time to first byte is from the
 * request write to the first response byte; MB/s is body bytes over the whole exchange.
 */
function fetchBig(port: number, path: string, gate?: (connected: Promise<void>) => Promise<void>): Promise<BigResult> {
  return new Promise((resolve) => {
    const socket = net.connect({ host: '127.0.0.1', port, noDelay: true });
    let xCache: string | undefined;
    let start = 0n;
    let firstByte = 0n;
    let head: Buffer | null = Buffer.alloc(0);
    let status = 0;
    let framing = '';
    let expected = -1; // body bytes still to come for Content-Length; -1 = until close
    let bodyBytes = 0;
    let done = false;
    const finish = (error?: string): void => {
      if (done) return;
      done = true;
      const end = process.hrtime.bigint();
      socket.destroy();
      const totalMs = Number(end - start) / 1e6;
      resolve({
        status,
        framing,
        bodyBytes,
        ttfbMs: firstByte ? Number(firstByte - start) / 1e6 : NaN,
        totalMs,
        mbps: bodyBytes / 1e6 / (totalMs / 1000),
        ...(xCache ? { xCache } : {}),
        ...(error ? { error } : {}),
      });
    };
    const onBody = (n: number): void => {
      bodyBytes += n;
      if (expected >= 0 && bodyBytes >= expected) finish(bodyBytes > expected ? `${bodyBytes - expected} bytes past Content-Length` : undefined);
    };
    const connected = new Promise<void>((res) => socket.once('connect', res));
    void (gate ? gate(connected) : connected).then(() => {
      start = process.hrtime.bigint();
      socket.write(`GET ${path} HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\nUser-Agent: streamcache-bench\r\n\r\n`);
    });
    socket.on('data', (chunk: Buffer) => {
      if (!firstByte) firstByte = process.hrtime.bigint();
      if (head === null) return onBody(chunk.length);
      head = head.length ? Buffer.concat([head, chunk]) : chunk;
      const end = head.indexOf('\r\n\r\n');
      if (end === -1) return;
      const text = head.toString('latin1', 0, end);
      status = Number(/^HTTP\/1\.[01] (\d{3})/.exec(text)?.[1] ?? 0);
      xCache = /\r\nx-cache:\s*([^\r]*)/i.exec(text)?.[1];
      const cl = /\r\ncontent-length:\s*(\d+)/i.exec(text);
      if (cl) {
        expected = Number(cl[1]);
        framing = 'content-length';
      } else {
        framing = /\r\ntransfer-encoding:[^\r]*chunked/i.test(text) ? 'chunked (counted with framing)' : 'until close';
      }
      const rest = head.length - (end + 4);
      head = null;
      if (expected === 0) return finish();
      if (rest > 0) onBody(rest);
    });
    socket.on('end', () => finish(expected >= 0 && bodyBytes < expected ? `closed after ${bodyBytes} of ${expected} body bytes` : undefined));
    socket.on('error', (err) => finish(err.message));
  });
}

/**
 * `count` GETs at once: every socket connects first, then all requests are written in one tick.
 * Each result's TTFB counts from that common start.
 */
async function fetchBigMany(port: number, path: string, count: number): Promise<BigResult[]> {
  const connections: Promise<void>[] = [];
  let release!: () => void;
  const go = new Promise<void>((res) => (release = res));
  const all = Array.from({ length: count }, () =>
    fetchBig(port, path, (connected) => {
      connections.push(connected);
      return go;
    }),
  );
  await Promise.all(connections);
  release();
  return Promise.all(all);
}

// ---------------------------------------------------------------------------------------------
// SSE clients (bench/fanout.ts)

export interface SseJob {
  port: number;
  path: string;
  /** When each client of this process sends its request, ms after the common start. */
  joinAtMs: number[];
  /** Give up on clients still open this long after the common start, ms. */
  deadlineMs: number;
}

export interface SseResult {
  clients: number;
  /** Clients that got status 200 and the end of the body (terminating chunk or all Content-Length bytes). */
  completed: number;
  /** Events each client received, in client order. */
  eventsPerClient: number[];
  /** The last event id each client received. */
  lastIdPerClient: number[];
  /** Each client: ids were 1, 2, 3, ... with no gap or repeat, and the body ended cleanly. */
  cleanPerClient: boolean[];
  /** Lowest and highest last event id over clients. */
  lastIdMin: number;
  lastIdMax: number;
  /** Clients whose ids were not exactly 1, 2, 3, ... (a gap, a repeat, or disorder). */
  outOfOrder: number;
  /** Live events: sent after the client's request was written. */
  live: ReturnType<LatencyHistogram['toJSON']>;
  /** How the responses came: `chunked` / `length` framing, and X-Cache values ("MISS", "HIT", "-" for none). */
  framings: Record<string, number>;
  xCache: Record<string, number>;
  /** Replayed events: sent before the client joined (latency = how stale they were on arrival). */
  replayed: number;
  /** The first few failures, with the client index. */
  errors: string[];
  errorCount: number;
  /** This client process's event-loop delay while the clients ran, ms: when it is high, the latencies measure the client. */
  loopDelayP99Ms: number;
  loopDelayMaxMs: number;
  /** CPU time of this client process over the run, µs. */
  cpuUs: number;
}

/** One SSE client on a raw socket: minimal head, chunked (or Content-Length) and SSE parsing. */
class SseClient {
  private raw = '';
  private text = '';
  private state: 'head' | 'size' | 'data' | 'length' | 'done' = 'head';
  private need = 0;
  private joinedUs = 0;
  events = 0;
  lastId = 0;
  inOrder = true;
  completed = false;
  error: string | undefined;
  framing = '';
  xCache = '';
  private socket: net.Socket | null = null;
  private h2stream: ClientHttp2Stream | null = null;
  /** BENCH_SSE_DUMP: [event id, ms after join it was sent, latency ms] of every live event. */
  readonly dump: [number, number, number][] = [];

  constructor(
    private readonly job: SseJob,
    private readonly live: LatencyHistogram,
    private readonly onReplay: () => void,
    private readonly onDone: () => void,
  ) {}

  start(): void {
    const socket = net.connect({ host: '127.0.0.1', port: this.job.port, noDelay: true });
    this.socket = socket;
    socket.setEncoding('latin1');
    socket.on('connect', () => {
      this.joinedUs = Number(process.hrtime.bigint() / 1000n);
      socket.write(`GET ${this.job.path} HTTP/1.1\r\nHost: 127.0.0.1:${this.job.port}\r\nAccept: text/event-stream\r\n\r\n`);
    });
    socket.on('data', (s: string) => this.feed(s, Number(process.hrtime.bigint() / 1000n)));
    socket.on('end', () => this.finish(this.completed ? undefined : `connection closed after ${this.events} events`));
    socket.on('error', (err) => this.finish(err.message));
  }

  /** HTTP/2 (bench/h2.ts): one stream of a session shared with other clients, not a connection of its own. */
  startStream(session: ClientHttp2Session): void {
    const stream = session.request({ ':path': this.job.path, accept: 'text/event-stream' });
    this.h2stream = stream;
    this.joinedUs = Number(process.hrtime.bigint() / 1000n);
    stream.setEncoding('latin1');
    stream.on('response', (h) => {
      const status = Number(h[':status']);
      if (status !== 200) return this.finish(`status ${status}`);
      this.xCache = String(h['x-cache'] ?? '-');
      this.framing = 'h2';
    });
    stream.on('data', (s: string) => {
      this.text += s;
      this.events_(Number(process.hrtime.bigint() / 1000n));
    });
    stream.on('end', () => (this.completed = true));
    stream.on('error', () => {});
    stream.on('close', () => {
      if (stream.rstCode !== http2.constants.NGHTTP2_NO_ERROR) this.completed = false;
      this.finish(this.completed ? undefined : `stream closed (code ${stream.rstCode}) after ${this.events} events`);
    });
  }

  finish(error?: string): void {
    if (this.state === 'done') return;
    this.state = 'done';
    if (error && !this.completed) this.error = error;
    this.socket?.destroy();
    if (this.h2stream && !this.h2stream.closed) this.h2stream.close();
    this.onDone();
  }

  private feed(s: string, nowUs: number): void {
    this.raw += s;
    for (;;) {
      if (this.state === 'head') {
        const end = this.raw.indexOf('\r\n\r\n');
        if (end === -1) return;
        const head = this.raw.slice(0, end);
        this.raw = this.raw.slice(end + 4);
        const status = Number(/^HTTP\/1\.[01] (\d{3})/.exec(head)?.[1] ?? 0);
        if (status !== 200) return this.finish(`status ${status}`);
        const cl = /\r\ncontent-length:\s*(\d+)/i.exec(head);
        this.xCache = /\r\nx-cache:\s*([^\r]*)/i.exec(head)?.[1] ?? '-';
        this.framing = cl ? 'length' : 'chunked';
        if (cl) {
          this.state = 'length';
          this.need = Number(cl[1]);
        } else if (/\r\ntransfer-encoding:[^\r]*chunked/i.test(head)) this.state = 'size';
        else return this.finish('neither chunked nor Content-Length');
      } else if (this.state === 'size') {
        const eol = this.raw.indexOf('\r\n');
        if (eol === -1) return;
        const size = parseInt(this.raw.slice(0, eol), 16);
        this.raw = this.raw.slice(eol + 2);
        if (!Number.isFinite(size)) return this.finish('bad chunk size');
        if (size === 0) {
          this.completed = true;
          return this.finish();
        }
        this.need = size;
        this.state = 'data';
      } else if (this.state === 'data') {
        if (this.raw.length < this.need + 2) return;
        this.text += this.raw.slice(0, this.need);
        this.raw = this.raw.slice(this.need + 2);
        this.state = 'size';
        this.events_(nowUs);
      } else if (this.state === 'length') {
        const n = Math.min(this.need, this.raw.length);
        this.text += this.raw.slice(0, n);
        this.raw = this.raw.slice(n);
        this.need -= n;
        this.events_(nowUs);
        if (this.need === 0) {
          this.completed = true;
          return this.finish();
        }
        return;
      } else return;
    }
  }

  /** Every complete event in `text`: `id: N` and `data: t=<µs>`. */
  private events_(nowUs: number): void {
    for (let end = this.text.indexOf('\n\n'); end !== -1; end = this.text.indexOf('\n\n')) {
      const event = this.text.slice(0, end);
      this.text = this.text.slice(end + 2);
      const id = Number(/^id: (\d+)$/m.exec(event)?.[1] ?? NaN);
      const sentUs = Number(/^data: t=(\d+)/m.exec(event)?.[1] ?? NaN);
      this.events++;
      if (id !== this.lastId + 1) this.inOrder = false;
      this.lastId = id;
      if (sentUs > this.joinedUs) {
        this.live.record((nowUs - sentUs) / 1000);
        if (DUMP) this.dump.push([id, (sentUs - this.joinedUs) / 1000, (nowUs - sentUs) / 1000]);
      }
      else this.onReplay();
    }
  }
}

const DUMP = process.env.BENCH_SSE_DUMP;

function tally(values: string[]): Record<string, number> {
  const out: Record<string, number> = {};
  for (const v of values) out[v] = (out[v] ?? 0) + 1;
  return out;
}

/**
 * The clients of one process: each joins at its time, reads to the end; one result for all.
 * `join` starts a client some other way than its own HTTP/1.1 connection (an HTTP/2 stream).
 */
function runSse(job: SseJob, join?: (client: SseClient, index: number) => void): Promise<SseResult> {
  const live = new LatencyHistogram();
  let replayed = 0;
  const clients: SseClient[] = [];
  const loop = monitorEventLoopDelay({ resolution: 10 });
  let cpu0 = process.cpuUsage();
  return new Promise((resolve) => {
    let open = job.joinAtMs.length;
    let deadline: NodeJS.Timeout | undefined;
    const report = (): void => {
      clearTimeout(deadline);
      const errors: string[] = [];
      let errorCount = 0;
      clients.forEach((c, i) => {
        if (!c.error) return;
        errorCount++;
        if (errors.length < 5) errors.push(`client ${i}: ${c.error}`);
      });
      const lastIds = clients.map((c) => c.lastId);
      if (DUMP) writeFileSync(`${DUMP}.${process.pid}.json`, JSON.stringify({ joinAtMs: job.joinAtMs, live: clients.map((c) => c.dump) }));
      resolve({
        clients: clients.length,
        completed: clients.filter((c) => c.completed).length,
        eventsPerClient: clients.map((c) => c.events),
        lastIdPerClient: lastIds,
        cleanPerClient: clients.map((c) => c.completed && c.inOrder),
        framings: tally(clients.map((c) => c.framing || 'none')),
        xCache: tally(clients.map((c) => c.xCache || 'none')),
        lastIdMin: Math.min(...lastIds),
        lastIdMax: Math.max(...lastIds),
        outOfOrder: clients.filter((c) => !c.inOrder).length,
        live: live.toJSON(),
        replayed,
        errors,
        errorCount,
        loopDelayP99Ms: loop.percentile(99) / 1e6,
        loopDelayMaxMs: loop.max / 1e6,
        cpuUs: ((c) => c.user + c.system)(process.cpuUsage(cpu0)),
      });
      loop.disable();
    };
    const done = (): void => {
      if (--open === 0) report();
    };
    for (let i = 0; i < job.joinAtMs.length; i++) clients.push(new SseClient(job, live, () => replayed++, done));
    // The parent sends 'go' once every worker process is up: joins are timed from that moment.
    process.once('message', () => {
      loop.enable();
      cpu0 = process.cpuUsage();
      const t0 = performance.now();
      job.joinAtMs.forEach((at, i) => setTimeout(() => (join ? join(clients[i], i) : clients[i].start()), Math.max(0, t0 + at - performance.now())));
      deadline = setTimeout(() => {
        for (const c of clients) c.finish(`still open at the deadline (${job.deadlineMs} ms), ${c.events} events`);
      }, job.deadlineMs);
    });
    process.send?.({ type: 'ready' } satisfies ClientMessage);
  });
}

/** The SSE clients of one process as HTTP/2 streams over `job.sessions` h2c connections (client i on session i mod sessions). */
async function runSseH2(job: SseJob & { sessions: number }): Promise<SseResult> {
  const sessions = await Promise.all(
    Array.from({ length: job.sessions }, () =>
      new Promise<ClientHttp2Session>((resolve, reject) => {
        const s = http2.connect(`http://127.0.0.1:${job.port}`, { settings: { initialWindowSize: 1 << 20 } });
        s.once('connect', () => resolve(s));
        s.once('error', reject);
      }),
    ),
  );
  const result = await runSse(job, (client, i) => client.startStream(sessions[i % sessions.length]));
  for (const s of sessions) s.destroy();
  return result;
}

async function main(): Promise<void> {
  const [mode, ...args] = process.argv.slice(2);
  let result: LoadResult | BigResult | BigResult[] | SseResult;
  if (mode === 'autocannon') result = await runAutocannon(JSON.parse(args[0]) as AutocannonJob);
  else if (mode === 'big') result = await fetchBig(Number(args[0]), args[1] ?? '/');
  else if (mode === 'bigmany') result = await fetchBigMany(Number(args[0]), args[1] ?? '/', Number(args[2] ?? 10));
  else if (mode === 'sse') result = await runSse(JSON.parse(args[0]) as SseJob);
  else if (mode === 'sse-h2') result = await runSseH2(JSON.parse(args[0]) as SseJob & { sessions: number });
  else throw new Error(`unknown client mode "${mode}" (autocannon | big | bigmany | sse | sse-h2)`);
  if (process.send) {
    const message: ClientMessage = { type: 'result', result };
    process.send(message, undefined, undefined, () => process.exit(0));
  } else {
    console.log(JSON.stringify(result, null, 2));
  }
}

main().catch((err: unknown) => {
  const error = err instanceof Error ? (err.stack ?? err.message) : String(err);
  if (process.send) {
    const message: ClientMessage = { type: 'failed', error };
    process.send(message, undefined, undefined, () => process.exit(1));
  } else {
    console.error(error);
    process.exit(1);
  }
});
