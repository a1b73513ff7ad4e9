// The origin behind the proxy under fuzz: a raw node:net server that serves
//   /good/...   valid, deterministic responses (see good-urls.ts), keep-alive, conditional (304);
//   /evil/<n>   bytes generated from seed n (evilPlan): valid responses, truncated ones, mutated
//               ones, lying Content-Length and chunk sizes, invalid heads, random bytes, early
//               close, reset, stalls past the proxy's timeouts;
//   anything else  a small valid 404.
//
// Keeping /good/ answers trustworthy next to /evil/ ones takes one rule. An evil response may end
// where the proxy thinks it does not (a lying length, extra bytes): the proxy may then think the
// connection free and send the next request on it, whose "response" would be our leftover garbage.
// No proxy can tell that apart from a bad answer, so the origin never lets it happen: a mutated
// response is written in ONE write (it reaches the proxy in one read, with any excess), and a
// connection that carried a response which is not plainly valid is "tainted": any later request on
// it is answered by closing the connection before a byte is sent, which the proxy must treat as a
// stale keep-alive connection (it retries once on a new one). Valid evil responses may be dripped
// in several writes and keep the connection.
//
// The origin also checks what the proxy sends it: every request must be strict HTTP/1.1 with one
// Host, unambiguous framing and a body exactly as framed; and no request may have a target under
// /smuggled/ (only hostile clients' smuggling attempts contain one). Violations are reported.
import net from 'node:net';
import { Rng, mix32 } from './prng.js';
import { chunked, mutate, showBytes, splitRandom } from './mutate.js';
import { goodBody, goodDelivery, goodEtag, goodResponseHead, parseGoodPath, type GoodSpec } from './good-urls.js';
import { parseResponses } from '../support/raw-client.js';
import { MAX_ORIGIN_STALL_MS } from './config.js';
import { TimerSet } from '../support/socket-watch.js';

// ------------------------------------------------------------------------------------------------
// Evil responses

export type EvilEnding = 'keep' | 'fin' | 'rst' | 'stall';

export interface EvilPlan {
  seed: number;
  /** What was generated, for transcripts. */
  description: string;
  /** Wait before the first byte, ms (beyond the proxy's first-byte timeout, sometimes). */
  headDelayMs: number;
  /** The bytes, one write each, `gapMs` apart. More than one piece only for valid or truncated responses. */
  pieces: Buffer[];
  gapMs: number;
  /** After the last piece: keep the connection for the next request (valid responses only), close, reset, or go silent. */
  ending: EvilEnding;
  /** Delay before the ending (for 'stall': how long to stay silent before closing). */
  endDelayMs: number;
  /** Plainly valid and complete: the connection stays trustworthy. */
  valid: boolean;
}


const STATUSES: readonly (readonly [number, number])[] = [
  [50, 200], [4, 203], [6, 404], [4, 500], [3, 503], [3, 301], [3, 302], [4, 204], [4, 304], [2, 206], [2, 410], [1, 299], [1, 599], [1, 999], [1, 101], [1, 100],
];

const OPTIONAL_FIELDS: readonly string[] = [
  'Cache-Control: max-age=60', 'Cache-Control: no-store', 'Cache-Control: private', 'Cache-Control: no-cache',
  'Cache-Control: s-maxage=30, no-cache', 'Cache-Control: max-age=0', 'Cache-Control: max-age=1, must-revalidate',
  'Surrogate-Control: max-age=20', 'CDN-Cache-Control: max-age=10', 'Expires: Thu, 01 Jan 2099 00:00:00 GMT',
  'Expires: 0', 'Last-Modified: Mon, 01 Jan 2001 00:00:00 GMT', 'ETag: "e1"', 'ETag: W/"weak"', 'Age: 5', 'Age: 999999999',
  'Vary: Accept-Encoding', 'Vary: *', 'Vary: X-Fuzz-Case', 'Set-Cookie: a=b; Path=/', 'Content-Type: text/plain',
  'Connection: close', 'Connection: keep-alive', 'Keep-Alive: timeout=1', 'Trailer: X-T', 'Upgrade: h2c',
  'Location: /good/0/1/length/c', 'Content-Location: /good/1/1/length/c', 'Proxy-Authenticate: Basic', 'Via: 1.1 other',
  'Date: Mon, 01 Jan 2001 00:00:00 GMT', `X-Long: ${'v'.repeat(3000)}`, 'X-Empty:', 'x-lower: case', 'X-Obs: caf\xe9',
];

interface BaseResponse {
  head: string;
  body: Buffer;
  framing: 'length' | 'chunked' | 'close';
  /** Where the body (as framed) starts in `bytes`. */
  bytes: Buffer;
  headLength: number;
  status: number;
}

/** A valid response (sometimes with 1xx interim responses first), chosen by `rng`. */
function baseResponse(rng: Rng, force?: { framing?: BaseResponse['framing'] }): BaseResponse {
  let status = rng.weighted(STATUSES);
  if (status < 200) status = 200; // 1xx only as interim responses, below
  // 204 and 304 never have a body: bytes after their head would be garbage on the connection.
  const bodiless = status === 204 || status === 304;
  const http10 = rng.chance(0.1);
  const framing = force?.framing ?? rng.weighted<BaseResponse['framing']>([[45, 'length'], [35, 'chunked'], [20, 'close']]);
  const lines = [`${http10 ? 'HTTP/1.0' : 'HTTP/1.1'} ${status} ${rng.pick(['OK', 'Whatever', '', 'R\xe9ason', 'OK OK'])}`];
  const fieldCount = rng.int(0, 6);
  for (let i = 0; i < fieldCount; i++) lines.push(rng.pick(OPTIONAL_FIELDS));
  const body = bodiless ? Buffer.alloc(0) : rng.bytes(rng.weighted<() => number>([[2, () => 0], [6, () => rng.logInt(1, 2000)], [3, () => rng.logInt(2000, 40_000)]])());
  let framed: Buffer = body;
  if (bodiless) {
    // no framing fields, no body
  } else if (framing === 'length') lines.push(`Content-Length: ${body.length}`);
  else if (framing === 'chunked') {
    lines.push('Transfer-Encoding: chunked');
    framed = chunked(body, [rng.logInt(1, 8192), rng.logInt(1, 8192)], { extensions: rng.chance(0.2), rng, trailers: rng.chance(0.1) ? ['X-Trailer: t'] : [] });
  }
  let interim = '';
  if (rng.chance(0.1)) interim += 'HTTP/1.1 100 Continue\r\n\r\n';
  if (rng.chance(0.05)) interim += 'HTTP/1.1 103 Early Hints\r\nLink: </s.css>; rel=preload\r\n\r\n';
  const head = `${interim}${lines.join('\r\n')}\r\n\r\n`;
  const headBytes = Buffer.from(head, 'latin1');
  return { head, body, framing, bytes: Buffer.concat([headBytes, framed]), headLength: headBytes.length, status };
}

const LYING_LENGTHS = ['99999999999999', '18446744073709551616', '9007199254740993', '-1', '+10', '1e3', '0x10', ' 10 10', '10, 11', '', '5\x00'];
const BAD_FIELDS = [
  'Content-Length: 5\r\nTransfer-Encoding: chunked', 'Transfer-Encoding: chunked\r\nContent-Length: 5', 'Bad Name: x', 'NoColonHere',
  'X-Nul: a\x00b', 'X-Ctl: \x01', ' obs-fold', '\tobs-fold', 'Transfer-Encoding: gzip', 'Transfer-Encoding: chunked, gzip',
  'Transfer-Encoding: chunked\r\nTransfer-Encoding: chunked', 'Content-Length: 3\r\nContent-Length: 4', 'Content-Length : 3',
  'X-Bare-LF: a\nX-Other: b', 'X-Bare-CR: a\rb', ': empty-name', 'X-Del: \x7f', `X-Huge: ${'h'.repeat(20_000)}`,
];
const BAD_STATUS_LINES = ['HTTP/1.1 2000 OK', 'HTTP/2.0 200 OK', 'HTTP/1.1 200', 'HTTP/1.1  200 OK', 'ICY 200 OK', 'HTTP/1.1 -20 OK', 'http/1.1 200 OK', 'HTTP/1.1 2x0 OK', 'HTTP/1.10 200 OK', 'HTTP/1.1 200 O\x00K'];
const BAD_CHUNK_SIZES = ['-1', '0x10', 'g', '', 'ffffffffffffffffff', ' 10', '10 ', '1;', '1;a=\x00', '+1', '1_0'];

/** The evil response for /evil/<seed>: a pure function of the seed. */
export function evilPlan(seed: number): EvilPlan {
  const rng = new Rng(mix32(seed, 0xe711));
  // Now and then past the proxy's first-byte timeout (O1).
  const headDelayMs = rng.weighted<() => number>([[80, () => 0], [15, () => rng.int(1, 200)], [5, () => rng.int(1600, 2200)]])();
  const kind = rng.weighted<string>([
    [22, 'valid'], [10, 'truncated'], [28, 'mutated'], [8, 'lying-length'], [8, 'lying-chunks'], [10, 'bad-head'], [6, 'random'], [3, 'huge-head'], [5, 'empty'],
  ]);
  const singleEnding = (): [EvilEnding, number] => {
    const ending = rng.weighted<EvilEnding>([[55, 'fin'], [25, 'rst'], [20, 'stall']]);
    const delay = ending === 'stall' ? rng.int(300, MAX_ORIGIN_STALL_MS) : rng.chance(0.6) ? 0 : rng.int(1, 800);
    return [ending, delay];
  };

  switch (kind) {
    case 'valid': {
      const base = baseResponse(rng);
      const pieces = rng.chance(0.5) ? [base.bytes] : splitRandom(rng, base.bytes, 6);
      // Mostly quick drips; now and then a pause past the proxy's between-bytes timeout (O2).
      const gapMs = rng.weighted<() => number>([[70, () => 0], [25, () => rng.int(1, 40)], [5, () => rng.int(1100, 1400)]])();
      const closeDelimited = base.framing === 'close';
      const ending: EvilEnding = closeDelimited ? rng.weighted<EvilEnding>([[80, 'fin'], [20, 'rst']]) : rng.weighted<EvilEnding>([[60, 'keep'], [30, 'fin'], [10, 'rst']]);
      return {
        seed, description: `valid ${base.status} ${base.framing} body ${base.body.length} B in ${pieces.length} piece(s) ${gapMs} ms apart, then ${ending}`,
        headDelayMs, pieces, gapMs, ending, endDelayMs: rng.chance(0.7) ? 0 : rng.int(1, 300), valid: true,
      };
    }
    case 'truncated': {
      const base = baseResponse(rng);
      const cut = rng.int(0, Math.max(0, base.bytes.length - 1));
      const bytes = base.bytes.subarray(0, cut);
      const pieces = rng.chance(0.5) || bytes.length < 2 ? [bytes] : splitRandom(rng, bytes, 4);
      const [ending, endDelayMs] = singleEnding();
      return { seed, description: `valid ${base.status} ${base.framing} cut at byte ${cut} of ${base.bytes.length}, then ${ending}`, headDelayMs, pieces, gapMs: rng.int(0, 30), ending, endDelayMs, valid: false };
    }
    case 'mutated': {
      const base = baseResponse(rng);
      const count = rng.int(1, 6);
      const { bytes, applied } = mutate(rng, base.bytes, count, base.headLength);
      const [ending, endDelayMs] = singleEnding();
      return { seed, description: `${base.status} ${base.framing} mutated (${applied.join(', ')}), then ${ending}`, headDelayMs, pieces: [bytes], gapMs: 0, ending, endDelayMs, valid: false };
    }
    case 'lying-length': {
      const base = baseResponse(rng, { framing: 'length' });
      const n = base.body.length;
      const lie = rng.weighted<() => string>([[3, () => String(n + rng.int(1, 5000))], [3, () => String(Math.max(0, n - rng.int(1, Math.max(1, n))))], [4, () => rng.pick(LYING_LENGTHS)]])();
      const bytes = Buffer.from(base.bytes.toString('latin1').replace(`Content-Length: ${n}\r\n`, `Content-Length: ${lie}\r\n`), 'latin1');
      const [ending, endDelayMs] = singleEnding();
      return { seed, description: `${base.status} with Content-Length ${JSON.stringify(lie)} for ${n} body bytes, then ${ending}`, headDelayMs, pieces: [bytes], gapMs: 0, ending, endDelayMs, valid: false };
    }
    case 'lying-chunks': {
      const base = baseResponse(rng, { framing: 'length' });
      const head = base.head.replace(/Content-Length: \d+\r\n/, 'Transfer-Encoding: chunked\r\n');
      const parts: string[] = [];
      let at = 0;
      const body = base.body.toString('latin1');
      const liar = rng.int(0, 3);
      for (let i = 0; at < body.length || i === 0; i++) {
        const size = Math.min(body.length - at, rng.logInt(1, 4096));
        let sizeText = size.toString(16);
        if (i === liar) {
          sizeText = rng.weighted<() => string>([[3, () => (size + rng.int(1, 100)).toString(16)], [3, () => Math.max(0, size - rng.int(1, 100)).toString(16)], [4, () => rng.pick(BAD_CHUNK_SIZES)]])();
        }
        parts.push(`${sizeText}\r\n${body.slice(at, at + size)}${rng.chance(0.05) ? '\n' : '\r\n'}`);
        at += size;
        if (size === 0) break;
      }
      if (rng.chance(0.8)) parts.push('0\r\n\r\n');
      const [ending, endDelayMs] = singleEnding();
      return {
        seed, description: `${base.status} chunked with a lying chunk ${liar} (${parts.length} chunk lines), then ${ending}`,
        headDelayMs, pieces: [Buffer.from(head + parts.join(''), 'latin1')], gapMs: 0, ending, endDelayMs, valid: false,
      };
    }
    case 'bad-head': {
      const base = baseResponse(rng);
      let text = base.bytes.toString('latin1');
      const what = rng.chance(0.3) ? 'status line' : 'field';
      if (what === 'status line') text = text.replace(/^HTTP\/1\.[01] [^\r]*/, rng.pick(BAD_STATUS_LINES));
      else {
        const field = rng.pick(BAD_FIELDS);
        const end = text.indexOf('\r\n\r\n');
        const lineEnds = [...text.slice(0, end + 2).matchAll(/\r\n/g)].map((m) => m.index ?? 0);
        const at = rng.pick(lineEnds) + 2;
        text = `${text.slice(0, at)}${field}\r\n${text.slice(at)}`;
      }
      const [ending, endDelayMs] = singleEnding();
      return { seed, description: `${base.status} ${base.framing} with an invalid ${what}, then ${ending}`, headDelayMs, pieces: [Buffer.from(text, 'latin1')], gapMs: 0, ending, endDelayMs, valid: false };
    }
    case 'random': {
      const prefix = rng.pick(['', '', 'HTTP/1.1 ', 'HTTP/1.1 200 OK\r\n', 'HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\n']);
      const bytes = Buffer.concat([Buffer.from(prefix, 'latin1'), rng.bytes(rng.logInt(1, 8192))]);
      const [ending, endDelayMs] = singleEnding();
      return { seed, description: `${bytes.length} random bytes after ${JSON.stringify(prefix)}, then ${ending}`, headDelayMs, pieces: [bytes], gapMs: 0, ending, endDelayMs, valid: false };
    }
    case 'huge-head': {
      const size = rng.int(17_000, 80_000);
      const many = rng.chance(0.5);
      const fields = many ? Array.from({ length: Math.ceil(size / 12) }, (_, i) => `X-${i}: v\r\n`).join('') : `X-Big: ${'b'.repeat(size)}\r\n`;
      const bytes = Buffer.from(`HTTP/1.1 200 OK\r\n${fields}Content-Length: 2\r\n\r\nok`, 'latin1');
      const [ending, endDelayMs] = singleEnding();
      return { seed, description: `a ${bytes.length}-byte head (${many ? 'many fields' : 'one huge field'}), then ${ending}`, headDelayMs, pieces: [bytes], gapMs: 0, ending, endDelayMs, valid: false };
    }
    default: {
      const [ending, endDelayMs] = singleEnding();
      return { seed, description: `no bytes at all, then ${ending}`, headDelayMs, pieces: [], gapMs: 0, ending, endDelayMs, valid: false };
    }
  }
}

/**
 * What a client must receive when the proxy relays the evil response whole: its status and body,
 * when the independent parser reads the origin's bytes as one complete, unambiguous response.
 * Undefined when the bytes are not that (then any 503 or abrupt close is fine).
 */
export function evilExpectation(plan: EvilPlan): { status: number; body: Buffer } | undefined {
  const bytes = Buffer.concat(plan.pieces);
  try {
    const responses = parseResponses(bytes, ['GET'], { closedCleanly: plan.ending === 'fin' || plan.ending === 'stall', maxFinal: 1 });
    const final = responses.find((r) => r.headComplete && (r.status < 100 || r.status >= 200));
    if (!final || !final.complete || final.problems.length > 0) return undefined;
    // A close-delimited body that only ends after a stall longer than the between-bytes timeout never completes at the proxy.
    if (final.framing === 'close' && plan.ending !== 'fin') return undefined;
    return { status: final.status, body: Buffer.from(final.body) };
  } catch {
    return undefined;
  }
}

/** The seed an /evil/<seed>... request-target names, or undefined. */
export function parseEvilPath(target: string): number | undefined {
  const m = /^\/evil\/(\d{1,10})(?:[/?]|$)/.exec(target);
  if (!m) return undefined;
  const seed = Number(m[1]);
  return seed <= 0xffffffff ? seed : undefined;
}

// ------------------------------------------------------------------------------------------------
// The server

/** Something the proxy sent the origin that it never should have. */
export interface OriginViolation {
  rule: string;
  detail: string;
  /** The X-Fuzz-Case field of the request, when it had one (the case that caused the request). */
  caseSeed?: number;
}

export interface OriginStats {
  connections: number;
  requests: number;
  goodResponses: number;
  notModified: number;
  evilResponses: number;
  otherResponses: number;
  /** Requests that arrived on a tainted connection (answered by closing it). */
  taintedReuse: number;
}

export interface HostileOrigin {
  readonly port: number;
  readonly stats: OriginStats;
  /** Connections currently open. */
  openConnections(): number;
  close(): Promise<void>;
}

export interface HostileOriginEvents {
  /** The proxy sent something it never should have. */
  onViolation(violation: OriginViolation): void;
  /** Every request, as one line (for replay transcripts). */
  onRequest?(summary: string): void;
}

interface ParsedRequest {
  method: string;
  target: string;
  headers: [string, string][];
  raw: string;
  bodyLength: number;
}

const TOKEN = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;
const FIELD_VALUE = /^[\t\x20-\x7e\x80-\xff]*$/;
const MAX_REQUEST_HEAD = 256 * 1024;

/** One connection's incremental request reader: strict, because the proxy must send strict HTTP/1.1. */
class RequestReader {
  private buffered: Buffer = Buffer.alloc(0);
  private current: ParsedRequest | null = null;
  private bodyMode: 'none' | 'length' | 'chunked' = 'none';
  private remaining = 0;
  private chunkPhase: 'size' | 'data' | 'data-crlf' | 'trailer' = 'size';

  constructor(private readonly violation: (rule: string, detail: string, head?: string) => void) {}

  /** Feeds bytes; returns the requests completed by them. Throws on a framing violation (the connection is then closed). */
  feed(chunk: Buffer): ParsedRequest[] {
    this.buffered = this.buffered.length ? Buffer.concat([this.buffered, chunk]) : chunk;
    const done: ParsedRequest[] = [];
    for (;;) {
      if (!this.current) {
        const end = this.buffered.indexOf('\r\n\r\n');
        if (end < 0) {
          if (this.buffered.length > MAX_REQUEST_HEAD) throw this.fail('request head over 256 KiB', showBytes(this.buffered.subarray(0, 300)));
          return done;
        }
        const raw = this.buffered.toString('latin1', 0, end + 4);
        this.buffered = this.buffered.subarray(end + 4);
        this.current = this.parseHead(raw);
        if (this.bodyMode === 'none') {
          done.push(this.current);
          this.current = null;
        }
        continue;
      }
      if (this.bodyMode === 'length') {
        const n = Math.min(this.remaining, this.buffered.length);
        this.remaining -= n;
        this.current.bodyLength += n;
        this.buffered = this.buffered.subarray(n);
        if (this.remaining > 0) return done;
        done.push(this.current);
        this.current = null;
        continue;
      }
      // chunked
      if (!this.stepChunked()) return done;
      done.push(this.current);
      this.current = null;
    }
  }

  /** Advances the chunked decoder: true when the body ended, false when it needs more bytes. */
  private stepChunked(): boolean {
    for (;;) {
      if (this.chunkPhase === 'data') {
        const n = Math.min(this.remaining, this.buffered.length);
        this.remaining -= n;
        this.current!.bodyLength += n;
        this.buffered = this.buffered.subarray(n);
        if (this.remaining > 0) return false;
        this.chunkPhase = 'data-crlf';
      }
      const lineEnd = this.buffered.indexOf('\r\n');
      if (lineEnd < 0) {
        if (this.buffered.length > 4096) throw this.fail('chunk line too long', showBytes(this.buffered.subarray(0, 100)));
        return false;
      }
      const line = this.buffered.toString('latin1', 0, lineEnd);
      this.buffered = this.buffered.subarray(lineEnd + 2);
      if (this.chunkPhase === 'data-crlf') {
        if (line !== '') throw this.fail('chunk data not followed by CRLF', showBytes(Buffer.from(line, 'latin1')));
        this.chunkPhase = 'size';
        continue;
      }
      if (this.chunkPhase === 'trailer') {
        if (line === '') {
          this.chunkPhase = 'size';
          return true;
        }
        continue;
      }
      const m = /^([0-9a-fA-F]{1,12})(;.*)?$/.exec(line);
      if (!m) throw this.fail('invalid chunk size line from the proxy', JSON.stringify(line.slice(0, 80)));
      const size = parseInt(m[1], 16);
      if (size === 0) {
        this.chunkPhase = 'trailer';
        continue;
      }
      this.remaining = size;
      this.chunkPhase = 'data';
    }
  }

  private parseHead(raw: string): ParsedRequest {
    const lines = raw.slice(0, -4).split('\r\n');
    const requestLine = /^([!#$%&'*+\-.^_`|~0-9A-Za-z]+) (\S+) HTTP\/1\.1$/.exec(lines[0]);
    if (!requestLine) throw this.fail('invalid request line (V4: HTTP/1.1 to origins)', JSON.stringify(lines[0].slice(0, 200)), raw);
    const headers: [string, string][] = [];
    for (const line of lines.slice(1)) {
      const colon = line.indexOf(':');
      const name = colon < 0 ? line : line.slice(0, colon);
      const value = colon < 0 ? '' : line.slice(colon + 1).replace(/^[ \t]+|[ \t]+$/g, '');
      if (colon < 0 || !TOKEN.test(name) || !FIELD_VALUE.test(value) || /[\r\n]/.test(line)) throw this.fail('invalid header field line', JSON.stringify(line.slice(0, 200)), raw);
      headers.push([name, value]);
    }
    const all = (n: string): string[] => headers.filter(([k]) => k.toLowerCase() === n).map(([, v]) => v);
    if (all('host').length !== 1) this.violation('request to the origin without exactly one Host', `${all('host').length} Host fields`, raw);
    const te = all('transfer-encoding');
    const cl = all('content-length');
    if (te.length > 0 && cl.length > 0) throw this.fail('request with both Transfer-Encoding and Content-Length', '', raw);
    if (cl.length > 1) throw this.fail('request with several Content-Length fields', cl.join(' | '), raw);
    if (te.length > 0) {
      if (te.join(',').trim().toLowerCase() !== 'chunked') throw this.fail('request Transfer-Encoding other than chunked', te.join(', '), raw);
      this.bodyMode = 'chunked';
      this.chunkPhase = 'size';
    } else if (cl.length === 1) {
      if (!/^\d{1,15}$/.test(cl[0])) throw this.fail('invalid Content-Length from the proxy', cl[0], raw);
      this.remaining = Number(cl[0]);
      this.bodyMode = this.remaining > 0 ? 'length' : 'none';
    } else {
      this.bodyMode = 'none';
    }
    return { method: requestLine[1], target: requestLine[2], headers, raw, bodyLength: 0 };
  }

  private fail(rule: string, detail: string, head?: string): Error {
    this.violation(rule, detail, head);
    return new Error(rule);
  }
}

export async function startHostileOrigin(events: HostileOriginEvents): Promise<HostileOrigin> {
  const stats: OriginStats = { connections: 0, requests: 0, goodResponses: 0, notModified: 0, evilResponses: 0, otherResponses: 0, taintedReuse: 0 };
  const sockets = new Set<net.Socket>();

  const server = net.createServer({ allowHalfOpen: false, noDelay: true }, (socket) => {
    stats.connections++;
    sockets.add(socket);
    const timers = new TimerSet();
    let closed = false;
    /** A response is being written: requests wait their turn (the proxy never pipelines, but be safe). */
    let busy = false;
    /** A response that was not plainly valid went out on this connection. */
    let tainted = false;
    const queue: ParsedRequest[] = [];
    const reader = new RequestReader((rule, detail, head) => {
      events.onViolation({ rule, detail: head ? `${detail}\n    request head: ${showBytes(Buffer.from(head, 'latin1'), 400)}` : detail, caseSeed: caseOf(head) });
    });

    socket.on('error', () => {});
    socket.on('close', () => {
      closed = true;
      sockets.delete(socket);
      timers.clear();
    });
    socket.on('data', (chunk: Buffer) => {
      if (tainted) {
        // The proxy reused a connection whose last response was not plainly valid: close at once,
        // before any byte, so that it retries on a fresh connection (see the top of this file).
        stats.taintedReuse++;
        socket.destroy();
        return;
      }
      let requests: ParsedRequest[];
      try {
        requests = reader.feed(chunk);
      } catch {
        socket.destroy();
        return;
      }
      queue.push(...requests);
      next();
    });

    const next = (): void => {
      if (busy || closed) return;
      const request = queue.shift();
      if (!request) return;
      busy = true;
      stats.requests++;
      events.onRequest?.(`${request.method} ${request.target.length > 120 ? `${request.target.slice(0, 120)}…` : request.target} (${request.bodyLength} body bytes)`);
      if (request.target.includes('/smuggled/')) {
        events.onViolation({ rule: 'P1/P4: a smuggled request reached the origin', detail: showBytes(Buffer.from(request.raw, 'latin1'), 400), caseSeed: caseOf(request.raw) });
      }
      const good = parseGoodPath(request.target);
      const evil = parseEvilPath(request.target);
      if (good) serveGood(request, good);
      else if (evil !== undefined) serveEvil(request, evil);
      else serveOther(request);
    };

    const done = (keep: boolean): void => {
      busy = false;
      if (!keep) {
        socket.end();
        return;
      }
      next();
    };

    const serveGood = (request: ParsedRequest, spec: GoodSpec): void => {
      const path = request.target.split('?')[0];
      const etag = goodEtag(spec);
      const conditional = request.headers.find(([n]) => n.toLowerCase() === 'if-none-match')?.[1];
      if ((spec.cache === 'e' || spec.cache === 'v') && conditional !== undefined && conditional.split(',').map((s) => s.trim()).includes(etag)) {
        stats.notModified++;
        const cc = spec.cache === 'e' ? 'max-age=1' : 'no-cache';
        socket.write(`HTTP/1.1 304 Not Modified\r\nETag: ${etag}\r\nCache-Control: ${cc}\r\nX-Path: ${path}\r\n\r\n`);
        return done(true);
      }
      stats.goodResponses++;
      const delivery = goodDelivery(spec);
      const head = Buffer.from(goodResponseHead(spec, path), 'latin1');
      const headOnly = request.method === 'HEAD';
      const body = goodBody(spec);
      const keep = spec.framing !== 'close';
      const pieces: Buffer[] = [];
      if (!headOnly) {
        let at = 0;
        for (let i = 0; at < body.length; i++) {
          const size = Math.min(delivery.pieceSizes[Math.min(i, delivery.pieceSizes.length - 1)], body.length - at);
          const data = body.subarray(at, at + size);
          if (spec.framing === 'chunked') {
            const ext = delivery.chunkExtras && i % 3 === 1 ? ';fuzz=1' : '';
            pieces.push(Buffer.concat([Buffer.from(`${size.toString(16)}${ext}\r\n`, 'latin1'), data, Buffer.from('\r\n', 'latin1')]));
          } else {
            pieces.push(data);
          }
          at += size;
        }
        if (spec.framing === 'chunked') pieces.push(Buffer.from(delivery.chunkExtras ? '0\r\nX-Trailer: t\r\n\r\n' : '0\r\n\r\n', 'latin1'));
      }
      const send = (): void => {
        if (closed) return;
        if (delivery.gapMs === 0) {
          socket.write(Buffer.concat([head, ...pieces]));
          return done(keep);
        }
        socket.write(head);
        let i = 0;
        const drip = (): void => {
          if (closed) return;
          if (i >= pieces.length) return done(keep);
          socket.write(pieces[i++]);
          timers.later(delivery.gapMs, drip);
        };
        drip();
      };
      if (delivery.headDelayMs > 0) timers.later(delivery.headDelayMs, send);
      else send();
    };

    const serveEvil = (request: ParsedRequest, seed: number): void => {
      stats.evilResponses++;
      const plan = evilPlan(seed);
      // A body sent in answer to HEAD is garbage on the connection too.
      if (!plan.valid || plan.ending !== 'keep' || request.method === 'HEAD') tainted = true;
      let i = 0;
      const writeNext = (): void => {
        if (closed) return;
        if (i < plan.pieces.length) {
          socket.write(plan.pieces[i++]);
          if (i < plan.pieces.length) return timers.later(plan.gapMs, writeNext);
        }
        if (plan.ending === 'keep' && !tainted) return done(true);
        timers.later(plan.endDelayMs, () => {
          if (closed) return;
          if (plan.ending === 'fin') socket.end();
          else if (plan.ending === 'rst') socket.resetAndDestroy();
          else timers.later(0, () => socket.end()); // 'stall': endDelayMs of silence, then close
        });
      };
      timers.later(plan.headDelayMs, writeNext);
    };

    const serveOther = (request: ParsedRequest): void => {
      stats.otherResponses++;
      const body = `no such thing: ${request.target.slice(0, 100)}\n`;
      socket.write(`HTTP/1.1 404 Not Found\r\nContent-Type: text/plain\r\nCache-Control: max-age=5\r\nContent-Length: ${Buffer.byteLength(body, 'latin1')}\r\n\r\n${request.method === 'HEAD' ? '' : body}`, 'latin1');
      done(true);
    };
  });

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  const port = (server.address() as net.AddressInfo).port;

  return {
    port,
    stats,
    openConnections: () => sockets.size,
    close: () =>
      new Promise<void>((resolve) => {
        for (const socket of sockets) socket.destroy();
        server.close(() => resolve());
      }),
  };
}

/** The X-Fuzz-Case seed in a request head, if any. */
function caseOf(head: string | undefined): number | undefined {
  const m = head ? /\r\nX-Fuzz-Case: (0x[0-9a-f]{8})\r\n/i.exec(head) : null;
  return m ? parseInt(m[1].slice(2), 16) : undefined;
}
