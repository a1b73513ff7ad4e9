// Process orchestration shared by the benchmark drivers (load.ts, hit.ts, fanout.ts, big.ts):
// the servers of servers.ts and the generators of clients.ts each run in a forked process; wrk,
// nginx and varnishd are spawned. Every child is killed when the driver exits, however it exits.
import { execFileSync, fork, spawn, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import os from 'node:os';
import http from 'node:http';
import net from 'node:net';
import { fileURLToPath } from 'node:url';
import type { AutocannonJob, ClientMessage, LoadResult } from './clients.js';
import { envNumber, machineInfo } from './common.js';
import type { ServerKind, ServerMessage, ServerStats } from './servers.js';

const SERVERS_JS = fileURLToPath(new URL('./servers.js', import.meta.url));
const CLIENTS_JS = fileURLToPath(new URL('./clients.js', import.meta.url));

// ---------------------------------------------------------------------------------------------
// Child processes

const children = new Set<ChildProcess>();

export function track(child: ChildProcess): ChildProcess {
  children.add(child);
  child.on('exit', () => children.delete(child));
  return child;
}

const exitCleanups = new Set<() => void>();

/** Runs `fn` (synchronously) when the driver exits, however it exits; returns the unregister function. */
export function atExit(fn: () => void): () => void {
  exitCleanups.add(fn);
  return () => exitCleanups.delete(fn);
}

function killAll(): void {
  for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
  for (const fn of exitCleanups) {
    try {
      fn();
    } catch {
      // best effort
    }
  }
}
process.on('exit', killAll);
for (const sig of ['SIGINT', 'SIGTERM'] as const) {
  process.on(sig, () => {
    killAll();
    process.exit(130);
  });
}

/** SIGTERM, then SIGKILL after `graceMs`; resolves when the child is gone. */
export function stopChild(child: ChildProcess, graceMs = 3000, signal: NodeJS.Signals = 'SIGTERM'): Promise<void> {
  return new Promise((res) => {
    if (child.exitCode !== null || child.signalCode !== null) return res();
    const timer = setTimeout(() => child.kill('SIGKILL'), graceMs);
    child.once('exit', () => {
      clearTimeout(timer);
      res();
    });
    child.kill(signal);
  });
}

export interface RunningServer {
  kind: ServerKind;
  port: number;
  child: ChildProcess;
  pid: number;
  /** µs of user + system CPU used so far. */
  cpu(): Promise<number>;
  /** CPU, memory and the requests it counted (origins). */
  stats(): Promise<ServerStats>;
  stop(): Promise<void>;
}

// ---------------------------------------------------------------------------------------------
// Pinning: the server under test on one core, the load generator and the origin on another
// (taskset), so that a figure is the server's own core and not its share of a contended pair.

/** Who runs where: the server under test, or the generator's side (load generators, origins). */
export type PinRole = 'server' | 'generator';

export interface PinPlan {
  server: string;
  generator: string;
}

/**
 * BENCH_PIN: `1` / `on` (the default where taskset exists and there are 2+ cores): the server
 * under test on core 0, the generators and the origin on core 1; `S:G` chooses the two core lists
 * (taskset -c syntax, e.g. `0:1` or `2-3:0-1`); `0` / `off`: nothing pinned.
 */
export const PIN: PinPlan | null = (() => {
  const raw = (process.env.BENCH_PIN ?? '').trim().toLowerCase();
  if (raw === '0' || raw === 'off' || raw === 'false' || raw === 'no') return null;
  const explicit = raw !== '' && raw !== '1' && raw !== 'on' && raw !== 'true' && raw !== 'yes';
  if (!hasCommand('taskset')) {
    if (raw !== '') console.warn('BENCH_PIN: taskset is not installed, nothing is pinned');
    return null;
  }
  if (explicit) {
    const m = /^([\d,-]+):([\d,-]+)$/.exec(raw);
    if (!m) throw new Error(`BENCH_PIN=${raw}: expected 0, 1, or <server cores>:<generator cores> (e.g. 0:1)`);
    return { server: m[1], generator: m[2] };
  }
  return machineInfo().cores >= 2 ? { server: '0', generator: '1' } : null;
})();

/** `command args` as run on the role's cores: through taskset when pinning, as is otherwise. */
export function pinnedCommand(role: PinRole, command: string, args: string[]): [string, string[]] {
  return PIN ? ['taskset', ['-c', PIN[role], command, ...args]] : [command, args];
}

/** The fork options that start a Node child on the role's cores (taskset execs node, IPC intact). */
function pinnedFork(role: PinRole, execArgv: string[]): { execPath?: string; execArgv: string[] } {
  if (!PIN) return { execArgv };
  const taskset = hasCommand('taskset')!;
  return { execPath: taskset, execArgv: ['-c', PIN[role], process.execPath, ...execArgv] };
}

/** The cores a running process may use (Cpus_allowed_list), or '?' when /proc does not say. */
export function coresOf(pid: number): string {
  try {
    return /^Cpus_allowed_list:\s*(\S+)/m.exec(readFileSync(`/proc/${pid}/status`, 'latin1'))?.[1] ?? '?';
  } catch {
    return '?';
  }
}

/** The line to print under the machine description. */
export function pinLine(): string {
  return PIN
    ? `taskset: servers under test on core ${PIN.server}; load generators and origins on core ${PIN.generator} (BENCH_PIN=0 turns it off)`
    : 'off (BENCH_PIN=0, no taskset, or one core): every process runs on any core';
}

/** Which cores each process got, as the kernel reports them: `name pid N: cores X`. */
export function printCores(processes: ReadonlyArray<{ name: string; pid: number }>): void {
  for (const p of processes) if (p.pid > 0) console.log(`  cores: ${p.name} (pid ${p.pid}): ${coresOf(p.pid)}`);
}

/** BENCH_CPU_PROF=<dir>: every streamcache server process writes a V8 CPU profile there when it stops. */
const PROFILE_DIR = process.env.BENCH_CPU_PROF;
const CLIENT_NICE = Number(process.env.BENCH_CLIENT_NICE ?? 0);

/** The servers that are measured (on the server core); origins run beside the generators. */
const UNDER_TEST: ReadonlySet<ServerKind> = new Set(['streamcache', 'nodehttp', 'relay']);

/** Forks `servers.js <kind> ...args` and resolves once it listens. */
export function startServer(kind: ServerKind, ...args: (string | number)[]): Promise<RunningServer> {
  return startServerAs(UNDER_TEST.has(kind) ? 'server' : 'generator', kind, ...args);
}

let discardStdout = false;

/** The next server started writes its stdout to /dev/null (its access log: a line per request). */
export function nextServerStdoutToNull(): void {
  discardStdout = true;
}

/** startServer with the role chosen: an origin measured on its own (fanout direct) is the server under test. */
export function startServerAs(role: PinRole, kind: ServerKind, ...args: (string | number)[]): Promise<RunningServer> {
  const execArgv = PROFILE_DIR && kind === 'streamcache' ? [...process.execArgv, '--cpu-prof', '--cpu-prof-dir', PROFILE_DIR] : process.execArgv;
  // After nextServerStdoutToNull(): a server that logs every request (the access log) writes to /dev/null.
  const stdout = discardStdout ? 'ignore' : 'inherit';
  discardStdout = false;
  const child = track(fork(SERVERS_JS, [kind, ...args.map(String)], { stdio: ['ignore', stdout, 'inherit', 'ipc'], ...pinnedFork(role, execArgv) }));
  const stats = (): Promise<ServerStats> =>
    new Promise((res, rej) => {
      if (!child.connected) return rej(new Error(`${kind} server is gone`));
      child.on('message', function got(m: ServerMessage) {
        if (m.type !== 'stats') return;
        child.off('message', got);
        res(m);
      });
      child.send({ type: 'stats' });
    });
  return new Promise((resolve, reject) => {
    const onExit = (code: number | null): void => reject(new Error(`${kind} server exited (code ${code}) before it was ready`));
    child.once('exit', onExit);
    child.on('message', function ready(m: ServerMessage) {
      if (m.type === 'failed') {
        child.off('message', ready);
        child.off('exit', onExit);
        reject(new Error(`${kind} server failed: ${m.error.split('\n')[0]}`));
      } else if (m.type === 'ready') {
        child.off('message', ready);
        child.off('exit', onExit);
        resolve({
          kind,
          port: m.port,
          child,
          pid: child.pid!,
          stats,
          cpu: async () => {
            const s = await stats();
            return s.user + s.system;
          },
          stop: () => stopChild(child),
        });
      }
    });
  });
}

/** Forks `clients.js ...args` and resolves with the one result it sends. */
export function runClient<T>(args: string[], onChild?: (child: ChildProcess) => void): Promise<T> {
  const child = track(fork(CLIENTS_JS, args, { stdio: ['ignore', 'inherit', 'inherit', 'ipc'], ...pinnedFork('generator', process.execArgv) }));
  // BENCH_CLIENT_NICE=N: load generators yield the CPU to the server under test, standing in for
  // clients on other machines (on a 2-core box they otherwise take half of it from the proxy).
  if (CLIENT_NICE && child.pid) os.setPriority(child.pid, CLIENT_NICE);
  onChild?.(child);
  return new Promise((resolve, reject) => {
    let settled = false;
    child.on('message', (m: ClientMessage) => {
      if (m.type === 'result') {
        settled = true;
        resolve(m.result as T);
      } else if (m.type === 'failed') {
        settled = true;
        reject(new Error(`load generator failed: ${m.error}`));
      }
    });
    // 'close', not 'exit': a large result (10,000 clients' latencies) may still be in the IPC pipe
    // when the process exits; 'close' comes after the channel has delivered everything.
    child.on('close', (code) => {
      if (!settled) reject(new Error(`load generator exited (code ${code}) without a result`));
    });
  });
}

/** A free loopback port for a server that cannot listen on port 0 and tell us (nginx, varnish). */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address() as net.AddressInfo;
      s.close(() => resolve(port));
    });
  });
}

export function hasCommand(name: string): string | null {
  try {
    return execFileSync('sh', ['-c', `command -v ${name}`], { encoding: 'utf8' }).trim() || null;
  } catch {
    return null;
  }
}

// ---------------------------------------------------------------------------------------------
// Load generators: wrk when installed, else autocannon (in a process of its own)

export const GENERATOR: 'wrk' | 'autocannon' = (() => {
  const forced = process.env.BENCH_GENERATOR;
  if (forced === 'wrk' || forced === 'autocannon') return forced;
  return hasCommand('wrk') ? 'wrk' : 'autocannon';
})();
/** One wrk thread when pinned (it has one core), as the issue's table was measured; else one per core up to 4. */
export const WRK_THREADS = envNumber('BENCH_WRK_THREADS', PIN ? 1 : Math.max(1, Math.min(4, machineInfo().cores)));
export const AUTOCANNON_WORKERS = envNumber('BENCH_WORKERS', 1);

export function generatorLine(): string {
  return GENERATOR === 'wrk'
    ? `wrk (${WRK_THREADS} thread${WRK_THREADS === 1 ? '' : 's'})`
    : `autocannon 8 (wrk not installed), in its own process${AUTOCANNON_WORKERS > 1 ? `, ${AUTOCANNON_WORKERS} worker threads` : ''}`;
}

/** wrk's "635.91us" / "1.20ms" / "2.00s" → ms */
function wrkTime(text: string): number {
  const m = /^([\d.]+)(us|ms|s|m)$/.exec(text.trim());
  if (!m) return NaN;
  const v = Number(m[1]);
  return m[2] === 'us' ? v / 1000 : m[2] === 'ms' ? v : m[2] === 's' ? v * 1000 : v * 60_000;
}

function wrkBytes(text: string): number {
  const m = /^([\d.]+)(B|KB|MB|GB|TB)$/.exec(text.trim());
  if (!m) return NaN;
  return Number(m[1]) * 1024 ** ['B', 'KB', 'MB', 'GB', 'TB'].indexOf(m[2]);
}

let wrkCoresShown = false;

function runWrk(url: string, connections: number, duration: number, headers: readonly string[] = []): Promise<LoadResult> {
  const threads = Math.min(WRK_THREADS, connections);
  const headerArgs = headers.flatMap((h) => ['-H', h]);
  const [command, args] = pinnedCommand('generator', 'wrk', [`-t${threads}`, `-c${connections}`, `-d${duration}s`, '--latency', ...headerArgs, url]);
  const child = track(spawn(command, args, { stdio: ['ignore', 'pipe', 'inherit'] }));
  if (!wrkCoresShown && child.pid) {
    wrkCoresShown = true;
    // taskset has exec'd wrk by the first tick after spawn; /proc then says where it runs.
    const pid = child.pid;
    setTimeout(() => printCores([{ name: `wrk -t${threads}`, pid }]), 50);
  }
  let out = '';
  child.stdout!.setEncoding('utf8').on('data', (s: string) => (out += s));
  return new Promise((resolve, reject) => {
    child.on('exit', (code) => {
      if (code !== 0) return reject(new Error(`wrk exited with ${code}:\n${out}`));
      const total = /(\d+) requests in ([\d.]+)(us|ms|s|m), ([\d.]+\w+) read/.exec(out);
      if (!total) return reject(new Error(`cannot read wrk output:\n${out}`));
      const requests = Number(total[1]);
      const seconds = wrkTime(`${total[2]}${total[3]}`) / 1000;
      const socketErrors = /Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)/.exec(out);
      resolve({
        requests,
        seconds,
        rps: requests / seconds,
        p50ms: wrkTime(/^\s+50%\s+(\S+)/m.exec(out)?.[1] ?? ''),
        p99ms: wrkTime(/^\s+99%\s+(\S+)/m.exec(out)?.[1] ?? ''),
        bytes: wrkBytes(total[4]),
        errors: socketErrors ? Number(socketErrors[1]) + Number(socketErrors[2]) + Number(socketErrors[3]) : 0,
        timeouts: socketErrors ? Number(socketErrors[4]) : 0,
        non2xx: Number(/Non-2xx or 3xx responses: (\d+)/.exec(out)?.[1] ?? 0),
      });
    });
  });
}

/** `connections` keep-alive connections doing GET `path` for `duration` s, with `headers` (`Name: value`). */
export function runLoad(port: number, path: string, connections: number, duration: number, headers: readonly string[] = []): Promise<LoadResult> {
  const url = `http://127.0.0.1:${port}${path}`;
  if (GENERATOR === 'wrk') return runWrk(url, connections, duration, headers);
  const job: AutocannonJob = { url, connections, duration, workers: AUTOCANNON_WORKERS, headers: [...headers] };
  return runClient<LoadResult>(['autocannon', JSON.stringify(job)]);
}

// ---------------------------------------------------------------------------------------------
// Checks

export interface CheckedResponse {
  status: number;
  headers: http.IncomingHttpHeaders;
  bodyBytes: number;
}

/** One plain GET (new connection), body counted. */
export function get(port: number, path: string, timeoutMs = 5000): Promise<CheckedResponse> {
  return new Promise((resolve, reject) => {
    const req = http.get({ host: '127.0.0.1', port, path, agent: false }, (res) => {
      let n = 0;
      res.on('data', (c: Buffer) => (n += c.length));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, bodyBytes: n }));
      res.on('error', reject);
    });
    req.on('error', reject);
    req.setTimeout(timeoutMs, () => req.destroy(new Error(`GET ${path}: no answer in ${timeoutMs / 1000} s`)));
  });
}

/** One plain GET before loading a target: the scenario is meaningless if the answer is wrong. */
export async function checkTarget(port: number, path: string, expectBytes: number): Promise<CheckedResponse> {
  const r = await get(port, path);
  if (r.status !== 200) throw new Error(`GET ${path}: status ${r.status}`);
  if (r.bodyBytes !== expectBytes) throw new Error(`GET ${path}: ${r.bodyBytes} body bytes, expected ${expectBytes}`);
  return r;
}
