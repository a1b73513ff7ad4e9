// Freshness at the edge (SPEC C2, RFC 9111 §4.2, RFC 9213): may a response be stored, for how
// long, and must it be revalidated before reuse. Pure functions of headers and clocks.
import { Token, parseDictionary } from 'structured-headers';
import type { HeaderFields } from '../http1/headers.js';

export interface EdgePolicy {
  /** May the response be stored in the shared cache at all. */
  storable: boolean;
  /** Seconds of freshness from when the head arrived (before subtracting the origin's Age). */
  ttl: number;
  /** `no-cache` without s-maxage or Surrogate-Control: store, but revalidate before each reuse. */
  mustRevalidate: boolean;
  /** Which rule decided: for logs and tests. */
  source: string;
}

export type Directives = Map<string, string | true>;

/** Parses a Cache-Control-like list: `no-cache, s-maxage=28, private="x"` (names lower-cased). */
export function parseDirectives(values: string[]): Directives {
  const directives: Directives = new Map();
  for (const value of values) {
    for (const part of splitOutsideQuotes(value)) {
      const eq = part.indexOf('=');
      const name = (eq < 0 ? part : part.slice(0, eq)).trim().toLowerCase();
      if (!name || directives.has(name)) continue; // the first occurrence wins (RFC 9111 §4.2.1)
      const raw = eq < 0 ? true : part.slice(eq + 1).trim().replace(/^"(.*)"$/, '$1');
      directives.set(name, raw);
    }
  }
  return directives;
}

function splitOutsideQuotes(value: string): string[] {
  const parts: string[] = [];
  let current = '';
  let quoted = false;
  for (let i = 0; i < value.length; i++) {
    const ch = value[i];
    if (quoted && ch === '\\') {
      // A quoted-pair (RFC 9110 §5.6.4): the next character is literal, even a quote.
      current += ch + (value[i + 1] ?? '');
      i++;
      continue;
    }
    if (ch === '"') quoted = !quoted;
    if (ch === ',' && !quoted) {
      parts.push(current);
      current = '';
    } else {
      current += ch;
    }
  }
  parts.push(current);
  return parts;
}

const DAY = '(?:Mon|Tue|Wed|Thu|Fri|Sat|Sun)';
const MONTH = '(?:Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec)';
const HTTP_DATE_FORMATS = [
  // IMF-fixdate: Sun, 06 Nov 1994 08:49:37 GMT
  new RegExp(`^${DAY}, \\d{2} ${MONTH} \\d{4} \\d{2}:\\d{2}:\\d{2} GMT$`),
  // obsolete RFC 850: Sunday, 06-Nov-94 08:49:37 GMT
  new RegExp(`^(?:Monday|Tuesday|Wednesday|Thursday|Friday|Saturday|Sunday), \\d{2}-${MONTH}-\\d{2} \\d{2}:\\d{2}:\\d{2} GMT$`),
  // obsolete asctime: Sun Nov  6 08:49:37 1994
  new RegExp(`^${DAY} ${MONTH} [ \\d]\\d \\d{2}:\\d{2}:\\d{2} \\d{4}$`),
];

/** An HTTP-date (RFC 9110 §5.6.7) in ms since epoch; NaN for anything else (Date.parse alone takes "3600"). */
export function parseHttpDate(value: string | undefined): number {
  if (value === undefined) return NaN;
  const text = value.trim();
  if (!HTTP_DATE_FORMATS.some((format) => format.test(text))) return NaN;
  // asctime has no zone: it is GMT.
  return Date.parse(text.endsWith('GMT') ? text : `${text} GMT`);
}

/** A delta-seconds directive value, or undefined when absent or not a non-negative integer. */
export function deltaSeconds(directives: Directives, name: string): number | undefined {
  const value = directives.get(name);
  if (typeof value !== 'string' || !/^\d+$/.test(value)) return undefined;
  return Math.min(Number(value), 2 ** 31);
}

/** Statuses a cache may store with heuristic or default freshness (RFC 9110 §15.1). */
const HEURISTICALLY_CACHEABLE = new Set([200, 203, 204, 300, 301, 308, 404, 405, 410, 414, 501]);
/** Statuses we store at all when explicit freshness says so (no partial content: we serve whole objects). */
const UNDERSTOOD = new Set([...HEURISTICALLY_CACHEABLE, 302, 303, 307, 400, 403, 500, 502, 503, 504]);

/** The heuristic (RFC 9111 §4.2.2): a tenth of the time since Last-Modified, capped at a day. */
export const HEURISTIC_FRACTION = 0.1;
export const HEURISTIC_CAP_SECONDS = 86_400;

export interface PolicyInput {
  status: number;
  responseHeaders: HeaderFields;
  /** The request that caused the fetch (Authorization matters, RFC 9111 §3.5). */
  requestHeaders: HeaderFields;
  /** ms since epoch when the response head arrived. */
  now: number;
  /** Seconds of freshness when nothing else gives any (0 out of the box). */
  defaultTtl: number;
}

const notStorable = (source: string): EdgePolicy => ({ storable: false, ttl: 0, mustRevalidate: false, source });

/** The directives that apply to this cache: Surrogate-Control, and CDN-Cache-Control or Cache-Control. */
export interface EdgeDirectives {
  surrogate: Directives;
  cc: Directives;
  /** `CDN-Cache-Control` or `Cache-Control`: for the policy's source. */
  ccName: string;
  /** RFC 9213 §2.2: a usable CDN-Cache-Control also replaces Expires. */
  expiresApplies: boolean;
}

export function edgeDirectives(headers: HeaderFields): EdgeDirectives {
  const surrogate = parseDirectives(headers.getAll('surrogate-control'));
  const cdn = cdnDirectives(headers.getAll('cdn-cache-control'));
  if (cdn) return { surrogate, cc: cdn, ccName: 'CDN-Cache-Control', expiresApplies: false };
  return { surrogate, cc: parseDirectives(headers.getAll('cache-control')), ccName: 'Cache-Control', expiresApplies: true };
}

/**
 * RFC 9213 §2.1: CDN-Cache-Control is a Structured Field Dictionary (RFC 8941). A field that is
 * empty or does not parse is ignored as if absent (Cache-Control and Expires then apply), and a
 * directive whose value breaks the constraints its definition implies (a decimal or negative
 * max-age, a byte sequence) is not consumed. Returns undefined when the field does not apply.
 */
export function cdnDirectives(values: string[]): Directives | undefined {
  const text = values.join(', ').trim();
  if (text === '') return undefined;
  let dictionary: ReturnType<typeof parseDictionary>;
  try {
    dictionary = parseDictionary(text);
  } catch {
    return undefined;
  }
  if (dictionary.size === 0) return undefined;
  const directives: Directives = new Map();
  for (const [name, member] of dictionary) {
    const value = member[0];
    if (value === true) directives.set(name, true);
    else if (typeof value === 'number' && Number.isSafeInteger(value) && value >= 0) directives.set(name, String(value));
    else if (typeof value === 'string') directives.set(name, value);
    else if (value instanceof Token) directives.set(name, value.toString());
    // Anything else (false, a decimal, a negative integer, bytes, an inner list) is not consumed.
  }
  return directives;
}

/** C2: the edge policy for a response, first matching rule wins. */
export function edgePolicy(input: PolicyInput): EdgePolicy {
  const { status, responseHeaders: headers } = input;
  if (!UNDERSTOOD.has(status)) return notStorable(`status ${status}`);
  const { surrogate, cc, ccName, expiresApplies } = edgeDirectives(headers);

  if (surrogate.has('no-store')) return notStorable('Surrogate-Control: no-store');
  // RFC 9111 §5.2.2.3: must-understand asks caches that know the status's caching rules (we store
  // only such statuses) to ignore no-store; caches that do not know them still see no-store.
  if (cc.has('no-store') && !cc.has('must-understand')) return notStorable(`${ccName}: no-store`);
  if (cc.has('private')) return notStorable(`${ccName}: private`);
  if (headers.tokens('vary').includes('*')) return notStorable('Vary: *');
  if (headers.has('set-cookie')) return notStorable('Set-Cookie');
  if (input.requestHeaders.has('authorization') && !cc.has('public') && !cc.has('s-maxage') && !cc.has('must-revalidate')) {
    return notStorable('request has Authorization');
  }

  const surrogateMaxAge = deltaSeconds(surrogate, 'max-age');
  const sMaxAge = deltaSeconds(cc, 's-maxage');
  // no-cache beside s-maxage or Surrogate-Control is aimed at caches downstream of us (the push recipe).
  const edgeExplicit = surrogateMaxAge !== undefined || sMaxAge !== undefined;
  if (cc.has('no-cache') && !edgeExplicit) return { storable: true, ttl: 0, mustRevalidate: true, source: `${ccName}: no-cache` };

  if (surrogateMaxAge !== undefined) return fresh(surrogateMaxAge, 'Surrogate-Control: max-age');
  if (sMaxAge !== undefined) return fresh(sMaxAge, `${ccName}: s-maxage`);
  const maxAge = deltaSeconds(cc, 'max-age');
  if (maxAge !== undefined) return fresh(maxAge, `${ccName}: max-age`);
  const expires = expiresApplies ? headers.get('expires') : undefined;
  if (expires !== undefined) {
    const expiresAt = parseHttpDate(expires);
    const date = parseHttpDate(headers.get('date')) || input.now;
    // An invalid Expires (e.g. "0") means already expired (RFC 9111 §5.3).
    return fresh(Number.isNaN(expiresAt) ? 0 : Math.max(0, Math.floor((expiresAt - date) / 1000)), 'Expires');
  }
  const heuristicAllowed = HEURISTICALLY_CACHEABLE.has(status) || cc.has('public');
  if (!heuristicAllowed) return notStorable(`status ${status} without explicit freshness`);
  const lastModified = parseHttpDate(headers.get('last-modified'));
  if (!Number.isNaN(lastModified)) {
    const date = parseHttpDate(headers.get('date')) || input.now;
    const heuristic = Math.min(HEURISTIC_CAP_SECONDS, Math.floor(((date - lastModified) / 1000) * HEURISTIC_FRACTION));
    if (heuristic > 0) return fresh(heuristic, 'heuristic (Last-Modified)');
  }
  return fresh(input.defaultTtl, 'default TTL');
}

function fresh(ttl: number, source: string): EdgePolicy {
  return { storable: true, ttl, mustRevalidate: false, source };
}

/** RFC 9111 §1.2.2: a delta-seconds too large to represent is taken as 2^31. */
export const DELTA_SECONDS_MAX = 2 ** 31;

/**
 * The origin's Age in seconds (RFC 9111 §5.1): of a list (or several Age lines) the first member
 * counts; a value that is not a non-negative integer (`-3`, `42s`, `1.5`) is ignored (0); a value
 * past 2^31 is 2^31.
 */
export function originAge(headers: HeaderFields): number {
  const first = headers.getAll('age')[0]?.split(',')[0]?.trim();
  if (first === undefined || !/^\d+$/.test(first)) return 0;
  return Math.min(Number(first), DELTA_SECONDS_MAX);
}

/** What a response's age on arrival is made of (RFC 9111 §4.2.3). */
export interface AgeInput {
  /** The origin's Age value (originAge). */
  ageValue: number;
  /** ms since epoch when the request went out. */
  requestTime: number;
  /** ms since epoch when the response head arrived. */
  responseTime: number;
}

/**
 * RFC 9111 §4.2.3 corrected_age_value, in seconds (fractional): the origin's Age plus the response
 * delay (request sent to head received), to the millisecond, so that each tier's Age errs towards
 * older. The apparent age (our clock minus the origin's Date) is left out, as Varnish leaves it
 * out: an origin whose clock is behind ours would make every response stale on arrival.
 */
export function initialAge(input: AgeInput): number {
  return Math.min(DELTA_SECONDS_MAX, input.ageValue + responseDelay(input));
}

/**
 * The age an object's TTL and stale windows count from (R6, C2, G1, G2): the origin's Age without
 * the response delay, because R6 counts an in-flight response's freshness from when its head
 * arrived (a stream whose head is slow to come is not shortened by it). The Age header adds the
 * delay (CacheObject.age), so it never says younger than initialAge.
 */
export function freshnessAge(input: AgeInput): number {
  return Math.min(DELTA_SECONDS_MAX, input.ageValue);
}

/** §4.2.3 response_delay, seconds: from the request sent to the response head received. */
export function responseDelay(input: AgeInput): number {
  return Math.max(0, input.responseTime - input.requestTime) / 1000;
}

/** F6: the Age of a response served from an object: seconds since its head arrived plus the origin's Age. */
export function currentAge(headReceivedAt: number, ageAtOrigin: number, now: number): number {
  return Math.min(DELTA_SECONDS_MAX, Math.floor(ageAtOrigin + Math.max(0, now - headReceivedAt) / 1000));
}

/** Fresh while the TTL exceeds the current age: Age from a tier upstream shrinks the TTL here. */
export function isFresh(ttl: number, headReceivedAt: number, ageAtOrigin: number, now: number): boolean {
  return ttl * 1000 > ageAtOrigin * 1000 + (now - headReceivedAt);
}
