// A tiny raw-socket HTTP/1.1 client for the benchmarks that count rather than load: `stages`
// (exactly N hits, to divide an instruction count by) and `first-request` (the first byte of one
// request). It understands only Content-Length responses, which is all the bench origins send.
import net from 'node:net';

const CRLFCRLF = Buffer.from('\r\n\r\n', 'latin1');

export interface OneResponse {
  status: number;
  /** ms from the request's write to the first response byte, and to the last. */
  firstByteMs: number;
  totalMs: number;
  bodyBytes: number;
  xCache?: string;
}

/**
 * Keep-alive connection that sends one request at a time and resolves each with its response.
 * A response is complete once its head and Content-Length body bytes have arrived.
 */
export class RawConnection {
  private readonly socket: net.Socket;
  private buffered: Buffer = Buffer.alloc(0);
  private pending: { resolve: (r: OneResponse) => void; reject: (e: Error) => void; sentAt: number; firstAt: number } | null = null;
  private readonly connected: Promise<void>;

  constructor(port: number, host = '127.0.0.1') {
    this.socket = net.connect({ port, host, noDelay: true });
    this.connected = new Promise((resolve, reject) => {
      this.socket.once('connect', resolve);
      this.socket.once('error', reject);
    });
    this.socket.on('data', (chunk: Buffer) => this.onData(chunk));
    this.socket.on('error', (err) => this.pending?.reject(err));
    this.socket.on('close', () => this.pending?.reject(new Error('connection closed before the response ended')));
  }

  ready(): Promise<void> {
    return this.connected;
  }

  get(path: string): Promise<OneResponse> {
    if (this.pending) throw new Error('RawConnection: one request at a time');
    return new Promise((resolve, reject) => {
      this.pending = { resolve, reject, sentAt: performance.now(), firstAt: NaN };
      this.socket.write(`GET ${path} HTTP/1.1\r\nHost: bench\r\nUser-Agent: streamcache-bench\r\n\r\n`, 'latin1');
    });
  }

  close(): void {
    this.socket.destroy();
  }

  private onData(chunk: Buffer): void {
    const p = this.pending;
    if (!p) return;
    if (Number.isNaN(p.firstAt)) p.firstAt = performance.now();
    this.buffered = this.buffered.length ? Buffer.concat([this.buffered, chunk]) : chunk;
    const headEnd = this.buffered.indexOf(CRLFCRLF);
    if (headEnd < 0) return;
    const head = this.buffered.toString('latin1', 0, headEnd);
    const length = Number(/\r\ncontent-length:\s*(\d+)/i.exec(head)?.[1] ?? 0);
    const total = headEnd + 4 + length;
    if (this.buffered.length < total) return;
    this.buffered = this.buffered.subarray(total);
    this.pending = null;
    p.resolve({
      status: Number(head.slice(9, 12)),
      firstByteMs: p.firstAt - p.sentAt,
      totalMs: performance.now() - p.sentAt,
      bodyBytes: length,
      xCache: /\r\nx-cache:\s*(\S+)/i.exec(head)?.[1],
    });
  }
}

/** `count` GETs of `path` spread over `connections` keep-alive connections, one at a time on each. */
export async function requestMany(port: number, path: string, count: number, connections: number): Promise<void> {
  const conns = Array.from({ length: Math.min(connections, count) }, () => new RawConnection(port));
  await Promise.all(conns.map((c) => c.ready()));
  let left = count;
  await Promise.all(
    conns.map(async (c) => {
      while (left > 0) {
        left--;
        const r = await c.get(path);
        if (r.status !== 200) throw new Error(`GET ${path}: status ${r.status}`);
      }
    }),
  );
  for (const c of conns) c.close();
}
