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

export interface Scenario {
  origin: OriginPlan;
  clients: ClientPlan[];
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
      /** Head sent, then the connection ended early: `bodyLength` bytes, no proper end (O2). */
      outcome: 'abrupt';
      route: Route;
      framing: 'length' | 'chunked';
      bodyLength: number;
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

/** Body bytes fetch #1 sends before it ends or fails. */
export function stopAt(origin: OriginPlan): number {
  return origin.failure ? origin.failure.at : origin.size;
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
 * A response from a fetch that cannot fail (a pass, or a new fetch after fetch #1 failed), for a
 * client that has it to itself: streamed (R1) unless V1 turns streaming off; either way complete.
 */
function ownSuccessfulFetch(origin: OriginPlan, client: ClientPlan, route: Route, rules: string[]): Expectation {
  // V1/F3: a 1.0 client whose fetch has no Content-Length waits for the whole body, then gets
  // Content-Length. Otherwise F1 (Content-Length) or F2 (chunked, terminating chunk).
  const v1 = client.version === '1.0' && origin.framing !== 'length';
  const framing = v1 ? 'length' : streamedFraming(origin, client);
  return {
    outcome: 'complete',
    route,
    framing,
    bodyLength: origin.size,
    connection: afterComplete(client),
    rules: [...rules, v1 ? 'V1' : origin.framing === 'length' ? 'F1' : 'F2', ...(origin.framing === 'close' ? ['O3'] : [])],
  };
}

/**
 * A client served from fetch #1 (its trigger, or attached to it). `streams`: it gets the head and
 * bytes as they arrive; otherwise it waits for the complete body.
 */
function fromFetch1(origin: OriginPlan, client: ClientPlan, streams: boolean, route: Route, rules: string[]): Expectation {
  if (!origin.failure) {
    // Success. Streamed: F1/F2 (R1, R3: the same whole body for everyone). Waiting: the body is
    // complete when the head goes out, so Content-Length (F1, V1, V2).
    const framing = streams ? streamedFraming(origin, client) : 'length';
    const rule = !streams ? 'F1 (complete object)' : framing === 'length' ? 'F1' : 'F2';
    return {
      outcome: 'complete',
      route,
      framing,
      bodyLength: origin.size,
      connection: afterComplete(client),
      rules: [...rules, rule, 'R3', ...(origin.framing === 'close' ? ['O3'] : [])],
    };
  }
  if (streams) {
    // O2: the head is out; the connection ends abruptly after the bytes that arrived (R1: each of
    // them went out as soon as it was read), without the terminating chunk / before Content-Length.
    return { outcome: 'abrupt', route, framing: streamedFraming(origin, client), bodyLength: origin.failure.at, connection: 'closed', rules: [...rules, 'O2', 'R1', 'F5'] };
  }
  // O2: a client that waits (V1: the fetch does not stream; V2: a 1.0 client joined a streaming
  // miss; the caller names which) gets 503 when the fetch fails. A whole response, so the
  // connection persists if the client asked for it (F3, F5).
  return { outcome: '503', route, connection: afterComplete(client), rules: [...rules, 'O2'] };
}

/** What every client of `scenario` must observe, and how many requests the origin must see. */
export function model(scenario: Scenario): ModelResult {
  const { origin, clients } = scenario;
  const first = clients[0];
  if (!first || first.arrival.kind !== 'first') throw new Error('model: client 0 must be the first arrival');
  if (clients.slice(1).some((c) => c.arrival.kind === 'first')) throw new Error('model: only client 0 arrives first');

  const shared = isShareable(origin.cache);
  // V1: an HTTP/1.0 request that triggers a fetch whose response has no Content-Length turns
  // streaming off for that fetch, for every client attached to it.
  const fetch1Streams = !(first.version === '1.0' && origin.framing !== 'length');

  // R8: disconnects change no one else's outcome and no request count. A client that hangs up
  // never aborts a fetch still going to the cache or to other clients (a shareable fetch whose
  // clients all left still completes and is a hit afterwards); an aborted pass had already made
  // its request. A disconnecting client itself is only held to a prefix of what it would have got.
  let originRequests = 1; // fetch #1, started by client 0 (the cache is empty: a miss)
  let cached = false; // an object for the key is in the cache (R5)
  const expectations: Expectation[] = [];

  for (const [index, client] of clients.entries()) {
    const arrival = client.arrival;
    if (index === 0) {
      if (shared) {
        // R1: the trigger streams unless V1 turned streaming off (a 1.0 trigger with a
        // Content-Length streams, with that Content-Length: F1, F3).
        expectations.push(fromFetch1(origin, client, fetch1Streams, 'miss', ['R1', ...(fetch1Streams ? [] : ['V1'])]));
      } else {
        // R4: the response cannot be shared; its own client still gets it, as a pass would (R1,
        // and V1 when the trigger is 1.0 without Content-Length).
        expectations.push(fromFetch1(origin, client, fetch1Streams, 'pass', ['R4', ...(fetch1Streams ? [] : ['V1'])]));
      }
      continue;
    }

    if (arrival.kind === 'before-head' || arrival.kind === 'body') {
      if (shared) {
        // R2: fetch #1 is in flight (head pending or body arriving): attach, no origin request.
        // R6 does not apply: the TTL (≥ 28 s) outlasts the scenario.
        // V2: a 1.0 client joining a streaming miss waits for the complete body. V1: if fetch #1
        // does not stream, nobody streams. R3: a late joiner gets the replay, then live bytes.
        const streams = fetch1Streams && client.version === '1.1';
        const rules = ['R2', ...(arrival.kind === 'body' ? ['R3'] : []), ...(!fetch1Streams ? ['V1'] : client.version === '1.0' ? ['V2'] : [])];
        expectations.push(fromFetch1(origin, client, streams, 'collapsed', rules));
      } else {
        // R4: waiters for the head are released to fetch on their own; after the head the key is
        // hit-for-pass, so later requests pass at once. Either way: one origin request each.
        originRequests++;
        expectations.push(ownSuccessfulFetch(origin, client, 'pass', ['R4']));
      }
      continue;
    }

    // arrival.kind === 'after-end'
    if (!shared) {
      // R4: hit-for-pass (default 120 s) outlasts the scenario: every later request passes.
      originRequests++;
      expectations.push(ownSuccessfulFetch(origin, client, 'pass', ['R4']));
      continue;
    }
    if (!origin.failure || cached) {
      // R5: the object was committed complete: a hit, at once and in full, with Content-Length
      // (V3: also for a 1.0 client).
      cached = true;
      expectations.push({ outcome: 'complete', route: 'hit', framing: 'length', bodyLength: origin.size, connection: afterComplete(client), rules: ['R5', 'F1', ...(client.version === '1.0' ? ['V3'] : [])] });
      continue;
    }
    // O2: nothing was cached; the next request starts a new fetch, which succeeds (R5: it is then
    // committed, and later after-end clients, which arrive once it is done, are hits).
    originRequests++;
    cached = true;
    expectations.push(ownSuccessfulFetch(origin, client, 'refetch', ['O2 (new fetch)', 'R1']));
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
      return `${e.route}: 200, ${e.framing === 'length' ? 'Content-Length' : 'chunked'}, ${e.bodyLength} bytes then an abrupt close${e.framing === 'chunked' ? ' (no terminating chunk)' : ''} ${rules}`;
    case '503':
      return `${e.route}: 503, connection ${e.connection} ${rules}`;
  }
}
