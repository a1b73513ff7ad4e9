// The load generators of bench/load.ts, each run in its own process (forked, result sent over IPC):
//   node dist/bench/clients.js autocannon '<json AutocannonJob>'
//   node dist/bench/clients.js big <port> <path>
import { createRequire } from 'node:module';
import net from 'node:net';

export interface AutocannonJob {
  url: string;
  connections: number;
  duration: number;
  workers?: number;
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
  error?: string;
}

export type ClientMessage = { type: 'result'; result: LoadResult | BigResult } | { type: 'failed'; error: string };

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

/**
 * Response times at 10 µs resolution. autocannon's own histogram stores whole milliseconds, too
 * coarse for loopback latencies; it hands each exact time to the 'response' event, kept here.
 */
class LatencyHistogram {
  private static readonly BUCKETS = 100_000; // 10 µs each: up to 1 s, slower ones kept exactly
  private readonly counts = new Uint32Array(LatencyHistogram.BUCKETS);
  private readonly slow: number[] = [];
  count = 0;

  record(ms: number): void {
    this.count++;
    const b = Math.floor(ms * 100);
    if (b < LatencyHistogram.BUCKETS) this.counts[b]++;
    else this.slow.push(ms);
  }

  /** The upper edge of the bucket holding the p-th percentile, ms. */
  percentile(p: number): number {
    if (this.count === 0) return NaN;
    const rank = Math.ceil((p / 100) * this.count);
    let seen = 0;
    for (let b = 0; b < LatencyHistogram.BUCKETS; b++) {
      seen += this.counts[b];
      if (seen >= rank) return (b + 1) / 100;
    }
    const slow = this.slow.sort((a, b) => a - b);
    return slow[Math.min(slow.length - 1, rank - seen - 1)];
  }
}

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
function fetchBig(port: number, path: string): Promise<BigResult> {
  return new Promise((resolve) => {
    const socket = net.connect({ host: '127.0.0.1', port, noDelay: true });
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
        ...(error ? { error } : {}),
      });
    };
    const onBody = (n: number): void => {
      bodyBytes += n;
      if (expected >= 0 && bodyBytes >= expected) finish(bodyBytes > expected ? `${bodyBytes - expected} bytes past Content-Length` : undefined);
    };
    socket.on('connect', () => {
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

async function main(): Promise<void> {
  const [mode, ...args] = process.argv.slice(2);
  let result: LoadResult | BigResult;
  if (mode === 'autocannon') result = await runAutocannon(JSON.parse(args[0]) as AutocannonJob);
  else if (mode === 'big') result = await fetchBig(Number(args[0]), args[1] ?? '/');
  else throw new Error(`unknown client mode "${mode}" (autocannon | big)`);
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
