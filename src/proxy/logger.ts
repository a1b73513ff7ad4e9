// The proxy's pino logger: structured lines on stdout. STREAMCACHE_LOG_LEVEL overrides the
// configured level, which is how the test suite keeps every proxy quiet.
import { pino, type Logger } from 'pino';
import { LOG_LEVELS, OptionError, type LogLevel } from './options.js';

export type { Logger };

export function createLogger(level: LogLevel): Logger {
  return pino({ name: 'streamcache', level: effectiveLogLevel(level), base: undefined });
}

/** The configured level, unless STREAMCACHE_LOG_LEVEL says otherwise; a bad variable is an OptionError. */
export function effectiveLogLevel(level: LogLevel): LogLevel {
  const override = process.env.STREAMCACHE_LOG_LEVEL;
  if (override === undefined || override === '') return level;
  if (!(LOG_LEVELS as readonly string[]).includes(override)) throw new OptionError(`STREAMCACHE_LOG_LEVEL: "${override}" is not one of ${LOG_LEVELS.join(', ')}`);
  return override as LogLevel;
}
