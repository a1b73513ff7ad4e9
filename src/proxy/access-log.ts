// One access-log line per response, with the cache state, bytes and timings; and the counters
// behind the stats endpoint, fed from the same place so the two can never disagree. The line our own
// logger writes is built in src/proxy/access-line.ts.
// The module's own binding: the global `performance` is a lazy getter, looked up on every call.
import { performance } from 'node:perf_hooks';
import type { ClientExchange } from '../net/client-exchange.js';
import type { ProxyContext } from './context.js';
import { ownLineSink } from './logger.js';
import { round, writeAccessFields, writeAccessLine } from './access-line.js';

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
  if (sink) return writeAccessLine(sink, record, now, sink.turnTime());
  pinoLine(ctx.logger, record, now);
}

/**
 * recordResponse for a hit served whole (src/proxy/cache-flow.ts servePlainHit): no record to
 * make when our own logger writes the line, since most responses are this one. No clock read
 * either: the plain hit hands its head and body on in one write, so its last byte went when its
 * first did (`firstByteAt`, performance.now() when the head was made) and durationMs is ttfbMs.
 */
export function recordHit(ctx: Pick<ProxyContext, 'logger' | 'stats'>, exchange: ClientExchange, status: number, firstByteAt: number): void {
  ctx.stats.bytesOut += exchange.bytesSent;
  if (!ctx.logger.isLevelEnabled('info')) return;
  const sink = ownLineSink(ctx.logger);
  // The line's time: this turn's Date.now() (LogBatch.turnTime), as pino's `time` is ms since the epoch.
  if (sink) return writeAccessFields(sink, exchange, status, 'HIT', firstByteAt, undefined, undefined, firstByteAt, sink.turnTime());
  pinoLine(ctx.logger, { exchange, status, cache: 'HIT', firstByteAt }, firstByteAt);
}

/** The line through pino's serializer (an embedder's logger). */
function pinoLine(logger: ProxyContext['logger'], record: AccessRecord, now: number): void {
  const { exchange } = record;
  const { request } = exchange;
  logger.info(
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

export { accessLine, jsonText, millis, writeAccessFields, writeAccessLine } from './access-line.js';
