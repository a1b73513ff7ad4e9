// A model of the streaming miss with request collapsing, written from SPEC.md (not from src/): given
// an origin behaviour and a schedule of clients, what each client must observe and how many
// requests the origin must see. Pure functions only; the property test
// (streaming-model.property.test.ts) plays the scenario on real loopback sockets and compares.
//
// The scenario, as the test plays it:
// - Client 0 arrives first and triggers fetch #1 (the proxy starts empty).
// - Fetch #1 is answered by the origin as `origin` says, paced by the schedule: the origin holds its
//   head until every 'before-head' client has reached the proxy, and holds its body at each offset
//   k until every client scheduled at {body k} has reached the proxy. Then it completes, or fails
//   as `failure` says (after exactly `failure.at` body bytes).
// - Every later origin request (a pass, or a new fetch after a failure) is answered at once, with
//   the same head and the whole body, and never fails.
// - 'after-end' clients arrive one at a time, each once fetch #1 is over (its origin connection
//   closed and every earlier client done) and the previous after-end client is done.
// - The proxy runs with `proxy` (ProxyPlan: stream, maxObjectSize, maxObjectSizeBuffered). A fetch
//   that passes its size limit is closed by the proxy; the origin sends past the limit in one write.
// - A client with `disconnectAfter` closes its connection once it has received that many bytes
//   (head included; at least 1, so that it has been answered) or its response is over.

export type OriginFraming = 'length' | 'chunked' | 'close';

/** The origin's Cache-Control ('none': no caching field at all). */
export type CachePolicy = 's-maxage=60' | 'max-age=60' | 'no-cache, s-maxage=28' | 'no-store' | 'private' | 'none' | 's-maxage=0';

export const CACHE_POLICIES: readonly CachePolicy[] = ['s-maxage=60', 'max-age=60', 'no-cache, s-maxage=28', 'no-store', 'private', 'none', 's-maxage=0'];

export type FailureKind = 'reset' | 'close' | 'stall';

export interface FailurePlan {
  /** Body bytes the origin sends before failing. */
  at: number;
  /** RST; clean FIN (for Content-Length and chunked bodies: premature); stop sending (between-bytes timeout). */
  how: FailureKind;
}

export interface OriginPlan {
  framing: OriginFraming;
  /** Body size in bytes (the body is the test's pattern body of that size). */
  size: number;
  /** Sizes of the successive body writes (the last repeats). */
  chunkSizes: number[];
  /** Pause between body writes, ms. */
  gapMs: number;
  /** Pause before the head, ms. */
  headDelayMs: number;
  cache: CachePolicy;
  /** Fetch #1 fails mid-body. Never a clean close of a close-delimited body (that is a complete body, O3). */
  failure: FailurePlan | null;
}

export type Arrival =
  /** Client 0 only: the request that starts fetch #1. */
  | { kind: 'first' }
  /** Fetch #1 is in flight, its head not yet sent. */
  | { kind: 'before-head' }
  /** Fetch #1's head and `offset` body bytes have been sent (offset ≤ failure.at when it fails). */
  | { kind: 'body'; offset: number }
  /** Fetch #1 is over (complete or failed). */
  | { kind: 'after-end' };

export interface ClientPlan {
  arrival: Arrival;
  version: '1.0' | '1.1';
  /** 1.1: no `Connection: close`; 1.0: `Connection: keep-alive`. */
  keepAlive: boolean;
  /** Reads in bursts with pauses (its socket backs up). */
  slow: boolean;
  /** Closes its connection after this many response bytes (≥ 1), or null. */
  disconnectAfter: number | null;
}

/** The proxy's options for the run (src/proxy/options.ts); absent: the defaults. */
export interface ProxyPlan {
  /** `stream` (false: streaming miss off for every fetch). */
  stream: boolean;
  /** L1 `maxObjectSize` (streaming fetch), bytes; null: the default (far above any body here). */
  maxObjectSize: number | null;
  /** L1 `maxObjectSizeBuffered` (buffered fetch, and clients that wait for the whole body), bytes; null: the default. */
  maxObjectSizeBuffered: number | null;
}

export const DEFAULT_PROXY_PLAN: ProxyPlan = { stream: true, maxObjectSize: null, maxObjectSizeBuffered: null };

export interface Scenario {
  origin: OriginPlan;
  clients: ClientPlan[];
  /** Absent: stream on, default limits. */
  proxy?: ProxyPlan;
}

/** How a client was served, for the description. */
export type Route = 'miss' | 'collapsed' | 'hit' | 'pass' | 'refetch';

export type Expectation =
  | {
      /** The whole response: status 200, `bodyLength` bytes of the body, properly framed. */
      outcome: 'complete';
      route: Route;
      framing: 'length' | 'chunked';
      bodyLength: number;
      /** Whether the proxy keeps the connection open after the response (F3, F5). */
      connection: 'open' | 'closed';
      rules: string[];
    }
  | {
      /** Head sent, then the connection ended early: `bodyLength` bytes, no proper end (O2, L4). */
      outcome: 'abrupt';
      route: Route;
      framing: 'length' | 'chunked';
      bodyLength: number;
      /** L4: at most `bodyLength` bytes (a prefix; how many depends on the proxy's reads), not exactly. */
      atMost?: boolean;
      connection: 'closed';
      rules: string[];
    }
  | {
      /** A 503 instead of the response (O2 not streaming, V2). */
      outcome: '503';
      route: Route;
      connection: 'open' | 'closed';
      rules: string[];
    };

export interface ModelResult {
  clients: Expectation[];
  /** Requests the origin receives in the whole scenario. */
  originRequests: number;
}

/**
 * C2 + R4: may the proxy share (collapse onto, and cache) a 200 response with this Cache-Control?
 * - `s-maxage=60`, `max-age=60`: explicit freshness (C2).
 * - `no-cache, s-maxage=28`: the push-stream recipe; no-cache beside s-maxage does not stop edge
 *   caching (C2).
 * - `no-store`, `private`: pass (C2), so R4.
 * - no field: no heuristic TTL without Last-Modified, the default TTL is 0 (C2): a zero TTL, so R4.
 * - `s-maxage=0`: a zero TTL (C2 first match), so R4.
 */
export function isShareable(policy: CachePolicy): boolean {
  switch (policy) {
    case 's-maxage=60':
    case 'max-age=60':
    case 'no-cache, s-maxage=28':
      return true;
    case 'no-store':
    case 'private':
    case 'none':
    case 's-maxage=0':
      return false;
  }
}

/** The Cache-Control field the origin sends for a policy (none for 'none'). */
export function cacheHeaders(policy: CachePolicy): [string, string][] {
  return policy === 'none' ? [] : [['Cache-Control', policy]];
}

/** Body bytes fetch #1 sends before it ends or fails (limits aside: see fetchPlan). */
export function stopAt(origin: OriginPlan): number {
  return origin.failure ? origin.failure.at : origin.size;
}

/**
 * How one fetch goes (fetch #1 with its planned failure, or a later fetch without one):
 * - streams: R1 unless `stream: false` or V1 (an HTTP/1.0 trigger, no Content-Length).
 * - limit (L1): maxObjectSize for a streaming fetch, maxObjectSizeBuffered for a buffered one
 *   (V1: "the non-streaming size limit applies").
 * - end: 'ok'; 'failed' (O2, the origin failed first); 'L2' (Content-Length above the limit: 503
 *   at the head); 'limit' (no Content-Length, the body passes the limit: L3 when buffered, L4 when
 *   streaming). "Passes" is "exceeds": a body of exactly the limit is fine.
 */
export interface FetchPlan {
  streams: boolean;
  limit: number;
  end: 'ok' | 'failed' | 'L2' | 'limit';
  /** Clients that wait for the whole body on a streaming fetch (V2) are held to maxObjectSizeBuffered too (L1). */
  waitersOverBuffered: boolean;
}

export function proxyPlanOf(scenario: Scenario): ProxyPlan {
  return scenario.proxy ?? DEFAULT_PROXY_PLAN;
}

export function fetchPlan(origin: OriginPlan, proxy: ProxyPlan, triggerVersion: '1.0' | '1.1', failure: FailurePlan | null): FetchPlan {
  const streams = proxy.stream && !(triggerVersion === '1.0' && origin.framing !== 'length');
  const streamLimit = proxy.maxObjectSize ?? Infinity;
  const bufferedLimit = proxy.maxObjectSizeBuffered ?? Infinity;
  const limit = streams ? streamLimit : bufferedLimit;
  let end: FetchPlan['end'];
  if (origin.framing === 'length' && origin.size > limit) end = 'L2';
  else if (failure && failure.at <= limit) end = 'failed';
  else if (origin.size > limit) end = 'limit';
  else end = failure ? 'failed' : 'ok';
  return { streams, limit, end, waitersOverBuffered: streams && origin.size > bufferedLimit };
}

/** Body bytes the origin sends in fetch #1 before the proxy stops it or it ends/fails: for 'limit', the arrivals stop at the limit. */
export function arrivalEnd(origin: OriginPlan, plan: FetchPlan): number {
  if (plan.end === 'L2') return 0;
  if (plan.end === 'limit') return plan.limit;
  return stopAt(origin);
}

/** F3, F5: after a whole response, the connection stays open iff the client asked for keep-alive. */
function afterComplete(client: ClientPlan): 'open' | 'closed' {
  return client.keepAlive ? 'open' : 'closed';
}

/**
 * F1-F3: framing of a response that goes out before the body is complete (streamed): Content-Length
 * when the origin gave one (F1), else chunked (F2); a 1.0 client is never streamed an unknown length
 * (F3, V1, V2), so it never reaches the chunked branch.
 */
function streamedFraming(origin: OriginPlan, client: ClientPlan): 'length' | 'chunked' {
  if (origin.framing === 'length') return 'length'; // F1
  if (client.version === '1.0') throw new Error('model: a 1.0 client is never streamed an unknown length (F3)');
  return 'chunked'; // F2
}

/**
 * A response from a fetch whose origin does not fail (a pass, or a new fetch after fetch #1
 * failed), for a client that has it to itself: streamed (R1) unless `stream: false` or V1 turns
 * streaming off; size limits (L2-L4) apply to the new fetches of a shareable response (`limited`).
 */
function ownFetch(origin: OriginPlan, proxy: ProxyPlan, client: ClientPlan, route: Route, rules: string[], limited: boolean): Expectation {
  const plan = fetchPlan(origin, limited ? proxy : { ...proxy, maxObjectSize: null, maxObjectSizeBuffered: null }, client.version, null);
  // V1/F3: a 1.0 client whose fetch has no Content-Length waits for the whole body, then gets
  // Content-Length; so does every client with `stream: false`. Otherwise F1 (Content-Length) or F2
  // (chunked, terminating chunk).
  const v1 = client.version === '1.0' && origin.framing !== 'length';
  const offRule = !proxy.stream ? 'stream off' : 'V1';
  if (plan.end === 'L2') return { outcome: '503', route, connection: afterComplete(client), rules: [...rules, 'L2'] };
  if (plan.end === 'limit') {
    if (!plan.streams) return { outcome: '503', route, connection: afterComplete(client), rules: [...rules, 'L3', ...(v1 && proxy.stream ? ['V1'] : [offRule])] };
    return { outcome: 'abrupt', route, framing: streamedFraming(origin, client), bodyLength: plan.limit, atMost: true, connection: 'closed', rules: [...rules, 'L4', 'F5'] };
  }
  const framing = plan.streams ? streamedFraming(origin, client) : 'length';
  return completeBody(origin, client, route, framing, [...rules, !plan.streams ? offRule : origin.framing === 'length' ? 'F1' : 'F2']);
}

/** The whole body, intact; a close-delimited origin body adds O3. */
function completeBody(origin: OriginPlan, client: ClientPlan, route: Route, framing: 'length' | 'chunked', rules: string[]): Expectation {
  return {
    outcome: 'complete',
    route,
    framing,
    bodyLength: origin.size,
    connection: afterComplete(client),
    rules: [...rules, ...(origin.framing === 'close' ? ['O3'] : [])],
  };
}

/**
 * A client served from fetch #1 (its trigger, or attached to it). `streams`: it gets the head and
 * bytes as they arrive; otherwise it waits for the complete body.
 */
function fromFetch1(origin: OriginPlan, fetch: FetchPlan, client: ClientPlan, streams: boolean, route: Route, rules: string[]): Expectation {
  if (fetch.end === 'L2') {
    // L2: the Content-Length is above the applicable limit: 503 to every attached client at once
    // (a whole response: the connection persists if asked, F3, F5).
    return { outcome: '503', route, connection: afterComplete(client), rules: [...rules, 'L2'] };
  }
  if (fetch.end === 'limit') {
    // L4: streaming clients are cut abruptly after at most `limit` bytes (no terminating chunk);
    // L3 (the fetch does not stream) and L4 (a client still waiting): 503.
    if (streams) return { outcome: 'abrupt', route, framing: streamedFraming(origin, client), bodyLength: fetch.limit, atMost: true, connection: 'closed', rules: [...rules, 'L4', 'F5'] };
    return { outcome: '503', route, connection: afterComplete(client), rules: [...rules, fetch.streams ? 'L4' : 'L3'] };
  }
  if (fetch.end === 'ok') {
    if (!streams && fetch.streams && fetch.waitersOverBuffered) {
      // L1: a client that waits for the whole body of a streaming fetch (V2) is held to the
      // buffered limit: 503 once the body passes maxObjectSizeBuffered.
      return { outcome: '503', route, connection: afterComplete(client), rules: [...rules, 'L1 (buffered limit for a waiter)'] };
    }
    // Success. Streamed: F1/F2 (R1, R3: the same whole body for everyone). Waiting: the body is
    // complete when the head goes out, so Content-Length (F1, V1, V2).
    const framing = streams ? streamedFraming(origin, client) : 'length';
    const rule = !streams ? 'F1 (complete object)' : framing === 'length' ? 'F1' : 'F2';
    return completeBody(origin, client, route, framing, [...rules, rule, 'R3']);
  }
  const failure = origin.failure!;
  if (streams) {
    // O2: the head is out; the connection ends abruptly after the bytes that arrived (R1: each of
    // them went out as soon as it was read), without the terminating chunk / before Content-Length.
    return { outcome: 'abrupt', route, framing: streamedFraming(origin, client), bodyLength: failure.at, connection: 'closed', rules: [...rules, 'O2', 'R1', 'F5'] };
  }
  // O2: a client that waits (V1: the fetch does not stream; V2: a 1.0 client joined a streaming
  // miss; stream off; the caller names which) gets 503 when the fetch fails. A whole response, so
  // the connection persists if the client asked for it (F3, F5).
  return { outcome: '503', route, connection: afterComplete(client), rules: [...rules, 'O2'] };
}

/** What every client of `scenario` must observe, and how many requests the origin must see. */
export function model(scenario: Scenario): ModelResult {
  const { origin, clients } = scenario;
  const first = clients[0];
  if (!first || first.arrival.kind !== 'first') throw new Error('model: client 0 must be the first arrival');
  if (clients.slice(1).some((c) => c.arrival.kind === 'first')) throw new Error('model: only client 0 arrives first');

  const shared = isShareable(origin.cache);
  const proxy = proxyPlanOf(scenario);
  // Size limits are modelled for shareable responses only (the generator never sets them for an
  // uncacheable one): a pass is relayed by another path, and whether L1 bounds it is not checked here.
  const limited = shared;
  // V1: an HTTP/1.0 request that triggers a fetch whose response has no Content-Length turns
  // streaming off for that fetch, for every client attached to it; `stream: false` turns it off
  // for every fetch. L1: the limit follows.
  const fetch1 = fetchPlan(origin, limited ? proxy : { ...proxy, maxObjectSize: null, maxObjectSizeBuffered: null }, first.version, origin.failure);
  const fetch1Streams = fetch1.streams;
  const offRules = !proxy.stream ? ['stream off'] : !fetch1Streams ? ['V1'] : [];

  // R8: disconnects change no one else's outcome and no request count. A client that hangs up
  // never aborts a fetch still going to the cache or to other clients (a shareable fetch whose
  // clients all left still completes and is a hit afterwards); an aborted pass had already made
  // its request. A disconnecting client itself is only held to a prefix of what it would have got.
  let originRequests = 1; // fetch #1, started by client 0 (the cache is empty: a miss)
  let cached = shared && fetch1.end === 'ok'; // an object for the key is in the cache after fetch #1 (R5)
  const expectations: Expectation[] = [];

  for (const [index, client] of clients.entries()) {
    const arrival = client.arrival;
    if (index === 0) {
      if (shared) {
        // R1: the trigger streams unless V1 or `stream: false` turned streaming off (a 1.0 trigger
        // with a Content-Length streams, with that Content-Length: F1, F3).
        expectations.push(fromFetch1(origin, fetch1, client, fetch1Streams, 'miss', ['R1', ...offRules]));
      } else {
        // R4: the response cannot be shared; its own client still gets it, as a pass would (R1,
        // and V1 when the trigger is 1.0 without Content-Length).
        expectations.push(fromFetch1(origin, fetch1, client, fetch1Streams, 'pass', ['R4', ...offRules]));
      }
      continue;
    }

    if ((arrival.kind === 'before-head' || arrival.kind === 'body') && !(shared && fetch1.end === 'L2' && arrival.kind === 'body')) {
      if (shared) {
        // R2: fetch #1 is in flight (head pending or body arriving): attach, no origin request.
        // R6 does not apply: the TTL (≥ 28 s) outlasts the scenario.
        // V2: a 1.0 client joining a streaming miss waits for the complete body. V1 / stream off:
        // if fetch #1 does not stream, nobody streams. R3: a late joiner gets the replay, then live bytes.
        const streams = fetch1Streams && client.version === '1.1';
        const rules = ['R2', ...(arrival.kind === 'body' ? ['R3'] : []), ...(!fetch1Streams ? offRules : client.version === '1.0' ? ['V2'] : [])];
        expectations.push(fromFetch1(origin, fetch1, client, streams, 'collapsed', rules));
      } else {
        // R4: waiters for the head are released to fetch on their own; after the head the key is
        // hit-for-pass, so later requests pass at once. Either way: one origin request each.
        originRequests++;
        expectations.push(ownFetch(origin, proxy, client, 'pass', ['R4'], false));
      }
      continue;
    }
    if (arrival.kind === 'body') throw new Error('model: no body arrival when fetch #1 ends at its head (L2)');

    // arrival.kind === 'after-end'
    if (!shared) {
      // R4: hit-for-pass (default 120 s) outlasts the scenario: every later request passes.
      originRequests++;
      expectations.push(ownFetch(origin, proxy, client, 'pass', ['R4'], false));
      continue;
    }
    if (cached) {
      // R5: the object was committed complete: a hit, at once and in full, with Content-Length
      // (V3: also for a 1.0 client).
      expectations.push({ outcome: 'complete', route: 'hit', framing: 'length', bodyLength: origin.size, connection: afterComplete(client), rules: ['R5', 'F1', ...(client.version === '1.0' ? ['V3'] : [])] });
      continue;
    }
    // O2, L2-L4: nothing was cached; the next request starts a new fetch, whose origin does not fail
    // (R5: if it completes it is committed, and later after-end clients, which arrive once it is
    // done, are hits; if it passes a size limit, the next one fetches again).
    originRequests++;
    const refetch = ownFetch(origin, proxy, client, 'refetch', [fetch1.end === 'failed' ? 'O2 (new fetch)' : 'L2-L4 (nothing cached, new fetch)', 'R1'], true);
    if (refetch.outcome === 'complete') cached = true;
    expectations.push(refetch);
  }

  for (const e of expectations) e.rules = [...new Set(e.rules)];
  return { clients: expectations, originRequests };
}

// ------------------------------------------------------------------------------------------------
// Descriptions, for failure messages

export function describeArrival(arrival: Arrival): string {
  switch (arrival.kind) {
    case 'first':
      return 'first (triggers fetch #1)';
    case 'before-head':
      return 'while fetch #1 awaits its head';
    case 'body':
      return `after ${arrival.offset} body bytes of fetch #1`;
    case 'after-end':
      return 'after fetch #1 is over';
  }
}

export function describeScenario(scenario: Scenario): string {
  const o = scenario.origin;
  const lines = [
    `origin: ${o.framing === 'length' ? 'Content-Length' : o.framing === 'chunked' ? 'chunked' : 'close-delimited'} body of ${o.size} bytes` +
      ` in writes of [${o.chunkSizes.join(', ')}]${o.gapMs ? `, ${o.gapMs} ms apart` : ''}${o.headDelayMs ? `, head after ${o.headDelayMs} ms` : ''},` +
      ` Cache-Control: ${o.cache === 'none' ? '(none)' : o.cache} (${isShareable(o.cache) ? 'shareable' : 'uncacheable'})` +
      (o.failure ? `; fetch #1 fails after ${o.failure.at} body bytes by ${o.failure.how === 'stall' ? 'stalling (between-bytes timeout)' : `a ${o.failure.how}`}` : '; no failure'),
  ];
  const p = proxyPlanOf(scenario);
  lines.push(
    `proxy: stream ${p.stream ? 'on' : 'off'}, maxObjectSize ${p.maxObjectSize ?? 'default'}, maxObjectSizeBuffered ${p.maxObjectSizeBuffered ?? 'default'}`,
  );
  scenario.clients.forEach((c, i) => {
    lines.push(
      `client ${i}: HTTP/${c.version}${c.keepAlive ? ' keep-alive' : ' close'}${c.slow ? ', slow reader' : ''}, arrives ${describeArrival(c.arrival)}` +
        (c.disconnectAfter !== null ? `, disconnects after ${c.disconnectAfter} bytes` : ''),
    );
  });
  return lines.join('\n');
}

export function describeExpectation(e: Expectation): string {
  const rules = `[${e.rules.join(', ')}]`;
  switch (e.outcome) {
    case 'complete':
      return `${e.route}: 200, ${e.framing === 'length' ? 'Content-Length' : 'chunked + terminating chunk'}, all ${e.bodyLength} bytes, connection ${e.connection} ${rules}`;
    case 'abrupt':
      return `${e.route}: 200, ${e.framing === 'length' ? 'Content-Length' : 'chunked'}, ${e.atMost ? 'at most ' : ''}${e.bodyLength} bytes then an abrupt close${e.framing === 'chunked' ? ' (no terminating chunk)' : ''} ${rules}`;
    case '503':
      return `${e.route}: 503, connection ${e.connection} ${rules}`;
  }
}
