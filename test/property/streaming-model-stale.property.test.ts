// The serving-stale model (streaming-model-stale.ts, from SPEC G1-G4) against the proxy on real
// loopback sockets: for any stored response (G3 directives, windows in Cache-Control, Surrogate-
// Control or the configuration, validators, framing), any age, and any way the origin answers the
// refresh (200, 304, 500, 503, reset, close, first-byte timeout), every client gets what the model
// says, clients in a stale-while-revalidate window are answered before the origin answers anything,
// stale is never served where G3 forbids it, and the origin never has two requests for the key at
// once (except where a 5xx it sent marks the key pass, R4).
import fc from 'fast-check';
import { describe, it } from 'vitest';
import { startScriptedOrigin, type ScriptedResponder } from '../support/scripted-origin.js';
import { startProxy } from '../support/proxy.js';
import { fetchOnce } from '../support/requests.js';
import { waitFor } from '../support/ports.js';
import { fcOptions, fcRuns } from '../support/fc.js';
import { FORBIDS, REFRESHES, TTL, describeStaleScenario, staleModel, type StaleScenario } from './streaming-model-stale.js';

const BASE_RUNS = 30;
const FIRST_BYTE_TIMEOUT_MS = 250;
const HOST = 'stale-model.test';

const windowArb = fc.constantFrom<5 | 600 | null>(5, 600, null);
const scenarioArb: fc.Arbitrary<StaleScenario> = fc.record({
  forbid: fc.constantFrom(...FORBIDS),
  ccWhileRevalidate: windowArb,
  ccIfError: windowArb,
  surrogateIfError: fc.constantFrom<5 | 600 | null>(600, null, null),
  grace: fc.constantFrom<0 | 600>(0, 600),
  staleIfError: fc.constantFrom<0 | 600>(0, 600),
  age: fc.constantFrom<0 | 12 | 100>(0, 12, 100),
  etag: fc.boolean(),
  framing: fc.constantFrom<'length' | 'chunked'>('length', 'chunked'),
  refresh: fc.constantFrom(...REFRESHES),
  clients: fc.integer({ min: 1, max: 4 }),
});

function firstHeaders(s: StaleScenario): [string, string][] {
  const cc = [`max-age=${TTL}`];
  if (s.forbid !== 'none') cc.push(s.forbid);
  if (s.ccWhileRevalidate !== null) cc.push(`stale-while-revalidate=${s.ccWhileRevalidate}`);
  if (s.ccIfError !== null) cc.push(`stale-if-error=${s.ccIfError}`);
  const headers: [string, string][] = [['Cache-Control', cc.join(', ')], ['Age', String(s.age)]];
  if (s.surrogateIfError !== null) headers.push(['Surrogate-Control', `stale-if-error=${s.surrogateIfError}`]);
  if (s.etag) headers.push(['ETag', '"v1"']);
  return headers;
}

/** `over` is called once the origin has decided the request is over from its side: before a close, reset or stall. */
async function answerRefresh(s: StaleScenario, conditional: boolean, res: ScriptedResponder, over: () => void): Promise<void> {
  switch (s.refresh) {
    case '200':
      return res.send({ headers: [['Cache-Control', 'max-age=60']], body: 'new' });
    case '304':
      if (!conditional) return res.send({ headers: [['Cache-Control', 'max-age=60']], body: 'new' });
      return res.send({ status: 304, headers: [['Cache-Control', 'max-age=60'], ['ETag', '"v1"']] });
    case '500':
    case '503':
      return res.send({ status: Number(s.refresh), body: `e${s.refresh}` });
    case 'reset':
      over();
      return res.reset({ settleMs: 0 });
    case 'close':
      over();
      return res.end();
    case 'timeout':
      over();
      return res.stall();
  }
}

async function checkScenario(s: StaleScenario): Promise<void> {
  const expected = staleModel(s);
  let requests = 0;
  let concurrent = 0;
  let maxConcurrent = 0;
  let originAnsweredAt = Infinity;
  let answered = 0;
  let release!: () => void;
  const released = new Promise<void>((resolve) => (release = resolve));
  const origin = await startScriptedOrigin(async (req, res) => {
    requests++;
    concurrent++;
    maxConcurrent = Math.max(maxConcurrent, concurrent);
    // A request is over when its answer is out, when the origin decides to close, reset or stall
    // it (the proxy may see that before this script resumes), or when its connection closes.
    let over = false;
    const finish = () => {
      if (!over) concurrent--;
      over = true;
    };
    res.socket.once('close', finish);
    try {
      if (requests === 1) return await res.send({ headers: firstHeaders(s), framing: s.framing, body: 'old' });
      await released;
      originAnsweredAt = Math.min(originAnsweredAt, performance.now());
      await answerRefresh(s, req.header('if-none-match') !== undefined, res, finish);
    } finally {
      finish();
    }
  });
  const proxy = await startProxy(origin.url, { grace: s.grace, staleIfError: s.staleIfError, firstByteTimeout: FIRST_BYTE_TIMEOUT_MS });
  try {
    const first = await fetchOnce(proxy.port, '/k', { host: HOST });
    if (first.body.toString() !== 'old') throw new Error(`the first fetch got ${first.status} ${first.body}`);
    const answeredAt: number[] = [];
    const clients = Array.from({ length: s.clients }, async () => {
      const response = await fetchOnce(proxy.port, '/k', { host: HOST, idleMs: 3000 });
      answeredAt.push(performance.now());
      answered++;
      return response;
    });
    // The origin answers once every client is answered or waiting at the proxy (a client in a
    // stale-while-revalidate window must not need the origin at all).
    await waitFor(() => answered + proxy.proxy.stats().inflight.readers >= s.clients, 5000, 'every client answered or waiting');
    release();
    const responses = await Promise.all(clients);
    await waitFor(() => proxy.proxy.stats().inflight.objects === 0, 5000, 'nothing in flight');
    const followUp = await fetchOnce(proxy.port, '/k', { host: HOST, idleMs: 3000 });

    const problems: string[] = [];
    responses.forEach((r, i) => {
      const e = expected.clients[i];
      if (r.status !== e.status || (e.body !== null && r.body.toString() !== e.body)) problems.push(`client ${i}: expected ${e.status} ${e.body}, got ${r.status} ${r.body}`);
    });
    if (expected.clients[0].beforeOrigin && answeredAt.some((t) => t >= originAnsweredAt)) problems.push('a client in the stale-while-revalidate window waited for the origin');
    if (followUp.status !== expected.followUp.status || (expected.followUp.body !== null && followUp.body.toString() !== expected.followUp.body)) {
      problems.push(`follow-up: expected ${expected.followUp.status} ${expected.followUp.body}, got ${followUp.status} ${followUp.body}`);
    }
    if (expected.oneAtATime && maxConcurrent > 1) problems.push(`the origin had ${maxConcurrent} requests for the key at once`);
    if (problems.length > 0) throw new Error(`model and proxy disagree\n${describeStaleScenario(s)}\n${problems.join('\n')}`);
  } finally {
    release();
    await proxy.proxy.close(300);
    await origin.close();
  }
}

/** Scenarios the property found (or that pin a corner), replayed first on every run. */
const PINNED: StaleScenario[] = [
  // Found while writing the property: a refresh the origin closes (or stalls into the first-byte
  // timeout) must count as over when the origin closes it, not when its script resumes; the proxy
  // may already have started the next one (the follow-up's revalidation), which is one at a time.
  { forbid: 'none', ccWhileRevalidate: 600, ccIfError: 5, surrogateIfError: null, grace: 600, staleIfError: 0, age: 12, etag: true, framing: 'chunked', refresh: 'close', clients: 3 },
  { forbid: 'must-revalidate', ccWhileRevalidate: 5, ccIfError: 5, surrogateIfError: null, grace: 600, staleIfError: 0, age: 100, etag: true, framing: 'chunked', refresh: 'timeout', clients: 3 },
  // G3 with Surrogate-Control's window, and G4 (an ended stream without a validator) under a generous grace.
  { forbid: 's-maxage=10', ccWhileRevalidate: 600, ccIfError: 600, surrogateIfError: 600, grace: 600, staleIfError: 600, age: 100, etag: false, framing: 'length', refresh: '503', clients: 2 },
  { forbid: 'none', ccWhileRevalidate: 600, ccIfError: 600, surrogateIfError: null, grace: 600, staleIfError: 600, age: 12, etag: false, framing: 'chunked', refresh: '500', clients: 2 },
];
const fromEnv = process.env.STALE_SCENARIO ? [JSON.parse(process.env.STALE_SCENARIO) as StaleScenario] : [];

const PROPERTY_TIMEOUT_MS = fcRuns(BASE_RUNS) * 3_000 + 60_000;

describe('serving stale: model-based property on loopback sockets', () => {
  it(
    'G1-G4: any stored response, age and refresh outcome gives every client what the model says; stale never where G3 forbids; one origin request at a time per key',
    async () => {
      await fc.assert(fc.asyncProperty(scenarioArb, checkScenario), fcOptions(BASE_RUNS, { examples: [...fromEnv, ...PINNED].map((scenario): [StaleScenario] => [scenario]), interruptAfterTimeLimit: PROPERTY_TIMEOUT_MS - 30_000 }));
    },
    PROPERTY_TIMEOUT_MS,
  );
});
