// HTTP/2 beside HTTP/1.1 through streamcache (H1, H3), on one machine, in one run:
// - SSE fan-out: one origin stream (an event every 100 ms carrying its send time), N subscribers
//   joining over the first seconds; over HTTP/1.1 each has its own connection, over HTTP/2 they
//   are N streams on M h2c connections. Every subscriber must get every event, in order, and the
//   end of the stream; the table gives the live events' delivery latency and the proxy's memory.
// - Hits per second: a cached 1 KiB object, with h2load (Debian's nghttp2-client) over h2c
//   (C connections x S concurrent streams) and over HTTP/1.1 (`h2load --h1`, C connections).
//   npm run build && node dist/bench/h2.js
// Env: BENCH_H2_FANOUT (HTTP/2 streams x connections, "1000x10,1000x100"), BENCH_H2_STREAM_S (8),
//      BENCH_H2_JOIN_S (3), BENCH_H2_INTERVAL (ms, 100), BENCH_H2_WORKERS (client processes, 2),
//      BENCH_H2_HIT_S (10), BENCH_H2_HIT_CONNS (50), BENCH_H2_HIT_STREAMS (10), BENCH_IDLE_WAIT.
import { execFile, type ChildProcess } from 'node:child_process';
import type { ClientMessage, SseJob, SseResult } from './clients.js';
import { ForeignLoad, LatencyHistogram, envNumber, errorText, fixed, int, printMachine, printTable, procMemory, runMain, waitForIdle } from './common.js';
import { runClient, startServer, type RunningServer } from './harness.js';
import type { ServerKind, SseOriginOptions } from './servers.js';

const FANOUT = (process.env.BENCH_H2_FANOUT ?? '1000x10,1000x100').split(',').map((spec) => {
  const [n, m] = spec.split('x').map(Number);
  return { streams: n, connections: m };
});
const STREAM_S = envNumber('BENCH_H2_STREAM_S', 8);
const JOIN_S = envNumber('BENCH_H2_JOIN_S', 3);
const INTERVAL_MS = envNumber('BENCH_H2_INTERVAL', 100);
const WORKERS = Math.max(1, envNumber('BENCH_H2_WORKERS', 2));
const HIT_S = envNumber('BENCH_H2_HIT_S', 10);
const HIT_CONNS = envNumber('BENCH_H2_HIT_CONNS', 50);
const HIT_STREAMS = envNumber('BENCH_H2_HIT_STREAMS', 10);
const PROXY_OPTIONS = JSON.stringify({ logLevel: 'warn', h2c: true, h2MaxConcurrentStreams: 1000 });

interface FanoutRow {
  protocol: 'HTTP/1.1' | 'HTTP/2';
  streams: number;
  connections: number;
  full: number;
  events: number;
  originRequests: number;
  live: LatencyHistogram;
  peakRssMb: number;
  cpuS: number;
  foreignPct: number;
  error?: string;
}

async function fanout(protocol: FanoutRow['protocol'], streams: number, connections: number): Promise<FanoutRow> {
  const row: FanoutRow = { protocol, streams, connections, full: 0, events: 0, originRequests: 0, live: new LatencyHistogram(), peakRssMb: NaN, cpuS: NaN, foreignPct: NaN };
  const originArgs = ['sse-origin', JSON.stringify({ intervalMs: INTERVAL_MS, durationMs: STREAM_S * 1000 } satisfies SseOriginOptions)] as const;
  await throughProxy(originArgs, row, async (origin, proxy) => {
    const workers: ChildProcess[] = [];
    const readies: Promise<void>[] = [];
    const jobs: Array<SseJob & { sessions: number }> = Array.from({ length: WORKERS }, (_, w) => ({
      port: proxy.port,
      path: '/events',
      joinAtMs: [],
      deadlineMs: (STREAM_S + JOIN_S + 10) * 1000,
      sessions: Math.max(1, Math.round(connections / WORKERS) + (w < connections % WORKERS ? 1 : 0)),
    }));
    for (let i = 0; i < streams; i++) jobs[i % WORKERS].joinAtMs.push((i * JOIN_S * 1000) / streams);
    const results = jobs.map((job) =>
      runClient<SseResult>([protocol === 'HTTP/2' ? 'sse-h2' : 'sse', JSON.stringify(job)], (child) => {
        workers.push(child);
        readies.push(new Promise((res) => child.on('message', (m: ClientMessage) => m.type === 'ready' && res())));
      }),
    );
    await Promise.race([Promise.all(readies), Promise.all(results)]);
    const cpu0 = await proxy.cpu();
    const foreign = new ForeignLoad();
    for (const w of workers) w.send({ type: 'go' });
    const all = await Promise.all(results);
    row.foreignPct = foreign.stop();
    row.cpuS = ((await proxy.cpu()) - cpu0) / 1e6;
    row.peakRssMb = procMemory(proxy.pid).hwm / 2 ** 20;
    const o = await origin.stats();
    row.events = o.events ?? 0;
    row.originRequests = o.requests;
    for (const r of all) {
      row.live.merge(r.live);
      for (let i = 0; i < r.clients; i++) if (r.cleanPerClient[i] && r.lastIdPerClient[i] === row.events && r.eventsPerClient[i] === row.events) row.full++;
      if (r.errors.length > 0 && !row.error) row.error = r.errors[0];
    }
  });
  return row;
}

/** Starts an origin and streamcache (h2c) in front of it, runs `measure`, records its error in `row`, stops both. */
async function throughProxy(originArgs: readonly [ServerKind, ...(string | number)[]], row: { error?: string }, measure: (origin: RunningServer, proxy: RunningServer) => Promise<void>): Promise<void> {
  const origin = await startServer(...originArgs);
  const proxy = await startServer('streamcache', origin.port, PROXY_OPTIONS);
  try {
    await measure(origin, proxy);
  } catch (err) {
    row.error = errorText(err);
  } finally {
    await proxy.stop();
    await origin.stop();
  }
}

interface HitRow {
  protocol: string;
  connections: number;
  streams: number;
  reqPerS: number;
  succeeded: number;
  done: number;
  error?: string;
}

function h2load(args: string[]): Promise<string> {
  return new Promise((resolve, reject) => execFile('h2load', args, { timeout: (HIT_S + 30) * 1000, maxBuffer: 1 << 20 }, (err, stdout, stderr) => (err ? reject(new Error(`${err.message} ${stderr}`)) : resolve(stdout))));
}

async function hits(protocol: 'HTTP/1.1' | 'HTTP/2 (h2c)'): Promise<HitRow> {
  const streams = protocol === 'HTTP/1.1' ? 1 : HIT_STREAMS;
  const row: HitRow = { protocol, connections: HIT_CONNS, streams, reqPerS: NaN, succeeded: 0, done: 0 };
  await throughProxy(['origin', 1024, 'max-age=3600'], row, async (origin, proxy) => {
    const url = `http://127.0.0.1:${proxy.port}/hit`;
    await fetch(url).then((r) => r.arrayBuffer()); // the miss that fills the cache
    const out = await h2load([...(protocol === 'HTTP/1.1' ? ['--h1'] : []), '-D', String(HIT_S), '-c', String(HIT_CONNS), '-m', String(streams), '-t', '1', url]);
    row.reqPerS = Number(/finished in [\d.]+\w*, ([\d.]+) req\/s/.exec(out)?.[1] ?? NaN);
    const counts = /requests: (\d+) total, (\d+) started, (\d+) done, (\d+) succeeded/.exec(out);
    row.done = Number(counts?.[3] ?? 0);
    row.succeeded = Number(counts?.[4] ?? 0);
    if ((await origin.stats()).requests !== 1) row.error = 'the origin saw more than the one miss';
  });
  return row;
}

async function main(): Promise<void> {
  printMachine({ 'load average': (await import('node:os')).loadavg().map((l) => l.toFixed(2)).join(' ') });
  await waitForIdle(10, envNumber('BENCH_IDLE_WAIT', 30) * 1000);
  const rows: FanoutRow[] = [];
  for (const { streams, connections } of FANOUT) {
    rows.push(await fanout('HTTP/1.1', streams, streams));
    rows.push(await fanout('HTTP/2', streams, connections));
  }
  console.log(`\nSSE fan-out through streamcache: one origin stream, ${STREAM_S} s, an event every ${INTERVAL_MS} ms, subscribers joining over ${JOIN_S} s`);
  printTable(
    ['protocol', 'streams', 'connections', 'full', 'origin req', 'live p50 ms', 'live p99 ms', 'live max ms', 'proxy peak RSS MB', 'proxy CPU s', 'other load %', 'error'],
    rows.map((r) => [r.protocol, int(r.streams), int(r.connections), `${r.full}/${r.streams}`, int(r.originRequests), fixed(r.live.percentile(50), 1), fixed(r.live.percentile(99), 1), fixed(r.live.max, 1), fixed(r.peakRssMb, 0), fixed(r.cpuS, 2), fixed(r.foreignPct, 0), r.error ?? '']),
  );
  const hitRows = [await hits('HTTP/1.1'), await hits('HTTP/2 (h2c)')];
  console.log(`\nCache hits (1 KiB) through streamcache, h2load ${HIT_S} s, one h2load thread`);
  printTable(
    ['protocol', 'connections', 'streams/conn', 'req/s', 'succeeded', 'error'],
    hitRows.map((r) => [r.protocol, int(r.connections), int(r.streams), int(r.reqPerS), `${r.succeeded}/${r.done}`, r.error ?? '']),
  );
}

runMain(main);
