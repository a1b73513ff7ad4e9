// The fuzz harness for SPEC P4: "No input, however malformed or hostile, crashes the process or
// corrupts another client's response or the cache."
//
// runFuzz() starts the hostile origin (hostile-origin.ts) and streamcache in-process in front of it
// (small timeouts and a small store, so that hostile input cannot hold things for long and eviction
// and L5 overflow happen), then runs workers concurrently until the deadline:
//   hostile-client workers  one hostile client plan after another (clients.ts)
//   good-group workers      groups of well-behaved clients, every response checked byte for byte
//   evil-fetch workers      well-formed clients of the origin's /evil/ URLs
// and finally closes everything and looks for leaks. It reports:
//   crashes     'uncaughtException' / 'unhandledRejection' while it ran
//   mismatches  a well-behaved client's response not byte-exact; a smuggled or malformed request
//               at the origin; malformed or misframed HTTP from the proxy to a well-formed client
//   leaks       origin connections the proxy kept after close(); active handles or timers beyond
//               the baseline taken before the run
//
// Every case is one 32-bit seed, and the seed also says what kind of case it is (its low two
// bits), so `--replay <seed>` reruns exactly that input alone against a fresh proxy and origin.
// Failures that need several cases at once (races) show the seeds in flight at the time; the whole
// run is repeatable in kind (not in timing) with `--seed <run seed>`.
import { createProxy, type Proxy } from '../../src/index.js';
import { Rng, hex32, mix32 } from './prng.js';
import { showBytes } from './mutate.js';
import { startHostileOrigin, evilPlan, evilExpectation, type HostileOrigin, type OriginStats } from './hostile-origin.js';
import { evilFetchPlan, goodGroupPlan, hostilePlan, runEvilFetch, runGoodGroup, runHostile, type ClientFailure } from './clients.js';
import { goodPath } from './good-urls.js';
import { h2ClientPlan, runH2Client } from './h2-client.js';
import { parseResponses } from '../support/raw-client.js';

import { FUZZ_PROXY_OPTIONS } from './config.js';

export { FUZZ_PROXY_OPTIONS };

export type CaseKind = 'hostile-client' | 'good-group' | 'evil-fetch' | 'h2-client';

/**
 * The kind of case a seed stands for: its low two bits (0, 1: hostile client; 2: good group; 3:
 * evil fetch), except low three bits 101, an HTTP/2 client (h2-client.ts).
 */
export function caseKindOf(seed: number): CaseKind {
  const bits = seed & 3;
  if ((seed & 7) === 5) return 'h2-client';
  return bits === 2 ? 'good-group' : bits === 3 ? 'evil-fetch' : 'hostile-client';
}

function seedOfKind(rng: Rng, kind: CaseKind): number {
  const bits = kind === 'good-group' ? 2 : kind === 'evil-fetch' ? 3 : kind === 'h2-client' ? 5 : rng.pick([0, 1, 4]);
  return ((rng.u32() & ~7) | bits) >>> 0;
}

export interface FuzzFailure {
  category: 'crash' | 'mismatch' | 'leak';
  rule: string;
  detail: string;
  /** The case that failed, when known. */
  seed?: number;
  /** Otherwise, the cases in flight at the time (one of them, or their combination, caused it). */
  inFlight?: number[];
  /** The longest event-loop stall during the case, ms (for failures a late timer would explain). */
  stallMs?: number;
}

export interface FuzzExecutions {
  hostileClientInputs: number;
  hostileOriginResponses: number;
  wellBehavedRequestsChecked: number;
  goodGroups: number;
  evilFetchRequests: number;
}

export interface FuzzReport {
  seed: number;
  seconds: number;
  elapsedMs: number;
  executions: FuzzExecutions;
  crashes: number;
  mismatches: number;
  leaks: number;
  /** The failures in detail (at most MAX_KEPT_PER_RULE of each rule; the counts above are exact). */
  failures: FuzzFailure[];
  /** How many failures of each rule (exact). */
  byRule: Record<string, number>;
  /**
   * Failures that a proxy timeout firing late would produce (503 "timeout", 408, a body cut off, a
   * silence) seen while the event loop had stalled long enough to explain them: not counted as
   * mismatches, but listed, since on a starved machine timers fire late.
   */
  inconclusive: number;
  inconclusiveSamples: FuzzFailure[];
  origin: OriginStats;
  /** Sequential keep-alive requests re-sent after the proxy closed an idle connection first. */
  keepAliveRetries: number;
  maxEventLoopLagMs: number;
  peakRssMiB: number;
  clean: boolean;
}

export interface FuzzOptions {
  seconds: number;
  /** The run seed: it seeds each worker's sequence of case seeds. Default: random. */
  seed?: number;
  /** Receives progress lines (about every `progressEveryMs`). */
  log?: (line: string) => void;
  progressEveryMs?: number;
  /** Concurrent workers of each kind. */
  workers?: Partial<Record<CaseKind, number>>;
}

const DEFAULT_WORKERS: Record<CaseKind, number> = { 'hostile-client': 8, 'good-group': 4, 'evil-fetch': 3, 'h2-client': 1 };
/** Failures kept in detail per rule (all are counted). */
const MAX_KEPT_PER_RULE = 20;
/** After the deadline, how long cases in flight may take to finish (each has its own, shorter, timeouts). */
const DRAIN_LIMIT_MS = 60_000;
/** How long after close() sockets and timers may take to go away. */
const LEAK_GRACE_MS = 3_000;

/**
 * Samples event-loop lag (timer drift every 50 ms) so that failures a starved loop explains can be
 * told apart: when the process gets no CPU for a while, every timer fires late, all at once.
 */
class LagMonitor {
  max = 0;
  /** Stalls over 50 ms: when they ended (performance.now()) and how long they were. */
  private stalls: { at: number; lag: number }[] = [];
  private timer: NodeJS.Timeout | null = null;

  start(): void {
    let expected = performance.now() + 50;
    this.timer = setInterval(() => {
      const now = performance.now();
      const lag = Math.max(0, now - expected);
      expected = now + 50;
      this.max = Math.max(this.max, lag);
      if (lag > 50) this.stalls.push({ at: now, lag });
      if (this.stalls.length > 5_000) this.stalls.splice(0, 1_000);
    }, 50);
  }

  /** The longest stall that ended after `since` (a performance.now() time) — and now, if one is in progress. */
  maxSince(since: number): number {
    let max = 0;
    for (let i = this.stalls.length - 1; i >= 0 && this.stalls[i].at >= since; i--) max = Math.max(max, this.stalls[i].lag);
    return max;
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
  }
}

/** Counts of process.getActiveResourcesInfo() by type. */
function activeResources(): Map<string, number> {
  const counts = new Map<string, number>();
  for (const type of process.getActiveResourcesInfo()) counts.set(type, (counts.get(type) ?? 0) + 1);
  return counts;
}

/** Resources present now beyond `baseline`, as "Type ×n" strings. */
function resourcesBeyond(baseline: Map<string, number>): string[] {
  const extra: string[] = [];
  for (const [type, n] of activeResources()) {
    const over = n - (baseline.get(type) ?? 0);
    if (over > 0) extra.push(`${type} ×${over}`);
  }
  return extra;
}

async function waitUntil(condition: () => boolean, ms: number): Promise<boolean> {
  const deadline = Date.now() + ms;
  while (!condition()) {
    if (Date.now() >= deadline) return false;
    await new Promise((r) => setTimeout(r, 25));
  }
  return true;
}

/** What one case did, for the counters. */
interface CaseOutcome {
  failures: ClientFailure[];
  hostileInputs: number;
  checked: number;
  groups: number;
  evilRequests: number;
  retries: number;
}

/** Runs the case `seed` (its kind is in the seed) against the proxy on `port`. `transcript` gets a readable account. */
async function runCase(seed: number, port: number, transcript?: (line: string) => void): Promise<CaseOutcome> {
  const outcome: CaseOutcome = { failures: [], hostileInputs: 0, checked: 0, groups: 0, evilRequests: 0, retries: 0 };
  switch (caseKindOf(seed)) {
    case 'hostile-client': {
      const plan = hostilePlan(seed);
      transcript?.(`hostile client (${plan.label}): ${plan.description}`);
      if (transcript) {
        plan.connections.slice(0, 3).forEach((c, i) => {
          transcript(`  connection ${i + 1}${plan.connections.length > 3 ? ` of ${plan.connections.length}` : ''}:`);
          for (const s of c.steps) transcript(`    ${s.op === 'write' ? `write ${s.bytes.length} B: ${showBytes(s.bytes, 300)}` : s.op === 'wait' ? `wait ${s.ms} ms` : s.op}`);
          transcript(`    then read for up to ${c.lingerMs} ms`);
        });
      }
      const result = await runHostile(port, plan);
      if (transcript) {
        result.outcomes.slice(0, 3).forEach((o, i) => {
          transcript(`  connection ${i + 1} received ${o.totalBytes} B, ${o.closedByServer ? 'closed by the proxy' : 'closed by the client'}${o.error ? ` (${o.error})` : ''}: ${showBytes(o.received, 600)}`);
        });
      }
      outcome.hostileInputs = 1;
      outcome.checked = result.checked;
      outcome.failures = result.failures;
      return outcome;
    }
    case 'good-group': {
      const plan = goodGroupPlan(seed);
      if (transcript) {
        transcript(`well-behaved group: ${plan.description}`);
        plan.clients.forEach((c, i) => {
          transcript(`  client ${i + 1}: HTTP/${c.version} ${c.mode}${c.keepAlive ? ' keep-alive' : ''}, start +${c.startDelayMs} ms${c.slowReader ? `, slow reader (${c.slowReader.pauseMs} ms every ${c.slowReader.everyBytes} B)` : ''}${c.splitWrites ? ', split writes' : ''}, Host ${c.host}`);
          for (const r of c.requests) transcript(`    ${r.method} ${goodPath(r.spec)}`);
        });
      }
      const result = await runGoodGroup(port, plan);
      outcome.checked = result.checked;
      outcome.retries = result.retries;
      outcome.groups = 1;
      outcome.failures = result.failures;
      transcript?.(`  ${result.checked} response(s) checked, ${result.failures.length} wrong`);
      return outcome;
    }
    case 'h2-client': {
      const plan = h2ClientPlan(seed);
      if (transcript) {
        transcript(`HTTP/2 client: ${plan.description}`);
        plan.sessions.forEach((requests, i) => {
          transcript(`  session ${i + 1}:`);
          for (const r of requests) transcript(`    ${r.method} ${goodPath(r.spec)}${r.query} ${r.action}${r.oversized ? ' (oversized header list)' : ''} +${r.startDelayMs} ms, ${r.fields.length} extra field(s)`);
        });
      }
      const result = await runH2Client(port, plan);
      outcome.checked = result.checked;
      outcome.failures = result.failures;
      transcript?.(`  ${result.checked} stream(s) checked, ${result.failures.length} wrong`);
      return outcome;
    }
    case 'evil-fetch': {
      const plan = evilFetchPlan(seed);
      if (transcript) {
        const evil = evilPlan(plan.evilSeed);
        const expected = evilExpectation(evil);
        transcript(`evil fetch: ${plan.clients.length} client(s) GET /evil/${plan.evilSeed}: ${plan.clients.map((c) => `HTTP/${c.version}${c.close ? ' close' : ''} +${c.startDelayMs} ms`).join(', ')}`);
        transcript(`  origin plan: ${evil.description}; head delay ${evil.headDelayMs} ms, end delay ${evil.endDelayMs} ms`);
        evil.pieces.forEach((p, i) => transcript(`  origin piece ${i + 1} (${p.length} B): ${showBytes(p, 500)}`));
        transcript(`  expected if relayed whole: ${expected ? `${expected.status} with ${expected.body.length} body bytes` : 'nothing in particular (not a valid complete response)'}`);
      }
      const result = await runEvilFetch(port, plan);
      if (transcript) {
        result.exchanges.forEach((x, i) => {
          let summary = '';
          try {
            const res = parseResponses(x, ['GET']).find((r) => r.status >= 200 || !r.headComplete);
            if (res) summary = ` → ${res.status} ${res.framing}, ${res.body.length} body bytes, ${res.complete ? 'complete' : 'incomplete'}`;
          } catch (err) {
            summary = ` → unparseable: ${(err as Error).message}`;
          }
          transcript(`  client ${i + 1} received ${x.totalBytes} B, ${x.closedByServer ? 'closed by the proxy' : 'closed by the client'}${x.error ? ` (${x.error})` : ''}${summary}: ${showBytes(x.bytes, 400)}`);
        });
      }
      outcome.evilRequests = result.checked;
      outcome.failures = result.failures;
      return outcome;
    }
  }
}

/** Starts origin and proxy, and the bookkeeping shared by runFuzz and replayCase. */
async function startRig(onViolation: (rule: string, detail: string, seed?: number) => void, onRequest?: (line: string) => void): Promise<{ origin: HostileOrigin; proxy: Proxy; port: number }> {
  const origin = await startHostileOrigin({ onViolation: (v) => onViolation(`${v.rule} (seen at the origin)`, v.detail, v.caseSeed), onRequest });
  const proxy = createProxy({ ...FUZZ_PROXY_OPTIONS, origin: `http://127.0.0.1:${origin.port}` });
  const address = await proxy.listen(0, '127.0.0.1');
  return { origin, proxy, port: address.port };
}

/** Closes proxy and origin and reports what was left behind. */
async function closeRig(rig: { origin: HostileOrigin; proxy: Proxy }, baseline: Map<string, number>): Promise<string[]> {
  const leaks: string[] = [];
  await rig.proxy.close(FUZZ_PROXY_OPTIONS.closeDeadline);
  if (!(await waitUntil(() => rig.origin.openConnections() === 0, LEAK_GRACE_MS))) {
    leaks.push(`the proxy kept ${rig.origin.openConnections()} origin connection(s) open ${LEAK_GRACE_MS} ms after close() resolved`);
  }
  await rig.origin.close();
  if (!(await waitUntil(() => resourcesBeyond(baseline).length === 0, LEAK_GRACE_MS))) {
    leaks.push(`active resources beyond the baseline ${LEAK_GRACE_MS} ms after close: ${resourcesBeyond(baseline).join(', ')}`);
  }
  return leaks;
}

function describeError(reason: unknown): string {
  return reason instanceof Error ? (reason.stack ?? reason.message) : String(reason);
}

export async function runFuzz(options: FuzzOptions): Promise<FuzzReport> {
  const seed = (options.seed ?? Math.floor(Math.random() * 0x1_0000_0000)) >>> 0;
  const log = options.log ?? (() => {});
  const workers = { ...DEFAULT_WORKERS, ...options.workers };
  const baseline = activeResources();
  const started = performance.now();
  const deadline = started + options.seconds * 1000;

  const failures: FuzzFailure[] = [];
  const inconclusiveSamples: FuzzFailure[] = [];
  let inconclusive = 0;
  const counts = { crashes: 0, mismatches: 0, leaks: 0 };
  const byRule: Record<string, number> = {};
  const executions: FuzzExecutions = { hostileClientInputs: 0, hostileOriginResponses: 0, wellBehavedRequestsChecked: 0, goodGroups: 0, evilFetchRequests: 0 };
  let keepAliveRetries = 0;
  let peakRss = process.memoryUsage.rss();
  const inFlight = new Set<number>();
  const lag = new LagMonitor();

  const record = (failure: FuzzFailure): void => {
    counts[failure.category === 'crash' ? 'crashes' : failure.category === 'mismatch' ? 'mismatches' : 'leaks']++;
    const rule = `${failure.category}: ${failure.rule}`;
    byRule[rule] = (byRule[rule] ?? 0) + 1;
    if (failure.category !== 'leak' && failure.seed === undefined) failure.inFlight = [...inFlight];
    if (failure.stallMs !== undefined && failure.stallMs > 200) failure.detail += `\n    (the event loop stalled up to ${Math.round(failure.stallMs)} ms during the case)`;
    if (byRule[rule] <= MAX_KEPT_PER_RULE) failures.push(failure);
    // The first few of each rule as they happen; all of them in the summary.
    if (byRule[rule] <= 3) log(`  ! ${failure.category}: ${failure.rule}${failure.seed !== undefined ? ` [seed ${hex32(failure.seed)}]` : ''}${byRule[rule] === 3 ? ' (more of this rule: see the summary)' : ''}`);
  };
  const onUncaught = (err: unknown): void => record({ category: 'crash', rule: 'P4: uncaught exception', detail: describeError(err) });
  const onUnhandled = (reason: unknown): void => record({ category: 'crash', rule: 'P4: unhandled promise rejection', detail: describeError(reason) });
  process.on('uncaughtException', onUncaught);
  process.on('unhandledRejection', onUnhandled);

  lag.start();
  const rig = await startRig((rule, detail, caseSeed) =>
    record({ category: 'mismatch', rule, detail, ...(caseSeed !== undefined && inFlight.has(caseSeed) ? { seed: caseSeed } : {}) }),
  );
  log(`streamcache fuzz (SPEC P4): run seed ${hex32(seed)}, ${options.seconds} s, proxy on 127.0.0.1:${rig.port}, origin on 127.0.0.1:${rig.origin.port}`);

  const progress = setInterval(() => {
    const rss = process.memoryUsage.rss();
    peakRss = Math.max(peakRss, rss);
    const s = Math.round((performance.now() - started) / 1000);
    log(
      `[${String(Math.floor(s / 60)).padStart(2, '0')}:${String(s % 60).padStart(2, '0')}] hostile client inputs ${executions.hostileClientInputs}, ` +
        `hostile origin responses ${rig.origin.stats.evilResponses}, well-behaved requests checked ${executions.wellBehavedRequestsChecked}, ` +
        `evil fetches ${executions.evilFetchRequests} | crashes ${counts.crashes}, mismatches ${counts.mismatches}, inconclusive ${inconclusive} | rss ${Math.round(rss / 2 ** 20)} MiB, max lag ${Math.round(lag.max)} ms`,
    );
  }, options.progressEveryMs ?? 10_000);

  const worker = async (kind: CaseKind, index: number): Promise<void> => {
    const rng = new Rng(mix32(seed, kind.length, index));
    while (performance.now() < deadline) {
      const caseSeed = seedOfKind(rng, kind);
      const caseStarted = performance.now();
      inFlight.add(caseSeed);
      try {
        const outcome = await runCase(caseSeed, rig.port);
        executions.hostileClientInputs += outcome.hostileInputs;
        executions.wellBehavedRequestsChecked += outcome.checked;
        executions.goodGroups += outcome.groups;
        executions.evilFetchRequests += outcome.evilRequests;
        keepAliveRetries += outcome.retries;
        const stallMs = lag.maxSince(caseStarted);
        for (const f of outcome.failures) {
          const failure: FuzzFailure = { category: 'mismatch', rule: f.rule, detail: f.detail, seed: caseSeed, stallMs };
          if (f.stallExplains !== undefined && stallMs >= f.stallExplains) {
            inconclusive++;
            if (inconclusiveSamples.length < 50) inconclusiveSamples.push(failure);
            continue;
          }
          record(failure);
        }
      } catch (err) {
        record({ category: 'crash', rule: 'harness: a case threw', detail: describeError(err), seed: caseSeed });
      } finally {
        inFlight.delete(caseSeed);
      }
    }
  };

  const all = Promise.all(
    (Object.keys(workers) as CaseKind[]).flatMap((kind) => Array.from({ length: workers[kind] }, (_, i) => worker(kind, i))),
  );
  let drainTimer: NodeJS.Timeout | undefined;
  const drained = await Promise.race([
    all.then(() => true),
    new Promise<boolean>((r) => {
      drainTimer = setTimeout(() => r(false), Math.max(0, deadline - performance.now()) + DRAIN_LIMIT_MS);
    }),
  ]);
  clearTimeout(drainTimer);
  if (!drained) record({ category: 'leak', rule: 'P4: cases still running long after the deadline (a hang)', detail: `in flight: ${[...inFlight].map(hex32).join(', ')}` });
  clearInterval(progress);
  lag.stop();
  executions.hostileOriginResponses = rig.origin.stats.evilResponses;

  for (const leak of await closeRig(rig, baseline)) record({ category: 'leak', rule: 'P4: leak after close', detail: leak });
  process.off('uncaughtException', onUncaught);
  process.off('unhandledRejection', onUnhandled);
  peakRss = Math.max(peakRss, process.memoryUsage.rss());

  return {
    seed,
    seconds: options.seconds,
    elapsedMs: performance.now() - started,
    executions,
    ...counts,
    failures,
    byRule,
    inconclusive,
    inconclusiveSamples,
    origin: { ...rig.origin.stats },
    keepAliveRetries,
    maxEventLoopLagMs: Math.round(lag.max),
    peakRssMiB: Math.round(peakRss / 2 ** 20),
    clean: counts.crashes + counts.mismatches + counts.leaks === 0,
  };
}

/** Reruns one case alone against a fresh proxy and origin, narrating what happened. */
export async function replayCase(seed: number, log: (line: string) => void): Promise<{ clean: boolean; failures: FuzzFailure[] }> {
  const failures: FuzzFailure[] = [];
  log(`replaying case ${hex32(seed)} (${caseKindOf(seed)}) alone`);
  const baseline = activeResources();
  const record = (f: FuzzFailure): void => {
    failures.push(f);
    log(`  ! ${f.category}: ${f.rule}\n    ${f.detail}`);
  };
  const onUncaught = (err: unknown): void => record({ category: 'crash', rule: 'P4: uncaught exception', detail: describeError(err), seed });
  const onUnhandled = (reason: unknown): void => record({ category: 'crash', rule: 'P4: unhandled promise rejection', detail: describeError(reason), seed });
  process.on('uncaughtException', onUncaught);
  process.on('unhandledRejection', onUnhandled);
  const rig = await startRig((rule, detail) => record({ category: 'mismatch', rule, detail, seed }), (line) => log(`  origin got: ${line}`));
  try {
    const outcome = await runCase(seed, rig.port, log);
    for (const f of outcome.failures) record({ category: 'mismatch', rule: f.rule, detail: f.detail, seed });
  } catch (err) {
    record({ category: 'crash', rule: 'harness: the case threw', detail: describeError(err), seed });
  }
  // A moment for the proxy's side of the case to settle (as between cases in a real run).
  await new Promise((r) => setTimeout(r, 600));
  for (const leak of await closeRig(rig, baseline)) record({ category: 'leak', rule: 'P4: leak after close', detail: leak, seed });
  process.off('uncaughtException', onUncaught);
  process.off('unhandledRejection', onUnhandled);
  log(failures.length === 0 ? 'replay: clean' : `replay: ${failures.length} failure(s)`);
  return { clean: failures.length === 0, failures };
}

/** The end-of-run summary, for people. */
export function formatSummary(report: FuzzReport, replayCommand = 'npm run fuzz -- --replay'): string {
  const e = report.executions;
  const lines = [
    `streamcache fuzz summary (SPEC P4) — run seed ${hex32(report.seed)}, ${(report.elapsedMs / 1000).toFixed(1)} s`,
    `  executions: ${e.hostileClientInputs} hostile client inputs, ${e.hostileOriginResponses} hostile origin responses, ` +
      `${e.wellBehavedRequestsChecked} well-behaved requests checked (${e.goodGroups} groups), ${e.evilFetchRequests} evil-URL fetches`,
    `  origin: ${report.origin.requests} requests (${report.origin.goodResponses} good, ${report.origin.notModified} 304, ${report.origin.evilResponses} evil, ${report.origin.otherResponses} other), ` +
      `${report.origin.connections} connections, ${report.origin.taintedReuse} reuses of a tainted connection refused`,
    `  keep-alive retries after idle close: ${report.keepAliveRetries}; max event-loop lag ${report.maxEventLoopLagMs} ms; peak RSS ${report.peakRssMiB} MiB`,
    `  crashes: ${report.crashes}   mismatches: ${report.mismatches}   leaks: ${report.leaks}`,
  ];
  if (report.inconclusive > 0) {
    const rules = new Map<string, number>();
    for (const f of report.inconclusiveSamples) rules.set(f.rule, (rules.get(f.rule) ?? 0) + 1);
    lines.push(
      `  inconclusive (not counted): ${report.inconclusive} timeout-shaped failure(s) during event-loop stalls long enough to explain them — ` +
        [...rules].map(([r, n]) => `${r} ×${n}`).join('; ') +
        ` (e.g. ${report.inconclusiveSamples.slice(0, 5).map((f) => `${hex32(f.seed!)} stall ${Math.round(f.stallMs ?? 0)} ms`).join(', ')})`,
    );
  }
  if (report.failures.length > 0) {
    lines.push('  failures by rule (count, then up to 3 examples with their replay command, then more seeds):');
    const byRule = new Map<string, FuzzFailure[]>();
    for (const f of report.failures) {
      const key = `${f.category}: ${f.rule}`;
      if (!byRule.has(key)) byRule.set(key, []);
      byRule.get(key)!.push(f);
    }
    const rules = Object.entries(report.byRule).sort((a, b) => b[1] - a[1]);
    for (const [rule, count] of rules) {
      lines.push(`    ${String(count).padStart(5)}  ${rule}`);
      const kept = byRule.get(rule) ?? [];
      const examples: FuzzFailure[] = [];
      for (const f of kept) if (examples.length < 3 && !examples.some((e) => e.seed === f.seed && f.seed !== undefined)) examples.push(f);
      for (const f of examples) {
        const who = f.seed !== undefined ? `seed ${hex32(f.seed)} (${caseKindOf(f.seed)})` : f.inFlight?.length ? `cases in flight: ${f.inFlight.slice(0, 20).map(hex32).join(' ')}${f.inFlight.length > 20 ? ' …' : ''}` : '';
        if (who) lines.push(`           ${who}`);
        lines.push(`             ${f.detail.split('\n').map((l) => l.trim()).join('\n             ')}`);
        if (f.seed !== undefined) lines.push(`             replay: ${replayCommand} ${hex32(f.seed)}`);
      }
      const more = [...new Set(kept.filter((f) => f.seed !== undefined && !examples.includes(f)).map((f) => hex32(f.seed!)))];
      if (more.length) lines.push(`           more seeds: ${more.slice(0, 15).join(' ')}${more.length > 15 ? ` … (${more.length})` : ''}`);
    }
    lines.push(`  whole run again (same case sequence, different timing): npm run fuzz -- --seconds ${report.seconds} --seed ${hex32(report.seed)}`);
  }
  lines.push(report.clean ? '  result: CLEAN' : '  result: FAILED');
  return lines.join('\n');
}
