// The settings shared by the harness's parts: how the proxy under fuzz is configured, and how long
// the hostile origin may stay silent (longer than every proxy timeout, so that each one fires).
import type { CreateProxyOptions } from '../../src/index.js';

/**
 * The proxy under fuzz: quiet, impatient (hostile input cannot hold anything for long), and with a
 * store small enough that eviction and L5 overflow happen all the time. The timeouts are short,
 * yet not so short that a busy machine (CI runs test files side by side) fires them on
 * well-behaved traffic: see `stallExplains` in clients.ts.
 */
export const FUZZ_PROXY_OPTIONS = {
  logLevel: 'silent',
  headerTimeout: 1_000,
  idleTimeout: 1_000,
  connectTimeout: 1_000,
  firstByteTimeout: 1_500,
  betweenBytesTimeout: 1_000,
  sendTimeout: 3_000,
  storeSize: 8 * 1024 * 1024,
  storeSlabSize: 1024 * 1024,
  overflowWindow: 1024 * 1024,
  closeDeadline: 2_000,
  // HTTP/2 with prior knowledge beside HTTP/1.x: the HTTP/2 clients' way in (h2-client.ts).
  h2c: true,
} as const satisfies Omit<CreateProxyOptions, 'origin'>;

/** How long a stalling origin stays silent at most: longer than every proxy timeout above. */
export const MAX_ORIGIN_STALL_MS = 3_000;

/**
 * A failure that a proxy timeout firing early would explain (a 503 "timeout", a 408, a body cut
 * off) is only counted when the event loop did not stall for this share of that timeout during the
 * case: a process starved of CPU sees its timers fire late, all at once, and that is not a bug.
 */
export const STALL_SHARE = 0.6;
