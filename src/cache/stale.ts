// Serving stale (SPEC G1-G3): how long past its freshness a complete object may still be served,
// while it is revalidated in the background (stale-while-revalidate, RFC 5861 §3; Varnish's grace)
// or when the fetch that would refresh it fails (stale-if-error, RFC 5861 §4). Pure functions of
// the response's headers and the configured windows.
import type { HeaderFields } from '../http1/headers.js';
import { deltaSeconds, edgeDirectives, type Directives } from './freshness.js';

export interface StaleWindows {
  /** G1: seconds past expiry during which the object is served at once while revalidated. */
  whileRevalidate: number;
  /** G2: seconds past expiry during which a failed refresh serves the object instead of the error. */
  ifError: number;
  /** G3: the directive that forbids the configured and Cache-Control windows, if any. */
  forbiddenBy?: string;
}

/** The operator's windows, for responses that state none (`--grace`, `--stale-if-error`). */
export interface StaleSettings {
  grace: number;
  staleIfError: number;
}

export const NO_STALE: StaleWindows = { whileRevalidate: 0, ifError: 0 };

/**
 * G3: what forbids serving stale in the directives that apply to us (RFC 9111 §4.2.4, §5.2.2):
 * must-revalidate, proxy-revalidate, no-cache, and s-maxage, which for a shared cache implies
 * proxy-revalidate (§5.2.2.10).
 */
const FORBIDDING = ['must-revalidate', 'proxy-revalidate', 'no-cache', 's-maxage'] as const;

export function staleForbiddenBy(cc: Directives, ccName: string): string | undefined {
  const found = FORBIDDING.find((name) => cc.has(name));
  return found === undefined ? undefined : `${ccName}: ${found}`;
}

/**
 * G1-G3, first match wins for each window: Surrogate-Control's directive (addressed to us alone,
 * so it applies even where G3 forbids); then, unless G3 forbids, the Cache-Control (or
 * CDN-Cache-Control, RFC 9213) directive, then the configured window.
 */
export function staleWindows(headers: HeaderFields, settings: StaleSettings): StaleWindows {
  const { surrogate, cc, ccName } = edgeDirectives(headers);
  const forbiddenBy = staleForbiddenBy(cc, ccName);
  const window = (directive: string, configured: number): number => {
    const own = deltaSeconds(surrogate, directive);
    if (own !== undefined) return own;
    if (forbiddenBy) return 0;
    return deltaSeconds(cc, directive) ?? configured;
  };
  const windows: StaleWindows = { whileRevalidate: window('stale-while-revalidate', settings.grace), ifError: window('stale-if-error', settings.staleIfError) };
  if (forbiddenBy) windows.forbiddenBy = forbiddenBy;
  return windows;
}

/**
 * A rule's or hook's windows (`grace`, `staleIfError`) replace those of the headers and the
 * configuration, as a rule's TTL replaces the header's; G3 still holds over them.
 */
export function overrideWindows(windows: StaleWindows, grace: number, staleIfError: number): StaleWindows {
  if (windows.forbiddenBy) return windows;
  return { whileRevalidate: Math.max(0, grace), ifError: Math.max(0, staleIfError) };
}

/** Seconds an object of this age is past its freshness lifetime (0 while fresh). */
function staleness(ttl: number, ageSeconds: number): number {
  return Math.max(0, ageSeconds - ttl);
}

// Ages here are exact seconds (fractional): the object's origin Age plus the time since its head arrived.

/** G1: past its TTL but inside its stale-while-revalidate window. */
export function withinWhileRevalidate(windows: StaleWindows, ttl: number, ageSeconds: number): boolean {
  return ageSeconds >= ttl && staleness(ttl, ageSeconds) < windows.whileRevalidate;
}

/** G2: past its TTL but inside its stale-if-error window. */
export function withinIfError(windows: StaleWindows, ttl: number, ageSeconds: number): boolean {
  return ageSeconds >= ttl && staleness(ttl, ageSeconds) < windows.ifError;
}
