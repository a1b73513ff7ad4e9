// Cache-hit throughput: a 1 KiB object (`Cache-Control: max-age=3600`) served from cache by
// streamcache, nginx (proxy_cache) and Varnish, beside the origin itself (the ceiling), all in
// front of the same origin, loaded by the same generator, in one run, interleaved.
//   npm run build && node dist/bench/hit.js
// Env: BENCH_DURATION (s per measured run, 10), BENCH_ROUNDS (interleaved rounds, 3; medians are
//      shown), BENCH_CONNECTIONS (50), BENCH_WARMUP (s, 2), BENCH_LOG_LEVEL (streamcache's, warn),
//      BENCH_HIT_SERVERS (origin,streamcache,nginx,varnish), BENCH_PIN (see harness.ts),
//      BENCH_GENERATOR / BENCH_WRK_THREADS / BENCH_WORKERS (see load.ts), BENCH_IDLE_WAIT (s, 30).
import { envNumber, errorText, fixed, idleCheck, int, printMachine, printTable, procTreeCpuUs, ratio, quietRun, runMain, summarizeLoad, verdict, type LoadRun, type LoadSummary } from './common.js';
import { startNginx, startVarnish, type ExternalServer } from './external.js';
import { PIN, checkTarget, generatorLine, get, nextServerStdoutToNull, pinLine, printCores, runLoad, startServer, startServerAs, type CheckedResponse, type RunningServer } from './harness.js';

const DURATION = envNumber('BENCH_DURATION', 10);
const ROUNDS = Math.max(1, envNumber('BENCH_ROUNDS', 3));
const CONNECTIONS = envNumber('BENCH_CONNECTIONS', 50);
const WARMUP = envNumber('BENCH_WARMUP', Math.min(2, Math.max(1, Math.floor(DURATION / 5))));
const LOG_LEVEL = process.env.BENCH_LOG_LEVEL || 'warn';
const BODY_BYTES = 1024;
const PATH = '/hit';
const CACHE_CONTROL = 'max-age=3600';

/**
 * BENCH_HIT_SERVERS: which lines to run (the CI smoke runs `origin,streamcache`). `streamcache-log`
 * is streamcache with the access log on (level info, its stdout to /dev/null), issue 18's log target.
 */
const SERVERS = new Set((process.env.BENCH_HIT_SERVERS || 'origin,streamcache,streamcache-log,nginx,varnish').split(',').map((s) => s.trim()));

const TARGET_VS_VARNISH = 1.5;
/** Issue 18: a hit with the access log on is at most 10 % below one with it off. */
const TARGET_LOG_ON = 0.9;
/** Issue 18: at least nginx's hits/s, with no more CPU per hit than nginx. */
const TARGET_VS_NGINX = 1.0;

interface Run extends LoadRun {
  originRequests: number;
  foreignPct: number;
}

interface Target {
  name: string;
  port: number;
  pid: number;
  /** Is this response a cache hit? null: not a cache (the origin itself). */
  isHit: ((r: CheckedResponse) => boolean) | null;
  hitSignal: string;
  stop(): Promise<void>;
  runs: Run[];
  error?: string;
  warmedAfter?: number;
  /** Runs redone because other work loaded the machine during them. */
  retries: number;
}

function fromServer(name: string, s: RunningServer, isHit: Target['isHit'], hitSignal: string): Target {
  return { name, port: s.port, pid: s.pid, isHit, hitSignal, stop: () => s.stop(), runs: [], retries: 0 };
}

function fromExternal(name: string, s: ExternalServer, isHit: Target['isHit'], hitSignal: string): Target {
  return { name, port: s.port, pid: s.pid, isHit, hitSignal, stop: () => s.stop(), runs: [], retries: 0 };
}

async function target(name: string, start: () => Promise<Target>, key: string): Promise<Target> {
  if (!SERVERS.has(key)) return { name, port: 0, pid: 0, isHit: null, hitSignal: '', stop: async () => {}, runs: [], retries: 0, error: `not run (BENCH_HIT_SERVERS)` };
  try {
    return await start();
  } catch (err) {
    return { name, port: 0, pid: 0, isHit: null, hitSignal: '', stop: async () => {}, runs: [], retries: 0, error: errorText(err) };
  }
}

/** Requests until the response is a hit (the first one fills the cache). */
async function warmCache(t: Target): Promise<void> {
  await checkTarget(t.port, PATH, BODY_BYTES);
  if (!t.isHit) return;
  for (let i = 1; i <= 10; i++) {
    const r = await get(t.port, PATH);
    if (r.status === 200 && r.bodyBytes === BODY_BYTES && t.isHit(r)) {
      t.warmedAfter = i;
      return;
    }
    await new Promise((res) => setTimeout(res, 50));
  }
  throw new Error(`no cache hit after 10 requests (looked for ${t.hitSignal})`);
}

async function measure(t: Target, origin: RunningServer): Promise<void> {
  if (t.error) return;
  try {
    if (t.runs.length === 0) {
      await warmCache(t);
      if (WARMUP > 0) await runLoad(t.port, PATH, CONNECTIONS, WARMUP);
    }
    // Each run starts on a quiet machine if it can, and is redone if other work ran during it.
    const { value, foreignPct, attempts } = await quietRun(async () => {
      const origin0 = (await origin.stats()).requests;
      const cpu0 = procTreeCpuUs(t.pid);
      const load = await runLoad(t.port, PATH, CONNECTIONS, DURATION);
      const cpuUs = procTreeCpuUs(t.pid) - cpu0;
      return { load, cpuUs, originRequests: (await origin.stats()).requests - origin0 };
    });
    const { load, cpuUs, originRequests } = value;
    t.retries += attempts - 1;
    // Still a hit after the load (nothing expired or was evicted meanwhile).
    if (t.isHit && !t.isHit(await get(t.port, PATH))) throw new Error(`no longer a hit after the run (${t.hitSignal})`);
    t.runs.push({ load, cpuUs, originRequests, foreignPct });
  } catch (err) {
    t.error = errorText(err);
  }
}

interface Summary extends LoadSummary {
  originRequests: number;
  foreignPct: number;
}

function summarize(t: Target): Summary | null {
  if (t.error || t.runs.length === 0) return null;
  return {
    ...summarizeLoad(t.runs),
    originRequests: t.runs.reduce((acc, r) => acc + r.originRequests, 0),
    foreignPct: Math.max(...t.runs.map((r) => r.foreignPct)),
  };
}

async function main(): Promise<void> {
  console.log('streamcache cache-hit benchmark (loopback, one process per server and per generator)');
  const idle = await idleCheck();
  printMachine({
    generator: generatorLine(),
    pinning: pinLine(),
    scenario: `${CONNECTIONS} connections, keep-alive, GET ${PATH}, ${BODY_BYTES} B body, Cache-Control: ${CACHE_CONTROL}; ${ROUNDS} interleaved round(s) of ${DURATION} s each after a ${WARMUP} s warm-up`,
    'idle check': idle,
  });
  console.log();

  const origin = await startServer('origin', BODY_BYTES, CACHE_CONTROL);
  // Pinned, the ceiling line is a second responder on the server core (the origin behind the
  // caches runs beside the generator): every line then measures one server on the same core.
  const directServer = PIN && SERVERS.has('origin') ? await startServerAs('server', 'origin', BODY_BYTES, CACHE_CONTROL) : origin;
  const targets: Target[] = [
    await target('net responder (origin direct)', async () => fromServer('net responder (origin direct)', directServer, null, ''), 'origin'),
    await target(`streamcache (log ${LOG_LEVEL})`, async () =>
      fromServer(
        `streamcache (log ${LOG_LEVEL})`,
        await startServer('streamcache', origin.port, JSON.stringify({ logLevel: LOG_LEVEL })),
        (r) => r.headers['x-cache'] === 'HIT',
        'X-Cache: HIT',
      ),
      'streamcache',
    ),
    await target(
      'streamcache (log info, /dev/null)',
      async () => {
        nextServerStdoutToNull();
        return fromServer('streamcache (log info, /dev/null)', await startServer('streamcache', origin.port, JSON.stringify({ logLevel: 'info' })), (r) => r.headers['x-cache'] === 'HIT', 'X-Cache: HIT');
      },
      'streamcache-log',
    ),
    await target('nginx (1 worker, proxy_cache)', async () =>
      fromExternal('nginx (1 worker, proxy_cache)', await startNginx(origin.port), (r) => r.headers['x-cache-status'] === 'HIT', 'X-Cache-Status: HIT'),
      'nginx',
    ),
    await target('varnish (malloc, 1 pool)', async () =>
      fromExternal(
        'varnish (malloc, 1 pool)',
        await startVarnish(origin.port),
        (r) => String(r.headers['x-varnish'] ?? '').trim().split(/\s+/).length === 2 && r.headers.age !== undefined,
        'X-Varnish with two ids, and Age',
      ),
      'varnish',
    ),
  ];
  printCores(targets.filter((t) => !t.error));
  for (let round = 0; round < ROUNDS; round++) for (const t of targets) await measure(t, origin);
  for (const t of targets) if (t.port !== origin.port) await t.stop();
  await origin.stop();
  if (directServer !== origin) await directServer.stop();

  const [direct, sc, scLog, nginx, varnish] = targets.map(summarize);
  if (ROUNDS > 1) console.log(`median of ${ROUNDS} interleaved rounds (errors, non-2xx, origin requests and CPU: totals over all rounds; other load: the worst round)`);
  printTable(
    ['scenario', 'req/s', 'p50 ms', 'p99 ms', 'errors', 'non-2xx', 'origin reqs', 'CPU %', 'CPU us/req', 'other load %', 'rounds (req/s)'],
    targets.map((t, i) => {
      const r = [direct, sc, scLog, nginx, varnish][i];
      if (!r) return [t.name, `unavailable: ${(t.error ?? '?').slice(0, 100)}`, '', '', '', '', '', '', '', '', ''];
      return [
        t.name,
        int(r.rps),
        fixed(r.p50ms, 2),
        fixed(r.p99ms, 2),
        int(r.failures),
        int(r.non2xx),
        int(r.originRequests),
        fixed(r.cpuPct, 0),
        fixed(r.cpuUsPerReq, 1),
        fixed(r.foreignPct, 0),
        t.runs.map((x) => int(x.load.rps)).join(' ') + (t.retries ? ` (${t.retries} redone)` : ''),
      ];
    }),
  );
  console.log('(origin reqs: requests the origin saw during the measured runs -- 0 for a cache means every response was a hit;');
  console.log(' CPU % and CPU us/req: the server under test, its whole process tree (nginx master + worker, varnishd + child);');
  console.log(' other load %: CPU used by processes outside this benchmark during a run, share of one core (worst round);');
  console.log(` a run with more than ${envNumber('BENCH_OTHER_LOAD_MAX', 25)} % is redone, up to ${envNumber('BENCH_RETRIES', 2)} times: "redone" counts them)`);
  for (const t of targets) {
    if (t.isHit && t.warmedAfter !== undefined) console.log(`  ${t.name}: warmed, hit (${t.hitSignal}) from request ${t.warmedAfter + 1}`);
  }
  console.log();
  const vsVarnish = ratio(sc?.rps, varnish?.rps);
  const vsNginx = ratio(sc?.rps, nginx?.rps);
  const vsCeiling = ratio(sc?.rps, direct?.rps);
  printTable(
    ['ratio', 'value', 'target', 'verdict'],
    [
      ['req/s  streamcache / varnish', `${fixed(vsVarnish, 2)}x`, `>= ${TARGET_VS_VARNISH.toFixed(1)}x`, varnish ? verdict(vsVarnish, TARGET_VS_VARNISH) : 'n/a (varnish unavailable)'],
      ['req/s  streamcache / nginx', `${fixed(vsNginx, 2)}x`, `>= ${TARGET_VS_NGINX.toFixed(1)}x`, nginx ? verdict(vsNginx, TARGET_VS_NGINX) : 'n/a (nginx unavailable)'],
      ['req/s  streamcache log info / log ' + LOG_LEVEL, `${fixed(ratio(scLog?.rps, sc?.rps), 2)}x`, `>= ${TARGET_LOG_ON.toFixed(1)}x`, scLog ? verdict(ratio(scLog?.rps, sc?.rps), TARGET_LOG_ON) : 'n/a (not run)'],
      ['req/s  streamcache / net responder', `${fixed(vsCeiling, 2)}x`, '(ceiling)', ''],
      ['CPU/req  varnish / streamcache', `${fixed(ratio(varnish?.cpuUsPerReq, sc?.cpuUsPerReq), 2)}x`, '(info)', ''],
      ['CPU/req  nginx / streamcache', `${fixed(ratio(nginx?.cpuUsPerReq, sc?.cpuUsPerReq), 2)}x`, '>= 1.0x', nginx ? verdict(ratio(nginx?.cpuUsPerReq, sc?.cpuUsPerReq), 1.0) : 'n/a (nginx unavailable)'],
    ],
  );
}

runMain(main);
