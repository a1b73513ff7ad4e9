// What every tinybench suite in bench/ (micro.ts, micro-*.ts) does the same way: the header with
// the idle check, one tinybench run of the tasks, the table (ops/s, mean ns, MB/s where a task
// counts bytes, tinybench's margin of error), and each task's own check afterwards: a suite whose
// task failed or whose check found a wrong result exits non-zero (the CI smoke relies on it).
import { Bench } from 'tinybench';
import { MB, cpuBusy, fixed, int, printMachine, printTable } from './common.js';

/** ms per task (BENCH_TIME, default 1000); the warm-up is half of it, at most 500 ms. */
export const MICRO_TIME_MS = Number(process.env.BENCH_TIME ?? 1000);

export interface MicroTask {
  name: string;
  /** One sample. With `batch`, a synchronous fn is called that many times per sample. */
  fn: () => void | Promise<void>;
  /** Calls of fn per sample: tinybench's per-sample overhead would swamp a ~100 ns fn. */
  batch?: number;
  /** Operations one sample stands for when fn loops itself (default: batch, or 1). */
  opsPerSample?: number;
  /** Bytes one operation handles: the task gets a MB/s cell. */
  bytesPerOp?: number;
  /** After the run: a reason the task's results were wrong, or nothing. */
  check?: () => string | null | undefined;
}

export interface MicroSuiteOptions {
  /** Lines printed under the table (what the columns mean for this suite). */
  footer?: readonly string[];
  /** Checks that belong to no one task (run after the table). */
  checks?: ReadonlyArray<() => string | null | undefined>;
}

export async function runMicroSuite(title: string, tasks: readonly MicroTask[], options: MicroSuiteOptions = {}): Promise<void> {
  console.log(title);
  const busy = await cpuBusy(1000);
  printMachine({
    'time per task': `${MICRO_TIME_MS} ms (BENCH_TIME)`,
    'idle check': `CPU busy before start: ${fixed(busy, 0)}% of all cores${busy > 10 ? ' -- other work is running: results will be noisy' : ''}`,
  });
  console.log();
  const bench = new Bench({ time: MICRO_TIME_MS, warmupTime: Math.min(500, MICRO_TIME_MS / 2) });
  for (const task of tasks) bench.add(task.name, sample(task));
  await bench.run();

  const withBytes = tasks.some((t) => t.bytesPerOp !== undefined);
  const rows: string[][] = [];
  const problems: string[] = [];
  for (const task of tasks) {
    const r = bench.getTask(task.name)?.result;
    if (!r || !('latency' in r)) {
      const why = r && 'error' in r ? String((r as { error: unknown }).error) : (r?.state ?? 'no result');
      problems.push(`${task.name}: ${why}`);
      rows.push([task.name, '-', '-', ...(withBytes ? ['-'] : []), '-']);
      continue;
    }
    const meanNs = (r.latency.mean * 1e6) / (task.opsPerSample ?? task.batch ?? 1); // latency: ms per sample
    const opsPerSec = 1e9 / meanNs;
    const mbps = task.bytesPerOp !== undefined ? fixed((opsPerSec * task.bytesPerOp) / MB, 0) : '-';
    rows.push([task.name, int(opsPerSec), fixed(meanNs, meanNs < 100 ? 1 : 0), ...(withBytes ? [mbps] : []), `±${fixed(r.latency.rme, 2)}%`]);
    const bad = task.check?.();
    if (bad) problems.push(`${task.name}: ${bad}`);
  }
  printTable(['task', 'ops/s', 'mean ns', ...(withBytes ? ['MB/s'] : []), 'rme'], rows);
  if (options.footer?.length) {
    console.log();
    for (const line of options.footer) console.log(line);
  }
  for (const check of options.checks ?? []) {
    const bad = check();
    if (bad) problems.push(bad);
  }
  if (problems.length) {
    console.error('\nFAILED checks:');
    for (const p of problems) console.error(`  ${p}`);
    process.exitCode = 1;
  }
}

function sample(task: MicroTask): () => void | Promise<void> {
  const { fn, batch } = task;
  if (batch === undefined) return fn;
  return () => {
    for (let k = 0; k < batch; k++) void fn();
  };
}
