// One access-log line per response, with the cache state, bytes and timings; and the counters
// behind the stats endpoint, fed from the same place so the two can never disagree. The line our own
// logger writes is built in src/proxy/access-line.ts.
import type { ClientExchange } from '../net/client-exchange.js';
import type { ProxyContext } from './context.js';
import { ownLineSink } from './logger.js';
import { round, writeAccessLine } from './access-line.js';

import type { CacheState } from './cache-state.js';
import type { Reason } from '../stream/reasons.js';

export { CACHE_STATES, type CacheState } from './cache-state.js';

export interface AccessRecord {
  exchange: ClientExchange;
  status: number;
  cache: CacheState;
  /** performance.now() when the response head went out; undefined if it never did. */
  firstByteAt: number | undefined;
  /** Why the response failed or was cut, if it was. */
  error?: string;
  /** Why it passed, failed, or was not cached (typed: the log's `reason`, the stats' counters). */
  reason?: Reason;
}

export function recordResponse(ctx: Pick<ProxyContext, 'logger' | 'stats'>, record: AccessRecord): void {
  const { exchange } = record;
  // responses[state] was counted when the state was decided (K4): here only what ends with the response.
  ctx.stats.bytesOut += exchange.bytesSent;
  if (record.reason) ctx.stats.reasons[record.reason.kind] = (ctx.stats.reasons[record.reason.kind] ?? 0) + 1;
  if (!ctx.logger.isLevelEnabled('info')) return;
  const now = performance.now();
  const sink = ownLineSink(ctx.logger);
  if (sink) return writeAccessLine(sink, record, now, Date.now());
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
      ...(record.reason ? { reason: record.reason.kind } : {}),
    },
    'access',
  );
}

export { accessLine, jsonText, millis, writeAccessLine } from './access-line.js';
