// One 1 GiB object (`Cache-Control: max-age=3600`, Content-Length) through streamcache: the cold
// miss (time to first byte, MB/s) against the origin directly, then the hit of the same object,
// then 10 clients asking at once on a fresh proxy (one origin request, everyone's first byte at once,
// memory bounded by the object, not by the clients).
//   npm run build && node dist/bench/big.js
// Each run also does a cold miss on a fresh proxy started with storePrefault (its store committed
// before the request, as on a cache that has run a while): the same fetch without page faults;
// and, when varnishd is installed, the cold miss and the hit of the same object through a fresh
// Varnish (malloc storage of BENCH_BIG_STORE), for the hit target (>= 0.9x Varnish's hit MB/s).
// Env: BENCH_BIG_BYTES (1073741824), BENCH_BIG_RUNS (3: fresh proxy each, interleaved with the
//      direct fetch), BENCH_BIG_CLIENTS (10), BENCH_BIG_STORE (store size, 2g), BENCH_BIG_WARM
//      (bytes of a warm-up fetch of another key on each fresh proxy before the cold miss, 64 MiB;
//      0: none), BENCH_LOG_LEVEL (streamcache's, warn), BENCH_IDLE_WAIT (s, 30).
import type { BigResult } from './clients.js';
import { MB, MiB, envNumber, errorText, fixed, idleCheck, int, mb, median, printMachine, printTable, procMemory, quietRun, ratio, runMain, verdict } from './common.js';
import { startVarnish, type ExternalServer } from './external.js';
import { pinLine, printCores, runClient, startServer, type RunningServer } from './harness.js';

const BIG_BYTES = envNumber('BENCH_BIG_BYTES', 1024 ** 3);
const RUNS = Math.max(1, envNumber('BENCH_BIG_RUNS', 3));
const COLD_CLIENTS = Math.max(1, envNumber('BENCH_BIG_CLIENTS', 10));
const STORE = process.env.BENCH_BIG_STORE || '2g';
const WARM_BYTES = envNumber('BENCH_BIG_WARM', 64 * MiB);
const LOG_LEVEL = process.env.BENCH_LOG_LEVEL || 'warn';
const CACHE_CONTROL = 'max-age=3600';
const PATH = `/big/${BIG_BYTES}`;

const TARGET_MISS_MBPS = 2500;
const TARGET_MISS_TTFB_MS = 10;
const TARGET_FIRST_BYTE_MS = 50;
const TARGET_HIT_VS_VARNISH = 0.9;
const rssLimit = (): number => 1.2 * BIG_BYTES + 100 * MB;

function fetchOne(port: number, path = PATH): Promise<BigResult> {
  return runClient<BigResult>(['big', String(port), path]);
}

function checked(r: BigResult, bytes: number, expectCache?: string): BigResult {
  if (r.error) throw new Error(r.error);
  if (r.status !== 200 || r.bodyBytes !== bytes) throw new Error(`status ${r.status}, ${r.bodyBytes} of ${bytes} body bytes (${r.framing})`);
  if (expectCache && r.xCache !== expectCache) throw new Error(`X-Cache: ${r.xCache ?? '(none)'}, expected ${expectCache}`);
  return r;
}

let coresShown = false;

async function freshProxy(originPort: number, storePrefault = false): Promise<RunningServer> {
  const proxy = await startServer('streamcache', originPort, JSON.stringify({ logLevel: LOG_LEVEL, storeSize: STORE, storePrefault }));
  if (!coresShown) {
    coresShown = true;
    printCores([{ name: 'streamcache', pid: proxy.pid }]);
  }
  // Warm-up on another key: the JIT and the proxy's origin connection, not the object under test.
  if (WARM_BYTES > 0) checked(await fetchOne(proxy.port, `/big/${WARM_BYTES}`), WARM_BYTES);
  return proxy;
}

interface Row {
  name: string;
  runs: BigResult[];
  error?: string;
}

interface ColdRun {
  results: BigResult[];
  originRequests: number;
  peakRss: number;
  error?: string;
}

async function main(): Promise<void> {
  console.log('streamcache 1 GiB benchmark (loopback; origin, proxy and each client process separate)');
  const idle = await idleCheck();
  printMachine({
    object: `${int(BIG_BYTES)} B, Content-Length, Cache-Control: ${CACHE_CONTROL}; the origin writes one prebuilt 1 MiB buffer again and again (drain-paced)`,
    streamcache: `a fresh process per run, storeSize ${STORE}, log level ${LOG_LEVEL}${WARM_BYTES > 0 ? `, warmed by a ${int(WARM_BYTES)} B fetch of another key` : ''}`,
    pinning: pinLine(),
    client: 'raw socket, one GET, body counted and discarded; TTFB from request write to first response byte, MB/s = body bytes / (request write .. last byte)',
    'idle check': idle,
  });
  console.log();

  const origin = await startServer('big-origin', BIG_BYTES, CACHE_CONTROL);
  const rows: Row[] = [
    { name: 'origin direct', runs: [] },
    { name: 'streamcache cold miss', runs: [] },
    { name: 'streamcache hit', runs: [] },
    { name: 'cold miss, store prefaulted', runs: [] },
    { name: 'varnish cold miss', runs: [] },
    { name: 'varnish hit', runs: [] },
  ];
  const missOriginRequests: number[] = [];
  const missPeakRss: number[] = [];
  const foreign: number[] = [];
  // Warm-up of the direct path (the origin's JIT), not counted.
  if (WARM_BYTES > 0) await fetchOne(origin.port, `/big/${WARM_BYTES}`).catch(() => undefined);

  for (let i = 0; i < RUNS; i++) {
    // One run: direct, then a fresh proxy (cold miss, hit). Redone when other work loaded the machine.
    const { value: run, foreignPct } = await quietRun(async () => {
      const out: {
        direct?: BigResult;
        miss?: BigResult;
        hit?: BigResult;
        committedMiss?: BigResult;
        varnishMiss?: BigResult;
        varnishHit?: BigResult;
        originRequests?: number;
        peakRss?: number;
        errors: string[];
      } = { errors: [] };
      try {
        out.direct = checked(await fetchOne(origin.port), BIG_BYTES);
      } catch (err) {
        out.errors[0] = errorText(err);
      }
      let proxy: RunningServer | null = null;
      try {
        proxy = await freshProxy(origin.port);
        const before = (await origin.stats()).requests;
        out.miss = checked(await fetchOne(proxy.port), BIG_BYTES, 'MISS');
        out.originRequests = (await origin.stats()).requests - before;
        out.peakRss = procMemory(proxy.pid).hwm;
        try {
          out.hit = checked(await fetchOne(proxy.port), BIG_BYTES, 'HIT');
        } catch (err) {
          out.errors[2] = errorText(err);
        }
      } catch (err) {
        out.errors[1] = errorText(err);
        out.errors[2] ??= 'no cold miss to follow';
      } finally {
        await proxy?.stop();
      }
      let committed: RunningServer | null = null;
      try {
        committed = await freshProxy(origin.port, true);
        out.committedMiss = checked(await fetchOne(committed.port), BIG_BYTES, 'MISS');
      } catch (err) {
        out.errors[3] = errorText(err);
      } finally {
        await committed?.stop();
      }
      let varnish: ExternalServer | null = null;
      try {
        varnish = await startVarnish(origin.port, STORE);
        out.varnishMiss = checked(await fetchOne(varnish.port), BIG_BYTES);
        out.varnishHit = checked(await fetchOne(varnish.port), BIG_BYTES);
      } catch (err) {
        out.errors[4] = out.errors[5] = errorText(err);
      } finally {
        await varnish?.stop();
      }
      return out;
    });
    [run.direct, run.miss, run.hit, run.committedMiss, run.varnishMiss, run.varnishHit].forEach((r, k) => {
      if (r) rows[k].runs.push(r);
      else rows[k].error ??= run.errors[k];
    });
    if (run.originRequests !== undefined) missOriginRequests.push(run.originRequests);
    if (run.peakRss !== undefined) missPeakRss.push(run.peakRss);
    foreign.push(foreignPct);
  }

  // 10 cold clients at once, on a fresh proxy.
  const cold: ColdRun = { results: [], originRequests: NaN, peakRss: NaN };
  let coldForeign = NaN;
  {
    const { value, foreignPct } = await quietRun(async () => {
      const out: ColdRun = { results: [], originRequests: NaN, peakRss: NaN };
      let proxy: RunningServer | null = null;
      try {
        proxy = await freshProxy(origin.port);
        const before = (await origin.stats()).requests;
        out.results = await runClient<BigResult[]>(['bigmany', String(proxy.port), PATH, String(COLD_CLIENTS)]);
        out.originRequests = (await origin.stats()).requests - before;
        out.peakRss = procMemory(proxy.pid).hwm;
        const bad = out.results.find((r) => r.error || r.status !== 200 || r.bodyBytes !== BIG_BYTES);
        if (bad) out.error = bad.error ?? `status ${bad.status}, ${bad.bodyBytes} body bytes`;
      } catch (err) {
        out.error = errorText(err);
      } finally {
        await proxy?.stop();
      }
      return out;
    });
    Object.assign(cold, value);
    coldForeign = foreignPct;
  }
  await origin.stop();

  // --- report ------------------------------------------------------------------------------------
  console.log(
    `one client at a time: median of ${RUNS} runs (each run: direct, then a fresh proxy: cold miss, then hit; then a fresh proxy with storePrefault: cold miss; then a fresh varnishd: cold miss, then hit)`,
  );
  const mbps = rows.map((r) => (r.error ? NaN : median(r.runs.map((x) => x.mbps))));
  const ttfb = rows.map((r) => (r.error ? NaN : median(r.runs.map((x) => x.ttfbMs))));
  printTable(
    ['path', 'MB/s', 'TTFB ms', 'seconds', 'runs (MB/s)', 'runs (TTFB ms)'],
    rows.map((r, i) =>
      r.error
        ? [r.name, `unavailable: ${r.error}`, '', '', '', '']
        : [
            r.name,
            fixed(mbps[i], 0),
            fixed(ttfb[i], 2),
            fixed(median(r.runs.map((x) => x.totalMs)) / 1000, 2),
            r.runs.map((x) => fixed(x.mbps, 0)).join(' '),
            r.runs.map((x) => fixed(x.ttfbMs, 2)).join(' '),
          ],
    ),
  );
  console.log(
    `cold miss: origin requests per run ${missOriginRequests.join(' ')}; proxy peak RSS after the miss ${missPeakRss.map(mb).join(' ')} MB; other load % per run ${foreign.map((f) => fixed(f, 0)).join(' ')}`,
  );
  console.log();

  console.log(`${COLD_CLIENTS} cold clients at once on a fresh proxy (all connected first, then every request written in one tick)`);
  if (cold.error) console.log(`  failed: ${cold.error}`);
  if (cold.results.length) {
    printTable(
      ['client', 'first byte ms', 'MB/s', 'seconds', 'X-Cache', 'body bytes'],
      cold.results.map((r, i) => [String(i + 1), fixed(r.ttfbMs, 2), fixed(r.mbps, 0), fixed(r.totalMs / 1000, 2), r.xCache ?? '', int(r.bodyBytes)]),
    );
  }
  const firstBytes = cold.results.map((r) => r.ttfbMs);
  const worstFirstByte = firstBytes.length ? Math.max(...firstBytes) : NaN;
  console.log(`origin requests: ${int(cold.originRequests)}; proxy peak RSS: ${mb(cold.peakRss)} MB; other load: ${fixed(coldForeign, 0)} %`);
  console.log();

  const missRatio = ratio(mbps[1], mbps[0]);
  printTable(
    ['result', 'value', 'target', 'verdict'],
    [
      ['cold miss MB/s', fixed(mbps[1], 0), `>= ${int(TARGET_MISS_MBPS)}`, verdict(mbps[1], TARGET_MISS_MBPS)],
      ['cold miss TTFB', `${fixed(ttfb[1], 2)} ms`, `< ${TARGET_MISS_TTFB_MS} ms`, verdict(ttfb[1], TARGET_MISS_TTFB_MS, '<=')],
      ['origin direct MB/s', fixed(mbps[0], 0), '(about 6,000 on the reference machine)', ''],
      ['MB/s  cold miss / direct', `${fixed(missRatio, 2)}x`, '(info)', ''],
      ['MB/s  hit / direct', `${fixed(ratio(mbps[2], mbps[0]), 2)}x`, '(info)', ''],
      ['MB/s  cold miss, store prefaulted / direct', `${fixed(ratio(mbps[3], mbps[0]), 2)}x`, '(info; the target, 2,500 of ~6,000 direct, is 0.42x)', ''],
      ['MB/s  hit  streamcache / varnish', `${fixed(ratio(mbps[2], mbps[5]), 2)}x`, `>= ${TARGET_HIT_VS_VARNISH}x`, rows[5].error ? 'n/a (varnish unavailable)' : verdict(ratio(mbps[2], mbps[5]), TARGET_HIT_VS_VARNISH)],
      ['MB/s  cold miss  streamcache / varnish', `${fixed(ratio(mbps[1], mbps[4]), 2)}x`, '(info)', ''],
      [`${COLD_CLIENTS} cold clients: origin requests`, int(cold.originRequests), '= 1', cold.originRequests === 1 ? 'PASS' : 'FAIL'],
      [`${COLD_CLIENTS} cold clients: latest first byte`, `${fixed(worstFirstByte, 2)} ms`, `< ${TARGET_FIRST_BYTE_MS} ms`, verdict(worstFirstByte, TARGET_FIRST_BYTE_MS, '<=')],
      [
        `${COLD_CLIENTS} cold clients: proxy peak RSS`,
        `${mb(cold.peakRss)} MB`,
        `< ${mb(rssLimit())} MB (1.2 x object + 100 MB)`,
        cold.error ? 'FAIL' : verdict(cold.peakRss, rssLimit(), '<='),
      ],
    ],
  );
  console.log(`(1 MB = ${int(MB)} bytes)`);
}

runMain(main);
