// Byte ranges and segmented caching (B1, B4).
//   npm run build && node dist/bench/segments.js            # ~1-2 min: hits, then 1 GiB through a 256 MiB store
//   BENCH_SEGMENTS_HUGE=1 node dist/bench/segments.js       # adds 5 GiB through a 1 GiB store (a few minutes)
// 1. 206 hits per second beside 200 hits per second: one cached 1 KiB object, wrk (or autocannon)
//    with and without `Range: bytes=100-599`.
// 2. A 1 GiB file through a 256 MiB store, segmented (BENCH_SEGMENT_SIZE, 16 MiB) and not: the
//    first (cold) and the second (warm) whole-file GET, MB/s and the proxy's peak RSS. Unsegmented,
//    the file cannot be cached (larger than the store, L5): both GETs go to the origin.
// 3. (BENCH_SEGMENTS_HUGE=1) 5 GiB through a 1 GiB store, segmented: byte-exact, RSS bounded.
// Every body byte is checked on the client against the origin's pattern (byte i = i mod 251): the
// file never exists on disk or in one buffer anywhere.
// Env: BENCH_DURATION (s per hit run, 5), BENCH_CONNECTIONS (50), BENCH_SEGMENT_SIZE (16 MiB),
//      BENCH_BIG_BYTES (1 GiB), BENCH_HUGE_BYTES (5 GiB), BENCH_LOG_LEVEL (warn).
import net from 'node:net';
import { MiB, envNumber, fixed, idleCheck, int, mb, patternSlice, printMachine, printTable, procMemory, runMain } from './common.js';
import { generatorLine, runLoad, startServer, type RunningServer } from './harness.js';

const DURATION = envNumber('BENCH_DURATION', 5);
const CONNECTIONS = envNumber('BENCH_CONNECTIONS', 50);
const SEGMENT = envNumber('BENCH_SEGMENT_SIZE', 16 * MiB);
const BIG = envNumber('BENCH_BIG_BYTES', 1024 * MiB);
const HUGE = envNumber('BENCH_HUGE_BYTES', 5 * 1024 * MiB);
const LOG_LEVEL = process.env.BENCH_LOG_LEVEL || 'warn';

interface Transfer {
  status: number;
  bodyBytes: number;
  seconds: number;
  mbps: number;
  xCache: string;
  /** Largest RSS of the proxy sampled during the transfer (every 50 ms). */
  rssPeak: number;
  verified: boolean;
}

/** One GET of the whole file on a fresh connection; every body byte compared with the pattern. */
function transfer(port: number, path: string, proxyPid: number, range?: { start: number }): Promise<Transfer> {
  return new Promise((resolve, reject) => {
    const socket = net.connect({ host: '127.0.0.1', port });
    const started = performance.now();
    let head = '';
    let headDone = false;
    let status = 0;
    let length = -1;
    let offset = range?.start ?? 0;
    let verified = true;
    let xCache = '';
    let rssPeak = procMemory(proxyPid).rss;
    const sampler = setInterval(() => (rssPeak = Math.max(rssPeak, procMemory(proxyPid).rss)), 50);
    const check = (body: Buffer): void => {
      for (let at = 0; at < body.length && verified; ) {
        const expected = patternSlice(offset + at, body.length - at);
        if (!expected.equals(body.subarray(at, at + expected.length))) verified = false;
        at += expected.length;
      }
      offset += body.length;
    };
    const finish = (): void => {
      clearInterval(sampler);
      socket.destroy();
      const seconds = (performance.now() - started) / 1000;
      const bodyBytes = offset - (range?.start ?? 0);
      resolve({ status, bodyBytes, seconds, mbps: bodyBytes / 1e6 / seconds, xCache, rssPeak, verified: verified && bodyBytes === length });
    };
    const rangeField = range ? `Range: bytes=${range.start}-\r\n` : '';
    socket.on('connect', () => socket.write(`GET ${path} HTTP/1.1\r\nHost: bench.test\r\n${rangeField}\r\n`));
    socket.on('data', (chunk: Buffer) => {
      if (!headDone) {
        head += chunk.toString('latin1');
        const end = head.indexOf('\r\n\r\n');
        if (end < 0) return;
        headDone = true;
        status = Number(head.slice(9, 12));
        length = Number(/\r\ncontent-length: *(\d+)/i.exec(head)?.[1] ?? -1);
        xCache = /\r\nx-cache: *(\S+)/i.exec(head)?.[1] ?? '';
        chunk = chunk.subarray(Buffer.byteLength(head.slice(0, end + 4), 'latin1') - (head.length - chunk.length));
      }
      check(chunk);
      if (offset - (range?.start ?? 0) >= length) finish();
    });
    socket.on('error', (err) => {
      clearInterval(sampler);
      reject(err);
    });
    socket.on('close', () => {
      if (offset - (range?.start ?? 0) < length || !headDone) {
        clearInterval(sampler);
        reject(new Error(`connection closed after ${offset} of ${length} body bytes`));
      }
    });
  });
}

async function proxyOf(originPort: number, options: Record<string, unknown>): Promise<RunningServer> {
  return startServer('streamcache', originPort, JSON.stringify({ logLevel: LOG_LEVEL, ...options }));
}

async function hitRates(originPort: number): Promise<string[][]> {
  const proxy = await proxyOf(originPort, {});
  try {
    const path = '/file/1024';
    await transfer(proxy.port, path, proxy.pid);
    const rows: string[][] = [];
    for (const [name, headers] of [['200 hit, 1 KiB', []], ['206 hit, bytes=100-599', ['Range: bytes=100-599']], ['200 hit, 1 KiB (again)', []], ['206 hit, bytes=100-599 (again)', ['Range: bytes=100-599']]] as const) {
      const r = await runLoad(proxy.port, path, CONNECTIONS, DURATION, headers);
      rows.push([name, int(r.rps), fixed(r.p50ms, 2), fixed(r.p99ms, 2), int(r.errors + r.non2xx)]);
    }
    return rows;
  } finally {
    await proxy.stop();
  }
}

/**
 * Whole file twice, then its last fifth twice as a range (`bytes=N-`): a file larger than the
 * store never stays whole in a ring (a scan evicts what it passed), but its last segments do.
 */
async function bigFile(originPort: number, bytes: number, store: number, segmentSize: number): Promise<{ runs: [string, Transfer][]; hwm: number }> {
  const proxy = await proxyOf(originPort, { storeSize: store, segmentSize, storeSlabSize: Math.min(64 * MiB, store / 4) });
  try {
    const path = `/file/${bytes}`;
    const tail = { start: bytes - Math.floor(bytes / 5) };
    const runs: [string, Transfer][] = [];
    runs.push(['whole, 1st (cold)', await transfer(proxy.port, path, proxy.pid)]);
    runs.push(['whole, 2nd', await transfer(proxy.port, path, proxy.pid)]);
    runs.push(['last fifth, 1st', await transfer(proxy.port, path, proxy.pid, tail)]);
    runs.push(['last fifth, 2nd', await transfer(proxy.port, path, proxy.pid, tail)]);
    return { runs, hwm: procMemory(proxy.pid).hwm };
  } finally {
    await proxy.stop();
  }
}

function transferRow(name: string, t: Transfer, hwm: number): string[] {
  return [name, String(t.status), t.xCache, fixed(t.seconds, 2), int(t.mbps), mb(t.rssPeak), mb(hwm), t.verified ? 'yes' : 'NO'];
}

async function main(): Promise<void> {
  printMachine({ generator: generatorLine() });
  console.log(await idleCheck());
  const origin = await startServer('range-origin', 'max-age=3600');
  try {
    console.log(`\n## 206 hits beside 200 hits (${CONNECTIONS} connections, ${DURATION} s each)\n`);
    printTable(['run', 'req/s', 'p50 ms', 'p99 ms', 'errors'], await hitRates(origin.port));

    const columns = ['run', 'status', 'X-Cache', 's', 'MB/s', 'RSS peak MB', 'VmHWM MB', 'byte-exact'];
    console.log(`\n## ${BIG / MiB} MiB file through a ${BIG / 4 / MiB} MiB store (segments of ${SEGMENT / MiB} MiB)\n`);
    const rows: string[][] = [];
    for (const [label, size] of [['segmented', SEGMENT], ['unsegmented', 0]] as const) {
      const result = await bigFile(origin.port, BIG, BIG / 4, size);
      for (const [name, t] of result.runs) rows.push(transferRow(`${label}, ${name}`, t, result.hwm));
    }
    printTable(columns, rows);

    if (process.env.BENCH_SEGMENTS_HUGE === '1') {
      console.log(`\n## ${HUGE / MiB} MiB file through a 1024 MiB store (segments of ${SEGMENT / MiB} MiB)\n`);
      const huge = await bigFile(origin.port, HUGE, 1024 * MiB, SEGMENT);
      printTable(columns, huge.runs.map(([name, t]) => transferRow(`segmented, ${name}`, t, huge.hwm)));
    }
    const stats = await origin.stats();
    console.log(`\norigin requests in all: ${stats.requests}`);
  } finally {
    await origin.stop();
  }
}

runMain(main);
