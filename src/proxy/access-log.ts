// One access-log line per response, with the cache state, bytes and timings; and the counters
// behind the stats endpoint, fed from the same place so the two can never disagree.
import type { ClientExchange } from '../net/client-exchange.js';
import type { ProxyContext } from './context.js';
import { LOGGER_NAME, ownLineSink } from './logger.js';

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
  if (sink) return sink.write(accessLine(record, now, Date.now()));
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

/** pino's info level number. */
const INFO = 30;

/**
 * The access line as our own logger would write it through pino (same fields, same order, same
 * JSON), built as one string: pino's generic serializer (an object per line, each value
 * stringified and concatenated) cost as much as the rest of a hit (callgrind, issue 18).
 * Strings a client sent are escaped as JSON.stringify escapes them (jsonText), which most of them
 * do not need: the check is a scan, JSON.stringify runs only for a string that has something to escape.
 */
export function accessLine(record: AccessRecord, now: number, time: number): string {
  const { exchange } = record;
  const { request } = exchange;
  const ttfb = record.firstByteAt === undefined ? 'null' : millis(record.firstByteAt - exchange.startedAt);
  let line =
    `${LINE_START}${time}${AFTER_TIME}${jsonText(request.method)}","path":"${jsonText(request.target)}","status":${record.status},"version":"${versionText(request.version)}"` +
    `,"cache":"${record.cache}","bytes":${exchange.bytesSent},"ttfbMs":${ttfb},"durationMs":${millis(now - exchange.startedAt)},"client":"${clientText(exchange.clientAddress)}","outcome":"${exchange.state}"`;
  if (record.error) line += `,"error":"${jsonText(record.error)}"`;
  if (record.reason) line += `,"reason":"${jsonText(record.reason.kind)}"`;
  return `${line}${LINE_END}`;
}

const LINE_START = `{"level":${INFO},"time":`;
const AFTER_TIME = `,"name":"${LOGGER_NAME}","method":"`;
const LINE_END = ',"msg":"access"}\n';

function versionText(version: { readonly major: number; readonly minor: number }): string {
  if (version.major === 1) return version.minor === 1 ? '1.1' : version.minor === 0 ? '1.0' : `1.${version.minor}`;
  return `${version.major}.${version.minor}`;
}

/**
 * `text` as it stands between the quotes of JSON.stringify(text): itself unless it holds a
 * character JSON escapes (a control character, `"`, `\`, or a UTF-16 surrogate, which
 * JSON.stringify escapes when it is unpaired).
 */
export function jsonText(text: string): string {
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c < 0x20 || c === 0x22 || c === 0x5c || (c >= 0xd800 && c <= 0xdfff)) return JSON.stringify(text).slice(1, -1);
  }
  return text;
}

/** The client address of the last line (a connection's requests come one after another): escaped once per address. */
let lastClient: { readonly address: string; readonly text: string } = { address: '', text: '' };

function clientText(address: string): string {
  if (lastClient.address !== address) lastClient = { address, text: jsonText(address) };
  return lastClient.text;
}

/**
 * String(round(ms)) without formatting a double: the value in whole microseconds, then the point
 * put in by hand (trailing zeros dropped, as JavaScript prints the double nearest to k / 1000).
 */
export function millis(ms: number): string {
  const us = Math.round(ms * 1000);
  if (!Number.isSafeInteger(us) || us < 0) return String(round(ms));
  const whole = Math.floor(us / 1000);
  let frac = us - whole * 1000;
  if (frac === 0) return String(whole);
  let digits = 3;
  while (frac % 10 === 0) {
    frac /= 10;
    digits--;
  }
  return `${whole}.${String(frac).padStart(digits, '0')}`;
}

function round(ms: number): number {
  return Math.round(ms * 1000) / 1000;
}
