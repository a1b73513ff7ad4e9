// Shared by the benchmark scripts: machine description and plain-text tables.
import os from 'node:os';

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
