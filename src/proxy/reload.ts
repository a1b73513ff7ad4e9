// K1: what a reload may change in a running proxy, and what only a restart can. Pure: compares
// the running options with a newly resolved set and says which keys change, which are applied and
// which keep their running value until the process restarts.
import type { ResolvedOptions } from './options.js';

/**
 * Options a running proxy cannot take over, each for a reason an operator can check:
 * - `origin`, `originCa`, `originInsecure`: the origin pool's connections (and their TLS sessions)
 *   are to that origin; the cache keys and objects were fetched from it.
 * - `listen`, `admin`: the listening sockets are bound; rebinding would refuse connections meanwhile.
 * - `storeSize`, `storeSlabSize`, `storePrefault`: the store's ring of slabs is allocated, and
 *   objects (and clients reading them) hold regions of it.
 * - `h2c` and the `h2*` limits: node:http2 takes them when the listener is made.
 * (`tlsCert`/`tlsKey` are swapped by SIGHUP through proxy.reloadTls, not by reload().)
 */
export const RESTART_ONLY = [
  'origin',
  'originCa',
  'originInsecure',
  'listen',
  'admin',
  'storeSize',
  'storeSlabSize',
  'storePrefault',
  // H1: the HTTP/2 session settings are given to node:http2 when the listener is made.
  'h2c',
  'h2MaxConcurrentStreams',
  'h2MaxHeaderListSize',
  'h2ResetLimit',
  'h2PingLimit',
  'h2SettingsLimit',
  // I1, I5, shielding: the access rules, the bus connection and the shield pool are made at startup.
  'purgeAllow',
  'purgeToken',
  'purgeBus',
  'shield',
] as const;

export type RestartOnlyKey = (typeof RESTART_ONLY)[number];

export interface ReloadPlan {
  /** The options to run with from now on: the new ones, with every restart-only key kept as it runs. */
  next: ResolvedOptions;
  /** Keys whose value changed and now apply to new requests. */
  applied: string[];
  /** Keys whose value changed in the file but that keep their running value until a restart. */
  needsRestart: RestartOnlyKey[];
}

/** Not configuration: createProxy's `logger` and `hooks` ride along in the resolved options. */
const NOT_OPTIONS = new Set(['logger', 'hooks']);

/** Keys that are derived from a restart-only key and travel with it. */
const DERIVED: Record<string, RestartOnlyKey> = { originUrl: 'origin', listenHost: 'listen', listenPort: 'listen', shieldUrl: 'shield' };

export function planReload(current: ResolvedOptions, incoming: ResolvedOptions): ReloadPlan {
  const next = { ...incoming } as ResolvedOptions;
  const applied: string[] = [];
  const needsRestart = new Set<RestartOnlyKey>();
  const keys = new Set([...Object.keys(current), ...Object.keys(incoming)]) as Set<keyof ResolvedOptions>;
  for (const key of keys) {
    if (NOT_OPTIONS.has(key) || sameValue(current[key], incoming[key])) continue;
    const restartKey = (RESTART_ONLY as readonly string[]).includes(key) ? (key as RestartOnlyKey) : DERIVED[key];
    if (restartKey) {
      needsRestart.add(restartKey);
      (next as unknown as Record<string, unknown>)[key] = current[key];
    } else {
      applied.push(key);
    }
  }
  return { next, applied: applied.sort(), needsRestart: [...needsRestart].sort() };
}

function sameValue(a: unknown, b: unknown): boolean {
  if (a === b) return true;
  if (a instanceof URL && b instanceof URL) return a.href === b.href;
  if (Buffer.isBuffer(a) && Buffer.isBuffer(b)) return a.equals(b);
  if (typeof a === 'object' && typeof b === 'object' && a !== null && b !== null) return JSON.stringify(a) === JSON.stringify(b);
  return false;
}
