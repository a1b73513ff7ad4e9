// The warm-up run before a proxy starts listening, so that its first client is not the one who
// pays for the process's first request: V8 compiles a function the first time it runs (and tiers
// hot ones up later), each inline cache starts empty, and Node sets up parts of its socket and
// timer machinery on first use. The first request after start used to take ~15x a warm one.
//
// What it does: a private proxy, built by the same createProxy with its own small store, in front
// of a private origin on loopback (both on 127.0.0.1, port 0, closed afterwards), and a client
// that sends it cold misses, hits, and a miss with a chunked body over keep-alive connections,
// reading the responses with our own response parser. Every byte goes through the code a real
// request uses (listener, client connection, parser, pipeline, cache flow, fetch, store, reader,
// origin pool and connection). Nothing of it reaches the real origin, the real store or the logs.
import net from 'node:net';
import type { AddressInfo } from 'node:net';
import { ResponseParser } from '../http1/parser.js';

/** What a warm-up did, for the log line. */
export interface WarmUpReport {
  requests: number;
  misses: number;
  hits: number;
  ms: number;
}

/** The slice of a proxy the warm-up needs (createProxy's result). */
export interface WarmUpTarget {
  listen(port?: number, host?: string): Promise<AddressInfo>;
  close(deadlineMs?: number): Promise<void>;
}

export interface WarmUpPlan {
  /** Rounds of (one cold miss, `hitsPerRound` hits of it); 1 KiB Content-Length bodies. */
  rounds: number;
  hitsPerRound: number;
  /** Keep-alive client connections the rounds are spread over. */
  connections: number;
  /** The warm-up gives up (and reports what it did) after this long. */
  budgetMs: number;
  /** Misses of a 256 KiB body sent in pieces (the origin read straight into the store); none when absent. */
  largeMisses?: number;
}

export const DEFAULT_WARM_UP: WarmUpPlan = { rounds: 24, hitsPerRound: 16, connections: 2, budgetMs: 1500, largeMisses: 4 };

const BODY = Buffer.alloc(1024, 'w');
const CHUNKED_PATH = '/streamcache-warm-up/chunked';
/**
 * A body large enough to arrive in several reads, sent in pieces: after its head the origin
 * connection reads straight into the store (src/net/origin-connection.ts bodyTarget), a path the
 * 1 KiB bodies (which come whole with their head) never take.
 */
const LARGE_PATH = '/streamcache-warm-up/large/';
const LARGE_BODY = Buffer.alloc(256 * 1024, 'l');
const LARGE_PIECES = 8;

/** The private origin: 1 KiB cacheable Content-Length bodies, and one chunked body. */
function warmOrigin(): net.Server {
  const lengthResponse = Buffer.concat([
    Buffer.from(`HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: ${BODY.length}\r\nCache-Control: max-age=60\r\nETag: "w"\r\n\r\n`, 'latin1'),
    BODY,
  ]);
  const chunkedResponse = Buffer.from('HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nTransfer-Encoding: chunked\r\nCache-Control: max-age=60\r\n\r\n4\r\nwarm\r\n3\r\n-up\r\n0\r\n\r\n', 'latin1');
  const largeHead = Buffer.from(`HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: ${LARGE_BODY.length}\r\nCache-Control: max-age=60\r\n\r\n`, 'latin1');
  return net.createServer({ noDelay: true }, (socket) => {
    socket.on('error', () => socket.destroy());
    let pending = '';
    socket.on('data', (chunk: Buffer) => {
      pending += chunk.toString('latin1');
      for (let end = pending.indexOf('\r\n\r\n'); end !== -1; end = pending.indexOf('\r\n\r\n')) {
        const head = pending.slice(0, end);
        pending = pending.slice(end + 4);
        if (head.includes(LARGE_PATH)) writeInPieces(socket, largeHead, LARGE_BODY, LARGE_PIECES);
        else socket.write(head.includes(CHUNKED_PATH) ? chunkedResponse : lengthResponse);
      }
    });
  });
}

/** The head, then the body in `pieces` writes, one per turn of the event loop (so that they arrive as several reads). */
function writeInPieces(socket: net.Socket, head: Buffer, body: Buffer, pieces: number): void {
  socket.write(head);
  const size = Math.ceil(body.length / pieces);
  const next = (at: number): void => {
    if (at >= body.length || socket.destroyed) return;
    socket.write(body.subarray(at, at + size));
    setImmediate(next, at + size);
  };
  setImmediate(next, 0);
}

/** One keep-alive client connection: a request at a time, the response read with our parser. */
class WarmClient {
  private readonly socket: net.Socket;
  private readonly parser: ResponseParser;
  private waiting: { resolve: (status: number) => void; reject: (err: Error) => void } | null = null;
  private status = 0;

  constructor(port: number) {
    this.socket = net.connect({ port, host: '127.0.0.1', noDelay: true });
    this.parser = new ResponseParser({
      onHead: (head) => void (this.status = head.status),
      onBody: () => {},
      onComplete: () => {
        const waiting = this.waiting;
        this.waiting = null;
        waiting?.resolve(this.status);
      },
    });
    this.socket.on('data', (chunk: Buffer) => {
      const error = this.parser.feed(chunk);
      if (error) this.fail(error);
    });
    this.socket.on('error', (err) => this.fail(err));
    this.socket.on('close', () => this.fail(new Error('warm-up connection closed')));
  }

  get(path: string): Promise<number> {
    return new Promise((resolve, reject) => {
      this.waiting = { resolve, reject };
      this.socket.write(`GET ${path} HTTP/1.1\r\nHost: warm-up\r\nAccept: */*\r\nAccept-Encoding: gzip\r\nUser-Agent: streamcache-warm-up\r\n\r\n`, 'latin1');
    });
  }

  close(): void {
    this.socket.destroy();
    this.parser.close();
  }

  private fail(err: Error): void {
    const waiting = this.waiting;
    this.waiting = null;
    waiting?.reject(err);
  }
}

function listenLoopback(server: net.Server): Promise<number> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve((server.address() as AddressInfo).port));
  });
}

/**
 * Runs the warm-up through `create(originUrl)`, a private proxy in front of a private origin.
 * Never throws: a warm-up that fails (no loopback, say) only means a cold first request.
 */
export async function warmUp(create: (origin: string) => WarmUpTarget, plan: WarmUpPlan = DEFAULT_WARM_UP): Promise<WarmUpReport & { error?: string }> {
  const started = performance.now();
  const report = { requests: 0, misses: 0, hits: 0 };
  const origin = warmOrigin();
  let proxy: WarmUpTarget | null = null;
  const clients: WarmClient[] = [];
  try {
    const originPort = await listenLoopback(origin);
    proxy = create(`http://127.0.0.1:${originPort}`);
    const { port } = await proxy.listen(0, '127.0.0.1');
    for (let i = 0; i < plan.connections; i++) clients.push(new WarmClient(port));
    const expect200 = async (client: WarmClient, path: string): Promise<void> => {
      const status = await client.get(path);
      report.requests++;
      if (status !== 200) throw new Error(`GET ${path}: status ${status}`);
    };
    await expect200(clients[0], CHUNKED_PATH);
    report.misses++;
    for (let i = 0; i < (plan.largeMisses ?? 0); i++) {
      await expect200(clients[i % clients.length], `${LARGE_PATH}${i}`);
      report.misses++;
    }
    for (let round = 0; round < plan.rounds && performance.now() - started < plan.budgetMs; round++) {
      const client = clients[round % clients.length];
      const path = `/streamcache-warm-up/${round}`;
      await expect200(client, path);
      report.misses++;
      for (let hit = 0; hit < plan.hitsPerRound; hit++) {
        await expect200(clients[(round + hit) % clients.length], hit % 4 === 3 ? CHUNKED_PATH : path);
        report.hits++;
      }
    }
    return { ...report, ms: performance.now() - started };
  } catch (err) {
    return { ...report, ms: performance.now() - started, error: err instanceof Error ? err.message : String(err) };
  } finally {
    for (const client of clients) client.close();
    await proxy?.close(0).catch(() => undefined);
    await new Promise<void>((resolve) => origin.close(() => resolve()));
  }
}
