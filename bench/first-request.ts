// The first request after start against a warm one: does the first client pay for the cold
// process (compiling, first-use setup, the first slab)?
//   npm run build && node dist/bench/first-request.js
// Each run starts a fresh streamcache in front of a 1 KiB cacheable origin and, on one keep-alive
// connection, sends: the first request (a cold miss), then BENCH_FIRST_WARM (20) misses of other
// keys and as many hits. The first byte of each is timed from the request's write. The figure is
// first request / median of the last half of the warm misses (the same kind of request, warm).
// A second reference separates what the process's coldness costs from what the machine's does:
// after the warm series, a new connection, BENCH_FIRST_IDLE (200) ms of idleness, then one more
// miss ("idle miss"). On a VM whose idle vCPUs halt, waking one costs the first request too, and
// no warm-up can take that away; the process's own cold cost is first / idle miss.
// Env: BENCH_FIRST_RUNS (3), BENCH_FIRST_WARM (20), BENCH_WARM_UP (1; 0 starts the proxies with
//      warmUp: false, to see the cold start the warm-up takes away), BENCH_LOG_LEVEL (warn).
import { envNumber, fixed, int, median, printMachine, printTable, ratio, runMain, verdict } from './common.js';
import { pinLine, printCores, startServer } from './harness.js';
import { RawConnection, type OneResponse } from './raw-client.js';

const RUNS = Math.max(1, envNumber('BENCH_FIRST_RUNS', 3));
const WARM = Math.max(2, envNumber('BENCH_FIRST_WARM', 20));
const WARM_UP = envNumber('BENCH_WARM_UP', 1) !== 0;
const LOG_LEVEL = process.env.BENCH_LOG_LEVEL || 'warn';
const IDLE_MS = Math.max(0, envNumber('BENCH_FIRST_IDLE', 200));
const TARGET = 2.0;

interface Run {
  first: OneResponse;
  warmMiss: number;
  warmHit: number;
  /** A miss on a new connection after BENCH_FIRST_IDLE ms of idleness, once the process is warm. */
  idleMiss: number;
  listenMs: number;
}

async function get(c: RawConnection, path: string, expectCache: string): Promise<OneResponse> {
  const r = await c.get(path);
  if (r.status !== 200 || r.bodyBytes !== 1024) throw new Error(`GET ${path}: status ${r.status}, ${r.bodyBytes} body bytes`);
  if (r.xCache !== expectCache) throw new Error(`GET ${path}: X-Cache ${r.xCache}, expected ${expectCache}`);
  return r;
}

async function oneRun(originPort: number, run: number): Promise<Run> {
  const t0 = performance.now();
  const proxy = await startServer('streamcache', originPort, JSON.stringify({ logLevel: LOG_LEVEL, warmUp: WARM_UP }));
  const listenMs = performance.now() - t0;
  if (run === 0) printCores([{ name: 'streamcache', pid: proxy.pid }]);
  const c = new RawConnection(proxy.port);
  await c.ready();
  try {
    const first = await get(c, `/first/${run}`, 'MISS');
    const misses: number[] = [];
    const hits: number[] = [];
    for (let i = 0; i < WARM; i++) {
      misses.push((await get(c, `/warm/${run}/${i}`, 'MISS')).firstByteMs);
      hits.push((await get(c, `/warm/${run}/${i}`, 'HIT')).firstByteMs);
    }
    const lastHalf = (v: number[]): number => median(v.slice(v.length >> 1));
    const idleMiss = await missAfterIdle(proxy.port, run);
    return { first, warmMiss: lastHalf(misses), warmHit: lastHalf(hits), idleMiss, listenMs };
  } finally {
    c.close();
    await proxy.stop();
  }
}

/** The first request's situation without the process's coldness: a new connection to an idle, warm proxy. */
async function missAfterIdle(port: number, run: number): Promise<number> {
  const c = new RawConnection(port);
  await c.ready();
  try {
    await new Promise((resolve) => setTimeout(resolve, IDLE_MS));
    return (await get(c, `/idle/${run}`, 'MISS')).firstByteMs;
  } finally {
    c.close();
  }
}

async function main(): Promise<void> {
  console.log('streamcache: first byte of the first request after start vs a warm request');
  printMachine({
    scenario: `${RUNS} fresh proxies; each: the first request (cold miss, 1 KiB), then ${WARM} misses and ${WARM} hits on the same keep-alive connection; warm-up ${WARM_UP ? 'on (default)' : 'off (warmUp: false)'}`,
    pinning: pinLine(),
  });
  console.log();
  const origin = await startServer('origin', 1024, 'max-age=3600');
  // The driver's own client code runs once before it times anything.
  const warmDriver = new RawConnection(origin.port);
  await warmDriver.ready();
  for (let i = 0; i < 50; i++) await warmDriver.get('/driver-warm-up');
  warmDriver.close();
  const runs: Run[] = [];
  for (let r = 0; r < RUNS; r++) runs.push(await oneRun(origin.port, r));
  await origin.stop();
  printTable(
    ['run', 'start to listening ms', 'first request first byte ms', 'warm miss first byte ms', 'warm hit first byte ms', `idle miss (${IDLE_MS} ms, new conn) ms`, 'first / warm miss', 'first / idle miss'],
    runs.map((r, i) => [
      String(i + 1),
      fixed(r.listenMs, 0),
      fixed(r.first.firstByteMs, 2),
      fixed(r.warmMiss, 2),
      fixed(r.warmHit, 2),
      fixed(r.idleMiss, 2),
      `${fixed(ratio(r.first.firstByteMs, r.warmMiss), 2)}x`,
      `${fixed(ratio(r.first.firstByteMs, r.idleMiss), 2)}x`,
    ]),
  );
  const worst = Math.max(...runs.map((r) => ratio(r.first.firstByteMs, r.warmMiss)));
  const worstIdle = Math.max(...runs.map((r) => ratio(r.first.firstByteMs, r.idleMiss)));
  console.log();
  printTable(['ratio', 'value', 'target', 'verdict'], [
    ['first byte: first request / warm miss (worst run)', `${fixed(worst, 2)}x`, `<= ${TARGET.toFixed(1)}x`, verdict(worst, TARGET, '<=')],
    ['first byte: first request / idle miss on a new connection (worst run)', `${fixed(worstIdle, 2)}x`, '(info)', ''],
  ]);
  console.log(`(start to listening: fork to 'ready', the warm-up included; ${int(RUNS)} run(s))`);
}

runMain(main);
