// Serving stale (SPEC G1, G2), measured on loopback:
//   1. G1: N clients at once for a stale key inside its stale-while-revalidate window. Each is
//      answered from the stale object (time from its request's last byte written to its response's
//      last byte read), and the origin sees one revalidation per burst.
//   2. G2: clients loop over K keys inside their stale-if-error window while the origin is killed
//      mid-run; every response must still be a 200 with the object's body.
//   npm run build && node dist/bench/stale.js
// Env: BENCH_STALE_CLIENTS (50), BENCH_STALE_ROUNDS (20), BENCH_STALE_KEYS (20),
//      BENCH_STALE_SECONDS (6: the second run; the origin dies halfway).
// The proxy, the origin and the clients share this process (one event loop): client-side work is
// inside every latency, so the figures err towards slower.
import http from 'node:http';
import net from 'node:net';
import { createProxy } from '../src/index.js';
import { envNumber, fixed, idleCheck, median, printMachine, runMain } from './common.js';

const CLIENTS = envNumber('BENCH_STALE_CLIENTS', 50);
const ROUNDS = envNumber('BENCH_STALE_ROUNDS', 20);
const KEYS = envNumber('BENCH_STALE_KEYS', 20);
const SECONDS = envNumber('BENCH_STALE_SECONDS', 6);
const BODY = Buffer.alloc(1024, 'x');
/** The revalidation takes this long at the origin: a client that waited for it would show it. */
const REVALIDATION_DELAY_MS = 200;

interface Origin {
  port: number;
  requests: number;
  conditional: number;
  kill(): void;
}

/** Every response is one second old and fresh for one second: stale on arrival, inside its windows. */
function startOrigin(cacheControl: string, delayMs: number): Promise<Origin> {
  const sockets = new Set<net.Socket>();
  const origin: Origin = { port: 0, requests: 0, conditional: 0, kill: () => undefined };
  const server = http.createServer((req, res) => {
    origin.requests++;
    if (req.headers['if-none-match']) origin.conditional++;
    setTimeout(() => {
      const fresh = req.url === '/fresh';
      res.writeHead(200, { 'Cache-Control': fresh ? 'max-age=3600' : cacheControl, Age: fresh ? '0' : '1', ETag: '"v"', 'Content-Length': BODY.length });
      res.end(BODY);
    }, delayMs);
  });
  server.on('connection', (socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
  });
  origin.kill = () => {
    server.close();
    for (const socket of sockets) socket.destroy();
  };
  return new Promise((resolve) =>
    server.listen(0, '127.0.0.1', () => {
      origin.port = (server.address() as net.AddressInfo).port;
      resolve(origin);
    }),
  );
}

/** One GET on its own connection, already open: ms from the request written to the response read whole. */
function timedGet(socket: net.Socket, path: string): Promise<{ ms: number; status: number; body: number }> {
  return new Promise((resolve, reject) => {
    let received = Buffer.alloc(0);
    let start = 0;
    const onData = (chunk: Buffer) => {
      received = Buffer.concat([received, chunk]);
      const headEnd = received.indexOf('\r\n\r\n');
      if (headEnd < 0) return;
      const head = received.subarray(0, headEnd).toString('latin1');
      const length = Number(/\r\ncontent-length: *(\d+)/i.exec(head)?.[1] ?? NaN);
      if (received.length - headEnd - 4 < length) return;
      socket.off('data', onData);
      socket.off('error', onError);
      resolve({ ms: performance.now() - start, status: Number(head.split(' ')[1]), body: length });
    };
    const onError = (err: Error) => {
      socket.off('data', onData);
      reject(err);
    };
    socket.on('data', onData);
    socket.once('error', onError);
    socket.write(`GET ${path} HTTP/1.1\r\nHost: bench.stale\r\n\r\n`, () => (start = performance.now()));
  });
}

function connect(port: number): Promise<net.Socket> {
  return new Promise((resolve, reject) => {
    const socket = net.connect({ port, host: '127.0.0.1', noDelay: true }, () => resolve(socket));
    socket.once('error', reject);
  });
}

async function staleWhileRevalidate(): Promise<void> {
  const origin = await startOrigin('max-age=1, stale-while-revalidate=600', REVALIDATION_DELAY_MS);
  const proxy = createProxy({ origin: `http://127.0.0.1:${origin.port}`, logLevel: 'silent' });
  const { port } = await proxy.listen(0, '127.0.0.1');
  const sockets = await Promise.all(Array.from({ length: CLIENTS }, () => connect(port)));
  await timedGet(sockets[0], '/swr'); // the miss: stored, stale at once
  await timedGet(sockets[0], '/fresh');
  const latencies: number[] = [];
  const hits: number[] = [];
  const revalidationsPerBurst: number[] = [];
  let errors = 0;
  const pause = () => new Promise((resolve) => setTimeout(resolve, REVALIDATION_DELAY_MS + 100));
  // Stale bursts interleaved with the same bursts of plain hits on a fresh key (the floor on this
  // machine at that moment), each followed by the same pause.
  for (let round = 0; round < ROUNDS; round++) {
    const before = origin.requests;
    const results = await Promise.all(sockets.map((socket) => timedGet(socket, '/swr')));
    for (const r of results) {
      latencies.push(r.ms);
      if (r.status !== 200 || r.body !== BODY.length) errors++;
    }
    // Let this burst's revalidation finish (and count it) before the next burst.
    await pause();
    revalidationsPerBurst.push(origin.requests - before);
    for (const r of await Promise.all(sockets.map((socket) => timedGet(socket, '/fresh')))) hits.push(r.ms);
    await pause();
  }
  latencies.sort((a, b) => a - b);
  const stats = proxy.stats().stale;
  console.log(`G1: ${ROUNDS} bursts of ${CLIENTS} concurrent requests for one stale key (origin answers revalidations after ${REVALIDATION_DELAY_MS} ms)`);
  console.log(`  per-client latency: median ${fixed(median(latencies), 2)} ms, p99 ${fixed(latencies[Math.floor(latencies.length * 0.99)], 2)} ms, max ${fixed(latencies[latencies.length - 1], 2)} ms`);
  console.log(`  the same bursts as plain hits of a fresh key: median ${fixed(median(hits), 2)} ms`);
  console.log(`  origin requests per burst: ${[...new Set(revalidationsPerBurst)].join(', ')} (all ${origin.conditional} revalidations conditional); errors: ${errors}`);
  console.log(`  proxy stale counters: ${JSON.stringify(stats)}`);
  for (const socket of sockets) socket.destroy();
  await proxy.close(1000);
  origin.kill();
}

async function staleIfErrorWhileTheOriginDies(): Promise<void> {
  const origin = await startOrigin('max-age=1, stale-if-error=600', 0);
  const proxy = createProxy({ origin: `http://127.0.0.1:${origin.port}`, logLevel: 'silent', connectTimeout: 200 });
  const { port } = await proxy.listen(0, '127.0.0.1');
  const keys = Array.from({ length: KEYS }, (_, i) => `/sie/${i}`);
  const warm = await connect(port);
  for (const key of keys) await timedGet(warm, key);
  warm.destroy();
  let responses = 0;
  let errors = 0;
  let afterKill = 0;
  let killed = false;
  const stopAt = performance.now() + SECONDS * 1000;
  setTimeout(() => {
    origin.kill();
    killed = true;
  }, (SECONDS * 1000) / 2);
  const loops = Array.from({ length: CLIENTS }, async (_, i) => {
    let socket = await connect(port);
    for (let n = i; performance.now() < stopAt; n++) {
      const r = await timedGet(socket, keys[n % keys.length]).catch(() => ({ ms: 0, status: 0, body: 0 }));
      responses++;
      if (killed) afterKill++;
      if (r.status !== 200 || r.body !== BODY.length) {
        errors++;
        socket.destroy();
        socket = await connect(port);
      }
    }
    socket.destroy();
  });
  await Promise.all(loops);
  console.log(`G2: ${CLIENTS} clients looping over ${KEYS} keys inside stale-if-error for ${SECONDS} s; the origin killed after ${SECONDS / 2} s`);
  console.log(`  responses: ${responses} (${afterKill} after the kill), errors: ${errors}; origin requests before the kill: ${origin.requests}`);
  console.log(`  proxy stale counters: ${JSON.stringify(proxy.stats().stale)}`);
  await proxy.close(1000);
}

runMain(async () => {
  printMachine();
  console.log(`idle check: ${await idleCheck()}`);
  await staleWhileRevalidate();
  await staleIfErrorWhileTheOriginDies();
});
