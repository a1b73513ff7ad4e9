// The access line as our own logger writes it (src/proxy/access-log.ts decides when): the JSON
// pino would write for the same fields, built without pino's serializer and, for the log batch
// (src/proxy/log-batch.ts), as pieces that are joined once per turn with the other lines.
import { LOGGER_NAME, type OwnLineSink } from './logger.js';
import type { AccessRecord } from './access-log.js';
import type { CacheState } from './cache-state.js';

/**
 * The access line into our own logger's sink: as pieces the batch joins with the turn's other
 * lines when the line is ASCII (no string per line to build and flatten), else as one string.
 */
export function writeAccessLine(sink: OwnLineSink, record: AccessRecord, now: number, time: number): void {
  const count = linePieces(record, now, time);
  if (asciiLine && sink.writeAsciiPieces) sink.writeAsciiPieces(PIECES, count);
  else sink.write(joined(count));
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
  return joined(linePieces(record, now, time));
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
function linePieces(record: AccessRecord, now: number, time: number): number {
  asciiLine = true;
  const { exchange } = record;
  const { request } = exchange;
  PIECES[0] = timeRun(time);
  PIECES[1] = methodRun(request.method);
  PIECES[2] = jsonText(request.target);
  PIECES[3] = statusRun(record.status, request.version, record.cache, exchange.bytesSent);
  PIECES[4] = record.firstByteAt === undefined ? 'null' : millis(record.firstByteAt - exchange.startedAt);
  PIECES[5] = ',"durationMs":';
  PIECES[6] = millis(now - exchange.startedAt);
  PIECES[7] = clientRun(exchange.clientAddress, exchange.state);
  let count = 8;
  if (record.error) PIECES[count++] = `,"error":"${jsonText(record.error)}"`;
  if (record.reason) PIECES[count++] = `,"reason":"${jsonText(record.reason.kind)}"`;
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
