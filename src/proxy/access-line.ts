// The access line as our own logger writes it (src/proxy/access-log.ts decides when): the JSON
// pino would write for the same fields, built without pino's serializer. The common line (every
// string in it plain ASCII, no error, no reason) is written as bytes straight into the log batch
// (src/proxy/log-batch.ts): runs that repeat from line to line kept as bytes, the path copied as
// it is scanned, the numbers written digit by digit. Any other line is built as a string.
// The module's own binding: the global `performance` is a lazy getter, looked up on every call.
import { performance } from 'node:perf_hooks';
import { LOGGER_NAME, type OwnLineSink } from './logger.js';
import type { AccessRecord } from './access-log.js';
import type { CacheState } from './cache-state.js';
import type { ClientExchange } from '../net/client-exchange.js';
import type { Reason } from '../stream/reasons.js';

/** The access line into our own logger's batch (`now`: performance.now(); `time`: Date.now()). */
export function writeAccessLine(sink: OwnLineSink, record: AccessRecord, now: number, time: number): void {
  writeAccessFields(sink, record.exchange, record.status, record.cache, record.firstByteAt, record.error, record.reason, now, time);
}

/** writeAccessLine with the record's fields as arguments (a hit makes no record: src/proxy/access-log.ts recordHit). */
export function writeAccessFields(
  sink: OwnLineSink,
  exchange: ClientExchange,
  status: number,
  cache: CacheState,
  firstByteAt: number | undefined,
  error: string | undefined,
  reason: Reason | undefined,
  now: number,
  time: number,
): void {
  if (!error && !reason && writeLineBytes(sink, exchange, status, cache, firstByteAt, now, time)) return;
  const line = joined(linePieces(exchange, status, cache, firstByteAt, error, reason, now, time));
  if (asciiLine) sink.writeAscii(line);
  else sink.write(line);
}

/**
 * The line as bytes at the batch's end, if every string in it is ASCII with nothing to escape and
 * every number is one the digit writers print as String() would; false (nothing written) if not.
 * The bytes are the string path's, byte for byte (test/unit/access-line.test.ts compares the two).
 */
function writeLineBytes(sink: OwnLineSink, exchange: ClientExchange, status: number, cache: CacheState, firstByteAt: number | undefined, now: number, time: number): boolean {
  const { request } = exchange;
  const method = methodRunBytes(request.method);
  const tail = tailBytes(exchange.clientAddress, exchange.state);
  if (method === null || tail === null || !(time >= 0 && time < MAX_TIME && Number.isInteger(time))) return false;
  const statusRunBytes = statusBytes(status, request.version, cache, exchange.bytesSent);
  const target = request.target;
  // In whole µs, as millis() rounds them; a negative or huge one (a clock step) goes the string way.
  const ttfb = firstByteAt === undefined ? 0 : Math.round((firstByteAt - exchange.startedAt) * 1000);
  const duration = Math.round((now - exchange.startedAt) * 1000);
  if (!(ttfb >= 0 && ttfb <= MAX_MICROS && duration >= 0 && duration <= MAX_MICROS)) return false;
  const head = headBytes(time, method);
  const room = head.length + target.length + statusRunBytes.length + 24 + DURATION.length + 24 + tail.length;
  const buf = sink.lineRoom(room);
  let at = sink.lineEnd;
  if (buf === prefixSlab && head === prefixHead && statusRunBytes === prefixStatus && target === prefixTarget) {
    // The same line up to ttfbMs as the last one (a hit on the same object this turn): one copy, from the slab.
    buf.copyWithin(at, prefixStart, prefixStart + prefixLength);
    at += prefixLength;
  } else {
    const start = at;
    buf.set(head, at);
    at += head.length;
    for (let i = 0; i < target.length; i++) {
      const c = target.charCodeAt(i);
      // Past ASCII, or escaped by JSON (controls, quote, backslash): the string path's line.
      if (c < 0x20 || c === 0x22 || c === 0x5c || c > 0x7f) return false;
      buf[at++] = c;
    }
    buf.set(statusRunBytes, at);
    at += statusRunBytes.length;
    prefixSlab = buf;
    prefixStart = start;
    prefixLength = at - start;
    prefixHead = head;
    prefixStatus = statusRunBytes;
    prefixTarget = target;
  }
  if (firstByteAt === undefined) {
    buf.set(NULL, at);
    at += NULL.length;
  } else {
    at = writeMicros(buf, at, ttfb);
  }
  at = writeMicros(buf, writeDurationName(buf, at), duration);
  buf.set(tail, at);
  sink.lineWritten(at + tail.length);
  return true;
}

/**
 * Where the last line made piece by piece has its run from `{"level"` to `"ttfbMs":` in the batch's
 * slab, and what it was made of (the head for its time and method, the path, the status run). A
 * slab's bytes are never written again once a line is in them (src/proxy/log-batch.ts), so the
 * next line with the same pieces copies that run; a new slab (the batch moved its pending lines)
 * is another buffer, and the run is made again.
 */
let prefixSlab: Buffer | null = null;
let prefixStart = 0;
let prefixLength = 0;
let prefixHead: Buffer | null = null;
let prefixStatus: Buffer | null = null;
let prefixTarget = '';

/** Times past this (the year 33658) go the string way; a time's ms up to 10^15 are written as two small integers. */
const MAX_TIME = 1e15;
/** Durations of up to ~35 minutes in µs are small integers; longer ones go the string way. */
const MAX_MICROS = 2 ** 31 - 1;

const ascii = (text: string): Buffer => Buffer.from(text, 'latin1');
const TIME_PREFIX = ascii(`{"level":30,"time":`);
const DURATION = ascii(',"durationMs":');

/** DURATION at `at`, byte by byte: 14 stores cost less than a TypedArray set() call (callgrind, issue 18). */
function writeDurationName(buf: Buffer, at: number): number {
  buf[at] = 0x2c; // ,
  buf[at + 1] = 0x22; // "
  buf[at + 2] = 0x64; // d
  buf[at + 3] = 0x75; // u
  buf[at + 4] = 0x72; // r
  buf[at + 5] = 0x61; // a
  buf[at + 6] = 0x74; // t
  buf[at + 7] = 0x69; // i
  buf[at + 8] = 0x6f; // o
  buf[at + 9] = 0x6e; // n
  buf[at + 10] = 0x4d; // M
  buf[at + 11] = 0x73; // s
  buf[at + 12] = 0x22; // "
  buf[at + 13] = 0x3a; // :
  return at + 14;
}
const NULL = ascii('null');

/** String(time) for an integer 0 <= time < 10^15: the digits above 10^9, then the 9 below. */
function writeTime(buf: Buffer, at: number, time: number): number {
  const high = Math.floor(time / 1e9);
  const low = time - high * 1e9;
  if (high === 0) return writeDigits(buf, at, low);
  at = writeDigits(buf, at, high);
  for (let i = at + 8, n = low; i >= at; i--) {
    const q = (n / 10) | 0;
    buf[i] = 0x30 + n - q * 10;
    n = q;
  }
  return at + 9;
}

/** String(n) for a small non-negative integer n. */
function writeDigits(buf: Buffer, at: number, n: number): number {
  let end = at + 1;
  for (let m = n; m >= 10; m = (m / 10) | 0) end++;
  for (let i = end - 1; i >= at; i--) {
    const q = (n / 10) | 0;
    buf[i] = 0x30 + n - q * 10;
    n = q;
  }
  return end;
}

/** millis() of a duration given in whole µs (0 <= us < 2^31): the ms, then the point and the µs with trailing zeros dropped. */
function writeMicros(buf: Buffer, at: number, us: number): number {
  const whole = (us / 1000) | 0;
  const frac = us - whole * 1000;
  at = writeDigits(buf, at, whole);
  if (frac === 0) return at;
  buf[at++] = 0x2e;
  const d1 = (frac / 100) | 0;
  const d2 = ((frac / 10) | 0) - d1 * 10;
  const d3 = frac - ((frac / 10) | 0) * 10;
  buf[at++] = 0x30 + d1;
  if (d2 === 0 && d3 === 0) return at;
  buf[at++] = 0x30 + d2;
  if (d3 !== 0) buf[at++] = 0x30 + d3;
  return at;
}

let lastHead: { readonly time: number; readonly method: Buffer | null; readonly bytes: Buffer } = { time: NaN, method: null, bytes: NULL };

/**
 * The line up to the opening quote of the path, as bytes, for a time and a method: one copy per
 * line, made again when the millisecond (or the turn: LogBatch.turnTime) or the method changes.
 */
function headBytes(time: number, method: Buffer): Buffer {
  const last = lastHead;
  if (last.time === time && last.method === method) return last.bytes;
  const bytes = Buffer.allocUnsafe(TIME_PREFIX.length + 16 + method.length);
  bytes.set(TIME_PREFIX, 0);
  let at = writeTime(bytes, TIME_PREFIX.length, time);
  bytes.set(method, at);
  at += method.length;
  lastHead = { time, method, bytes: bytes.subarray(0, at) };
  return lastHead.bytes;
}

let lastMethodBytes: { readonly method: string; readonly bytes: Buffer | null } = { method: '', bytes: null };

/** From after the time to the opening quote of the path, as bytes; null for a method that is not plain ASCII. */
function methodRunBytes(method: string): Buffer | null {
  if (lastMethodBytes.method !== method) lastMethodBytes = { method, bytes: plain(method) ? ascii(`,"name":"${LOGGER_NAME}","method":"${method}","path":"`) : null };
  return lastMethodBytes.bytes;
}

let lastStatusBytes: StatusRun & { readonly bytesRun: Buffer } = { status: 0, major: 0, minor: 0, cache: '', bytes: -1, text: '', bytesRun: NULL };

/** statusRun as bytes. */
function statusBytes(status: number, version: { readonly major: number; readonly minor: number }, cache: CacheState, bytes: number): Buffer {
  const last = lastStatusBytes;
  if (last.status !== status || last.cache !== cache || last.bytes !== bytes || last.major !== version.major || last.minor !== version.minor) {
    // Spelled out, not spread: every memo of one shape keeps its loads monomorphic.
    const text = statusRun(status, version, cache, bytes);
    lastStatusBytes = { status, major: version.major, minor: version.minor, cache, bytes, text, bytesRun: ascii(text) };
  }
  return lastStatusBytes.bytesRun;
}

let lastTail: { readonly address: string; readonly state: string; readonly bytes: Buffer | null } = { address: '', state: '', bytes: null };

/** The client, the outcome and the end of the line, as bytes; null for an address that is not plain ASCII. */
function tailBytes(address: string, state: string): Buffer | null {
  if (lastTail.address !== address || lastTail.state !== state) {
    lastTail = { address, state, bytes: plain(address) && plain(state) ? ascii(`,"client":"${address}","outcome":"${state}"${LINE_END}`) : null };
  }
  return lastTail.bytes;
}

/** Whether `text` is ASCII with nothing JSON escapes: itself between the quotes, its latin1 bytes its UTF-8. */
function plain(text: string): boolean {
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c < 0x20 || c === 0x22 || c === 0x5c || c > 0x7f) return false;
  }
  return true;
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
  return joined(linePieces(record.exchange, record.status, record.cache, record.firstByteAt, record.error, record.reason, now, time));
}

/** The pieces of the line being written (reused: a line is made and handed on in one go). */
const PIECES: string[] = [];

function joined(count: number): string {
  let line = '';
  for (let i = 0; i < count; i++) line += PIECES[i];
  return line;
}

/**
 * Puts the access line's pieces into PIECES and returns how many; asciiLine says whether they are
 * all ASCII. Runs that repeat from one line to the next (the time within a millisecond; the method;
 * status, version, cache and bytes; client and outcome) are kept whole.
 */
function linePieces(
  exchange: ClientExchange,
  status: number,
  cache: CacheState,
  firstByteAt: number | undefined,
  error: string | undefined,
  reason: Reason | undefined,
  now: number,
  time: number,
): number {
  asciiLine = true;
  const { request } = exchange;
  PIECES[0] = timeRun(time);
  PIECES[1] = methodRun(request.method);
  PIECES[2] = jsonText(request.target);
  PIECES[3] = statusRun(status, request.version, cache, exchange.bytesSent);
  PIECES[4] = firstByteAt === undefined ? 'null' : millis(firstByteAt - exchange.startedAt);
  PIECES[5] = ',"durationMs":';
  PIECES[6] = millis(now - exchange.startedAt);
  PIECES[7] = clientRun(exchange.clientAddress, exchange.state);
  let count = 8;
  if (error) PIECES[count++] = `,"error":"${jsonText(error)}"`;
  if (reason) PIECES[count++] = `,"reason":"${jsonText(reason.kind)}"`;
  PIECES[count++] = LINE_END;
  return count;
}

const LINE_END = ',"msg":"access"}\n';

/** The line up to its time, and the time (the same millisecond for many lines). */
let lastTime: { readonly time: number; readonly text: string } = { time: NaN, text: '' };

function timeRun(time: number): string {
  if (lastTime.time !== time) lastTime = { time, text: flattened(`{"level":${INFO},"time":${integerText(time)}`) };
  return lastTime.text;
}

/**
 * String(n) for a non-negative integer such as a time in ms (past 2^31: not a small integer, and
 * V8 would format it as a double), from two small integers.
 */
function integerText(n: number): string {
  if (n < 1e9 || !Number.isSafeInteger(n)) return String(n);
  const high = Math.floor(n / 1e9);
  return `${high}${String(1e9 + (n - high * 1e9)).slice(1)}`;
}

let lastMethod: { readonly method: string; readonly text: string; readonly ascii: boolean } = { method: '', text: '', ascii: true };

/** From after the time to the opening quote of the path. */
function methodRun(method: string): string {
  if (lastMethod.method !== method) {
    const [text, ascii] = scanned(method);
    lastMethod = { method, text: flattened(`,"name":"${LOGGER_NAME}","method":"${text}","path":"`), ascii };
  }
  if (!lastMethod.ascii) asciiLine = false;
  return lastMethod.text;
}

interface StatusRun {
  readonly status: number;
  readonly major: number;
  readonly minor: number;
  readonly cache: string;
  readonly bytes: number;
  readonly text: string;
}

let lastStatus: StatusRun = { status: 0, major: 0, minor: 0, cache: '', bytes: -1, text: '' };

/** From the closing quote of the path to the value of ttfbMs. */
function statusRun(status: number, version: { readonly major: number; readonly minor: number }, cache: CacheState, bytes: number): string {
  const last = lastStatus;
  if (last.status !== status || last.cache !== cache || last.bytes !== bytes || last.major !== version.major || last.minor !== version.minor) {
    const text = flattened(`","status":${status},"version":"${versionText(version)}","cache":"${cache}","bytes":${bytes},"ttfbMs":`);
    lastStatus = { status, major: version.major, minor: version.minor, cache, bytes, text };
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
    lastClient = { address, escaped, ascii, state, text: flattened(`,"client":"${escaped}","outcome":"${state}"`) };
  } else if (lastClient.state !== state) {
    lastClient = { ...lastClient, state, text: flattened(`,"client":"${lastClient.escaped}","outcome":"${state}"`) };
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

/** A run made one flat string once, since every line copies it (see flattened in src/cache/object.ts). */
function flattened(text: string): string {
  void Number(text);
  return text;
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

/** ms rounded to the microsecond, as the line prints it (pino's path prints this number). */
export function round(ms: number): number {
  return Math.round(ms * 1000) / 1000;
}
