// Micro benchmarks of the access log's line writer (issue 18): a hit's line built as a string
// (the way every line went before, and still the way for a line with an error, a reason or a
// string to escape), beside the same line written as bytes into the log batch's slab, and a turn
// of lines handed to a bytes sink. Socket-free, stdout-free: the batch's sink only counts bytes.
//   npm run build && node dist/bench/micro-log.js        (env BENCH_TIME = ms per task, default 1000)
import { Bench } from 'tinybench';
import type { ClientExchange } from '../src/net/client-exchange.js';
import { accessLine, writeAccessFields, writeAccessLine, type AccessRecord } from '../src/proxy/access-log.js';
import { LogBatch } from '../src/proxy/log-batch.js';
import { cpuBusy, fixed, int, printMachine, printTable } from './common.js';

const TIME_MS = Number(process.env.BENCH_TIME ?? 1000);

/** The stages bench's hit as the access line reads it (a stand-in with the fields it reads). */
function hitExchange(target = '/hit'): ClientExchange {
  return {
    request: { method: 'GET', target, version: { major: 1, minor: 1 } },
    startedAt: 1000.25,
    bytesSent: 1325,
    clientAddress: '127.0.0.1',
    state: 'ended',
  } as unknown as ClientExchange;
}

/** A bytes sink that keeps nothing: the batch's flush cost without a system call. */
let bytesOut = 0;
const batch = new LogBatch({ writeBytes: (b: Buffer) => void (bytesOut += b.length) });

interface Spec {
  name: string;
  /** Calls of fn per sample (tinybench's per-sample overhead would swamp a ~100 ns fn). */
  batch: number;
  fn: () => void;
  check?: () => string | null;
}

const specs: Spec[] = [];
let sink: unknown;
const TIME = 1_796_000_000_000;

{
  const exchange = hitExchange();
  const record: AccessRecord = { exchange, status: 200, cache: 'HIT', firstByteAt: exchange.startedAt + 0.05 };
  const expected = accessLine(record, exchange.startedAt + 0.1, TIME);
  specs.push({
    name: 'hit line as a string (accessLine; the string way)',
    batch: 64,
    fn: () => {
      sink = accessLine(record, exchange.startedAt + 0.1, TIME);
    },
  });
  let lines = 0;
  specs.push({
    name: 'hit line as bytes into the batch (writeAccessFields), flushed every 32 lines',
    batch: 64,
    fn: () => {
      writeAccessFields(batch, exchange, 200, 'HIT', exchange.startedAt + 0.05, undefined, undefined, exchange.startedAt + 0.1, TIME);
      if (++lines % 32 === 0) batch.flush();
    },
    check: () => {
      batch.flush();
      const before = bytesOut;
      writeAccessLine(batch, record, exchange.startedAt + 0.1, TIME);
      batch.flush();
      return bytesOut - before === Buffer.byteLength(expected) ? null : `a line of ${bytesOut - before} bytes, the string is ${Buffer.byteLength(expected)}`;
    },
  });
  specs.push({
    name: '  same, a new millisecond every line (the head made again)',
    batch: 64,
    fn: () => {
      writeAccessFields(batch, exchange, 200, 'HIT', exchange.startedAt + 0.05, undefined, undefined, exchange.startedAt + 0.1, TIME + (++lines % 1000));
      if (lines % 32 === 0) batch.flush();
    },
  });
}

{
  // A path the fast writer gives up on (a quote to escape): the string way, into the batch.
  const exchange = hitExchange('/a"b');
  const record: AccessRecord = { exchange, status: 200, cache: 'HIT', firstByteAt: exchange.startedAt + 0.05 };
  let lines = 0;
  specs.push({
    name: 'line with a path to escape (the string way, into the batch)',
    batch: 64,
    fn: () => {
      writeAccessLine(batch, record, exchange.startedAt + 0.1, TIME);
      if (++lines % 32 === 0) batch.flush();
    },
  });
}

specs.push({
  name: 'turnTime (Date.now() once per turn; here every call after a flush)',
  batch: 64,
  fn: () => {
    sink = batch.turnTime();
    batch.flush();
  },
});

specs.push({
  name: '  reference: Date.now()',
  batch: 256,
  fn: () => {
    sink = Date.now();
  },
});

// ---------------------------------------------------------------------------------------------

async function main(): Promise<void> {
  console.log('streamcache micro benchmarks (the access log: line writer and batch)');
  const busy = await cpuBusy(1000);
  printMachine({
    'time per task': `${TIME_MS} ms (BENCH_TIME)`,
    'idle check': `CPU busy before start: ${fixed(busy, 0)}% of all cores${busy > 10 ? ' -- other work is running: results will be noisy' : ''}`,
  });
  console.log();

  const bench = new Bench({ time: TIME_MS, warmupTime: Math.min(500, TIME_MS / 2) });
  for (const s of specs) {
    const { fn, batch: n } = s;
    bench.add(s.name, () => {
      for (let k = 0; k < n; k++) fn();
    });
  }
  await bench.run();

  const rows: string[][] = [];
  const problems: string[] = [];
  for (const s of specs) {
    const r = bench.getTask(s.name)?.result;
    if (!r || !('latency' in r)) {
      const why = r && 'error' in r ? String((r as { error: unknown }).error) : (r?.state ?? 'no result');
      problems.push(`${s.name}: ${why}`);
      rows.push([s.name, '-', '-', '-']);
      continue;
    }
    const meanNs = (r.latency.mean * 1e6) / s.batch; // latency is in ms per sample of `batch` ops
    rows.push([s.name, int(1e9 / meanNs), fixed(meanNs, meanNs < 100 ? 1 : 0), `±${fixed(r.latency.rme, 2)}%`]);
    const bad = s.check?.();
    if (bad) problems.push(`${s.name}: ${bad}`);
  }
  printTable(['task', 'ops/s', 'mean ns', 'rme'], rows);
  if (problems.length) {
    console.error('\nFAILED checks:');
    for (const p of problems) console.error(`  ${p}`);
    process.exitCode = 1;
  }
  void sink;
}

await main();
