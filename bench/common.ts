// Shared by the benchmark scripts: machine description, plain-text tables, settings, statistics,
// latency histograms and what /proc says about processes (memory, CPU, other load on the machine).
import { execFileSync } from 'node:child_process';
import { readFileSync, readdirSync } from 'node:fs';
import os from 'node:os';
import type { LoadResult } from './clients.js';

export interface MachineInfo {
  cpu: string;
  cores: number;
  node: string;
  platform: string;
  memory: string;
}

export function machineInfo(): MachineInfo {
  const cpus = os.cpus();
  return {
    cpu: cpus[0]?.model.trim() ?? 'unknown',
    cores: typeof os.availableParallelism === 'function' ? os.availableParallelism() : cpus.length,
    node: process.version,
    platform: `${os.platform()} ${os.release()} ${os.arch()}`,
    memory: `${(os.totalmem() / 1024 ** 3).toFixed(1)} GiB`,
  };
}

export function printMachine(extra: Record<string, string> = {}): void {
  const m = machineInfo();
  const rows: [string, string][] = [
    ['cpu', m.cpu],
    ['cores', String(m.cores)],
    ['node', m.node],
    ['platform', m.platform],
    ['memory', m.memory],
    ...Object.entries(extra),
  ];
  const width = Math.max(...rows.map(([k]) => k.length));
  for (const [k, v] of rows) console.log(`${k.padEnd(width)}  ${v}`);
}

/** Prints rows as an aligned table; columns whose header starts with a non-letter are left-aligned. */
export function printTable(headers: string[], rows: string[][], leftAligned = 1): void {
  const widths = headers.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const fmt = (cells: string[]): string =>
    cells.map((c, i) => (i < leftAligned ? c.padEnd(widths[i]) : c.padStart(widths[i]))).join('  ');
  console.log(fmt(headers));
  console.log(widths.map((w) => '-'.repeat(w)).join('  '));
  for (const r of rows) console.log(fmt(r));
}

/** Share of all cores' time spent busy during `ms`, percent (other work running skews benchmarks). */
export async function cpuBusy(ms: number): Promise<number> {
  const sum = (): { idle: number; total: number } => {
    let idle = 0;
    let total = 0;
    for (const c of os.cpus()) {
      idle += c.times.idle;
      total += c.times.user + c.times.nice + c.times.sys + c.times.idle + c.times.irq;
    }
    return { idle, total };
  };
  const a = sum();
  await new Promise((r) => setTimeout(r, ms));
  const b = sum();
  return b.total > a.total ? (1 - (b.idle - a.idle) / (b.total - a.total)) * 100 : NaN;
}

/** 1234567.8 → "1,234,568" */
export function int(n: number): string {
  return Number.isFinite(n) ? Math.round(n).toLocaleString('en-US') : '-';
}

export function fixed(n: number, digits = 1): string {
  return Number.isFinite(n) ? n.toFixed(digits) : '-';
}

export const MB = 1e6;
export const MiB = 1024 * 1024;

// ---------------------------------------------------------------------------------------------
// Shared by load.ts, hit.ts, fanout.ts and big.ts: settings, statistics, verdicts.

/** A non-negative number from the environment, or `fallback` when unset. */
export function envNumber(name: string, fallback: number): number {
  const raw = process.env[name];
  if (raw === undefined || raw === '') return fallback;
  const n = Number(raw);
  if (!Number.isFinite(n) || n < 0) throw new Error(`${name}=${raw} is not a number`);
  return n;
}

/** A comma-separated list of numbers from the environment (`BENCH_FANOUT_CLIENTS=1000,5000`). */
export function envNumbers(name: string, fallback: number[]): number[] {
  const raw = process.env[name];
  if (raw === undefined || raw === '') return fallback;
  const list = raw.split(',').map((s) => Number(s.trim()));
  if (list.some((n) => !Number.isFinite(n) || n <= 0)) throw new Error(`${name}=${raw} is not a list of positive numbers`);
  return list;
}

export function median(values: number[]): number {
  const v = values.filter(Number.isFinite).sort((a, b) => a - b);
  if (v.length === 0) return NaN;
  const mid = v.length >> 1;
  return v.length % 2 ? v[mid] : (v[mid - 1] + v[mid]) / 2;
}

export function ratio(a: number | undefined, b: number | undefined): number {
  return a !== undefined && b !== undefined && Number.isFinite(a) && b > 0 ? a / b : NaN;
}

/** PASS when `value` is on the right side of `target` (`>=` by default, `<=` for limits). */
export function verdict(value: number, target: number, direction: '>=' | '<=' = '>='): string {
  if (!Number.isFinite(value)) return 'n/a';
  return (direction === '>=' ? value >= target : value <= target) ? 'PASS' : 'FAIL';
}

export function errorText(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

/**
 * Latencies at 10 µs resolution up to 10 s (slower ones kept exactly). Mergeable across processes:
 * a generator sends `toJSON()` over IPC, the driver `merge`s them.
 */
export class LatencyHistogram {
  private static readonly BUCKETS = 1_000_000; // 10 µs each: up to 10 s
  private counts = new Uint32Array(LatencyHistogram.BUCKETS);
  private slow: number[] = [];
  count = 0;
  max = 0;

  record(ms: number): void {
    this.count++;
    if (ms > this.max) this.max = ms;
    const b = Math.max(0, Math.floor(ms * 100));
    if (b < LatencyHistogram.BUCKETS) this.counts[b]++;
    else this.slow.push(ms);
  }

  /** The upper edge of the bucket holding the p-th percentile, ms. */
  percentile(p: number): number {
    if (this.count === 0) return NaN;
    const rank = Math.max(1, Math.ceil((p / 100) * this.count));
    let seen = 0;
    for (let b = 0; b < LatencyHistogram.BUCKETS; b++) {
      seen += this.counts[b];
      if (seen >= rank) return (b + 1) / 100;
    }
    const slow = this.slow.sort((a, b) => a - b);
    return slow[Math.min(slow.length - 1, rank - seen - 1)];
  }

  /** Sparse form for IPC: [bucket, count, bucket, count, ...], the slow values, count and max. */
  toJSON(): { buckets: number[]; slow: number[]; count: number; max: number } {
    const buckets: number[] = [];
    for (let b = 0; b < LatencyHistogram.BUCKETS; b++) if (this.counts[b]) buckets.push(b, this.counts[b]);
    return { buckets, slow: this.slow, count: this.count, max: this.max };
  }

  merge(other: ReturnType<LatencyHistogram['toJSON']>): void {
    for (let i = 0; i < other.buckets.length; i += 2) this.counts[other.buckets[i]] += other.buckets[i + 1];
    this.slow.push(...other.slow);
    this.count += other.count;
    this.max = Math.max(this.max, other.max);
  }
}

// ---------------------------------------------------------------------------------------------
// Processes seen through /proc (Linux): memory and CPU of any process, ours or not (nginx, varnish).

/** VmRSS and VmHWM (peak RSS since the process started) in bytes; NaN where /proc is unavailable. */
export function procMemory(pid: number): { rss: number; hwm: number } {
  try {
    const status = readFileSync(`/proc/${pid}/status`, 'latin1');
    const kb = (field: string): number => Number(new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(status)?.[1] ?? NaN) * 1024;
    return { rss: kb('VmRSS'), hwm: kb('VmHWM') };
  } catch {
    return { rss: NaN, hwm: NaN };
  }
}

const CLOCK_TICK_US = 1e6 / 100; // USER_HZ is 100 on every Linux build Node runs on

interface ProcStat {
  pid: number;
  ppid: number;
  /** utime + stime + cutime + cstime, µs: the process and every child it has reaped. */
  cpuUs: number;
}

function readProcStat(pid: number | string): ProcStat | null {
  try {
    const text = readFileSync(`/proc/${pid}/stat`, 'latin1');
    // Fields after the command name, which is in parentheses and may hold spaces.
    const f = text.slice(text.lastIndexOf(')') + 2).split(' ');
    // f[0] is field 3 (state): ppid is field 4, utime..cstime fields 14..17.
    const ticks = Number(f[11]) + Number(f[12]) + Number(f[13]) + Number(f[14]);
    return { pid: Number(pid), ppid: Number(f[1]), cpuUs: ticks * CLOCK_TICK_US };
  } catch {
    return null;
  }
}

/** CPU time (user + system) of one process, µs, at 10 ms resolution; NaN if it is gone. */
export function procCpuUs(pid: number): number {
  const s = readProcStat(pid);
  return s ? s.cpuUs : NaN;
}

function machineTicks(): { busy: number; total: number } {
  // First line of /proc/stat: cpu user nice system idle iowait irq softirq steal ...
  const line = readFileSync('/proc/stat', 'latin1').split('\n', 1)[0];
  const v = line.trim().split(/\s+/).slice(1).map(Number);
  const idle = v[3] + (v[4] ?? 0);
  const total = v.slice(0, 8).reduce((a, b) => a + b, 0);
  return { busy: total - idle, total };
}

/**
 * What else ran on the machine during a measurement: every core's busy time minus the CPU time of
 * this benchmark's own process tree (driver, servers, generators, nginx and varnish children), as
 * a share of one core. Above ~10 % the numbers of that run are suspect: someone else's tests ran.
 */
export class ForeignLoad {
  private t0 = machineTicks();
  private ours0 = procTreeCpuUs(process.pid);
  private readonly start = performance.now();

  /** Share of one core used by processes outside this benchmark since construction, percent. */
  stop(): number {
    const t1 = machineTicks();
    const ours1 = procTreeCpuUs(process.pid);
    const seconds = (performance.now() - this.start) / 1000;
    const machineUs = (t1.busy - this.t0.busy) * CLOCK_TICK_US;
    const foreign = Math.max(0, machineUs - (ours1 - this.ours0));
    return seconds > 0 ? (foreign / 1e6 / seconds) * 100 : NaN;
  }
}

/**
 * Waits (up to `maxWaitMs`) for the machine to be below `thresholdPct` busy over one second.
 * Returns the last reading and how long it waited.
 */
export async function waitForIdle(thresholdPct = 10, maxWaitMs = envNumber('BENCH_IDLE_WAIT', 30) * 1000): Promise<{ busy: number; waitedS: number }> {
  const started = performance.now();
  let busy = await cpuBusy(1000);
  while (busy > thresholdPct && performance.now() - started < maxWaitMs) busy = await cpuBusy(1000);
  return { busy, waitedS: (performance.now() - started) / 1000 };
}

/**
 * The idle check: waits (BENCH_IDLE_WAIT s, default 30) for the machine to be below `thresholdPct`
 * busy, and returns the line to print. Benchmarks run anyway after the wait, with a warning.
 */
export async function idleCheck(thresholdPct = 10): Promise<string> {
  const { busy, waitedS } = await waitForIdle(thresholdPct);
  const waitedText = waitedS > 1.5 ? ` (after waiting ${fixed(waitedS, 0)} s for the machine to settle)` : '';
  return `CPU busy before start: ${fixed(busy, 0)}% of all cores${waitedText}${busy > thresholdPct ? ' -- other work is running: results will be noisy' : ''}`;
}

/** The soft limit on open files of this process (children inherit it). */
export function openFileLimit(): number {
  try {
    return Number(execFileSync('sh', ['-c', 'ulimit -n'], { encoding: 'utf8' }).trim());
  } catch {
    return NaN;
  }
}

export function mb(bytes: number): string {
  return fixed(bytes / MB, 0);
}

/** The pids of `root` and all its descendants. */
function processTree(root: number): ProcStat[] {
  const all: ProcStat[] = [];
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    const s = readProcStat(name);
    if (s) all.push(s);
  }
  const children = new Map<number, ProcStat[]>();
  for (const s of all) {
    const list = children.get(s.ppid);
    if (list) list.push(s);
    else children.set(s.ppid, [s]);
  }
  const out: ProcStat[] = [];
  const rootStat = all.find((s) => s.pid === root);
  if (!rootStat) return out;
  const stack = [rootStat];
  while (stack.length) {
    const s = stack.pop()!;
    out.push(s);
    stack.push(...(children.get(s.pid) ?? []));
  }
  return out;
}

/** CPU time of a process and all its descendants (reaped ones included), µs, 10 ms resolution. */
export function procTreeCpuUs(root: number): number {
  return processTree(root).reduce((sum, s) => sum + s.cpuUs, 0);
}

/** Sum of VmRSS over a process and its descendants, bytes (nginx master + worker, varnishd + child). */
export function procTreeMemory(root: number): number {
  return processTree(root).reduce((sum, s) => sum + procMemory(s.pid).rss, 0);
}

/**
 * Runs `fn` on a machine as quiet as it can get: waits for idle first, measures the other load
 * during the run (ForeignLoad), and runs it again (up to BENCH_RETRIES times, default 2) when that
 * load was above BENCH_OTHER_LOAD_MAX percent of one core (default 25). Returns the last attempt.
 */
export async function quietRun<T>(fn: () => Promise<T>): Promise<{ value: T; foreignPct: number; attempts: number }> {
  const retries = envNumber('BENCH_RETRIES', 2);
  const maxOther = envNumber('BENCH_OTHER_LOAD_MAX', 25);
  for (let attempt = 1; ; attempt++) {
    await waitForIdle();
    const foreign = new ForeignLoad();
    const value = await fn();
    const foreignPct = foreign.stop();
    if (!(foreignPct > maxOther) || attempt > retries) return { value, foreignPct, attempts: attempt };
  }
}

/** One measured load run: what the generator saw, and the CPU the server under test used meanwhile. */
export interface LoadRun {
  load: LoadResult;
  cpuUs: number;
}

/** What every load table shows of a server's runs: medians of the rates, totals of the failures, CPU. */
export interface LoadSummary {
  rps: number;
  p50ms: number;
  p99ms: number;
  failures: number;
  non2xx: number;
  cpuPct: number;
  cpuUsPerReq: number;
}

export function summarizeLoad(runs: readonly LoadRun[]): LoadSummary {
  const sum = (f: (r: LoadRun) => number): number => runs.reduce((acc, r) => acc + f(r), 0);
  return {
    rps: median(runs.map((r) => r.load.rps)),
    p50ms: median(runs.map((r) => r.load.p50ms)),
    p99ms: median(runs.map((r) => r.load.p99ms)),
    failures: sum((r) => r.load.errors + r.load.timeouts),
    non2xx: sum((r) => r.load.non2xx),
    cpuPct: (sum((r) => r.cpuUs) / 1e6 / sum((r) => r.load.seconds)) * 100,
    cpuUsPerReq: sum((r) => r.cpuUs) / sum((r) => r.load.requests),
  };
}

/** Runs a benchmark driver's main: exit 0 when it returns, 1 (with the error) when it throws. */
export function runMain(main: () => Promise<void>): void {
  main().then(
    () => process.exit(0),
    (err: unknown) => {
      console.error(err);
      process.exit(1);
    },
  );
}

// ---- Pattern bytes (bench/segments.ts, the range-origin of servers.ts) ----

/** Byte i of every range-origin file is i mod 251: a whole number of periods, about 1 MiB. */
const PATTERN_PERIOD = 251;
const PATTERN_CYCLE = Buffer.alloc(PATTERN_PERIOD * 4177, 0);
for (let i = 0; i < PATTERN_CYCLE.length; i++) PATTERN_CYCLE[i] = i % PATTERN_PERIOD;

/** A view of the pattern bytes at file offset `offset`, at most `max` long (and at most about 1 MiB). */
export function patternSlice(offset: number, max: number): Buffer {
  const phase = offset % PATTERN_PERIOD;
  return PATTERN_CYCLE.subarray(phase, phase + Math.min(max, PATTERN_CYCLE.length - PATTERN_PERIOD));
}
