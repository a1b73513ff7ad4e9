// The proxy's pino logger: structured lines on stdout. STREAMCACHE_LOG_LEVEL overrides the
// configured level, which is how the test suite keeps every proxy quiet.
import { pino, type Logger } from 'pino';
import type { LogLevel } from './options.js';

export type { Logger };

export function createLogger(level: LogLevel): Logger {
  const override = process.env.STREAMCACHE_LOG_LEVEL as LogLevel | undefined;
  return pino({ name: 'streamcache', level: override ?? level, base: undefined });
}
