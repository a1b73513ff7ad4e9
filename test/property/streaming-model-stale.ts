// A model of serving stale, written from SPEC.md G1-G4 (not from src/): given the stored response,
// the configured windows, how old the object is, and how the origin answers the refresh, what each
// client must get. Pure functions only; streaming-model-stale.property.test.ts plays the scenario
// on real loopback sockets and compares.
//
// The scenario, as the test plays it:
// - Request 0 fetches the object: `Cache-Control: max-age=10, <forbid>, <windows>`, `Age: <age>`
//   (so it is `age - 10` seconds stale on arrival), an ETag or none, Content-Length or chunked.
// - Then `clients` requests arrive at once. Every later origin request is answered as `refresh`
//   says, but only once every client is either answered or waiting at the proxy.
// - Once every client is answered and nothing is in flight, one more request follows.

export type Forbid = 'none' | 'must-revalidate' | 'proxy-revalidate' | 'no-cache' | 's-maxage=10';
export const FORBIDS: readonly Forbid[] = ['none', 'must-revalidate', 'proxy-revalidate', 'no-cache', 's-maxage=10'];

export type Refresh = '200' | '304' | '500' | '503' | 'reset' | 'close' | 'timeout';
export const REFRESHES: readonly Refresh[] = ['200', '304', '500', '503', 'reset', 'close', 'timeout'];

/** A window in seconds, or absent from the header. */
export type Window = 5 | 600 | null;

export interface StaleScenario {
  forbid: Forbid;
  /** Cache-Control stale-while-revalidate / stale-if-error. */
  ccWhileRevalidate: Window;
  ccIfError: Window;
  /** Surrogate-Control stale-if-error (addressed to us alone). */
  surrogateIfError: Window;
  /** --grace, --stale-if-error. */
  grace: 0 | 600;
  staleIfError: 0 | 600;
  /** The origin's Age on the first response: 0 fresh, 12 two seconds stale, 100 ninety seconds stale. */
  age: 0 | 12 | 100;
  etag: boolean;
  framing: 'length' | 'chunked';
  refresh: Refresh;
  clients: number;
}

export interface ClientExpectation {
  status: number;
  /** null: a 503 of our own (its reason text is not modelled). */
  body: string | null;
  /** G1: answered before the origin answers anything. */
  beforeOrigin: boolean;
}

export interface StaleExpectation {
  clients: ClientExpectation[];
  /** The request after the round. */
  followUp: { status: number; body: string | null };
  /** The origin never has two requests for the key at once (false only where passes are expected). */
  oneAtATime: boolean;
}

export const TTL = 10;

/** G1-G3: the windows, first match wins per window; G3 leaves only Surrogate-Control's. */
export function windowsOf(s: StaleScenario): { whileRevalidate: number; ifError: number } {
  const forbidden = s.forbid !== 'none';
  const whileRevalidate = forbidden ? 0 : (s.ccWhileRevalidate ?? s.grace);
  const ifError = s.surrogateIfError ?? (forbidden ? 0 : (s.ccIfError ?? s.staleIfError));
  return { whileRevalidate, ifError };
}

export function staleModel(s: StaleScenario): StaleExpectation {
  const old = { status: 200, body: 'old' };
  const fresh = { status: 200, body: 'new' };
  const all = (e: { status: number; body: string | null }, beforeOrigin = false) => Array.from({ length: s.clients }, () => ({ ...e, beforeOrigin }));
  // no-cache alone: stored, but revalidated before every reuse (C2): never fresh.
  const ttl = s.forbid === 'no-cache' ? 0 : TTL;
  if (s.age < ttl) return { clients: all(old, true), followUp: old, oneAtATime: true };

  const staleFor = s.age - ttl;
  const windows = windowsOf(s);
  // G4: an ended stream (no length, no validator) is never served stale.
  const eligible = s.etag || s.framing === 'length';
  const inWhileRevalidate = eligible && staleFor < windows.whileRevalidate;
  const inIfError = eligible && staleFor < windows.ifError;
  const failed = !['200', '304'].includes(s.refresh);
  // A 304 needs a conditional request, which needs a validator: otherwise the origin sends the new body.
  const refreshed = s.refresh === '304' && s.etag ? old : fresh;

  if (inWhileRevalidate) {
    // G1: every client at once; the result replaces the object, a failure leaves it.
    return { clients: all(old, true), followUp: failed ? old : refreshed, oneAtATime: true };
  }
  if (!failed) return { clients: all(refreshed), followUp: refreshed, oneAtATime: true };
  if (inIfError) return { clients: all(old), followUp: old, oneAtATime: true };
  // No stale: a connection failure or timeout is a 503 (O1); a 5xx the origin sent reaches the clients as it is.
  const error = s.refresh === '500' || s.refresh === '503' ? { status: Number(s.refresh), body: `e${s.refresh}` } : { status: 503, body: null };
  return { clients: all(error), followUp: error, oneAtATime: s.refresh !== '500' && s.refresh !== '503' };
}

export function describeStaleScenario(s: StaleScenario): string {
  const cc = [`max-age=${TTL}`, s.forbid === 'none' ? '' : s.forbid, s.ccWhileRevalidate === null ? '' : `stale-while-revalidate=${s.ccWhileRevalidate}`, s.ccIfError === null ? '' : `stale-if-error=${s.ccIfError}`].filter(Boolean).join(', ');
  return [
    `Cache-Control: ${cc}${s.surrogateIfError === null ? '' : `; Surrogate-Control: stale-if-error=${s.surrogateIfError}`}`,
    `Age: ${s.age}, ${s.etag ? 'ETag' : 'no validator'}, ${s.framing}; --grace ${s.grace} --stale-if-error ${s.staleIfError}`,
    `refresh: ${s.refresh}; ${s.clients} client(s)`,
  ].join('\n');
}
