// The macro benchmarks at CI size: they still start their servers, load them and print their
// tables (not how fast: a CI machine says nothing about speed). Runs the built dist, like the
// other e2e tests (the test script builds first). The load generator is wrk when installed,
// autocannon otherwise (bench/harness.ts).
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const BENCH = (name: string): string => fileURLToPath(new URL(`../../dist/bench/${name}.js`, import.meta.url));

function runBench(name: string, env: Record<string, string>): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [BENCH(name)], {
      stdio: ['ignore', 'pipe', 'pipe'],
      // No idle wait and no reruns: a loaded CI machine must not make the smoke run long.
      env: { ...process.env, BENCH_IDLE_WAIT: '0', BENCH_RETRIES: '0', ...env },
    });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (s: string) => (stdout += s));
    child.stderr.setEncoding('utf8').on('data', (s: string) => (stderr += s));
    child.on('close', (code) => resolve({ code, stdout, stderr }));
  });
}

/** The table row whose first cell starts with `name`, split into its cells. */
function row(stdout: string, name: string): string[] | undefined {
  const line = stdout.split('\n').find((l) => l.startsWith(name));
  return line?.split(/\s{2,}/);
}

describe('benchmark smoke runs (CI size: they run and print their tables)', () => {
  it('bench/hit: the origin and streamcache lines get req/s, no errors, every response a hit', async () => {
    const run = await runBench('hit', { BENCH_DURATION: '1', BENCH_ROUNDS: '1', BENCH_WARMUP: '0', BENCH_HIT_SERVERS: 'origin,streamcache' });
    expect(run.code, run.stderr).toBe(0);
    expect(run.stdout).toMatch(/^scenario +req\/s +p50 ms/m);
    expect(run.stdout).toMatch(/^pinning +/m);
    const sc = row(run.stdout, 'streamcache (log warn)');
    expect(sc, run.stdout).toBeDefined();
    // req/s is a positive number; errors, non-2xx and origin requests are all 0.
    expect(Number(sc![1].replace(/,/g, ''))).toBeGreaterThan(0);
    expect(sc!.slice(4, 7)).toEqual(['0', '0', '0']);
    expect(row(run.stdout, 'req/s  streamcache / net responder')).toBeDefined();
  });

  it('bench/first-request: a fresh proxy\'s first request and warm ones are timed, and the ratio printed', async () => {
    const run = await runBench('first-request', { BENCH_FIRST_RUNS: '1', BENCH_FIRST_WARM: '4', BENCH_FIRST_IDLE: '20' });
    expect(run.code, run.stderr).toBe(0);
    const first = row(run.stdout, '1 ');
    expect(first, run.stdout).toBeDefined();
    expect(Number(first![2])).toBeGreaterThan(0);
    // The idle miss (a new connection to the warm, idle proxy) is timed too.
    expect(Number(first![5])).toBeGreaterThan(0);
    expect(run.stdout).toMatch(/^first byte: first request \/ warm miss \(worst run\) +[\d.]+x +<= 2\.0x +(PASS|FAIL)$/m);
    expect(run.stdout).toMatch(/^first byte: first request \/ idle miss on a new connection \(worst run\) +[\d.]+x +\(info\)/m);
  });

  // Every tinybench suite (bench/micro*.ts, one per stage issue 18 changed) still runs and prints its rows.
  for (const name of ['micro', 'micro-parse', 'micro-sock', 'micro-hit', 'micro-log', 'micro-big']) {
    it(`bench/${name}: runs and prints a table of timed rows`, async () => {
      const run = await runBench(name, { BENCH_TIME: '20' });
      expect(run.code, run.stderr).toBe(0);
      // A row's ops/s cell is a positive number.
      expect(run.stdout).toMatch(/^\S.*\s{2,}[\d,]+\s{2,}[\d,.]+\s/m);
    });
  }
});
