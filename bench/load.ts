// Macro benchmark on real loopback sockets. Every server under test and every load generator runs in
// its own process, so no two of them share an event loop.
//   npm run bench:load
// Env: BENCH_DURATION (s per scenario, default 10), BENCH_CONNECTIONS (50), BENCH_WARMUP (s, 2),
//      BENCH_ROUNDS (interleaved rounds of the req/s scenarios, 1), BENCH_BIG_BYTES (1073741824),
//      BENCH_BIG_RUNS (5), BENCH_GENERATOR (wrk | autocannon, default:
//      wrk when installed), BENCH_WORKERS (autocannon worker threads, default 1), BENCH_WRK_THREADS.
import type { BigResult, LoadResult } from './clients.js';
import { MB, envNumber, fixed, idleCheck, int, median, printMachine, printTable, ratio, runMain, summarizeLoad, verdict, type LoadRun, type LoadSummary } from './common.js';
import { PIN, checkTarget, generatorLine, pinLine, printCores, runClient, runLoad as runLoadOn, startServer, startServerAs, type RunningServer } from './harness.js';

const DURATION = envNumber('BENCH_DURATION', 10);
const CONNECTIONS = envNumber('BENCH_CONNECTIONS', 50);
const WARMUP = envNumber('BENCH_WARMUP', Math.min(2, Math.max(1, Math.floor(DURATION / 5))));
const BIG_BYTES = envNumber('BENCH_BIG_BYTES', 1024 ** 3);
const BIG_RUNS = envNumber('BENCH_BIG_RUNS', 5);
const ROUNDS = Math.max(1, envNumber('BENCH_ROUNDS', 1));
const BODY_BYTES = 1024;

const TARGET_RPS_RATIO = 2.0; // streamcache req/s >= 2x node:http proxy
const TARGET_BIG_RATIO = 0.7; // 1 GiB pass-through MB/s >= 0.7x direct

function runLoad(port: number, duration: number): Promise<LoadResult> {
  return runLoadOn(port, '/bench', CONNECTIONS, duration);
}

// ---------------------------------------------------------------------------------------------
// Scenarios

type Run = LoadRun;

interface Scenario {
  name: string;
  server: RunningServer | null;
  runs: Run[];
  error?: string;
}

async function scenario(name: string, start: () => Promise<RunningServer>): Promise<Scenario> {
  try {
    return { name, server: await start(), runs: [] };
  } catch (err) {
    return { name, server: null, runs: [], error: err instanceof Error ? err.message : String(err) };
  }
}

/** One measured run; the first one of a scenario is preceded by a check and a warm-up. */
async function measure(s: Scenario): Promise<void> {
  if (!s.server || s.error) return;
  const { port } = s.server;
  try {
    if (s.runs.length === 0) {
      await checkTarget(port, '/bench', BODY_BYTES);
      if (WARMUP > 0) await runLoad(port, WARMUP);
    }
    const cpu0 = await s.server.cpu();
    const load = await runLoad(port, DURATION);
    const cpu1 = await s.server.cpu();
    s.runs.push({ load, cpuUs: cpu1 - cpu0 });
  } catch (err) {
    s.error = err instanceof Error ? err.message : String(err);
  }
}

interface Summary extends LoadSummary {
  genCpuPct: number;
}

function summarize(s: Scenario): Summary | null {
  if (s.error || s.runs.length === 0) return null;
  const seconds = s.runs.reduce((acc, r) => acc + r.load.seconds, 0);
  return {
    ...summarizeLoad(s.runs),
    genCpuPct: s.runs.every((r) => r.load.generatorCpuUs !== undefined)
      ? (s.runs.reduce((acc, r) => acc + (r.load.generatorCpuUs ?? 0), 0) / 1e6 / seconds) * 100
      : NaN,
  };
}

interface BigRow {
  name: string;
  runs: BigResult[];
  error?: string;
}

async function main(): Promise<void> {
  console.log('streamcache load benchmark (loopback, one process per server and per generator)');
  const idle = await idleCheck();
  printMachine({
    generator: generatorLine(),
    pinning: pinLine(),
    scenario: `${CONNECTIONS} connections, keep-alive, GET, ${BODY_BYTES} B body, ${DURATION} s each after ${WARMUP} s warm-up`,
    'idle check': idle,
  });
  console.log();

  // --- requests per second ---------------------------------------------------------------------
  // Every server is started first (an idle server costs nothing); rounds interleave the scenarios
  // so that drift on the machine hits all of them alike.
  const origin = await startServer('origin', BODY_BYTES);
  // Pinned, the direct line is a second responder on the server core (the proxies' origin runs
  // beside the generator), so each line is one server measured on the same core.
  const directServer = PIN ? await startServerAs('server', 'origin', BODY_BYTES) : origin;
  const scenarios = [
    await scenario('net responder (origin direct)', async () => directServer),
    await scenario('streamcache -> origin', () => startServer('streamcache', origin.port)),
    await scenario('node:http proxy -> origin', () => startServer('nodehttp', origin.port)),
    await scenario('net relay -> origin (no HTTP)', () => startServer('relay', origin.port)),
  ];
  printCores([{ name: 'origin', pid: origin.pid }, ...scenarios.flatMap((s) => (s.server ? [{ name: s.name, pid: s.server.pid }] : []))]);
  for (let round = 0; round < ROUNDS; round++) {
    for (const s of scenarios) await measure(s);
  }
  for (const s of scenarios) if (s.server && s.server !== origin) await s.server.stop();
  await origin.stop();

  const [direct, sc, nodeProxy, relay] = scenarios.map(summarize);
  if (ROUNDS > 1) console.log(`median of ${ROUNDS} interleaved rounds (errors, non-2xx and CPU: totals over all rounds)`);
  printTable(
    ['scenario', 'req/s', 'p50 ms', 'p99 ms', 'errors', 'non-2xx', 'CPU %', 'CPU us/req', 'gen CPU %'],
    scenarios.map((s, i) => {
      const r = [direct, sc, nodeProxy, relay][i];
      if (!r) return [s.name, `unavailable: ${s.error ?? '?'}`, '', '', '', '', '', '', ''];
      return [
        s.name,
        int(r.rps),
        fixed(r.p50ms, 2),
        fixed(r.p99ms, 2),
        int(r.failures),
        int(r.non2xx),
        fixed(r.cpuPct, 0),
        fixed(r.cpuUsPerReq, 1),
        fixed(r.genCpuPct, 0),
      ];
    }),
  );
  console.log('(CPU % and CPU us/req: the process under test only -- the proxy, or the origin when direct;');
  console.log(' gen CPU %: the load generator -- near 100 means the line is bound by the generator, not the server;');
  console.log(' net relay: one origin connection per client connection, bytes piped both ways unparsed -- the most a proxy on node:net can do)');
  console.log();
  const rpsRatio = ratio(sc?.rps, nodeProxy?.rps);
  const ceilingRatio = ratio(sc?.rps, direct?.rps);
  const relayRatio = ratio(sc?.rps, relay?.rps);
  const cpuRatio = ratio(nodeProxy?.cpuUsPerReq, sc?.cpuUsPerReq);
  // What HTTP itself costs a proxy: its CPU per request above the relay's, which does the same socket work.
  const httpCpuRatio = relay && sc && nodeProxy ? ratio(nodeProxy.cpuUsPerReq - relay.cpuUsPerReq, sc.cpuUsPerReq - relay.cpuUsPerReq) : NaN;
  printTable(
    ['ratio', 'value', 'target', 'verdict'],
    [
      ['req/s  streamcache / node:http proxy', `${fixed(rpsRatio, 2)}x`, `>= ${TARGET_RPS_RATIO.toFixed(1)}x`, verdict(rpsRatio, TARGET_RPS_RATIO)],
      ['req/s  streamcache / net responder', `${fixed(ceilingRatio, 2)}x`, '(ceiling)', ''],
      ['req/s  streamcache / net relay', `${fixed(relayRatio, 2)}x`, '(a Node proxy\'s ceiling)', ''],
      ['CPU/req  node:http proxy / streamcache', `${fixed(cpuRatio, 2)}x`, '(info)', ''],
      ['CPU/req above the relay  node:http / streamcache', `${fixed(httpCpuRatio, 2)}x`, '(info: the cost of HTTP itself)', ''],
    ],
  );
  console.log();

  // --- one huge body -------------------------------------------------------------------------
  console.log(
    `pass-through of one ${int(BIG_BYTES)} B Content-Length body (raw-socket client, body discarded), median of ${BIG_RUNS} interleaved runs after a ${int(Math.min(BIG_BYTES, 64 * 1024 * 1024))} B warm-up`,
  );
  const bigOrigin = await startServer('big-origin', BIG_BYTES);
  const rows: BigRow[] = [
    { name: 'origin direct', runs: [] },
    { name: 'streamcache -> origin', runs: [] },
    { name: 'net relay -> origin (no HTTP)', runs: [] },
  ];
  const startBig = async (row: BigRow, kind: 'streamcache' | 'relay'): Promise<RunningServer | null> => {
    try {
      return await startServer(kind, bigOrigin.port);
    } catch (err) {
      row.error = err instanceof Error ? err.message : String(err);
      return null;
    }
  };
  const servers = [bigOrigin, await startBig(rows[1], 'streamcache'), await startBig(rows[2], 'relay')];
  // Warm-up, not counted: one smaller fetch per path (JIT, the proxy's first origin connection).
  const warmBytes = Math.min(BIG_BYTES, 64 * 1024 * 1024);
  for (const server of servers) {
    if (server) await runClient<BigResult>(['big', String(server.port), `/big/${warmBytes}`]).catch(() => undefined);
  }
  for (let i = 0; i < BIG_RUNS; i++) {
    // Interleaved, so drift on the machine hits every path alike.
    for (const [row, server] of rows.map((r, k) => [r, servers[k]] as const)) {
      if (!server || row.error) continue;
      const r = await runClient<BigResult>(['big', String(server.port), '/big']);
      if (r.error || r.status !== 200 || r.bodyBytes !== BIG_BYTES) {
        row.error = r.error ?? `status ${r.status}, ${r.bodyBytes} body bytes (${r.framing})`;
      } else {
        row.runs.push(r);
      }
    }
  }
  for (const server of servers.slice(1)) await server?.stop();
  await bigOrigin.stop();
  const bigMbps = rows.map((r) => (r.error ? NaN : median(r.runs.map((x) => x.mbps))));
  printTable(
    ['path', 'MB/s', 'TTFB ms', 'seconds', 'runs (MB/s)'],
    rows.map((r, i) =>
      r.error
        ? [r.name, `unavailable: ${r.error}`, '', '', '']
        : [
            r.name,
            fixed(bigMbps[i], 0),
            fixed(median(r.runs.map((x) => x.ttfbMs)), 2),
            fixed(median(r.runs.map((x) => x.totalMs)) / 1000, 2),
            r.runs.map((x) => fixed(x.mbps, 0)).join(' '),
          ],
    ),
  );
  console.log();
  const bigRatio = ratio(bigMbps[1], bigMbps[0]);
  printTable(
    ['ratio', 'value', 'target', 'verdict'],
    [
      ['MB/s  streamcache / direct', `${fixed(bigRatio, 2)}x`, `>= ${TARGET_BIG_RATIO.toFixed(1)}x`, verdict(bigRatio, TARGET_BIG_RATIO)],
      ['MB/s  net relay / direct', `${fixed(ratio(bigMbps[2], bigMbps[0]), 2)}x`, "(a Node proxy's ceiling)", ''],
      ['MB/s  streamcache / net relay', `${fixed(ratio(bigMbps[1], bigMbps[2]), 2)}x`, '(info)', ''],
    ],
  );
  console.log(`(1 MB = ${int(MB)} bytes)`);
}

runMain(main);
