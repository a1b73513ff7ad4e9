// The proxy's counters and their two renderings for the admin listener: JSON and Prometheus text.
import type { OriginPool } from '../net/origin-pool.js';
import type { Listener } from '../net/listener.js';
import type { RingStore } from '../cache/store.js';
import type { CacheIndex } from '../cache/index.js';
import type { FetchRegistry } from '../stream/registry.js';
import { CACHE_STATES, type CacheState } from './cache-state.js';
import type { ReasonKind } from '../stream/reasons.js';
import { PURGE_DOORS, type PurgeStats } from './purge.js';
import type { BusStats } from './purge-bus.js';

/** I1-I5: purges by door, what they removed, and the bus (null without --purge-bus). */
export interface InvalidationSnapshot extends PurgeStats {
  bus: BusStats | null;
  /** Misses sent to the origin because the shield could not be reached (null without --shield). */
  shieldFallbacks: number | null;
}

/**
 * Counters bumped on the hot path: plain fields, no allocation. K4: each counts at the event it
 * names: `requests` when a client request arrives; `responses[state]` when the request's way is
 * decided (HIT when a hit is served, MISS when its fetch starts, COLLAPSED when it attaches to a
 * fetch in flight, PASS when a pass starts or the proxy answers itself), not when the response ends.
 * A client released by an uncacheable head (R4) is counted again as what it becomes.
 */
export class ProxyCounters {
  readonly responses: Record<CacheState, number> = { HIT: 0, MISS: 0, COLLAPSED: 0, PASS: 0 };
  /** Client requests received (ESI includes, which are the proxy's own, are not). */
  requests = 0;
  bytesOut = 0;
  /** Requests refused for their bytes (400, 408, 431) or for the connection limit (503). */
  protocolErrors = 0;
  /** In-flight objects whose buffered bytes passed the backlog threshold (one per object). */
  backlogWarnings = 0;
  // ---- serving stale (issue 15) ----
  readonly stale = { whileRevalidate: 0, ifError: 0, backgroundRevalidations: 0, refreshFailures: 0 };
  // ---- end serving stale ----
  /** Responses by typed reason (src/stream/reasons.ts): passes, failures, responses not cached. */
  readonly reasons: Partial<Record<ReasonKind, number>> = {};
  // ---- B4 segmented caching ----
  /** Segments read from the store, attached to a fetch in flight, fetched from the origin; files sent down the ordinary path. */
  readonly segments = { hits: 0, collapsed: 0, fetches: 0, unsegmented: 0 };
}

export interface StatsSnapshot {
  responses: Record<CacheState, number>;
  requests: number;
  originFetches: number;
  collapsedAttaches: number;
  /** Fetches in flight; the clients reading from them (subscribers of a stream); their bytes. */
  inflight: { objects: number; readers: number; bufferedBytes: number; overflowBytes: number; fetches: InflightFetchStats[] };
  bytes: { in: number; out: number };
  store: ReturnType<RingStore['stats']> & ReturnType<CacheIndex['stats']> & ReturnType<CacheIndex['surrogateStats']>;
  connections: { clients: number; origin: number; originIdle: number; originQueued: number };
  protocolErrors: number;
  backlogWarnings: number;
  /** G1, G2: responses served stale, background revalidations started, refreshes of stale objects that failed. */
  stale: { whileRevalidate: number; ifError: number; backgroundRevalidations: number; refreshFailures: number };
  reasons: Partial<Record<ReasonKind, number>>;
  /** B4: segment parts served from the store, attached to fetches in flight, fetched; files not served as segments. */
  segments: { hits: number; collapsed: number; fetches: number; unsegmented: number };
  purge: InvalidationSnapshot;
}

/** K4: one fetch in flight, so that an operator can see a push channel live. */
export interface InflightFetchStats {
  key: string;
  /** Body bytes received from the origin so far. */
  bytes: number;
  /** Clients reading from it now. */
  readers: number;
  ageMs: number;
  state: string;
}

/** The most fetches /stats lists one by one (the biggest audiences first); the totals count all. */
export const LISTED_FETCHES = 100;

export interface StatsSources {
  counters: ProxyCounters;
  pool: OriginPool;
  listener: Listener;
  store: RingStore;
  index: CacheIndex;
  registry: FetchRegistry;
  invalidation: () => InvalidationSnapshot;
}

export function statsSnapshot(sources: StatsSources): StatsSnapshot {
  const { counters, pool, listener, store, index, registry } = sources;
  const origin = pool.stats();
  let bufferedBytes = 0;
  let overflowBytes = 0;
  let readers = 0;
  const fetches: InflightFetchStats[] = [];
  const now = performance.now();
  for (const fetch of registry.all()) {
    readers += fetch.readers.size;
    bufferedBytes += fetch.object?.length ?? 0;
    overflowBytes += fetch.overflowBytes;
    fetches.push({ key: fetch.key, bytes: fetch.object?.length ?? 0, readers: fetch.readers.size, ageMs: Math.round(registry.ageMs(fetch, now)), state: fetch.state });
  }
  fetches.sort((a, b) => b.readers - a.readers || b.ageMs - a.ageMs);
  const responses = { ...counters.responses };
  return {
    responses,
    requests: counters.requests,
    originFetches: origin.requests,
    collapsedAttaches: responses.COLLAPSED,
    inflight: { objects: registry.size, readers, bufferedBytes, overflowBytes, fetches: fetches.slice(0, LISTED_FETCHES) },
    bytes: { in: origin.bytesIn, out: counters.bytesOut },
    store: { ...store.stats(), ...index.stats(), ...index.surrogateStats() },
    connections: { clients: listener.connectionCount, origin: origin.open, originIdle: origin.idle, originQueued: origin.queued },
    protocolErrors: counters.protocolErrors,
    backlogWarnings: counters.backlogWarnings,
    stale: { ...counters.stale },
    reasons: { ...counters.reasons },
    segments: { ...counters.segments },
    purge: sources.invalidation(),
  };
}

type MetricWriter = (name: string, type: 'counter' | 'gauge', help: string, samples: Array<[string, number]>) => void;

function invalidationMetrics(p: InvalidationSnapshot, metric: MetricWriter): void {
  metric('purges_total', 'counter', 'Purges applied, by the door they came through (bus: from another node).', PURGE_DOORS.map((door) => [`{door="${door}"}`, p.applied[door]]));
  metric('purged_objects_total', 'counter', 'Objects removed or marked stale by purges.', [['', p.objects]]);
  metric('purged_inflight_total', 'counter', 'Fetches in flight kept out of the cache by purges.', [['', p.inflight]]);
  metric('purges_refused_total', 'counter', 'Purge requests refused: not allowed (403).', [['', p.refused]]);
  metric('purges_invalid_total', 'counter', 'Purge requests refused: bad input (400, 405).', [['', p.invalid]]);
  if (p.shieldFallbacks !== null) metric('shield_fallbacks_total', 'counter', 'Misses sent to the origin because the shield could not be reached.', [['', p.shieldFallbacks]]);
  if (!p.bus) return;
  const b = p.bus;
  metric('bus_connected', 'gauge', 'Purge bus: 1 when connected.', [['', b.busConnected]]);
  metric('bus_published_total', 'counter', 'Purge bus: purges published.', [['', b.busPublished]]);
  metric('bus_received_total', 'counter', 'Purge bus: messages received.', [['', b.busReceived]]);
  metric('bus_applied_total', 'counter', 'Purge bus: purges from other nodes applied.', [['', b.busApplied]]);
  metric('bus_own_ignored_total', 'counter', 'Purge bus: our own purges coming back (applied when accepted).', [['', b.busOwnIgnored]]);
  metric('bus_repeats_total', 'counter', 'Purge bus: messages received again (resent after an outage), applied once.', [['', b.busRepeats]]);
  metric('bus_invalid_total', 'counter', 'Purge bus: messages that were not a readable purge.', [['', b.busInvalid]]);
  metric('bus_queued', 'gauge', 'Purge bus: purges waiting for the bus to come back.', [['', b.busQueued]]);
  metric('bus_queued_total', 'counter', 'Purge bus: purges queued because the bus was down.', [['', b.busQueuedTotal]]);
  metric('bus_dropped_total', 'counter', 'Purge bus: queued purges dropped (queue full): never sent.', [['', b.busDropped]]);
  metric('bus_errors_total', 'counter', 'Purge bus: connection and publish errors.', [['', b.busErrors]]);
  metric('bus_disconnects_total', 'counter', 'Purge bus: connections lost.', [['', b.busDisconnects]]);
  metric('bus_reconnects_total', 'counter', 'Purge bus: reconnection attempts.', [['', b.busReconnects]]);
}

/** Prometheus text exposition format 0.0.4. */
export function toPrometheus(s: StatsSnapshot): string {
  const lines: string[] = [];
  const metric = (name: string, type: 'counter' | 'gauge', help: string, samples: Array<[string, number]>) => {
    lines.push(`# HELP streamcache_${name} ${help}`, `# TYPE streamcache_${name} ${type}`);
    for (const [labels, value] of samples) lines.push(`streamcache_${name}${labels} ${value}`);
  };
  metric('responses_total', 'counter', 'Responses by cache state, counted when the state is decided.', CACHE_STATES.map((state) => [`{cache="${state}"}`, s.responses[state]]));
  metric('requests_total', 'counter', 'Client requests received.', [['', s.requests]]);
  metric('origin_fetches_total', 'counter', 'Requests sent to the origin.', [['', s.originFetches]]);
  metric('collapsed_attaches_total', 'counter', 'Requests attached to a fetch already in flight.', [['', s.collapsedAttaches]]);
  metric('inflight_objects', 'gauge', 'Fetches in flight.', [['', s.inflight.objects]]);
  metric('inflight_readers', 'gauge', 'Clients reading from fetches in flight.', [['', s.inflight.readers]]);
  metric('inflight_buffered_bytes', 'gauge', 'Body bytes held by fetches in flight.', [['', s.inflight.bufferedBytes]]);
  metric('inflight_overflow_bytes', 'gauge', 'Bytes held outside the store by objects that overflowed it.', [['', s.inflight.overflowBytes]]);
  metric('bytes_in_total', 'counter', 'Bytes read from the origin.', [['', s.bytes.in]]);
  metric('bytes_out_total', 'counter', 'Bytes written to clients.', [['', s.bytes.out]]);
  metric('store_capacity_bytes', 'gauge', 'Capacity of the object store.', [['', s.store.capacity]]);
  metric('store_used_bytes', 'gauge', 'Bytes between the tail and the head of the store ring.', [['', s.store.used]]);
  metric('store_objects', 'gauge', 'Objects in the index.', [['', s.store.objects]]);
  metric('store_evicted_extents_total', 'counter', 'Extents evicted from the store tail.', [['', s.store.evictedExtents]]);
  metric('store_prefault', 'gauge', 'Store memory committed ahead of use (--store-prefault): 1 for the current state.', [[`{state="${s.store.prefault}"}`, 1]]);
  metric('store_blocked_appends_total', 'counter', 'Appends that found the store full of pinned bytes.', [['', s.store.blockedAppends]]);
  metric('client_connections', 'gauge', 'Open client connections.', [['', s.connections.clients]]);
  metric('origin_connections', 'gauge', 'Open origin connections.', [['', s.connections.origin]]);
  metric('origin_queued_requests', 'gauge', 'Requests waiting for an origin connection.', [['', s.connections.originQueued]]);
  metric('protocol_errors_total', 'counter', 'Requests refused for their bytes or the connection limit.', [['', s.protocolErrors]]);
  metric('backlog_warnings_total', 'counter', 'In-flight objects whose buffered bytes passed the backlog threshold.', [['', s.backlogWarnings]]);
  // serving stale (issue 15)
  metric('stale_responses_total', 'counter', 'Responses served from a stale object (G1: while revalidating, G2: instead of an origin error).', [
    ['{window="while-revalidate"}', s.stale.whileRevalidate],
    ['{window="if-error"}', s.stale.ifError],
  ]);
  metric('background_revalidations_total', 'counter', 'Background fetches started to refresh a stale object (G1).', [['', s.stale.backgroundRevalidations]]);
  metric('stale_refresh_failures_total', 'counter', 'Fetches refreshing a stale object that failed (connect, timeout, reset, 5xx).', [['', s.stale.refreshFailures]]);
  metric('segments_total', 'counter', 'B4: segments by how they were found (hit, collapsed, fetch).', [
    ['{source="hit"}', s.segments.hits],
    ['{source="collapsed"}', s.segments.collapsed],
    ['{source="fetch"}', s.segments.fetches],
  ]);
  metric('unsegmented_total', 'counter', 'B4: files the origin would not serve as segments (served as ordinary objects).', [['', s.segments.unsegmented]]);
  invalidationMetrics(s.purge, metric);
  return `${lines.join('\n')}\n`;
}
