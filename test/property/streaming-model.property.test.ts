// Model-based property of the streaming miss with request collapsing, on real loopback sockets:
// fast-check draws an origin behaviour (framing, size, pacing, cacheability, a failure mid-body)
// and a schedule of 1..6 clients (when each arrives relative to the origin's progress, HTTP/1.0 or
// 1.1, keep-alive, fast or slow reader, a disconnect point); the model (streaming-model.ts, written
// from SPEC.md) says what each client observes and how many requests reach the origin; the test
// plays the scenario through a fresh proxy and compares.
//
// Per run it also draws the proxy's options (src/proxy/options.ts): `stream` on or off, and
// `maxObjectSize` / `maxObjectSizeBuffered` below, equal to or above the body size (or default).
//
// Rules covered: R1-R5, R8, F1-F3, F5 (persistence, close after an abrupt end), V1-V3, O2, O3, C2
// (which Cache-Control values are shared), R4 hit-for-pass, L1 (which limit applies: streaming
// fetch → maxObjectSize, buffered fetch (stream off, V1) → maxObjectSizeBuffered, and a client
// waiting on a streaming fetch (V2) → maxObjectSizeBuffered), L2, L3, L4, stream off (every client
// waits, Content-Length, 503 on failure or limit). Not covered here: R6 (TTLs outlast the scenario),
// R7's timing, L5, O1, T*, C1/C3/C4, HEAD (F4), size limits on passes.
//
// Determinism: arrivals are scheduled by the origin's progress, not by the clock. The origin's
// script for fetch #1 stops before its head and at every scheduled body offset until the clients
// due there have reached the proxy; "reached" is observed through the public recv hook (vcl_recv),
// which the proxy calls synchronously just before it consults the cache. Body offsets are let in
// only once the proxy has decided on the head (the public fetch hook, vcl_fetch, has run), so
// {body k} always means "after the head". Clients at one point arrive one after another.
// After-end clients wait for the proxy to hang up fetch #1's origin connection (its response says
// Connection: close) and for every earlier client to be done, then come one at a time.
//
// On failure, fast-check prints the drawn Scenario (JSON) and the error lists the scenario in
// words, then per client what the model expects (with rule ids) and what was observed. Replay one
// with MODEL_SCENARIO='<the JSON>' npx vitest run test/property/streaming-model.property.test.ts,
// or the whole sequence with FC_SEED/FC_PATH; MODEL_VERBOSE=1 prints every run.
//
// Generator exclusions (each keeps the model deterministic, not hides a disagreement):
// - A close-delimited body fails only by a stall (between-bytes timeout). A clean close completes
//   it (O3), and a reset cannot be told from a clean close reliably: when an RST arrives while the
//   proxy still has unread bytes (a loaded machine delays its reads), libuv may report EOF, or
//   Linux may drop the unread bytes. Both seen here under load, also in a plain node:net
//   client/server pair. For Content-Length and chunked bodies a reset is fine (EOF is premature
//   there too), and the origin resets only once every client already streaming holds every byte
//   sent (so none is dropped).
// - Disconnect points are ≥ 1 response byte: a client that hangs up while waiting for the head
//   races the head itself (whether its released request reaches the origin is then a coin toss).
// - Size limits are drawn only for shareable responses: a pass is relayed by another path, and how
//   L1 bounds it is not modelled. (`stream: false` is drawn for every response: the pass relay
//   honours it since STREAM_OFF_PASS was fixed, see REGRESSIONS.)
// - L2 ends fetch #1 at its head: body arrivals become before-head arrivals. L3/L4: arrivals during
//   the body stop at the limit (the origin sends past it in one write, and the proxy hangs up).
//   A streaming client cut by L4 holds at most `limit` bytes: how many exactly depends on how the
//   proxy's reads split the body, so only the bound and the prefix are checked.
// - A 1.0 client joining a streaming fetch that completes with a body above maxObjectSizeBuffered
//   arrives at that limit at the latest: it then gets 503 when a later read passes the limit. Joining
//   after the last byte (no read follows; with Content-Length the object may already be a hit) is a
//   race the SPEC does not settle (the proxy then serves it whole).
// - After-end clients never disconnect (the next one's hit-or-refetch depends on it); client 0 does
//   not disconnect when fetch #1 ends in a reset and after-end clients follow (the reset is seen by
//   the origin before the proxy reads it; client 0's own end is the proof the proxy has).
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { fcOptions, fcRuns } from '../support/fc.js';
import { openClient, parseResponses, type ParsedResponse, type RawClient } from '../support/raw-client.js';
import { startScriptedOrigin, type ReceivedRequest, type ScriptedOrigin, type ScriptedResponder } from '../support/scripted-origin.js';
import { startProxy, type RunningProxy } from '../support/proxy.js';
import { patternBytes } from '../support/bytes.js';
import { withTimeout } from '../support/ports.js';
import {
  CACHE_POLICIES,
  arrivalEnd,
  cacheHeaders,
  fetchPlan,
  proxyPlanOf,
  describeExpectation,
  describeScenario,
  isShareable,
  model,
  stopAt,
  type ClientPlan,
  type Expectation,
  type FailureKind,
  type FetchPlan,
  type OriginFraming,
  type OriginPlan,
  type ProxyPlan,
  type Scenario,
} from './streaming-model.js';
import { TimerSet } from '../support/socket-watch.js';

const BASE_RUNS = 30;
// The proxy's betweenBytesTimeout when fetch #1 stalls. It applies to every fetch of that run, and
// on a loaded machine the event loop can stall for a few hundred ms between reading a body's last
// bytes and its end (250 ms gave false between-bytes timeouts at load 25 on 2 cores).
const STALL_TIMEOUT_MS = 1_000;
// Bounds on waits that only matter when something hangs (generous: machines here run loaded).
const RESPONSE_TIMEOUT_MS = 8_000;
const STEP_TIMEOUT_MS = 12_000;

// ------------------------------------------------------------------------------------------------
// Generators

const fracArb = fc.oneof(fc.constant(0), fc.constant(1), fc.double({ min: 0, max: 1, noNaN: true }));

const sizeArb = fc.oneof(
  { weight: 1, arbitrary: fc.constant(0) },
  { weight: 2, arbitrary: fc.integer({ min: 1, max: 100 }) },
  { weight: 3, arbitrary: fc.integer({ min: 101, max: 20_000 }) },
  { weight: 3, arbitrary: fc.integer({ min: 20_001, max: 200_000 }) },
);

const rawOriginArb = fc.record({
  framing: fc.constantFrom<OriginFraming>('length', 'chunked', 'close'),
  size: sizeArb,
  chunkSizes: fc.array(fc.integer({ min: 1, max: 65_536 }), { minLength: 1, maxLength: 4 }),
  gapMs: fc.oneof({ weight: 3, arbitrary: fc.constant(0) }, { weight: 1, arbitrary: fc.integer({ min: 1, max: 4 }) }),
  headDelayMs: fc.oneof({ weight: 3, arbitrary: fc.constant(0) }, { weight: 1, arbitrary: fc.integer({ min: 1, max: 15 }) }),
  cache: fc.oneof(
    { weight: 3, arbitrary: fc.constantFrom(...CACHE_POLICIES.filter(isShareable)) },
    { weight: 2, arbitrary: fc.constantFrom(...CACHE_POLICIES.filter((p) => !isShareable(p))) },
  ),
  failure: fc.oneof(
    { weight: 3, arbitrary: fc.constant(null) },
    {
      weight: 2,
      arbitrary: fc.record({
        how: fc.oneof(
          { weight: 3, arbitrary: fc.constant<FailureKind>('reset') },
          { weight: 3, arbitrary: fc.constant<FailureKind>('close') },
          { weight: 1, arbitrary: fc.constant<FailureKind>('stall') },
        ),
        frac: fracArb,
      }),
    },
  ),
});

const rawClientArb = fc.record({
  arrival: fc.oneof(
    { weight: 2, arbitrary: fc.constant({ kind: 'before-head' as const }) },
    { weight: 4, arbitrary: fracArb.map((frac) => ({ kind: 'body' as const, frac })) },
    { weight: 2, arbitrary: fc.constant({ kind: 'after-end' as const }) },
  ),
  version: fc.oneof({ weight: 2, arbitrary: fc.constant('1.1' as const) }, { weight: 1, arbitrary: fc.constant('1.0' as const) }),
  keepAlive: fc.boolean(),
  slow: fc.oneof({ weight: 3, arbitrary: fc.constant(false) }, { weight: 1, arbitrary: fc.constant(true) }),
  disconnect: fc.oneof({ weight: 5, arbitrary: fc.constant(null) }, { weight: 1, arbitrary: fc.double({ min: 0, max: 1.2, noNaN: true }) }),
});

// A size limit relative to the body: below it (the body passes it), equal (a body of exactly the
// limit is fine), or above.
const limitDrawArb = fc.oneof(
  { weight: 1, arbitrary: fc.constant(null) },
  { weight: 2, arbitrary: fc.record({
      rel: fc.oneof({ weight: 2, arbitrary: fc.constant('below' as const) }, { weight: 1, arbitrary: fc.constant('equal' as const) }, { weight: 1, arbitrary: fc.constant('above' as const) }),
      frac: fracArb,
    }) },
);

const rawProxyArb = fc.record({
  stream: fc.oneof({ weight: 3, arbitrary: fc.constant(true) }, { weight: 1, arbitrary: fc.constant(false) }),
  limits: fc.oneof({ weight: 1, arbitrary: fc.constant(null) }, { weight: 1, arbitrary: fc.record({ streaming: limitDrawArb, buffered: limitDrawArb }) }),
});

type RawOrigin = typeof rawOriginArb extends fc.Arbitrary<infer T> ? T : never;
type RawClientDraw = typeof rawClientArb extends fc.Arbitrary<infer T> ? T : never;
type RawProxy = typeof rawProxyArb extends fc.Arbitrary<infer T> ? T : never;
type LimitDraw = typeof limitDrawArb extends fc.Arbitrary<infer T> ? T : never;

/** A limit (≥ 1, as the proxy requires) below, at or above `size`; null where none fits or none is drawn. */
function limitFor(draw: LimitDraw, size: number): number | null {
  if (!draw) return null;
  if (draw.rel === 'below') return size >= 2 ? 1 + Math.floor(draw.frac * (size - 2)) : null;
  if (draw.rel === 'equal') return size >= 1 ? size : null;
  return size + 1 + Math.floor(draw.frac * 1000);
}

/** The drawn values, made consistent (see the exclusions at the top of the file). */
function buildScenario(rawOrigin: RawOrigin, rawClients: RawClientDraw[], rawProxy: RawProxy): Scenario {
  const { framing, size } = rawOrigin;
  let failure: OriginPlan['failure'] = null;
  if (rawOrigin.failure) {
    const { frac } = rawOrigin.failure;
    // A close-delimited body fails only by a stall (see the exclusions at the top): a drawn clean
    // close is the complete body (O3, the no-failure case), a drawn reset becomes a stall.
    const how: FailureKind = framing === 'close' ? 'stall' : rawOrigin.failure.how;
    if (framing === 'close' && rawOrigin.failure.how === 'close') {
      failure = null;
    } else if (framing === 'length') {
      // All Content-Length bytes sent is a complete body: fail strictly before.
      if (size > 0) failure = { at: Math.min(size - 1, Math.floor(frac * size)), how };
    } else {
      // Chunked: all bytes but no terminating chunk is still a failure. Close-delimited: a stall
      // after every byte is not a clean close.
      failure = { at: Math.floor(frac * size), how };
    }
  }
  // At most about 24 writes, so a run stays short whatever the sizes drawn.
  const minPiece = Math.max(1, Math.ceil(size / 24));
  const origin: OriginPlan = {
    framing,
    size,
    chunkSizes: rawOrigin.chunkSizes.map((n) => Math.max(n, minPiece)),
    gapMs: rawOrigin.gapMs,
    headDelayMs: rawOrigin.headDelayMs,
    cache: rawOrigin.cache,
    failure,
  };
  // Size limits only for a shareable response: how L1 bounds a pass is not modelled (the model says so).
  const shareable = isShareable(origin.cache);
  const proxy: ProxyPlan = {
    // Stream off applies to passes too (STREAM_OFF_PASS, fixed: see REGRESSIONS below).
    stream: rawProxy.stream,
    maxObjectSize: shareable && rawProxy.limits ? limitFor(rawProxy.limits.streaming, size) : null,
    maxObjectSizeBuffered: shareable && rawProxy.limits ? limitFor(rawProxy.limits.buffered, size) : null,
  };
  const fetch1 = fetchPlan(origin, proxy, rawClients[0].version, failure);
  // Arrivals during the body stop where the origin stops sending: its failure, or the limit the
  // body passes (L3, L4: the proxy closes the origin connection then). L2 ends fetch #1 at its
  // head: body arrivals become before-head arrivals.
  const end = arrivalEnd(origin, fetch1);
  const hasAfterEnd = rawClients.slice(1).some((c) => c.arrival.kind === 'after-end');
  const clients: ClientPlan[] = rawClients.map((c, i) => {
    let arrival: ClientPlan['arrival'] =
      i === 0 ? { kind: 'first' } : c.arrival.kind === 'body' ? { kind: 'body', offset: Math.floor(c.arrival.frac * end) } : { kind: c.arrival.kind };
    if (arrival.kind === 'body' && fetch1.end === 'L2') arrival = { kind: 'before-head' };
    // A 1.0 client joining a streaming fetch that completes waits for the whole body (V2) and is
    // held to maxObjectSizeBuffered: it gets 503 when a later read passes that limit. Joining at
    // the very end (no read follows; with Content-Length the object may already be a hit) is a
    // race the SPEC does not settle: such joiners arrive at the buffered limit at the latest.
    if (arrival.kind === 'body' && i > 0 && c.version === '1.0' && fetch1.streams && fetch1.end === 'ok' && fetch1.waitersOverBuffered) {
      arrival = { kind: 'body', offset: Math.min(arrival.offset, proxy.maxObjectSizeBuffered!) };
    }
    let disconnectAfter = c.disconnect === null ? null : 1 + Math.floor(c.disconnect * (size + 300));
    if (arrival.kind === 'after-end') disconnectAfter = null;
    if (i === 0 && hasAfterEnd && failure?.how === 'reset') disconnectAfter = null;
    return { arrival, version: c.version, keepAlive: c.keepAlive, slow: c.slow, disconnectAfter };
  });
  return { origin, clients, proxy };
}

const scenarioArb = fc
  .tuple(rawOriginArb, fc.array(rawClientArb, { minLength: 1, maxLength: 6 }), rawProxyArb)
  .map(([rawOrigin, rawClients, rawProxy]) => buildScenario(rawOrigin, rawClients, rawProxy));

// ------------------------------------------------------------------------------------------------
// Playing a scenario

interface Observed {
  /** The first response on the connection (possibly partial), or undefined if no byte came. */
  response: ParsedResponse | undefined;
  received: number;
  /** The connection was closed by the server (checked when it matters, see runClient). */
  closedByServer: boolean;
  /** The client hung up on purpose (disconnectAfter). */
  disconnected: boolean;
  /** Something went wrong in the client itself (a timeout, a parse error). */
  problem?: string;
  /** The client connection, kept open for the end-of-run persistence check. */
  client: RawClient;
  /** At the end of the run, before cleanup: the connection was still open. */
  openAtEnd?: boolean;
}

function requestBytes(plan: ClientPlan, id: number): string {
  const connection = plan.version === '1.1' ? (plan.keepAlive ? '' : 'Connection: close\r\n') : plan.keepAlive ? 'Connection: keep-alive\r\n' : '';
  return `GET /obj HTTP/${plan.version}\r\nHost: model.test\r\nX-Client: ${id}\r\n${connection}\r\n`;
}

/** A response over: complete, per a parse of what arrived so far. */
function responseOver(bytes: Buffer): boolean {
  try {
    return parseResponses(bytes, ['GET'], { closedCleanly: false, maxFinal: 1 })[0]?.complete === true;
  } catch {
    return true;
  }
}

async function runClient(port: number, plan: ClientPlan, id: number, opened: (client: RawClient) => void, responseTimeoutMs: number): Promise<Observed> {
  const client = await openClient(port);
  opened(client);
  const timers = new TimerSet();
  if (plan.slow) {
    // Slow reader: after every 16 KiB, stop reading for 8 ms (the proxy's writes back up).
    let since = 0;
    client.socket.on('data', (chunk: Buffer) => {
      since += chunk.length;
      if (since < 16 * 1024) return;
      since = 0;
      client.pause();
      timers.later(8, () => client.resume());
    });
    client.socket.once('close', () => timers.clear());
  }
  await client.write(requestBytes(plan, id));
  const observed: Observed = { response: undefined, received: 0, closedByServer: false, disconnected: false, client };
  try {
    if (plan.disconnectAfter !== null) {
      const d = plan.disconnectAfter;
      await client.readUntil((bytes) => bytes.length >= d || responseOver(bytes), responseTimeoutMs).catch(() => undefined);
      observed.closedByServer = client.closedByServer;
      observed.disconnected = !client.closed;
      await client.close();
      const bytes = client.received();
      observed.received = bytes.length;
      observed.response = bytes.length > 0 ? parseResponses(bytes, ['GET'], { closedCleanly: false, maxFinal: 1 })[0] : undefined;
      return observed;
    }
    observed.response = await client.readResponse('GET', responseTimeoutMs);
    observed.received = client.received().length;
    // A connection the request asked to close must close soon after the response; one kept alive
    // is checked at the end of the run (it must still be open then).
    if (!plan.keepAlive || !observed.response.complete) await client.waitClose(3_000);
    observed.closedByServer = client.closedByServer;
  } catch (err) {
    observed.problem = (err as Error).message;
    observed.received = client.received().length;
    observed.closedByServer = client.closedByServer;
  }
  return observed;
}

/** Sends fetch #1's response as the plan says, stopping at each arrival point until its clients are in. */
async function serveFetch1(
  res: ScriptedResponder,
  plan: OriginPlan,
  fetch1: FetchPlan,
  body: Buffer,
  offsets: number[],
  arrive: (point: string) => Promise<void>,
  headProcessed: Promise<void>,
  streamingClientsHave: (bytes: number) => Promise<void>,
): Promise<void> {
  const socket = res.socket;
  // Over once the proxy has hung up (its FIN: 'end'; a stalled connection never closes on our
  // side) or the connection is gone (our reset).
  const closed = new Promise<void>((resolve) => {
    if (socket.destroyed || socket.readableEnded) return resolve();
    socket.once('end', () => resolve());
    socket.once('close', () => resolve());
  });
  const headers: [string, string][] = [...cacheHeaders(plan.cache), ['Connection', 'close']];
  if (plan.framing === 'length') headers.push(['Content-Length', String(plan.size)]);
  if (plan.framing === 'chunked') headers.push(['Transfer-Encoding', 'chunked']);

  await arrive('head');
  await res.head(200, headers, { delayMs: plan.headDelayMs });
  // {body k} means after the head: wait until the proxy has decided on it (its fetch hook ran).
  await withTimeout(headProcessed, STEP_TIMEOUT_MS, 'the proxy to process the head of fetch #1 (fetch hook)');
  // L2: the proxy refuses the body at the head and closes the connection.
  if (fetch1.end === 'L2') return closed;
  const end = arrivalEnd(plan, fetch1);
  // Write boundaries: the chunk sizes (the last repeats), cut at every arrival offset.
  const cuts = new Set<number>();
  for (let pos = 0, i = 0; pos < end; i++) {
    pos = Math.min(end, pos + plan.chunkSizes[Math.min(i, plan.chunkSizes.length - 1)]);
    cuts.add(pos);
  }
  for (const offset of offsets) if (offset > 0 && offset <= end) cuts.add(offset);
  await arrive('body:0');
  let pos = 0;
  for (const cut of [...cuts].sort((a, b) => a - b)) {
    if (pos > 0 && plan.gapMs) await res.sleep(plan.gapMs);
    const piece = body.subarray(pos, cut);
    await (plan.framing === 'chunked' ? res.chunk(piece) : res.write(piece));
    pos = cut;
    await arrive(`body:${pos}`);
  }
  if (fetch1.end === 'limit') {
    // L3, L4: the rest (up to the planned end or failure) passes the limit; the proxy closes.
    await (plan.framing === 'chunked' ? res.chunk(body.subarray(end, stopAt(plan))) : res.write(body.subarray(end, stopAt(plan))));
    return closed;
  }
  if (plan.failure?.how === 'reset') {
    // The RST must not overtake bytes the proxy has not read yet (see the exclusions at the top).
    await streamingClientsHave(end);
    await res.reset({ settleMs: 10 });
  } else if (plan.failure?.how === 'close') {
    await res.end();
  } else if (plan.failure?.how === 'stall') {
    await res.stall();
  } else {
    if (plan.framing === 'chunked') await res.lastChunk();
    await res.end();
  }
  await closed;
}

interface RunResult {
  observed: Observed[];
  originRequests: number;
  originErrors: string[];
}

/** Where a client waits to be let in: before fetch #1's head, or at a body offset. */
function arrivalPoint(plan: ClientPlan): string | undefined {
  switch (plan.arrival.kind) {
    case 'before-head':
      return 'head';
    case 'body':
      return `body:${plan.arrival.offset}`;
    default:
      return undefined;
  }
}

async function playScenario(scenario: Scenario, responseTimeoutMs: number): Promise<RunResult> {
  const { origin: plan, clients } = scenario;
  const proxyPlan = proxyPlanOf(scenario);
  const fetch1 = fetchPlan(plan, proxyPlan, clients[0].version, plan.failure);
  const body = patternBytes(0, plan.size);
  const observed: Promise<Observed>[] = [];
  const reachedProxy = new Map<number, () => void>();
  const reached = new Set<number>();

  let proxy: RunningProxy | undefined;
  let origin: ScriptedOrigin | undefined;

  const live: RawClient[] = [];
  /**
   * Resolves once every client connection that has a 200 head and a streamed body (Content-Length
   * or chunked) holds `bytes` body bytes, or is closed (polled; bounded).
   */
  const streamingClientsHave = async (bytes: number): Promise<void> => {
    const lagging = (): boolean =>
      live.some((c) => {
        if (c.closed) return false;
        let r: ParsedResponse | undefined;
        try {
          [r] = parseResponses(c.received(), ['GET'], { closedCleanly: false, maxFinal: 1 });
        } catch {
          return false; // malformed: the comparison reports it
        }
        return r !== undefined && r.headComplete && r.status === 200 && (r.framing === 'length' || r.framing === 'chunked') && r.body.length < bytes;
      });
    // A client let in at the last arrival point got its head (and replay) written to its socket
    // when the proxy took its request: a poll phase or two and its socket has read them.
    for (let i = 0; i < 3; i++) await new Promise((resolve) => setImmediate(resolve));
    const deadline = performance.now() + STEP_TIMEOUT_MS;
    while (lagging() && performance.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 2));
  };

  /** Starts client `i` and resolves once the proxy's recv hook has seen its request. */
  const startClient = async (i: number): Promise<void> => {
    const seen = new Promise<void>((resolve) => (reached.has(i) ? resolve() : reachedProxy.set(i, resolve)));
    const run = runClient(proxy!.port, clients[i], i, (c) => live.push(c), responseTimeoutMs);
    observed[i] = run;
    await withTimeout(seen, 5_000, `client ${i} reaching the proxy (recv hook)`);
  };

  // Arrival points: the clients due at each, in schedule order.
  const due = new Map<string, number[]>();
  clients.forEach((c, i) => {
    const point = arrivalPoint(c);
    if (point !== undefined) due.set(point, [...(due.get(point) ?? []), i]);
  });
  const arrive = async (point: string): Promise<void> => {
    for (const i of due.get(point) ?? []) await startClient(i);
    due.delete(point);
  };

  let headSeen!: () => void;
  const headProcessed = new Promise<void>((resolve) => (headSeen = resolve));
  let originCount = 0;
  let fetch1Done!: Promise<void>;
  let fetch1Started!: () => void;
  const fetch1Begun = new Promise<void>((resolve) => (fetch1Started = resolve));

  origin = await startScriptedOrigin((_req: ReceivedRequest, res: ScriptedResponder) => {
    originCount++;
    if (originCount === 1) {
      const offsets = clients.flatMap((c) => (c.arrival.kind === 'body' ? [c.arrival.offset] : []));
      fetch1Done = serveFetch1(res, plan, fetch1, body, offsets, arrive, headProcessed, streamingClientsHave);
      fetch1Started();
      return fetch1Done;
    }
    // Every later request: the same response, at once, whole.
    return res.send({ status: 200, headers: cacheHeaders(plan.cache), body, framing: plan.framing, chunkSizes: plan.chunkSizes, gapMs: plan.gapMs });
  });
  try {
    proxy = await startProxy(origin.url, {
      idleTimeout: 30_000,
      stream: proxyPlan.stream,
      ...(proxyPlan.maxObjectSize !== null ? { maxObjectSize: proxyPlan.maxObjectSize } : {}),
      ...(proxyPlan.maxObjectSizeBuffered !== null ? { maxObjectSizeBuffered: proxyPlan.maxObjectSizeBuffered } : {}),
      betweenBytesTimeout: plan.failure?.how === 'stall' ? STALL_TIMEOUT_MS : 10_000,
      hooks: {
        recv(ctx) {
          const id = Number(ctx.request.headers.get('x-client'));
          if (reached.has(id)) return;
          reached.add(id);
          reachedProxy.get(id)?.();
        },
        // vcl_fetch, called as the proxy processes an origin head: the first is fetch #1's.
        fetch() {
          headSeen();
        },
      },
    });

    await startClient(0);
    await withTimeout(fetch1Begun, 5_000, 'fetch #1 reaching the origin');
    await withTimeout(fetch1Done, STEP_TIMEOUT_MS, 'fetch #1 to be over (the proxy hanging up its origin connection)');
    if (due.size > 0) throw new Error(`test bug: arrival points never reached: ${[...due.keys()].join(', ')}`);
    await withTimeout(Promise.all(observed.filter(Boolean)), STEP_TIMEOUT_MS, 'every client of fetch #1 to be done');
    for (const [i, c] of clients.entries()) {
      if (c.arrival.kind !== 'after-end') continue;
      await startClient(i);
      await withTimeout(observed[i], STEP_TIMEOUT_MS, `after-end client ${i} to be done`);
    }
    const results = await Promise.all(observed);
    // Connections that must stay open: give a wrong close a moment to show.
    await new Promise((resolve) => setTimeout(resolve, 20));
    for (const o of results) o.openAtEnd = !o.client.closed;
    return { observed: results, originRequests: origin.requests.length, originErrors: [...origin.errors] };
  } finally {
    const settled = await Promise.allSettled(observed.filter(Boolean));
    await Promise.all(settled.map((s) => (s.status === 'fulfilled' ? s.value.client.close() : undefined)));
    await proxy?.close();
    await origin.close();
  }
}

// ------------------------------------------------------------------------------------------------
// Comparing

function describeObserved(o: Observed): string {
  const r = o.response;
  if (o.problem) return `problem: ${o.problem}${r ? '' : ` (received ${o.received} bytes)`}`;
  if (!r) return `no response (received ${o.received} bytes, closed by server: ${o.closedByServer})`;
  const framing = r.framing === 'length' ? `Content-Length ${r.header('content-length')}` : r.framing;
  return (
    `${r.status}, ${framing}, ${r.body.length} body bytes, ${r.complete ? 'complete' : 'incomplete'}` +
    `${r.framing === 'chunked' ? (r.terminatingChunk ? ', terminating chunk' : ', no terminating chunk') : ''}` +
    `, connection ${o.disconnected ? 'closed by the client' : o.openAtEnd ? 'open' : 'closed'}`
  );
}

/** Differences between what the model expects of one client and what it observed. */
function compare(e: Expectation, o: Observed, plan: ClientPlan, body: Buffer): string[] {
  const problems: string[] = [];
  const r = o.response;
  const bodyOk = (got: Buffer, length: number) => got.length === length && got.equals(body.subarray(0, length));
  const isPrefix = (got: Buffer) => got.length <= body.length && got.equals(body.subarray(0, got.length));

  if (plan.disconnectAfter !== null) {
    // R8: what it got before hanging up is consistent with the model; nothing more is asked of it.
    if (!r || !r.headComplete) return problems;
    const status = e.outcome === '503' ? 503 : 200;
    if (r.status !== status) problems.push(`status ${r.status}, expected ${status}`);
    if (e.outcome !== '503' && r.status === 200) {
      if (r.framing !== e.framing) problems.push(`framing ${r.framing}, expected ${e.framing}`);
      if (!isPrefix(r.body) || r.body.length > e.bodyLength) problems.push(`body of ${r.body.length} bytes is not a prefix of the expected ${e.bodyLength}`);
    }
    return problems;
  }

  if (o.problem) problems.push(o.problem);
  if (!r) return [...problems, 'no response at all'];
  if (!r.headComplete) return [...problems, 'incomplete head'];
  if (r.problems.length > 0) problems.push(`framing problems: ${r.problems.join('; ')}`);
  if (plan.version === '1.0' && r.framing === 'chunked') problems.push('F3: chunked to an HTTP/1.0 client');

  switch (e.outcome) {
    case 'complete': {
      if (r.status !== 200) problems.push(`status ${r.status}, expected 200`);
      if (r.framing !== e.framing) problems.push(`framing ${r.framing}, expected ${e.framing}`);
      if (!r.complete) problems.push('response incomplete');
      if (e.framing === 'length' && r.header('content-length') !== String(e.bodyLength)) problems.push(`Content-Length ${r.header('content-length')}, expected ${e.bodyLength}`);
      if (e.framing === 'chunked' && !r.terminatingChunk) problems.push('no terminating chunk');
      if (!bodyOk(r.body, e.bodyLength)) problems.push(`body of ${r.body.length} bytes differs from the expected ${e.bodyLength} bytes${isPrefix(r.body) ? ' (a prefix)' : ''}`);
      const closed = o.client.closed && o.closedByServer;
      if (e.connection === 'closed' && !closed) problems.push('connection still open, expected closed');
      if (e.connection === 'open' && !o.openAtEnd) problems.push('connection closed, expected kept alive');
      break;
    }
    case 'abrupt': {
      if (r.status !== 200) problems.push(`status ${r.status}, expected 200`);
      if (r.framing !== e.framing) problems.push(`framing ${r.framing}, expected ${e.framing}`);
      if (r.complete) problems.push('response complete, expected an abrupt end');
      if (r.terminatingChunk) problems.push('terminating chunk after a failed fetch');
      if (e.framing === 'length' && r.header('content-length') !== String(body.length)) problems.push(`Content-Length ${r.header('content-length')}, expected the origin's ${body.length}`);
      if (e.atMost) {
        if (!isPrefix(r.body) || r.body.length > e.bodyLength) problems.push(`got ${r.body.length} body bytes${isPrefix(r.body) ? ' (a prefix)' : ' (NOT a prefix)'}, expected at most the limit's ${e.bodyLength} bytes (L4)`);
      } else if (!bodyOk(r.body, e.bodyLength)) {
        problems.push(`got ${r.body.length} body bytes${isPrefix(r.body) ? ' (a prefix)' : ' (NOT a prefix)'}, expected exactly the ${e.bodyLength} bytes read before the failure`);
      }
      if (!o.closedByServer) problems.push('connection not closed by the server');
      break;
    }
    case '503': {
      if (r.status !== 503) problems.push(`status ${r.status}, expected 503`);
      if (!r.complete) problems.push('503 response incomplete');
      const closed = o.client.closed && o.closedByServer;
      if (e.connection === 'closed' && !closed) problems.push('connection still open, expected closed');
      if (e.connection === 'open' && !o.openAtEnd) problems.push('connection closed, expected kept alive');
      break;
    }
  }
  return problems;
}

/** Plays a scenario and checks it against the model; throws with a readable report on any difference. */
async function checkScenario(scenario: Scenario, responseTimeoutMs = RESPONSE_TIMEOUT_MS): Promise<void> {
  const expected = model(scenario);
  let result: RunResult;
  try {
    result = await playScenario(scenario, responseTimeoutMs);
  } catch (err) {
    throw new Error(`the scenario did not play out: ${(err as Error).message}\n${describeScenario(scenario)}\nexpected:\n${expected.clients.map((e, i) => `client ${i}: ${describeExpectation(e)}`).join('\n')}\norigin requests: ${expected.originRequests}`);
  }
  const body = patternBytes(0, scenario.origin.size);
  const lines: string[] = [];
  let wrong = false;
  scenario.clients.forEach((plan, i) => {
    const diffs = compare(expected.clients[i], result.observed[i], plan, body);
    if (diffs.length > 0) wrong = true;
    lines.push(`client ${i}: expected ${describeExpectation(expected.clients[i])}`);
    lines.push(`          observed ${describeObserved(result.observed[i])}${diffs.length ? `\n          MISMATCH: ${diffs.join('; ')}` : ''}`);
  });
  if (result.originRequests !== expected.originRequests) {
    wrong = true;
    lines.push(`MISMATCH: origin saw ${result.originRequests} requests, expected ${expected.originRequests} [R2, R4, R5, O2]`);
  } else {
    lines.push(`origin requests: ${result.originRequests}`);
  }
  if (result.originErrors.length > 0) {
    wrong = true;
    lines.push(`origin errors: ${result.originErrors.join('; ')}`);
  }
  if (wrong) throw new Error(`model and proxy disagree\n${describeScenario(scenario)}\n${lines.join('\n')}`);
}

// ------------------------------------------------------------------------------------------------

// Failures found once, replayed first on every run (fast-check `examples`).
const PINNED: Scenario[] = [
  // R4: a client waiting for an uncacheable head must be released to fetch on its own. Found by
  // this property (the released client was re-attached to the fetch it had just left and never
  // answered; the origin saw 1 request, not 2); fixed in 53fb7d1 while this test was written.
  {
    origin: { framing: 'length', size: 2000, chunkSizes: [1000], gapMs: 0, headDelayMs: 0, cache: 'no-store', failure: null },
    clients: [
      { arrival: { kind: 'first' }, version: '1.1', keepAlive: false, slow: false, disconnectAfter: null },
      { arrival: { kind: 'before-head' }, version: '1.1', keepAlive: false, slow: false, disconnectAfter: null },
    ],
  },
  // The size limits and streaming off, one example per rule (written with the model; each passes).
  // L2: Content-Length above maxObjectSize on a streaming fetch: 503 to the trigger and to every
  // client waiting for the head (1.1 and 1.0); nothing cached, the after-end client refetches
  // (503 again, L2) and so does the next one.
  {
    origin: { framing: 'length', size: 5000, chunkSizes: [1000], gapMs: 0, headDelayMs: 0, cache: 's-maxage=60', failure: null },
    clients: [
      { arrival: { kind: 'first' }, version: '1.1', keepAlive: true, slow: false, disconnectAfter: null },
      { arrival: { kind: 'before-head' }, version: '1.1', keepAlive: false, slow: false, disconnectAfter: null },
      { arrival: { kind: 'before-head' }, version: '1.0', keepAlive: true, slow: false, disconnectAfter: null },
      { arrival: { kind: 'after-end' }, version: '1.1', keepAlive: false, slow: false, disconnectAfter: null },
      { arrival: { kind: 'after-end' }, version: '1.1', keepAlive: false, slow: false, disconnectAfter: null },
    ],
    proxy: { stream: true, maxObjectSize: 4999, maxObjectSizeBuffered: null },
  },
  // L1 boundary: a body of exactly maxObjectSize (and maxObjectSizeBuffered) is served and cached.
  {
    origin: { framing: 'chunked', size: 3000, chunkSizes: [700], gapMs: 0, headDelayMs: 0, cache: 's-maxage=60', failure: null },
    clients: [
      { arrival: { kind: 'first' }, version: '1.1', keepAlive: false, slow: false, disconnectAfter: null },
      { arrival: { kind: 'body', offset: 1400 }, version: '1.0', keepAlive: false, slow: false, disconnectAfter: null },
      { arrival: { kind: 'after-end' }, version: '1.1', keepAlive: false, slow: false, disconnectAfter: null },
    ],
    proxy: { stream: true, maxObjectSize: 3000, maxObjectSizeBuffered: 3000 },
  },
  // L4: chunked, streaming, the body passes maxObjectSize: the 1.1 clients are cut after at most
  // 2500 bytes without the terminating chunk, the 1.0 joiner (V2, waiting) gets 503; nothing is
  // cached: the after-end 1.0 client refetches, V1 makes that fetch buffered, and the buffered
  // limit (default) lets it through: it is cached.
  {
    origin: { framing: 'chunked', size: 6000, chunkSizes: [1000], gapMs: 0, headDelayMs: 0, cache: 's-maxage=60', failure: null },
    clients: [
      { arrival: { kind: 'first' }, version: '1.1', keepAlive: false, slow: false, disconnectAfter: null },
      { arrival: { kind: 'body', offset: 2500 }, version: '1.1', keepAlive: true, slow: false, disconnectAfter: null },
      { arrival: { kind: 'body', offset: 1000 }, version: '1.0', keepAlive: true, slow: false, disconnectAfter: null },
      { arrival: { kind: 'after-end' }, version: '1.0', keepAlive: false, slow: false, disconnectAfter: null },
      { arrival: { kind: 'after-end' }, version: '1.1', keepAlive: false, slow: false, disconnectAfter: null },
    ],
    proxy: { stream: true, maxObjectSize: 2500, maxObjectSizeBuffered: null },
  },
  // L3 (V1): a 1.0 trigger, close-delimited body: the fetch is buffered, maxObjectSizeBuffered
  // applies (not the larger maxObjectSize): 503 to everyone once the body passes it.
  {
    origin: { framing: 'close', size: 8000, chunkSizes: [3000], gapMs: 0, headDelayMs: 0, cache: 'max-age=60', failure: null },
    clients: [
      { arrival: { kind: 'first' }, version: '1.0', keepAlive: false, slow: false, disconnectAfter: null },
      { arrival: { kind: 'body', offset: 3000 }, version: '1.1', keepAlive: true, slow: false, disconnectAfter: null },
    ],
    proxy: { stream: true, maxObjectSize: 100_000, maxObjectSizeBuffered: 4000 },
  },
  // L1 for a waiter on a streaming fetch: Content-Length below maxObjectSize but above
  // maxObjectSizeBuffered: the 1.1 clients stream it whole, the 1.0 joiner (V2) gets 503; it is cached.
  {
    origin: { framing: 'length', size: 9000, chunkSizes: [2000], gapMs: 0, headDelayMs: 0, cache: 's-maxage=60', failure: null },
    clients: [
      { arrival: { kind: 'first' }, version: '1.1', keepAlive: false, slow: false, disconnectAfter: null },
      { arrival: { kind: 'body', offset: 2000 }, version: '1.0', keepAlive: true, slow: false, disconnectAfter: null },
      { arrival: { kind: 'after-end' }, version: '1.0', keepAlive: false, slow: false, disconnectAfter: null },
    ],
    proxy: { stream: true, maxObjectSize: null, maxObjectSizeBuffered: 5000 },
  },
  // stream off: every client waits and gets Content-Length; a failure mid-body is 503 to all (O2).
  {
    origin: { framing: 'chunked', size: 4000, chunkSizes: [1000], gapMs: 0, headDelayMs: 0, cache: 's-maxage=60', failure: { at: 2000, how: 'close' } },
    clients: [
      { arrival: { kind: 'first' }, version: '1.1', keepAlive: true, slow: false, disconnectAfter: null },
      { arrival: { kind: 'body', offset: 1000 }, version: '1.1', keepAlive: false, slow: false, disconnectAfter: null },
      { arrival: { kind: 'after-end' }, version: '1.1', keepAlive: false, slow: false, disconnectAfter: null },
    ],
    proxy: { stream: false, maxObjectSize: null, maxObjectSizeBuffered: null },
  },
];

// Disagreements with the SPEC this property found, fixed since, replayed as regressions.
const REGRESSIONS: { name: string; scenario: Scenario }[] = [
  {
    // Was a bug: `stream: false` ("turns streaming miss off for every fetch"; SPEC: streaming is what
    // sends body bytes as they arrive) is ignored by the pass relay: an uncacheable response (R4:
    // "its own client still gets it, as a pass would") is streamed chunked to a 1.1 client instead
    // of waiting for the whole body and getting Content-Length.
    name: 'STREAM_OFF_PASS: stream off, uncacheable chunked response: the client gets Content-Length',
    scenario: {
      origin: { framing: 'chunked', size: 2000, chunkSizes: [500], gapMs: 0, headDelayMs: 0, cache: 'no-store', failure: null },
      clients: [{ arrival: { kind: 'first' }, version: '1.1', keepAlive: false, slow: false, disconnectAfter: null }],
      proxy: { stream: false, maxObjectSize: null, maxObjectSizeBuffered: null },
    },
  },
  {
    // Was a bug, same cause; when that origin fails mid-body the client sees a streamed head and an
    // abrupt close (O2 streaming) instead of the 503 a waiting client gets (O2 not streaming).
    name: 'STREAM_OFF_PASS: stream off, uncacheable response failing mid-body: the client gets 503',
    scenario: {
      origin: { framing: 'length', size: 2000, chunkSizes: [500], gapMs: 0, headDelayMs: 0, cache: 'private', failure: { at: 1000, how: 'close' } },
      clients: [{ arrival: { kind: 'first' }, version: '1.1', keepAlive: false, slow: false, disconnectAfter: null }],
      proxy: { stream: false, maxObjectSize: null, maxObjectSizeBuffered: null },
    },
  },
];

// The vitest timeout of the property; fast-check stops starting runs 30 s before it, so that a
// failure found late is still reported with its (partly shrunk) counterexample.
const PROPERTY_TIMEOUT_MS = fcRuns(BASE_RUNS) * 6_000 + 60_000;

describe('streaming miss: model-based property on loopback sockets', () => {
  it(
    'R1-R5, R8, F1-F3, F5, V1-V3, O2, O3, L1-L4, stream off: every client observes what the SPEC model says, and the origin sees the modelled number of requests',
    async () => {
      await fc.assert(
        fc.asyncProperty(scenarioArb, async (scenario) => {
          const t0 = performance.now();
          try {
            await checkScenario(scenario);
            if (process.env.MODEL_VERBOSE) {
              const expected = model(scenario).clients.map((e, i) => `client ${i}: ${describeExpectation(e)}`);
              console.log(`ok ${Math.round(performance.now() - t0)} ms\n${describeScenario(scenario)}\n${expected.join('\n')}`);
            }
          } catch (err) {
            if (process.env.MODEL_VERBOSE) console.log(`FAIL ${Math.round(performance.now() - t0)} ms\n${(err as Error).message}`);
            throw err;
          }
        }),
        fcOptions(BASE_RUNS, { examples: PINNED.map((scenario): [Scenario] => [scenario]), interruptAfterTimeLimit: PROPERTY_TIMEOUT_MS - 30_000 }),
      );
    },
    PROPERTY_TIMEOUT_MS,
  );
});

describe('streaming miss: regressions found by the property', () => {
  for (const regression of REGRESSIONS) {
    it(regression.name, async () => {
      await checkScenario(regression.scenario);
    }, 30_000);
  }
});

// Replays one scenario printed by a failure: MODEL_SCENARIO='{"origin":…,"clients":[…]}'.
describe.skipIf(!process.env.MODEL_SCENARIO)('streaming miss: replay', () => {
  it('the scenario in MODEL_SCENARIO', async () => {
    await checkScenario(JSON.parse(process.env.MODEL_SCENARIO ?? '{}') as Scenario);
  });
});
