// The servers under test for bench/load.ts, each run in its own process:
//   node dist/bench/servers.js origin      [bodyBytes]   minimal node:net responder (fixed response)
//   node dist/bench/servers.js big-origin  <bodyBytes>   one huge Content-Length body per request (/big/N: N bytes)
//   node dist/bench/servers.js streamcache <originPort>  createProxy() from src/index.ts
//   node dist/bench/servers.js nodehttp    <originPort>  node:http + http.request + pipe, keep-alive Agent
// Every server listens on 127.0.0.1, port 0, and reports { type: 'ready', port } over IPC (fork).
// It answers { type: 'cpu' } with its process.cpuUsage(), and exits on SIGTERM or parent disconnect.
import http from 'node:http';
import net from 'node:net';
import type { AddressInfo } from 'node:net';

export type ServerKind = 'origin' | 'big-origin' | 'streamcache' | 'nodehttp';

export type ServerMessage =
  | { type: 'ready'; port: number }
  | { type: 'failed'; error: string }
  | { type: 'cpu'; user: number; system: number };

const HOST = '127.0.0.1';
const CRLFCRLF = Buffer.from('\r\n\r\n', 'latin1');

/** The fixed response of the minimal origin: status line, 3 headers, `bodyBytes` of body. */
export function fixedResponse(bodyBytes: number): Buffer {
  const head =
    'HTTP/1.1 200 OK\r\n' +
    'Content-Type: application/octet-stream\r\n' +
    `Content-Length: ${bodyBytes}\r\n` +
    // Keeps the load test a pass-through measurement once the proxy caches.
    'Cache-Control: no-store\r\n' +
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

function originServer(bodyBytes: number): net.Server {
  const response = fixedResponse(bodyBytes);
  return net.createServer({ noDelay: true }, (socket) => {
    socket.on('error', () => socket.destroy());
    onRequestHeads(socket, (count) => {
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
function bigOriginServer(defaultBytes: number): net.Server {
  const piece = Buffer.alloc(1024 * 1024, 'b');
  const headFor = (total: number): Buffer =>
    Buffer.from(
      'HTTP/1.1 200 OK\r\n' +
        'Content-Type: application/octet-stream\r\n' +
        `Content-Length: ${total}\r\n` +
        'Cache-Control: no-store\r\n' +
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
        input = input.slice(end + 4);
      }
      if (!sending) sendNext();
    });
  });
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
  const [kind, arg] = process.argv.slice(2) as [ServerKind | undefined, string | undefined];
  let port: number;
  let close: () => Promise<void> | void;
  switch (kind) {
    case 'origin': {
      const server = originServer(Number(arg ?? 1024));
      port = await listenNet(server);
      close = () => void server.close();
      break;
    }
    case 'big-origin': {
      const server = bigOriginServer(Number(arg));
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
    case 'streamcache': {
      const createProxy = await loadCreateProxy();
      const proxy = createProxy({ origin: `http://${HOST}:${Number(arg)}`, logLevel: 'silent' });
      port = (await proxy.listen(0, HOST)).port;
      close = () => proxy.close(100);
      break;
    }
    default:
      throw new Error(`unknown server kind "${kind}" (origin | big-origin | streamcache | nodehttp)`);
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
    if (m?.type === 'cpu') {
      const u = process.cpuUsage();
      send({ type: 'cpu', user: u.user, system: u.system });
    }
  });
  send({ type: 'ready', port });
  if (!process.send) console.log(`${kind} listening on ${HOST}:${port}`);
}

main().catch((err: unknown) => {
  const error = err instanceof Error ? (err.stack ?? err.message) : String(err);
  if (process.send) send({ type: 'failed', error });
  else console.error(error);
  process.exit(1);
});
