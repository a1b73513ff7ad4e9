// One access-log line per response, with the cache state, bytes and timings; and the counters
// behind the stats endpoint, fed from the same place so the two can never disagree.
import type { ClientExchange } from '../net/client-exchange.js';
import type { ProxyContext } from './context.js';
import { LOGGER_NAME, ownLineSink, type OwnLineSink } from './logger.js';

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

/** The access line into our own logger's sink, as ASCII when it is (the sink then copies instead of encoding it). */
export function writeAccessLine(sink: OwnLineSink, record: AccessRecord, now: number, time: number): void {
  const line = accessLine(record, now, time);
  if (asciiLine && sink.writeAscii) sink.writeAscii(line);
  else sink.write(line);
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
  asciiLine = true;
  const { exchange } = record;
  const { request } = exchange;
  const ttfb = record.firstByteAt === undefined ? 'null' : millis(record.firstByteAt - exchange.startedAt);
  // Runs of the line that repeat from one line to the next (the method, then status, version and
  // cache, then client and outcome) are kept whole: fewer pieces to join per line.
  const line =
    `${timeText(time)}${methodRun(request.method)}${jsonText(request.target)}${statusRun(record.status, request.version, record.cache)}${exchange.bytesSent}` +
    `,"ttfbMs":${ttfb},"durationMs":${millis(now - exchange.startedAt)}${clientRun(exchange.clientAddress, exchange.state)}`;
  if (!record.error && !record.reason) return `${line}${LINE_END}`;
  let rest = '';
  if (record.error) rest += `,"error":"${jsonText(record.error)}"`;
  if (record.reason) rest += `,"reason":"${jsonText(record.reason.kind)}"`;
  return `${line}${rest}${LINE_END}`;
}

const LINE_END = ',"msg":"access"}\n';

/** The line up to its time, and the time (the same millisecond for many lines). */
let lastTime: { readonly time: number; readonly text: string } = { time: NaN, text: '' };

function timeText(time: number): string {
  if (lastTime.time !== time) lastTime = { time, text: `{"level":${INFO},"time":${time}` };
  return lastTime.text;
}

let lastMethod: { readonly method: string; readonly text: string; readonly ascii: boolean } = { method: '', text: '', ascii: true };

/** From after the time to the opening quote of the path. */
function methodRun(method: string): string {
  if (lastMethod.method !== method) {
    const [text, ascii] = scanned(method);
    lastMethod = { method, text: `,"name":"${LOGGER_NAME}","method":"${text}","path":"`, ascii };
  }
  if (!lastMethod.ascii) asciiLine = false;
  return lastMethod.text;
}

let lastStatus: { readonly status: number; readonly version: { readonly major: number; readonly minor: number } | null; readonly cache: string; readonly text: string } = {
  status: 0,
  version: null,
  cache: '',
  text: '',
};

/** From the closing quote of the path to the bytes. */
function statusRun(status: number, version: { readonly major: number; readonly minor: number }, cache: CacheState): string {
  const last = lastStatus;
  if (last.status !== status || last.cache !== cache || last.version?.major !== version.major || last.version.minor !== version.minor) {
    lastStatus = { status, version: { major: version.major, minor: version.minor }, cache, text: `","status":${status},"version":"${versionText(version)}","cache":"${cache}","bytes":` };
  }
  return lastStatus.text;
}

let lastClient: { readonly address: string; readonly escaped: string; readonly ascii: boolean; readonly state: string; readonly text: string } = {
  address: '',
  escaped: '',
  ascii: true,
  state: '',
  text: '',
};

/** The client and the outcome (a connection's requests come one after another): the address scanned once per address. */
function clientRun(address: string, state: string): string {
  if (lastClient.address !== address) {
    const [escaped, ascii] = scanned(address);
    lastClient = { address, escaped, ascii, state, text: `,"client":"${escaped}","outcome":"${state}"` };
  } else if (lastClient.state !== state) {
    lastClient = { ...lastClient, state, text: `,"client":"${lastClient.escaped}","outcome":"${state}"` };
  }
  if (!lastClient.ascii) asciiLine = false;
  return lastClient.text;
}

/** jsonText(text), and whether it is all ASCII, without touching the line's asciiLine. */
function scanned(text: string): [string, boolean] {
  const before = asciiLine;
  asciiLine = true;
  const escaped = jsonText(text);
  const ascii = asciiLine;
  asciiLine = before;
  return [escaped, ascii];
}

function versionText(version: { readonly major: number; readonly minor: number }): string {
  if (version.major === 1) return version.minor === 1 ? '1.1' : version.minor === 0 ? '1.0' : `1.${version.minor}`;
  return `${version.major}.${version.minor}`;
}

/**
 * Whether the line accessLine built last is all ASCII, so that its latin1 bytes are its UTF-8
 * (the log batch then copies it instead of encoding it: src/proxy/log-batch.ts). Everything in
 * the line but the strings jsonText scans is ASCII by construction.
 */
let asciiLine = true;

/**
 * `text` as it stands between the quotes of JSON.stringify(text): itself unless it holds a
 * character JSON escapes (a control character, `"`, `\`, or a UTF-16 surrogate, which
 * JSON.stringify escapes when it is unpaired). Notes a character past ASCII in asciiLine.
 */
export function jsonText(text: string): string {
  let ascii = true;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c < 0x20 || c === 0x22 || c === 0x5c || (c >= 0xd800 && c <= 0xdfff)) {
      asciiLine = false;
      return JSON.stringify(text).slice(1, -1);
    }
    if (c > 0x7f) ascii = false;
  }
  if (!ascii) asciiLine = false;
  return text;
}

/**
 * String(round(ms)) without formatting a double: the value in whole microseconds, then the point
 * put in by hand (trailing zeros dropped, as JavaScript prints the double nearest to k / 1000).
 */
export function millis(ms: number): string {
  const us = Math.round(ms * 1000);
  if (!Number.isSafeInteger(us) || us < 0) return String(round(ms));
  const whole = Math.floor(us / 1000);
  return `${whole}${FRACTIONS[us - whole * 1000]}`;
}

/** `.001` to `.999` with trailing zeros dropped, and '' for 0: the part after the point of k / 1000. */
const FRACTIONS: readonly string[] = Array.from({ length: 1000 }, (_, frac) => (frac === 0 ? '' : `.${String(frac).padStart(3, '0').replace(/0+$/, '')}`));

function round(ms: number): number {
  return Math.round(ms * 1000) / 1000;
}
