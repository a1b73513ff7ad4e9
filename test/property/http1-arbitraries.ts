// fast-check generators for HTTP/1.x message streams, with the messages they must parse to.
// Every generated stream is valid and strictly framed: requests and responses with arbitrary
// methods, targets, header fields (optional whitespace around values, obs-text inside them),
// Content-Length and chunked bodies (arbitrary chunk sizes, size spellings, extensions, trailers).
import fc from 'fast-check';
import { COMMON_FIELD_NAMES, spellingsOf } from '../../src/http1/field-names.js';
import type { BodyFraming } from '../../src/http1/index.js';
import { latin1, type HeadSummary, type MessageSummary } from './http1-harness.js';

// ---------------------------------------------------------------------------------------------
// Building blocks

const TCHAR = "!#$%&'*+-.^_`|~0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ";
/** Field names that llhttp treats specially, or that change framing or persistence: never random. */
const RESERVED_NAMES = new Set(['content-length', 'transfer-encoding', 'connection', 'proxy-connection', 'upgrade', 'keep-alive']);

export const tokenArb = (maxLength = 12): fc.Arbitrary<string> =>
  fc.string({ unit: fc.constantFrom(...TCHAR), minLength: 1, maxLength });

/** The spellings the parser matches byte for byte (src/http1/field-names.ts), so that path is exercised too. */
const KNOWN_SPELLINGS = COMMON_FIELD_NAMES.flatMap(spellingsOf);

/** A known spelling with one letter's case flipped, or a token before or after it: what the match must not take for it. */
const nearKnownArb: fc.Arbitrary<string> = fc
  .tuple(fc.constantFrom(...KNOWN_SPELLINGS), fc.nat(), fc.constantFrom('flip', 'prefix', 'suffix'), tokenArb(3))
  .map(([name, at, how, token]) => {
    if (how === 'prefix') return token + name;
    if (how === 'suffix') return name + token;
    const i = at % name.length;
    const c = name[i];
    return name.slice(0, i) + (c === c.toLowerCase() ? c.toUpperCase() : c.toLowerCase()) + name.slice(i + 1);
  });

export const fieldNameArb: fc.Arbitrary<string> = fc
  .oneof(
    { weight: 3, arbitrary: tokenArb(16) },
    { weight: 2, arbitrary: fc.constantFrom(...KNOWN_SPELLINGS) },
    { weight: 1, arbitrary: nearKnownArb },
  )
  .filter((n) => !RESERVED_NAMES.has(n.toLowerCase()));

const VCHAR = Array.from({ length: 0x7e - 0x21 + 1 }, (_, i) => String.fromCharCode(0x21 + i));
// obs-text except 0xA0: String.prototype.trim() treats U+00A0 as whitespace, a known bug shown by
// the unit test "obs-text byte 0xA0 at either end of a value ..." (http1-parser.test.ts).
const OBS_TEXT = Array.from({ length: 0x80 }, (_, i) => String.fromCharCode(0x80 + i)).filter((c) => c !== '\xa0');
const VALUE_EDGE = fc.constantFrom(...VCHAR, ...OBS_TEXT);
const VALUE_INNER = fc.oneof({ weight: 6, arbitrary: fc.constantFrom(...VCHAR) }, { weight: 1, arbitrary: fc.constantFrom(' ', '\t') }, {
  weight: 1,
  arbitrary: fc.constantFrom(...OBS_TEXT),
});

/** A field value as it must come out of the parser: no leading or trailing whitespace. */
export const fieldValueArb: fc.Arbitrary<string> = fc.oneof(
  { weight: 1, arbitrary: fc.constant('') },
  { weight: 1, arbitrary: VALUE_EDGE },
  {
    weight: 6,
    arbitrary: fc
      .tuple(VALUE_EDGE, fc.string({ unit: VALUE_INNER, maxLength: 30 }), VALUE_EDGE)
      .map(([a, mid, b]) => a + mid + b),
  },
);

/** Optional whitespace around a value on the wire (the parser must drop it). */
const owsArb: fc.Arbitrary<string> = fc.string({ unit: fc.constantFrom(' ', '\t'), maxLength: 3 });

export interface WireField {
  name: string;
  value: string;
  /** Whitespace before and after the value on the wire. */
  before: string;
  after: string;
}

export const wireFieldArb: fc.Arbitrary<WireField> = fc.record({
  name: fieldNameArb,
  value: fieldValueArb,
  before: fc.oneof(fc.constant(' '), owsArb),
  after: owsArb,
});

const fieldLine = (f: WireField): string => `${f.name}:${f.before}${f.value}${f.after}\r\n`;

const PATH_CHARS = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-._~!$&'()*+,;=:@/%";
const pathArb = fc.string({ unit: fc.constantFrom(...PATH_CHARS), maxLength: 40 });

export const targetArb: fc.Arbitrary<string> = fc.oneof(
  { weight: 6, arbitrary: fc.tuple(pathArb, fc.option(pathArb, { nil: undefined })).map(([p, q]) => `/${p}${q === undefined ? '' : `?${q}`}`) },
  { weight: 1, arbitrary: fc.tuple(fc.constantFrom('http', 'https'), tokenArb(10).map((t) => t.replace(/[^a-z0-9]/gi, 'h') || 'h'), pathArb).map(([s, h, p]) => `${s}://${h}.example/${p}`) },
);

/** Body bytes: mostly small, sometimes a few KiB, any byte values (CR, LF, "0\r\n\r\n" included). */
export const bodyBytesArb: fc.Arbitrary<Buffer> = fc
  .oneof(
    { weight: 4, arbitrary: fc.uint8Array({ maxLength: 64 }) },
    { weight: 1, arbitrary: fc.uint8Array({ minLength: 1, maxLength: 4096 }) },
    { weight: 1, arbitrary: fc.constantFrom('0\r\n\r\n', 'HTTP/1.1 200 OK\r\n\r\n', 'GET / HTTP/1.1\r\n\r\n', '\r\n').map((s) => new Uint8Array(latin1(s))) },
  )
  .map((u) => Buffer.from(u));

/** Cut points for a buffer of unknown length: fractions, resolved with `cutsFor`. */
export const cutsArb: fc.Arbitrary<number[] | 'bytewise'> = fc.oneof(
  { weight: 8, arbitrary: fc.array(fc.double({ min: 0, max: 1, noNaN: true }), { maxLength: 24 }) },
  { weight: 1, arbitrary: fc.constant('bytewise' as const) },
);

export function cutsFor(length: number, cuts: number[] | 'bytewise'): number[] {
  if (cuts === 'bytewise') return Array.from({ length }, (_, i) => i + 1);
  return cuts.map((f) => Math.floor(f * (length + 1)));
}

/** Splits `data` into pieces at the given fractions (pieces may be empty when `allowEmpty`). */
export function piecesOf(data: Buffer, fractions: number[], allowEmpty: boolean): Buffer[] {
  const points = fractions.map((f) => Math.floor(f * (data.length + 1))).sort((a, b) => a - b);
  const pieces: Buffer[] = [];
  let from = 0;
  for (const p of [...points, data.length]) {
    const to = Math.max(from, Math.min(p, data.length));
    if (allowEmpty || to > from) pieces.push(data.subarray(from, to));
    from = to;
  }
  return pieces;
}

// ---------------------------------------------------------------------------------------------
// Chunked bodies

export interface ChunkSpelling {
  /** Leading zeros before the hex size. */
  zeros: number;
  upper: boolean;
  /** Chunk extension text after the size, starting with ';' (or empty). */
  ext: string;
}

const chunkExtArb: fc.Arbitrary<string> = fc.oneof(
  { weight: 4, arbitrary: fc.constant('') },
  { weight: 1, arbitrary: tokenArb(6).map((n) => `;${n}`) },
  { weight: 1, arbitrary: fc.tuple(tokenArb(6), tokenArb(6)).map(([n, v]) => `;${n}=${v}`) },
  { weight: 1, arbitrary: fc.tuple(tokenArb(6), fc.string({ unit: fc.constantFrom(...'ab c;=,'), maxLength: 8 })).map(([n, v]) => `;${n}="${v}"`) },
);

export const chunkSpellingArb: fc.Arbitrary<ChunkSpelling> = fc.record({
  zeros: fc.oneof({ weight: 4, arbitrary: fc.constant(0) }, { weight: 1, arbitrary: fc.integer({ min: 1, max: 3 }) }),
  upper: fc.boolean(),
  ext: chunkExtArb,
});

export function chunkSizeLine(size: number, s: ChunkSpelling): string {
  const hex = size.toString(16);
  return `${'0'.repeat(s.zeros)}${s.upper ? hex.toUpperCase() : hex}${s.ext}\r\n`;
}

export interface ChunkedBody {
  data: Buffer;
  /** Non-empty chunks whose concatenation is `data`. */
  chunks: Buffer[];
  spellings: ChunkSpelling[];
  last: ChunkSpelling;
  trailers: WireField[];
}

export const chunkedBodyArb: fc.Arbitrary<ChunkedBody> = fc
  .tuple(
    bodyBytesArb,
    fc.array(fc.double({ min: 0, max: 1, noNaN: true }), { maxLength: 8 }),
    fc.array(chunkSpellingArb, { minLength: 9, maxLength: 9 }),
    chunkSpellingArb,
    fc.oneof({ weight: 3, arbitrary: fc.constant([] as WireField[]) }, { weight: 1, arbitrary: fc.array(wireFieldArb, { minLength: 1, maxLength: 3 }) }),
  )
  .map(([data, fractions, spellings, last, trailers]) => {
    const chunks = piecesOf(data, fractions, false);
    return { data, chunks, spellings: spellings.slice(0, chunks.length), last, trailers };
  });

export function encodeChunked(body: ChunkedBody): Buffer {
  const parts: Buffer[] = [];
  body.chunks.forEach((chunk, i) => {
    parts.push(latin1(chunkSizeLine(chunk.length, body.spellings[i] ?? { zeros: 0, upper: false, ext: '' })), chunk, latin1('\r\n'));
  });
  parts.push(latin1(chunkSizeLine(0, body.last)), latin1(body.trailers.map(fieldLine).join('')), latin1('\r\n'));
  return Buffer.concat(parts);
}

// ---------------------------------------------------------------------------------------------
// Messages

export type BodySpec = { kind: 'none' } | { kind: 'length'; data: Buffer } | { kind: 'chunked'; body: ChunkedBody } | { kind: 'close'; data: Buffer };

/** A generated message: its bytes on the wire and what it must parse to. */
export interface GeneratedMessage {
  wire: Buffer;
  expected: MessageSummary;
  /** For responses: whether it answers a HEAD request (expectNoBody). */
  noBody: boolean;
}

function framingOf(body: BodySpec): BodyFraming {
  switch (body.kind) {
    case 'none':
      return { kind: 'none' };
    case 'length':
      return body.data.length === 0 ? { kind: 'none' } : { kind: 'length', length: body.data.length };
    case 'chunked':
      return { kind: 'chunked' };
    case 'close':
      return { kind: 'close' };
  }
}

function bodyData(body: BodySpec): Buffer {
  switch (body.kind) {
    case 'none':
      return Buffer.alloc(0);
    case 'length':
    case 'close':
      return body.data;
    case 'chunked':
      return body.body.data;
  }
}

function bodyWire(body: BodySpec): Buffer {
  return body.kind === 'chunked' ? encodeChunked(body.body) : bodyData(body);
}

/** Inserts the framing field (if any) among the random fields, at `position` (a fraction). */
function fieldsWithFraming(fields: WireField[], body: BodySpec, position: number, framingName: [string, string]): WireField[] {
  const out = fields.slice();
  let framing: WireField | null = null;
  if (body.kind === 'length') framing = { name: framingName[0], value: String(body.data.length), before: ' ', after: '' };
  if (body.kind === 'chunked') framing = { name: framingName[1], value: 'chunked', before: ' ', after: '' };
  if (framing) out.splice(Math.floor(position * (out.length + 1)), 0, framing);
  return out;
}

const fieldsArb = fc.array(wireFieldArb, { maxLength: 6 });

export const METHODS = ['GET', 'HEAD', 'POST', 'PUT', 'DELETE', 'OPTIONS', 'PATCH'] as const;

interface RequestOptions {
  /** This request is the last of its stream: it may close the connection. */
  last: boolean;
}

export function requestArb({ last }: RequestOptions): fc.Arbitrary<GeneratedMessage> {
  return fc
    .record({
      method: fc.constantFrom(...METHODS),
      target: targetArb,
      http10: fc.boolean(),
      fields: fieldsArb,
      body: fc.oneof(
        { weight: 2, arbitrary: fc.constant<BodySpec>({ kind: 'none' }) },
        { weight: 2, arbitrary: bodyBytesArb.map<BodySpec>((data) => ({ kind: 'length', data })) },
        { weight: 2, arbitrary: chunkedBodyArb.map<BodySpec>((body) => ({ kind: 'chunked', body })) },
      ),
      framingAt: fc.double({ min: 0, max: 1, noNaN: true }),
      framingCase: fc.constantFrom<[string, string]>(['Content-Length', 'Transfer-Encoding'], ['content-length', 'transfer-encoding'], ['CONTENT-LENGTH', 'TRANSFER-ENCODING']),
      close: fc.boolean(),
    })
    .map(({ method, target, http10, fields, body, framingAt, framingCase, close }) => {
      // An HTTP/1.0 message with Transfer-Encoding must close the connection (RFC 9112 §6.1):
      // only the last request of a stream may be one, and it never asks for keep-alive (that
      // case is a known bug, shown by the unit test "F5/P1: an HTTP/1.0 request with
      // Transfer-Encoding closes the connection ..." in http1-parser.test.ts).
      const v10 = http10 && (last || body.kind !== 'chunked');
      const closes = last && close;
      const all = fieldsWithFraming(fields, body, framingAt, framingCase);
      if (v10 && !closes && body.kind !== 'chunked') all.push({ name: 'Connection', value: 'keep-alive', before: ' ', after: '' });
      if (!v10 && closes) all.push({ name: 'Connection', value: 'close', before: ' ', after: '' });
      const version = v10 ? '1.0' : '1.1';
      const head = `${method} ${target} HTTP/${version}\r\n${all.map(fieldLine).join('')}\r\n`;
      const keepAlive = !closes && !(v10 && body.kind === 'chunked');
      const expectedHead: HeadSummary = { method, target, version, headers: all.map((f) => [f.name, f.value]) };
      return {
        wire: Buffer.concat([latin1(head), bodyWire(body)]),
        expected: { head: expectedHead, framing: framingOf(body), body: bodyData(body).toString('latin1'), keepAlive },
        noBody: false,
      };
    });
}

/** 1 to `max` pipelined requests on one connection. */
export function requestStreamArb(max = 5): fc.Arbitrary<GeneratedMessage[]> {
  return fc
    .integer({ min: 1, max })
    .chain((n) => fc.tuple(...Array.from({ length: n }, (_, i) => requestArb({ last: i === n - 1 }))));
}

const REASONS: Record<number, string> = { 100: 'Continue', 103: 'Early Hints', 200: 'OK', 201: 'Created', 204: 'No Content', 206: 'Partial Content', 301: 'Moved Permanently', 304: 'Not Modified', 404: 'Not Found', 500: 'Internal Server Error', 503: 'Service Unavailable' };

type ResponseKind = 'length' | 'chunked' | 'bodiless-status' | 'informational' | 'head' | 'close';

export function responseArb(kind: ResponseKind): fc.Arbitrary<GeneratedMessage> {
  const statusArb =
    kind === 'bodiless-status'
      ? fc.constantFrom(204, 304)
      : kind === 'informational'
        ? fc.constantFrom(100, 103)
        : fc.constantFrom(200, 201, 206, 301, 404, 500, 503);
  const bodyArb: fc.Arbitrary<BodySpec> =
    kind === 'length'
      ? bodyBytesArb.map((data) => ({ kind: 'length', data }))
      : kind === 'chunked'
        ? chunkedBodyArb.map((body) => ({ kind: 'chunked', body }))
        : kind === 'close'
          ? bodyBytesArb.map((data) => ({ kind: 'close', data }))
          : fc.constant({ kind: 'none' });
  // What a bodiless response says about the body it does not have: nothing, a length, or chunked.
  const claimArb = fc.constantFrom<'nothing' | 'length' | 'chunked'>('nothing', 'length', 'chunked');
  return fc
    .record({
      status: statusArb,
      reason: fc.oneof(fc.constant<string | null>(null), fc.constant(''), fieldValueArb),
      http10: kind === 'informational' ? fc.constant(false) : fc.boolean(),
      fields: fieldsArb,
      body: bodyArb,
      claim: claimArb,
      claimedLength: fc.integer({ min: 1, max: 100_000 }),
      framingAt: fc.double({ min: 0, max: 1, noNaN: true }),
    })
    .map(({ status, reason, http10, fields, body, claim, claimedLength, framingAt }) => {
      const all = fieldsWithFraming(fields, body, framingAt, ['Content-Length', 'Transfer-Encoding']);
      const bodiless = kind === 'head' || kind === 'bodiless-status';
      if (bodiless && claim === 'length') all.push({ name: 'Content-Length', value: String(claimedLength), before: ' ', after: '' });
      if (bodiless && claim === 'chunked') all.push({ name: 'Transfer-Encoding', value: 'chunked', before: ' ', after: '' });
      const v10 = http10;
      if (v10 && kind !== 'close') all.push({ name: 'Connection', value: 'keep-alive', before: ' ', after: '' });
      const version = v10 ? '1.0' : '1.1';
      const reasonText = reason ?? REASONS[status] ?? 'Whatever';
      const head = `HTTP/${version} ${status} ${reasonText}\r\n${all.map(fieldLine).join('')}\r\n`;
      const expectedHead: HeadSummary = { status, reason: reasonText, version, headers: all.map((f) => [f.name, f.value]) };
      return {
        wire: Buffer.concat([latin1(head), bodyWire(body)]),
        expected: { head: expectedHead, framing: framingOf(body), body: bodyData(body).toString('latin1'), keepAlive: kind !== 'close' },
        noBody: kind === 'head',
      };
    });
}

/** 1 to `max` responses on one origin connection, the last one possibly close-delimited. */
export function responseStreamArb(max = 5): fc.Arbitrary<{ messages: GeneratedMessage[]; closeDelimited: boolean }> {
  const middle = fc.oneof(
    { weight: 3, arbitrary: responseArb('length') },
    { weight: 3, arbitrary: responseArb('chunked') },
    { weight: 1, arbitrary: responseArb('bodiless-status') },
    { weight: 1, arbitrary: responseArb('informational') },
    { weight: 2, arbitrary: responseArb('head') },
  );
  return fc
    .tuple(fc.array(middle, { minLength: 0, maxLength: max - 1 }), fc.boolean(), responseArb('close'), middle)
    .map(([first, closeDelimited, closing, other]) => ({
      messages: [...first, closeDelimited ? closing : other],
      closeDelimited,
    }))
    .filter(({ messages }) => messages.length > 0);
}
