// One access-log line per response, with the cache state, bytes and timings.
import type { Logger } from 'pino';
import type { ClientExchange } from '../net/client-exchange.js';

/** How a response was served. PASS: relayed for this client alone, never stored. */
export type CacheState = 'HIT' | 'MISS' | 'PASS' | 'COLLAPSED' | 'STREAM';

export interface AccessRecord {
  exchange: ClientExchange;
  status: number;
  cache: CacheState;
  /** performance.now() when the response head went out; undefined if it never did. */
  firstByteAt: number | undefined;
  /** Why the response failed or was cut, if it was. */
  error?: string;
}

export function logAccess(logger: Logger, record: AccessRecord): void {
  if (!logger.isLevelEnabled('info')) return;
  const { exchange } = record;
  const now = performance.now();
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
    },
    'access',
  );
}

function round(ms: number): number {
  return Math.round(ms * 1000) / 1000;
}
