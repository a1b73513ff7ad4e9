// Where a 1 KiB hit's instructions go, by stage, counted by callgrind (user-space instructions do
// not depend on what else runs on the machine, unlike time):
//   npm run build && node dist/bench/stages.js
// A streamcache process runs under `valgrind --tool=callgrind` with instrumentation off while it
// starts and warms up (BENCH_STAGES_WARM hits, 20,000); then instrumentation goes on, the counters
// are zeroed, BENCH_STAGES_HITS (3,000) hits are served over 10 keep-alive connections from this
// process (a tiny raw client), and callgrind dumps what they cost. Every function's own (self)
// instructions are put in a stage by its name (JIT code is named through V8's --perf-basic-prof
// map), and a builtin's or the runtime's by the stages of the functions that called it (weighted
// by the calls' cost); the table shows instructions per hit by stage. The kernel's side (the socket syscalls)
// is not counted by valgrind: the table adds the proxy's system CPU time per hit beside it.
// Env: BENCH_STAGES_HITS, BENCH_STAGES_WARM, BENCH_LOG_LEVEL (warn; `info` adds the access log),
//      BENCH_STAGES_TOP=N lists the N costliest functions, BENCH_STAGES_KEEP=1 keeps the callgrind output (callgrind_annotate can read it).
import { execFileSync, fork } from 'node:child_process';
import { mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { envNumber, fixed, int, printMachine, printTable, runMain } from './common.js';
import { hasCommand, startServer, stopChild, track } from './harness.js';
import { requestMany } from './raw-client.js';
import type { ServerMessage, ServerStats } from './servers.js';

const HITS = envNumber('BENCH_STAGES_HITS', 3000);
const WARM = envNumber('BENCH_STAGES_WARM', 20000);
const LOG_LEVEL = process.env.BENCH_LOG_LEVEL || 'warn';
const CONNECTIONS = 10;
const SERVERS_JS = fileURLToPath(new URL('./servers.js', import.meta.url));

/**
 * The stages of a hit, in the order a request meets them, and how a function is recognised as
 * belonging to one: by its source file (JIT code, from the perf map: `name file:line:col`) or by
 * its name (V8 builtins, the runtime, libuv, libc). The first match wins; the rest is `other`.
 */
export const STAGES: ReadonlyArray<{ stage: string; what: string; match: RegExp }> = [
  { stage: 'jit', what: 'V8 compiling (should be ~0 once warm: a warm-up that is too short shows here)', match: /v8::internal::(compiler|maglev|baseline|interpreter)::|Compile|Deoptimiz|OptimizingCompile|Turbofan|Maglev/ },
  { stage: 'read', what: 'socket readable: libuv read, the Buffer made for it, the stream\'s data event', match: /uv__read|uv__io_poll|uv__stream|epoll|OnStreamRead|EmitToJSStreamListener|onStreamRead|stream_base_commons|Readable|readableAddChunk|addChunk|emit(?:\b|@)|node:events|_stream_readable|LibuvStreamWrap::OnUvRead|ArrayBuffer|BackingStore/ },
  { stage: 'parse', what: 'llhttp (wasm) and the binding that turns its spans into a RequestHead', match: /http1\/(parser|llhttp|headers|semantics)|wasm|llhttp|Wasm/ },
  { stage: 'lookup', what: 'validation, cache key, index lookup, freshness, the decision', match: /proxy\/(pipeline|origin-request|hooks|cache-flow)|cache\/(index|freshness|object|conditional)|Map|Hash|String(Table|Hasher)/ },
  { stage: 'head', what: 'the exchange, the reader, the head string for this client', match: /stream\/(reader|transform|client-response)|net\/client-exchange|serializer|StringAdd|StringBuilder|NumberToString|Concat/ },
  { stage: 'write', what: 'the output batch, Buffer copy, socket write (libuv, the syscall\'s user side)', match: /output-batch|uv__write|uv_try_write|writev|WriteString|StreamBase::Write|LibuvStreamWrap::DoTryWrite|writeGeneric|writeBuffer|_writeGeneric|Writable|node:net|stream_base|handleWriteReq|afterWrite|nextTick|processTicksAndRejections|write@|__libc_write|sendmsg|latin1|Latin1|Utf8/ },
  { stage: 'log', what: 'the access-log line (pino)', match: /pino|access-log|sonic-boom|JSON|Json|stringify/ },
  { stage: 'stats', what: 'counters', match: /proxy\/stats/ },
  { stage: 'connection', what: 'client connection state, timers, peer probe', match: /net\/(client-connection|deadline|peer-probe)|timers|Timer|uv__run_timers|uv_timer/ },
  { stage: 'gc', what: 'allocation and garbage collection', match: /Heap|Scavenge|GC|Mark|Sweep|Alloc|Evacuat|Space|malloc|free|Zone/ },
];

interface FnCost {
  name: string;
  self: number;
}

interface Callgrind {
  total: number;
  fns: FnCost[];
  /** callee -> caller -> inclusive Ir of the calls. */
  callers: Map<string, Map<string, number>>;
}

/** Self cost per function, and who called whom at what inclusive cost, from a callgrind output file. */
function readCallgrind(file: string): Callgrind {
  const text = readFileSync(file, 'latin1');
  const names = new Map<string, string>();
  const self = new Map<string, number>();
  const callers = new Map<string, Map<string, number>>();
  let current = '';
  let callee = '';
  let inCall = false;
  let total = 0;
  for (const line of text.split('\n')) {
    if (line.startsWith('fn=')) {
      current = nameOf(line.slice(3), names);
      inCall = false;
      continue;
    }
    if (line.startsWith('cfn=')) {
      callee = nameOf(line.slice(4), names);
      continue;
    }
    if (line.startsWith('calls=')) {
      inCall = true; // the next cost line is the inclusive cost of this call, not self cost
      continue;
    }
    if (line.startsWith('summary:') || line.startsWith('totals:')) total = Number(line.split(/\s+/)[1]);
    const m = /^(?:[+-]?\d+|\*)\s+(\d+)/.exec(line);
    if (!m) continue;
    const cost = Number(m[1]);
    if (inCall) {
      inCall = false;
      const byCaller = callers.get(callee) ?? new Map<string, number>();
      byCaller.set(current, (byCaller.get(current) ?? 0) + cost);
      callers.set(callee, byCaller);
      continue;
    }
    self.set(current, (self.get(current) ?? 0) + cost);
  }
  return { total, callers, fns: [...self].map(([name, cost]) => ({ name, self: cost })).sort((a, b) => b.self - a.self) };
}

type Shares = Map<string, number>;

/**
 * The stages a function's own instructions belong to: its own stage when its name says one;
 * otherwise (a V8 builtin, the runtime, libc) its callers' stages, weighted by what each call
 * cost, walking up to `depth` callers; `other` when nothing above says either.
 */
function attribute(name: string, cg: Callgrind, rename: (n: string) => string, memo: Map<string, Shares>, depth = 0, seen = new Set<string>()): Shares {
  const known = memo.get(name);
  if (known) return known;
  const own = stageOf(rename(name));
  if (own !== 'other') return new Map([[own, 1]]);
  const byCaller = cg.callers.get(name);
  if (!byCaller || depth >= 12 || seen.has(name)) return new Map([['other', 1]]);
  seen.add(name);
  const out: Shares = new Map();
  let weight = 0;
  for (const [caller, cost] of byCaller) {
    if (seen.has(caller)) continue;
    for (const [stage, share] of attribute(caller, cg, rename, memo, depth + 1, seen)) out.set(stage, (out.get(stage) ?? 0) + share * cost);
    weight += cost;
  }
  seen.delete(name);
  if (weight === 0) return new Map([['other', 1]]);
  for (const [stage, v] of out) out.set(stage, v / weight);
  // Memoized at every depth (a function's shares are those of its callers, whoever asks), which
  // keeps the walk linear in the call graph; a cycle counts as `other` for the one who closes it.
  memo.set(name, out);
  return out;
}

/** `(12) name` defines id 12; `(12)` refers to it. */
function nameOf(spec: string, names: Map<string, string>): string {
  const m = /^\((\d+)\)(?:\s+(.*))?$/.exec(spec.trim());
  if (!m) return spec.trim();
  if (m[2] !== undefined) names.set(m[1], m[2]);
  return names.get(m[1]) ?? spec;
}

/** V8's perf map: `start size name` per line, hex. JIT functions that callgrind could only name by address. */
function readPerfMap(pid: number): Array<{ start: number; end: number; name: string }> {
  try {
    return readFileSync(`/tmp/perf-${pid}.map`, 'latin1')
      .split('\n')
      .filter(Boolean)
      .map((line) => {
        const [start, size, ...rest] = line.split(' ');
        const s = parseInt(start, 16);
        return { start: s, end: s + parseInt(size, 16), name: rest.join(' ') };
      })
      .sort((a, b) => a.start - b.start);
  } catch {
    return [];
  }
}

function jitName(name: string, map: ReturnType<typeof readPerfMap>): string {
  const m = /^0x([0-9a-f]+)$/i.exec(name);
  if (!m) return name;
  const addr = parseInt(m[1], 16);
  let lo = 0;
  let hi = map.length - 1;
  while (lo <= hi) {
    const mid = (lo + hi) >> 1;
    if (map[mid].end <= addr) lo = mid + 1;
    else if (map[mid].start > addr) hi = mid - 1;
    else return map[mid].name;
  }
  return name;
}

function stageOf(name: string): string {
  for (const s of STAGES) if (s.match.test(name)) return s.stage;
  return 'other';
}

async function main(): Promise<void> {
  if (!hasCommand('valgrind')) throw new Error('valgrind is not installed (apt-get install valgrind)');
  console.log('streamcache: instructions per 1 KiB hit, by stage (callgrind)');
  printMachine({ scenario: `${int(HITS)} hits of GET /hit (1024 B, max-age=3600) over ${CONNECTIONS} keep-alive connections, after ${int(WARM)} uncounted ones; log level ${LOG_LEVEL}` });
  console.log();
  const dir = mkdtempSync(path.join(os.tmpdir(), 'streamcache-stages-'));
  const origin = await startServer('origin', 1024, 'max-age=3600');
  // Compiling on the main thread: under valgrind's one-thread-at-a-time scheduling, background
  // compile jobs would still be finishing (and counted) long after the warm-up.
  const nodeFlags = (process.env.BENCH_STAGES_NODE_FLAGS ?? '--no-concurrent-recompilation').split(/\s+/).filter(Boolean);
  const execArgv = ['--tool=callgrind', '--instr-atstart=no', `--callgrind-out-file=${dir}/callgrind.out.%p`, process.execPath, '--perf-basic-prof', ...nodeFlags, ...process.execArgv];
  // Valgrind stops the process for seconds when instrumentation goes on: long timeouts, so that a
  // connection's idle timer (run before its bytes are read) does not close it meanwhile.
  const proxyOptions = { logLevel: LOG_LEVEL, idleTimeout: 600_000, headerTimeout: 600_000 };
  const child = track(fork(SERVERS_JS, ['streamcache', String(origin.port), JSON.stringify(proxyOptions)], { execPath: hasCommand('valgrind')!, execArgv, stdio: ['ignore', 'ignore', 'inherit', 'ipc'] }));
  const port = await new Promise<number>((resolve, reject) => {
    child.on('message', (m: ServerMessage) => {
      if (m.type === 'ready') resolve(m.port);
      else if (m.type === 'failed') reject(new Error(m.error));
    });
    child.once('exit', (code) => reject(new Error(`streamcache under valgrind exited (${code})`)));
  });
  const stats = (): Promise<ServerStats> =>
    new Promise((resolve) => {
      child.on('message', function got(m: ServerMessage) {
        if (m.type !== 'stats') return;
        child.off('message', got);
        resolve(m);
      });
      child.send({ type: 'stats' });
    });
  const control = (...args: string[]): void => void execFileSync('callgrind_control', [...args, String(child.pid)], { stdio: 'ignore' });
  const step = (what: string): void => console.log(`  ${new Date().toISOString().slice(11, 19)} ${what}`);
  child.once('exit', (code, signal) => step(`streamcache under valgrind exited (${code ?? signal})`));
  step(`listening on ${port}; ${int(WARM)} uncounted hits`);
  await requestMany(port, '/hit', WARM, CONNECTIONS);
  step('instrumentation on');
  control('-i', 'on');
  // The first hits after instrumentation goes on pay for retranslation: let them pass uncounted.
  await requestMany(port, '/hit', 200, CONNECTIONS);
  control('-z');
  step(`counting ${int(HITS)} hits`);
  const s0 = await stats();
  await requestMany(port, '/hit', HITS, CONNECTIONS);
  const s1 = await stats();
  control('--dump=hits');
  step('dumped');
  control('-i', 'off');
  const dump = readdirSync(dir).find((f) => f.endsWith('.1')) ?? readdirSync(dir)[0];
  const cg = readCallgrind(path.join(dir, dump));
  const { total, fns } = cg;
  const map = readPerfMap(child.pid!);
  await stopChild(child, 10_000);
  await origin.stop();
  const byStage = new Map<string, { ir: number; top: FnCost[] }>();
  const rename = (n: string): string => jitName(n, map);
  const memo = new Map<string, Shares>();
  for (const fn of fns) {
    const name = rename(fn.name);
    for (const [stage, share] of attribute(fn.name, cg, rename, memo)) {
      const entry = byStage.get(stage) ?? { ir: 0, top: [] };
      entry.ir += fn.self * share;
      if (entry.top.length < 3 && fn.self * share > HITS) entry.top.push({ name, self: fn.self * share });
      byStage.set(stage, entry);
    }
  }
  // Compilation is a one-off cost that a longer warm-up moves out of the window: shown, not counted.
  const jit = byStage.get('jit')?.ir ?? 0;
  const counted = fns.reduce((a, f) => a + f.self, 0) - jit;
  const rows = [...STAGES.map((s) => s.stage), 'other'].map((stage) => {
    const e = byStage.get(stage) ?? { ir: 0, top: [] };
    const share = stage === 'jit' ? '(not in total)' : `${fixed((e.ir / counted) * 100, 1)} %`;
    return [stage, int(e.ir / HITS), share, e.top.map((f) => `${short(f.name)} ${int(f.self / HITS)}`).join('; ')];
  });
  rows.push(['total', int(counted / HITS), '100 %', total ? `callgrind total with jit ${int(total / HITS)} per hit` : '']);
  printTable(['stage', 'Ir/hit', 'share', 'top functions (Ir/hit)'], rows);
  const sysUs = (s1.system - s0.system) / HITS;
  const userUs = (s1.user - s0.user) / HITS;
  console.log(`(under valgrind: user ${fixed(userUs, 0)} us, system ${fixed(sysUs, 1)} us per hit; the system time is the kernel's share, which callgrind does not count)`);
  const top = envNumber('BENCH_STAGES_TOP', 0);
  if (top > 0) {
    console.log();
    printTable(
      ['function', 'stage', 'Ir/hit'],
      fns.slice(0, top).map((f) => {
        const name = jitName(f.name, map);
        return [short(name), stageOf(name), int(f.self / HITS)];
      }),
    );
  }
  if (process.env.BENCH_STAGES_KEEP === '1') console.log(`callgrind output kept: ${path.join(dir, dump)} (callgrind_annotate it)`);
  else rmSync(dir, { recursive: true, force: true });
}

function short(name: string): string {
  const n = name.replace(/file:\/\/\/\S*?\/dist\//, '').replace(/^JS:/, '');
  return n.length > 70 ? `${n.slice(0, 67)}...` : n;
}

runMain(main);
