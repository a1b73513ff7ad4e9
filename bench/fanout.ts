// SSE fan-out through streamcache: one origin stream (`Cache-Control: no-cache, s-maxage=28`,
// chunked, an event every 100 ms carrying its send time, ~10 s long), N clients joining over the
// first 5 s. Through the proxy the origin should see one request, every client the whole stream
// (replay of what it missed, then live), and the live events should arrive within milliseconds.
// The same clients against the origin directly (the origin replays and fans out itself) follow.
//   npm run build && node dist/bench/fanout.js
// Env: BENCH_FANOUT_CLIENTS (1000,5000), BENCH_FANOUT_DURATION (stream length, s, 10),
//      BENCH_FANOUT_JOIN (clients join uniformly over this many s, 5), BENCH_FANOUT_INTERVAL (ms
//      between events, 100), BENCH_FANOUT_WORKERS (client processes, 4), BENCH_FANOUT_DIRECT (1: also
//      run the clients against the origin directly; 0: skip), BENCH_LOG_LEVEL (streamcache's, warn),
//      BENCH_IDLE_WAIT (s, 30).
import type { ChildProcess } from 'node:child_process';
import type { ClientMessage, SseJob, SseResult } from './clients.js';
import {
  ForeignLoad,
  LatencyHistogram,
  envNumber,
  envNumbers,
  errorText,
  fixed,
  idleCheck,
  int,
  mb,
  openFileLimit,
  printMachine,
  printTable,
  procMemory,
  runMain,
  verdict,
  waitForIdle,
} from './common.js';
import { pinLine, printCores, runClient, startServerAs, type RunningServer } from './harness.js';
import type { SseOriginOptions } from './servers.js';

const CLIENT_COUNTS = envNumbers('BENCH_FANOUT_CLIENTS', [1000, 5000]);
const STREAM_S = envNumber('BENCH_FANOUT_DURATION', 10);
const JOIN_S = envNumber('BENCH_FANOUT_JOIN', 5);
const INTERVAL_MS = envNumber('BENCH_FANOUT_INTERVAL', 100);
const WORKERS = Math.max(1, envNumber('BENCH_FANOUT_WORKERS', 4));
const DIRECT = envNumber('BENCH_FANOUT_DIRECT', 1) !== 0;
const LOG_LEVEL = process.env.BENCH_LOG_LEVEL || 'warn';
const PATH = '/events';

const TARGET_P99_MS = 25;
const TARGET_RSS_MB = 250;

interface Outcome {
  path: 'streamcache' | 'origin direct';
  clients: number;
  error?: string;
  originRequests: number;
  /** Events the origin sent (ids 1..events). */
  events: number;
  originEnded: boolean;
  completed: number;
  /** Clients that got exactly ids 1..events, in order, and the end of the body. */
  full: number;
  eventsMin: number;
  eventsMax: number;
  outOfOrder: number;
  live: LatencyHistogram;
  replayed: number;
  /** Responses by framing and by X-Cache, over all clients: "chunked 4000, length 1000". */
  framings: Record<string, number>;
  xCache: Record<string, number>;
  errors: string[];
  /** The server the clients talk to (the proxy, or the origin when direct). */
  peakRss: number;
  endRss: number;
  /** Event-loop delay of the server the clients talk to, and the worst of the client processes, ms. */
  serverLoopMaxMs: number;
  clientLoopP99Ms: number;
  clientLoopMaxMs: number;
  /** CPU of all client processes together, share of one core. */
  clientCpuPct: number;
  cpuS: number;
  wallS: number;
  foreignPct: number;
}

/** Client i joins at i × JOIN / N; clients are dealt round-robin, so every process joins uniformly. */
function jobs(port: number, clients: number): SseJob[] {
  const joinMs = JOIN_S * 1000;
  const out: SseJob[] = Array.from({ length: Math.min(WORKERS, clients) }, () => ({
    port,
    path: PATH,
    joinAtMs: [],
    deadlineMs: joinMs + STREAM_S * 1000 + 15_000,
  }));
  for (let i = 0; i < clients; i++) out[i % out.length].joinAtMs.push((i * joinMs) / clients);
  return out;
}

async function run(path: Outcome['path'], clients: number): Promise<Outcome> {
  const originOptions: SseOriginOptions = { intervalMs: INTERVAL_MS, durationMs: STREAM_S * 1000 };
  // Direct, the origin is the server under test (pinned to the server core); through the proxy it
  // runs beside the client processes.
  const origin = await startServerAs(path === 'streamcache' ? 'generator' : 'server', 'sse-origin', JSON.stringify(originOptions));
  let proxy: RunningServer | null = null;
  const base = {
    path,
    clients,
    originRequests: 0,
    events: 0,
    originEnded: false,
    completed: 0,
    full: 0,
    eventsMin: NaN,
    eventsMax: NaN,
    outOfOrder: 0,
    live: new LatencyHistogram(),
    replayed: 0,
    framings: {} as Record<string, number>,
    xCache: {} as Record<string, number>,
    errors: [] as string[],
    peakRss: NaN,
    endRss: NaN,
    serverLoopMaxMs: NaN,
    clientLoopP99Ms: NaN,
    clientLoopMaxMs: NaN,
    clientCpuPct: NaN,
    cpuS: NaN,
    wallS: NaN,
    foreignPct: NaN,
  };
  try {
    if (path === 'streamcache') proxy = await startServerAs('server', 'streamcache', origin.port, JSON.stringify({ logLevel: LOG_LEVEL }));
    const server = proxy ?? origin;
    printCores([{ name: path === 'streamcache' ? 'streamcache' : 'sse-origin (direct)', pid: server.pid }, ...(proxy ? [{ name: 'sse-origin', pid: origin.pid }] : [])]);
    // Every client process up and its clients built before the clock starts.
    const workers: ChildProcess[] = [];
    const readies: Promise<void>[] = [];
    const results = jobs(server.port, clients).map((job) =>
      runClient<SseResult>(['sse', JSON.stringify(job)], (child) => {
        workers.push(child);
        readies.push(new Promise((res) => child.on('message', (m: ClientMessage) => m.type === 'ready' && res())));
      }),
    );
    await Promise.race([Promise.all(readies), Promise.all(results)]);
    await waitForIdle(10, 10_000);
    await server.stats(); // resets its event-loop delay histogram
    const cpu0 = await server.cpu();
    const foreign = new ForeignLoad();
    const t0 = performance.now();
    for (const w of workers) w.send({ type: 'go' });
    const all = await Promise.all(results);
    const wallS = (performance.now() - t0) / 1000;
    const foreignPct = foreign.stop();
    const end = await server.stats();
    const cpuS = (end.user + end.system - cpu0) / 1e6;
    const mem = procMemory(server.pid);
    const o = await origin.stats();
    const live = new LatencyHistogram();
    for (const r of all) live.merge(r.live);
    const perClient = all.flatMap((r) => r.eventsPerClient);
    const events = o.events ?? 0;
    // Full: ended cleanly, ids 1, 2, 3, ... without gap or repeat, and the last one the origin sent.
    let full = 0;
    for (const r of all) {
      for (let i = 0; i < r.clients; i++) if (r.cleanPerClient[i] && r.lastIdPerClient[i] === events && r.eventsPerClient[i] === events) full++;
    }
    const outOfOrder = all.reduce((a, r) => a + r.outOfOrder, 0);
    const completed = all.reduce((a, r) => a + r.completed, 0);
    return {
      ...base,
      originRequests: o.requests,
      events,
      originEnded: o.ended ?? false,
      completed,
      full,
      eventsMin: Math.min(...perClient),
      eventsMax: Math.max(...perClient),
      outOfOrder,
      live,
      replayed: all.reduce((a, r) => a + r.replayed, 0),
      framings: merge(all.map((r) => r.framings)),
      xCache: merge(all.map((r) => r.xCache)),
      errors: all.flatMap((r) => r.errors).slice(0, 5),
      peakRss: mem.hwm,
      endRss: mem.rss,
      serverLoopMaxMs: end.loopDelayMaxMs,
      clientLoopP99Ms: Math.max(...all.map((r) => r.loopDelayP99Ms)),
      clientLoopMaxMs: Math.max(...all.map((r) => r.loopDelayMaxMs)),
      clientCpuPct: (all.reduce((a, r) => a + r.cpuUs, 0) / 1e6 / wallS) * 100,
      cpuS,
      wallS,
      foreignPct,
    };
  } catch (err) {
    return { ...base, error: errorText(err) };
  } finally {
    await proxy?.stop();
    await origin.stop();
  }
}

function merge(tallies: Record<string, number>[]): Record<string, number> {
  const out: Record<string, number> = {};
  for (const t of tallies) for (const [k, v] of Object.entries(t)) out[k] = (out[k] ?? 0) + v;
  return out;
}

function tallyText(t: Record<string, number>): string {
  return Object.entries(t)
    .sort((a, b) => b[1] - a[1])
    .map(([k, v]) => `${k} ${int(v)}`)
    .join(', ');
}

async function main(): Promise<void> {
  console.log('streamcache SSE fan-out benchmark (loopback; origin, proxy and each client process separate)');
  const idle = await idleCheck();
  const limit = openFileLimit();
  printMachine({
    scenario: `one SSE stream, an event every ${INTERVAL_MS} ms for ${STREAM_S} s (Cache-Control: no-cache, s-maxage=28, chunked); N clients join uniformly over the first ${JOIN_S} s, spread over ${WORKERS} client processes`,
    clients: CLIENT_COUNTS.map(int).join(', '),
    'open files': `ulimit -n = ${Number.isFinite(limit) ? limit : 'unknown'} (each process here inherits it)`,
    'streamcache': `createProxy defaults, log level ${LOG_LEVEL}`,
    pinning: pinLine(),
    clock: 'send and receive times from process.hrtime (CLOCK_MONOTONIC: one clock for every process on the machine)',
    'idle check': idle,
  });
  console.log();

  const outcomes: Outcome[] = [];
  for (const n of CLIENT_COUNTS) {
    // The server side holds N client sockets (+ the origin's, listeners, stdio, the runtime's own).
    const needed = n + 200;
    if (Number.isFinite(limit) && limit < needed) {
      console.log(`SKIPPED ${int(n)} clients: ulimit -n is ${limit}, the proxy needs about ${int(needed)} open files.`);
      console.log(`  Raise it in the shell that runs the benchmark, e.g. \`ulimit -n ${Math.max(needed, 65536)}\` (as root, or up to the hard limit \`ulimit -Hn\`), then run again.`);
      continue;
    }
    for (const path of ['streamcache', 'origin direct'] as const) {
      if (path === 'origin direct' && !DIRECT) continue;
      process.stdout.write(`running ${int(n)} clients, ${path} ...`);
      // Redone (BENCH_RETRIES, default 2) when other work loaded the machine during it.
      let o = await run(path, n);
      for (let retry = 1; retry <= envNumber('BENCH_RETRIES', 2) && !o.error && o.foreignPct > envNumber('BENCH_OTHER_LOAD_MAX', 25); retry++) {
        process.stdout.write(` other load ${fixed(o.foreignPct, 0)} %, again ...`);
        o = await run(path, n);
      }
      console.log(o.error ? ` failed: ${o.error}` : ` ${fixed(o.wallS, 1)} s`);
      outcomes.push(o);
    }
  }
  console.log();

  printTable(
    ['path', 'clients', 'origin reqs', 'events sent', 'full', 'completed', 'out of order', 'events/client', 'live events', 'p50 ms', 'p99 ms', 'max ms', 'peak RSS MB', 'CPU s', 'CPU %', 'loop max ms', 'clients CPU %', 'client loop p99/max ms', 'other load %'],
    outcomes.map((o) =>
      o.error
        ? [o.path, int(o.clients), `failed: ${o.error}`, '', '', '', '', '', '', '', '', '', '', '', '', '', '', '', '']
        : [
            o.path,
            int(o.clients),
            int(o.originRequests),
            `${int(o.events)}${o.originEnded ? '' : ' (not ended)'}`,
            int(o.full),
            int(o.completed),
            int(o.outOfOrder),
            o.eventsMin === o.eventsMax ? int(o.eventsMin) : `${int(o.eventsMin)}-${int(o.eventsMax)}`,
            int(o.live.count),
            fixed(o.live.percentile(50), 2),
            fixed(o.live.percentile(99), 2),
            fixed(o.live.max, 2),
            mb(o.peakRss),
            fixed(o.cpuS, 2),
            fixed((o.cpuS / o.wallS) * 100, 0),
            fixed(o.serverLoopMaxMs, 0),
            fixed(o.clientCpuPct, 0),
            `${fixed(o.clientLoopP99Ms, 0)}/${fixed(o.clientLoopMaxMs, 0)}`,
            fixed(o.foreignPct, 0),
          ],
    ),
  );
  console.log('(full: clients that got every event id 1..last exactly once, in order, and the end of the stream;');
  console.log(' live events: events sent after the client sent its request -- latency = receive time - send time; the replayed ones are not counted;');
  console.log(' peak RSS (VmHWM), CPU s, CPU % and loop max (its longest event-loop delay): the server the clients talk to -- the proxy,');
  console.log('   or the origin when direct -- over the whole run;');
  console.log(' clients CPU %: all client processes together, share of one core; client loop: the worst client process event-loop delay --');
  console.log('   a latency near it is the clients\' own delay, not the server\'s;');
  console.log(' other load %: CPU used by processes outside this benchmark during the run, share of one core;');
  console.log(` a run above ${envNumber('BENCH_OTHER_LOAD_MAX', 25)} % is redone, up to ${envNumber('BENCH_RETRIES', 2)} times)`);
  for (const o of outcomes) {
    if (o.error) continue;
    console.log(`  ${o.path}, ${int(o.clients)} clients: responses ${tallyText(o.framings)}; X-Cache ${tallyText(o.xCache)}; replayed events ${int(o.replayed)}`);
    if (o.errors.length) console.log(`    first errors: ${o.errors.join('; ')}`);
  }
  console.log();

  const rows: string[][] = [];
  for (const o of outcomes) {
    if (o.path !== 'streamcache') continue;
    const tag = `${int(o.clients)} clients`;
    if (o.error) {
      rows.push([`${tag}: run`, 'failed', '', 'FAIL']);
      continue;
    }
    const p99 = o.live.percentile(99);
    const rssMb = o.peakRss / 1e6;
    rows.push(
      [`${tag}: origin requests`, int(o.originRequests), '= 1', o.originRequests === 1 ? 'PASS' : 'FAIL'],
      [`${tag}: clients with the full replay, then live`, `${int(o.full)} of ${int(o.clients)}`, 'all', o.full === o.clients && o.events > 0 ? 'PASS' : 'FAIL'],
      [`${tag}: live delivery p99`, `${fixed(p99, 2)} ms`, `< ${TARGET_P99_MS} ms`, verdict(p99, TARGET_P99_MS, '<=')],
      [`${tag}: proxy peak RSS`, `${fixed(rssMb, 0)} MB`, `< ${TARGET_RSS_MB} MB`, verdict(rssMb, TARGET_RSS_MB, '<=')],
    );
  }
  printTable(['target', 'value', 'target', 'verdict'], rows);
  console.log('(1 MB = 1,000,000 bytes)');
}

runMain(main);
