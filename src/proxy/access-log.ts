// One access-log line per response, with the cache state, bytes and timings; and the counters
// behind the stats endpoint, fed from the same place so the two can never disagree.
import type { ClientExchange } from '../net/client-exchange.js';
import type { ProxyContext } from './context.js';

/**
 * How a response was served. HIT: from a stored object. MISS: this client's request started the
 * fetch. COLLAPSED: attached to a fetch already in flight (R2). PASS: relayed for this client
 * alone, never stored.
 */
export type CacheState = 'HIT' | 'MISS' | 'PASS' | 'COLLAPSED';
export const CACHE_STATES: readonly CacheState[] = ['HIT', 'MISS', 'COLLAPSED', 'PASS'];

export interface AccessRecord {
  exchange: ClientExchange;
  status: number;
  cache: CacheState;
  /** performance.now() when the response head went out; undefined if it never did. */
  firstByteAt: number | undefined;
  /** Why the response failed or was cut, if it was. */
  error?: string;
}

export function recordResponse(ctx: Pick<ProxyContext, 'logger' | 'stats'>, record: AccessRecord): void {
  const { exchange } = record;
  // responses[state] was counted when the state was decided (K4): here only what ends with the response.
  ctx.stats.bytesOut += exchange.bytesSent;
  if (!ctx.logger.isLevelEnabled('info')) return;
  const now = performance.now();
  const { request } = exchange;
  ctx.logger.info(
    {
      method: request.method,
      path: request.target,
      status: record.status,
      version: `${request.version.major}.${request.version.minor}`,
      cache: record.cache,
      bytes: exchange.bytesSent,
      ttfbMs: record.firstByteAt === undefined ? null : round(record.firstByteAt - exchange.startedAt),
      durationMs: round(now - exchange.startedAt),
      client: exchange.clientAddress,
      outcome: exchange.state,
      ...(record.error ? { error: record.error } : {}),
    },
    'access',
  );
}

function round(ms: number): number {
  return Math.round(ms * 1000) / 1000;
}
