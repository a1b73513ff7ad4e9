// The proxy's pino logger: structured lines on stdout, written in batches (one write per turn). STREAMCACHE_LOG_LEVEL overrides the
// configured level, which is how the test suite keeps every proxy quiet.
import { pino, type Logger } from 'pino';
import { LOG_LEVELS, OptionError, type LogLevel } from './options.js';
import { stdoutLines, type LineSink } from './log-batch.js';

/** Where a logger made here writes: lines, and the pieces of a line known to be ASCII (LogBatch.writeAsciiPieces). */
export interface OwnLineSink extends LineSink {
  writeAsciiPieces?(pieces: readonly string[], count: number): void;
}

export type { Logger };

export const LOGGER_NAME = 'streamcache';

/** Loggers made here, and where their lines go: the access log writes its own lines there (src/proxy/access-log.ts). */
const ownSinks = new WeakMap<Logger, OwnLineSink>();

export function createLogger(level: LogLevel): Logger {
  // Lines leave once per event-loop turn, not once each (src/proxy/log-batch.ts).
  const sink = stdoutLines();
  const logger = pino({ name: LOGGER_NAME, level: effectiveLogLevel(level), base: undefined }, sink);
  ownSinks.set(logger, sink);
  return logger;
}

/**
 * The line sink of a logger made by createLogger (name streamcache, no base fields, pino's default
 * JSON), or undefined for an embedder's own logger, which then gets every line through pino.
 */
export function ownLineSink(logger: Logger): OwnLineSink | undefined {
  return ownSinks.get(logger);
}

/** The configured level, unless STREAMCACHE_LOG_LEVEL says otherwise; a bad variable is an OptionError. */
export function effectiveLogLevel(level: LogLevel): LogLevel {
  const override = process.env.STREAMCACHE_LOG_LEVEL;
  if (override === undefined || override === '') return level;
  if (!(LOG_LEVELS as readonly string[]).includes(override)) throw new OptionError(`STREAMCACHE_LOG_LEVEL: "${override}" is not one of ${LOG_LEVELS.join(', ')}`);
  return override as LogLevel;
}
