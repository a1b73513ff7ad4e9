// Invalidation (SPEC I2, I5, and "a flood of purges does not starve hits"):
//   index  purge by surrogate key of 10,000 tagged objects among 100,000 in a CacheIndex filled
//          directly (the index operation alone), beside a scan of every object for the same tag
//          (what a purge would cost without the key -> objects map);
//   fleet  propagation over a real redis-server: 3 proxies in this process, 100 purges on one,
//          the time until each other node has applied each (median, max);
//   flood  cache hits/s of one proxy (its own process, 50 connections) alone and while a loop of
//          PURGEs of other URLs runs against it as fast as it answers (8 keep-alive connections).
//   npm run build && node dist/bench/purge.js [index] [fleet] [flood]     (all three by default)
// Env: BENCH_DURATION (s per flood run, 10), BENCH_CONNECTIONS (50), BENCH_PURGE_CONNECTIONS (8).
import net from 'node:net';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { HeaderFields } from '../src/http1/headers.js';
import { CacheIndex } from '../src/cache/index.js';
import { CacheObject } from '../src/cache/object.js';
import { RingStore } from '../src/cache/store.js';
import { createProxy, type Proxy } from '../src/index.js';
import { startRedis } from '../test/support/redis.js';
import { envNumber, fixed, idleCheck, int, median, printMachine, printTable, runMain } from './common.js';
import { generatorLine, runLoad, startServer } from './harness.js';

const OBJECTS = 100_000;
const TAGGED = 10_000;
const ROUNDS = 5;
const PURGES = 100;
const DURATION = envNumber('BENCH_DURATION', 10);
const CONNECTIONS = envNumber('BENCH_CONNECTIONS', 50);
const PURGE_CONNECTIONS = envNumber('BENCH_PURGE_CONNECTIONS', 8);

// ---------------------------------------------------------------------------------------------

function tagged(i: number): CacheObject {
  const tags = `obj-${i} group-${i % 1000}${i % (OBJECTS / TAGGED) === 0 ? ' hot' : ''}`;
  const head = { status: 200, reason: 'OK', headers: new HeaderFields() };
  const origin = { ...head, version: { major: 1, minor: 1 }, headers: HeaderFields.from([['Surrogate-Key', tags]]) };
  const o = new CacheObject(`bench.test/object/${i}`, origin, head, { storable: true, ttl: 3600, mustRevalidate: false, source: 'bench' }, Date.now(), 0, 0);
  o.markComplete();
  return o;
}

function filledIndex(): { index: CacheIndex; objects: CacheObject[] } {
  const index = new CacheIndex(new RingStore(1024 * 1024, 1024 * 1024));
  const objects = Array.from({ length: OBJECTS }, (_, i) => tagged(i));
  for (const o of objects) index.insert(o);
  return { index, objects };
}

function benchIndex(): void {
  console.log(`\n## index: purge by key of ${int(TAGGED)} tagged objects among ${int(OBJECTS)}`);
  const rows: string[][] = [];
  const hard: number[] = [];
  const soft: number[] = [];
  const scan: number[] = [];
  const hardCpu: number[] = [];
  let fillMs = 0;
  for (let round = 0; round < ROUNDS; round++) {
    const t0 = performance.now();
    const { index, objects } = filledIndex();
    fillMs = performance.now() - t0;
    // The same tag found by reading every object's Surrogate-Key: the cost without the map.
    let s = performance.now();
    let found = 0;
    for (const o of objects) if (o.originHead.headers.get('surrogate-key')!.split(' ').includes('hot')) found++;
    scan.push(performance.now() - s);
    s = performance.now();
    const softCount = index.purgeTagged(['hot'], true);
    soft.push(performance.now() - s);
    s = performance.now();
    const cpu = process.cpuUsage();
    const hardCount = index.purgeTagged(['hot']);
    hard.push(performance.now() - s);
    const used = process.cpuUsage(cpu);
    hardCpu.push((used.user + used.system) / 1000);
    if (found !== TAGGED || softCount !== TAGGED || hardCount !== TAGGED || index.stats().objects !== OBJECTS - TAGGED) throw new Error(`wrong counts: ${found} ${softCount} ${hardCount} ${index.stats().objects}`);
  }
  rows.push(['purge by key (remove)', fixed(median(hard), 2), fixed(Math.min(...hard), 2), fixed(Math.max(...hard), 2)]);
  rows.push(['soft purge by key (mark stale)', fixed(median(soft), 2), fixed(Math.min(...soft), 2), fixed(Math.max(...soft), 2)]);
  rows.push(['scan of every object for the tag (no map)', fixed(median(scan), 2), fixed(Math.min(...scan), 2), fixed(Math.max(...scan), 2)]);
  rows.push(['purge by key (remove), CPU time', fixed(median(hardCpu), 2), fixed(Math.min(...hardCpu), 2), fixed(Math.max(...hardCpu), 2)]);
  printTable(['operation', 'median ms', 'min ms', 'max ms'], rows);
  console.log(`${ROUNDS} rounds; filling the index with ${int(OBJECTS)} tagged objects took ${fixed(fillMs, 0)} ms`);
}

// ---------------------------------------------------------------------------------------------

async function benchFleet(): Promise<void> {
  console.log(`\n## fleet: ${PURGES} purges on node 0, applied by nodes 1 and 2 over a loopback redis-server`);
  const redis = await startRedis();
  const origin = http.createServer((req, res) => res.writeHead(200, { 'Cache-Control': 'max-age=3600', 'Content-Length': 2 }).end('ok'));
  await new Promise<void>((resolve) => origin.listen(0, '127.0.0.1', resolve));
  const originUrl = `http://127.0.0.1:${(origin.address() as AddressInfo).port}`;
  const nodes: Proxy[] = [];
  try {
    for (let i = 0; i < 3; i++) {
      const proxy = createProxy({ origin: originUrl, logLevel: 'silent', purgeBus: redis.url('bench-fleet') });
      await proxy.listen(0, '127.0.0.1');
      nodes.push(proxy);
    }
    const deadline = Date.now() + 5_000;
    while (!nodes.every((n) => n.busConnected())) {
      if (Date.now() > deadline) throw new Error('nodes not on the bus after 5 s');
      await new Promise((r) => setTimeout(r, 10));
    }
    const applied = (n: Proxy) => n.stats().purge.applied.bus;
    const latencies: number[] = [];
    for (let i = 0; i < PURGES; i++) {
      const want = nodes.map(applied).map((v, k) => (k === 0 ? v : v + 1));
      const t0 = performance.now();
      nodes[0].purge({ url: `/page/${i}`, host: 'fleet.test' });
      const seen = [0, 0, 0];
      while (seen[1] === 0 || seen[2] === 0) {
        await new Promise((r) => setImmediate(r));
        for (const k of [1, 2]) if (seen[k] === 0 && applied(nodes[k]) >= want[k]) seen[k] = performance.now() - t0;
        if (performance.now() - t0 > 5_000) throw new Error(`purge ${i} not applied within 5 s`);
      }
      latencies.push(seen[1], seen[2]);
    }
    latencies.sort((a, b) => a - b);
    printTable(['purges', 'deliveries', 'median ms', 'p95 ms', 'max ms'], [[String(PURGES), String(latencies.length), fixed(median(latencies), 3), fixed(latencies[Math.floor(latencies.length * 0.95)], 3), fixed(latencies[latencies.length - 1], 3)]]);
  } finally {
    await Promise.all(nodes.map((n) => n.close(500)));
    origin.close();
    await redis.stop();
  }
}

// ---------------------------------------------------------------------------------------------

/** PURGE /other/<n> on `connections` keep-alive connections, one at a time each, until stopped. */
function purgeLoop(port: number, connections: number): { stop(): number } {
  let answered = 0;
  let n = 0;
  let stopped = false;
  const sockets = Array.from({ length: connections }, () => {
    const socket = net.connect(port, '127.0.0.1');
    socket.setNoDelay(true);
    const send = () => {
      if (!stopped) socket.write(`PURGE /other/${n++} HTTP/1.1\r\nHost: bench.test\r\n\r\n`);
    };
    let text = '';
    socket.on('connect', send);
    socket.on('data', (data: Buffer) => {
      text += data.toString('latin1');
      // Each answer's body is `{"purged":N}\n`.
      for (let end = text.indexOf('}\n'); end !== -1; end = text.indexOf('}\n')) {
        answered++;
        text = text.slice(end + 2);
        send();
      }
    });
    socket.on('error', () => {});
    return socket;
  });
  return {
    stop() {
      stopped = true;
      for (const socket of sockets) socket.destroy();
      return answered;
    },
  };
}

async function benchFlood(): Promise<void> {
  console.log(`\n## flood: hits/s with and without a purge loop (${PURGE_CONNECTIONS} connections of PURGE of other URLs); ${generatorLine()}, ${CONNECTIONS} connections, ${DURATION} s`);
  const origin = await startServer('origin', 1024, 'max-age=3600');
  const proxy = await startServer('streamcache', origin.port, JSON.stringify({ logLevel: 'warn' }));
  try {
    await runLoad(proxy.port, '/hit', CONNECTIONS, 2);
    const rows: string[][] = [];
    for (const withPurges of [false, true, false, true]) {
      const loop = withPurges ? purgeLoop(proxy.port, PURGE_CONNECTIONS) : null;
      const started = performance.now();
      const load = await runLoad(proxy.port, '/hit', CONNECTIONS, DURATION);
      const seconds = (performance.now() - started) / 1000;
      const purges = loop?.stop() ?? 0;
      rows.push([withPurges ? 'hits + purge loop' : 'hits alone', int(load.rps), fixed(load.p50ms, 2), fixed(load.p99ms, 2), withPurges ? int(purges / seconds) : '-', String(load.non2xx + load.errors)]);
    }
    printTable(['run', 'hits/s', 'p50 ms', 'p99 ms', 'purges/s', 'errors'], rows);
    const originStats = await origin.stats();
    console.log(`origin requests over all runs: ${originStats.requests ?? '?'} (1 expected: every GET /hit is a hit, the purges name other URLs)`);
  } finally {
    await proxy.stop();
    await origin.stop();
  }
}

runMain(async () => {
  const parts = process.argv.slice(2);
  const want = (part: string) => parts.length === 0 || parts.includes(part);
  printMachine();
  console.log(await idleCheck());
  if (want('index')) benchIndex();
  if (want('fleet')) await benchFleet();
  if (want('flood')) await benchFlood();
});
