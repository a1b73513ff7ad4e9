// Process orchestration shared by the benchmark drivers (load.ts, hit.ts, fanout.ts, big.ts):
// the servers of servers.ts and the generators of clients.ts each run in a forked process; wrk,
// nginx and varnishd are spawned. Every child is killed when the driver exits, however it exits.
import { execFileSync, fork, spawn, type ChildProcess } from 'node:child_process';
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

/** BENCH_CPU_PROF=<dir>: every streamcache server process writes a V8 CPU profile there when it stops. */
const PROFILE_DIR = process.env.BENCH_CPU_PROF;
const CLIENT_NICE = Number(process.env.BENCH_CLIENT_NICE ?? 0);

/** Forks `servers.js <kind> ...args` and resolves once it listens. */
export function startServer(kind: ServerKind, ...args: (string | number)[]): Promise<RunningServer> {
  const execArgv = PROFILE_DIR && kind === 'streamcache' ? [...process.execArgv, '--cpu-prof', '--cpu-prof-dir', PROFILE_DIR] : process.execArgv;
  const child = track(fork(SERVERS_JS, [kind, ...args.map(String)], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'], execArgv }));
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
  const child = track(fork(CLIENTS_JS, args, { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] }));
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
export const WRK_THREADS = envNumber('BENCH_WRK_THREADS', Math.max(1, Math.min(4, machineInfo().cores)));
export const AUTOCANNON_WORKERS = envNumber('BENCH_WORKERS', 1);

export function generatorLine(): string {
  return GENERATOR === 'wrk'
    ? `wrk (${WRK_THREADS} threads)`
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

function runWrk(url: string, connections: number, duration: number, headers: readonly string[] = []): Promise<LoadResult> {
  const threads = Math.min(WRK_THREADS, connections);
  const headerArgs = headers.flatMap((h) => ['-H', h]);
  const child = track(spawn('wrk', [`-t${threads}`, `-c${connections}`, `-d${duration}s`, '--latency', ...headerArgs, url], { stdio: ['ignore', 'pipe', 'inherit'] }));
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
