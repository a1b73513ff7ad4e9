// Why a response was not cached, why a fetch failed, why a request passed: typed, with a message,
// for the access log (`reason`), the stats (a counter per kind) and Cache-Status `detail`. The
// messages are what clients and logs have always said; the kinds are what code and dashboards read.
import type { OriginError } from '../net/origin-connection.js';

/** The response was fetched but is not (or not for long) in the cache. */
export type NoCacheReason =
  /** The origin forbade storing it (no-store, private, an uncacheable status...): `message` says which. */
  | { readonly kind: 'not-storable'; readonly message: string }
  /** A rule or the fetch hook set cacheable false. */
  | { readonly kind: 'uncacheable-by-rule'; readonly message: string }
  /** Storable, but fresh for no time (no freshness information, TTL 0): R4 hit-for-pass. */
  | { readonly kind: 'no-ttl'; readonly message: string }
  /** Stored, but to be revalidated before every use (no-cache): never shared while in flight. */
  | { readonly kind: 'must-revalidate'; readonly message: string };

/** The fetch failed: every client gets 503 before its head, an abrupt close after (O1, O2, L2-L4). */
export type FetchFailure =
  /** The origin connection failed (connect, timeouts, a bad response): OriginError's kind. */
  | { readonly kind: 'origin'; readonly origin: OriginError['kind']; readonly message: string }
  /** Content-Length or the body passed the size limit (L2-L4). */
  | { readonly kind: 'too-large'; readonly limit: number; readonly message: string }
  /** A client that waits for the whole body passed the buffered limit (L1, L3). */
  | { readonly kind: 'too-large-to-wait'; readonly limit: number; readonly message: string }
  /** T1: compression failed. */
  | { readonly kind: 'transform'; readonly message: string }
  /** R8: nobody is left to read an unstored response. */
  | { readonly kind: 'abandoned'; readonly message: string }
  /** C3: the object being revalidated went away meanwhile. */
  | { readonly kind: 'revalidation'; readonly message: string }
  /** I4: a hard purge ended the fetch and its clients. */
  | { readonly kind: 'purged'; readonly message: string }
  /** G2: the origin answered a refresh with a 5xx, taken as a failure because a stale object stands in for it. */
  | { readonly kind: 'origin-status'; readonly status: number; readonly message: string };

/** The request went to the origin for this client alone (a pass). */
export type PassReason =
  /** C4: an unsafe method. */
  | { readonly kind: 'method'; readonly message: string }
  /** C4: a safe method with a request body. */
  | { readonly kind: 'request-body'; readonly message: string }
  /** Credentials make the response personal. */
  | { readonly kind: 'authorization'; readonly message: string }
  /** A rule or the recv hook said pass. */
  | { readonly kind: 'recv'; readonly message: string }
  /** R4: the key is marked hit-for-pass. */
  | { readonly kind: 'hit-for-pass'; readonly message: string }
  /** R4: the response could not be shared: its own client got it relayed. */
  | { readonly kind: 'unshareable'; readonly message: string }
  /** The request was refused before any of that (400). */
  | { readonly kind: 'bad-request'; readonly message: string };

export type Reason = NoCacheReason | FetchFailure | PassReason;
export type ReasonKind = Reason['kind'];

export const PASS_REASONS = {
  method: { kind: 'method', message: 'unsafe method' },
  requestBody: { kind: 'request-body', message: 'request with a body' },
  authorization: { kind: 'authorization', message: 'request with Authorization' },
  recv: { kind: 'recv', message: 'pass by a rule or the recv hook' },
  hitForPass: { kind: 'hit-for-pass', message: 'key marked hit-for-pass' },
  unshareable: { kind: 'unshareable', message: 'response cannot be shared' },
} as const satisfies Record<string, PassReason>;

/** L2-L4: the size-limit failure, as clients read it in the 503 body. */
export function tooLarge(limit: number, what = 'body passed'): FetchFailure {
  return { kind: 'too-large', limit, message: `${what} the maximum object size (${limit} bytes)` };
}
