// What T1 and T2 cost, hit vs miss: ESI page assembly with 10 fragments, and on-the-fly gzip of a
// 1 MiB body (the accepting client, and the one that gets it decoded per response). One process:
// an in-process node:http origin, streamcache, and one keep-alive client asking sequentially, so
// each figure is the latency of one request through the whole path.
//   npm run build && node dist/bench/transform.js        (env BENCH_HITS, BENCH_MISSES: iterations)
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { gzipSync } from 'node:zlib';
import { createProxy } from '../src/index.js';
import { MiB, envNumber, fixed, printMachine, printTable } from './common.js';

const HITS = envNumber('BENCH_HITS', 300);
const MISSES = envNumber('BENCH_MISSES', 40);
const FRAGMENTS = 10;
const FRAGMENT_BYTES = 1024;

/** ~1 MiB of text that compresses like real markup or JSON (about 4:1 with gzip), not like zeros. */
function bigBody(): Buffer {
  const lines: string[] = [];
  let size = 0;
  for (let i = 0; size < MiB; i++) {
    const line = `{"id":${i},"name":"item-${(i * 2654435761) % 100000}","price":${((i * 7919) % 10000) / 100},"tags":["t${i % 17}","t${i % 29}"],"ok":${i % 3 === 0}}\n`;
    lines.push(line);
    size += line.length;
  }
  return Buffer.from(lines.join('').slice(0, MiB), 'latin1');
}

const BIG = bigBody();
const fragmentBody = (page: string, j: number) => Buffer.from(`<div class="f${j}" data-page="${page}">${'x'.repeat(FRAGMENT_BYTES - 40)}</div>`.slice(0, FRAGMENT_BYTES), 'latin1');
const template = (page: string) => Buffer.from(`<html><body>${Array.from({ length: FRAGMENTS }, (_, j) => `<p>${j}</p><esi:include src="/frag/${page}/${j}"/>`).join('\n')}</body></html>`, 'latin1');

function startOrigin(): Promise<http.Server> {
  const server = http.createServer((req, res) => {
    const url = req.url ?? '/';
    let body: Buffer;
    if (url.startsWith('/page/')) body = template(url.slice(6));
    else if (url.startsWith('/plain/')) body = Buffer.alloc(FRAGMENTS * (FRAGMENT_BYTES + 20), 'p');
    else if (url.startsWith('/frag/')) {
      const [, , page, j] = url.split('/');
      body = fragmentBody(page, Number(j));
    } else if (url.startsWith('/big/') || url.startsWith('/raw/')) body = BIG;
    else {
      res.writeHead(404).end();
      return;
    }
    res.writeHead(200, { 'Cache-Control': 'max-age=3600', 'Content-Type': 'text/html', 'Content-Length': body.length });
    res.end(body);
  });
  server.keepAliveTimeout = 60_000;
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve(server)));
}

const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });

function get(port: number, path: string, headers: Record<string, string> = {}): Promise<{ status: number; bytes: number; encoding?: string }> {
  return new Promise((resolve, reject) => {
    const req = http.request({ host: '127.0.0.1', port, path, agent, headers: { Host: 'bench.test', ...headers } }, (res) => {
      let bytes = 0;
      res.on('data', (chunk: Buffer) => (bytes += chunk.length));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, bytes, encoding: res.headers['content-encoding'] }));
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end();
  });
}

interface Row {
  scenario: string;
  cache: string;
  n: number;
  bytes: number;
  latencies: number[];
}

async function measure(scenario: string, cache: string, n: number, request: (i: number) => Promise<{ status: number; bytes: number }>): Promise<Row> {
  const latencies: number[] = [];
  let bytes = 0;
  for (let i = 0; i < n; i++) {
    const started = performance.now();
    const res = await request(i);
    latencies.push(performance.now() - started);
    if (res.status !== 200) throw new Error(`${scenario}: status ${res.status}`);
    bytes = res.bytes;
  }
  return { scenario, cache, n, bytes, latencies };
}

function quantile(sorted: number[], q: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))];
}

async function main(): Promise<void> {
  const origin = await startOrigin();
  const originPort = (origin.address() as AddressInfo).port;
  const proxy = createProxy({
    origin: `http://127.0.0.1:${originPort}`,
    logLevel: 'silent',
    storeSize: 1024 * MiB,
    rules: [
      { path: '/page/*', esi: true },
      { path: '/big/*', compress: 'gzip' },
    ],
  });
  const { port } = await proxy.listen(0, '127.0.0.1');
  const gz = { 'Accept-Encoding': 'gzip' };
  const rows: Row[] = [];

  // Warm the path (JIT, origin connections) on keys the measurements do not use.
  for (let i = 0; i < 20; i++) {
    await get(port, `/page/warm${i}`);
    await get(port, `/big/warm${i % 2}`, gz);
  }

  // ESI: a miss fetches the template and its 10 fragments from the origin (fragments in
  // parallel); a hit assembles the page from the cached template and 10 cached fragments.
  rows.push(await measure('ESI page, 10 fragments', 'miss', MISSES, (i) => get(port, `/page/m${i}`)));
  await get(port, '/page/hot');
  rows.push(await measure('ESI page, 10 fragments', 'hit', HITS, () => get(port, '/page/hot')));
  await get(port, '/plain/hot');
  rows.push(await measure('same size, no ESI', 'hit', HITS, () => get(port, '/plain/hot')));

  // gzip of 1 MiB: a miss fetches and compresses; a hit sends the stored gzip bytes, or decodes
  // them for a client that does not accept gzip.
  rows.push(await measure('1 MiB, gzip on the fly', 'miss', MISSES, (i) => get(port, `/big/m${i}`, gz)));
  await get(port, '/big/hot', gz);
  rows.push(await measure('1 MiB, gzip on the fly', 'hit, accepts gzip', HITS, () => get(port, '/big/hot', gz)));
  await get(port, '/big/hot');
  rows.push(await measure('1 MiB, gzip on the fly', 'hit, decoded', Math.max(20, Math.round(HITS / 5)), () => get(port, '/big/hot')));
  rows.push(await measure('1 MiB, not compressed', 'miss', MISSES, (i) => get(port, `/raw/m${i}`)));
  await get(port, '/raw/hot');
  rows.push(await measure('1 MiB, not compressed', 'hit', HITS, () => get(port, '/raw/hot')));

  printMachine({ 'gzip ratio (zlib level 6)': `${fixed(BIG.length / gzipSync(BIG).length, 2)} : 1` });
  console.log('');
  printTable(
    ['scenario', 'cache', 'requests', 'bytes out', 'median ms', 'p99 ms', 'req/s (1 client)'],
    rows.map((r) => {
      const sorted = [...r.latencies].sort((a, b) => a - b);
      const mean = r.latencies.reduce((a, b) => a + b, 0) / r.latencies.length;
      return [r.scenario, r.cache, String(r.n), String(r.bytes), fixed(quantile(sorted, 0.5), 3), fixed(quantile(sorted, 0.99), 3), fixed(1000 / mean, 0)];
    }),
    2,
  );
  agent.destroy();
  await proxy.close(1000);
  await new Promise((resolve) => origin.close(resolve));
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
