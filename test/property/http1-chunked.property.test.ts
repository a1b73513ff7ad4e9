// Properties of chunked framing: what serializer.ts frames, parser.ts de-frames to the same bytes
// (F2); a chunked body cut short is 'truncated', never complete (O2); and the framing a response
// announces is the one its body is parsed with, whatever its Transfer-Encoding list says.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { LAST_CHUNK, frameChunk } from '../../src/http1/index.js';
import { fcOptions } from '../support/fc.js';
import { bodyBytesArb, chunkedBodyArb, cutsArb, cutsFor, encodeChunked, piecesOf } from './http1-arbitraries.js';
import { latin1, parseRequests, parseResponses, splitAt } from './http1-harness.js';

const RESPONSE_HEAD = latin1('HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n');
const REQUEST_HEAD = latin1('POST /upload HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n');

const dataArb = fc.oneof(bodyBytesArb, fc.uint8Array({ minLength: 1, maxLength: 70_000 }).map((u) => Buffer.from(u)));
const fractionsArb = fc.array(fc.double({ min: 0, max: 1, noNaN: true }), { maxLength: 30 });

describe('chunk framing round trip (F2)', () => {
  it('F2: frameChunk of any pieces of any data, then LAST_CHUNK, parses back to the same bytes however it is read', () => {
    fc.assert(
      fc.property(dataArb, fractionsArb, cutsArb, fc.boolean(), (data, fractions, cuts, asRequest) => {
        // Non-empty pieces: an empty frameChunk is LAST_CHUNK itself (a known bug, shown by the
        // unit test "F2: framing an empty buffer writes no bytes" in http1-serializer.test.ts).
        const pieces = piecesOf(data, fractions, false);
        const wire = Buffer.concat([asRequest ? REQUEST_HEAD : RESPONSE_HEAD, ...pieces.flatMap((p) => frameChunk(p)), LAST_CHUNK]);
        const parts = splitAt(wire, cutsFor(wire.length, cuts));
        const run = asRequest ? parseRequests(parts, { finish: true }) : parseResponses(parts, { finish: true });
        expect(run.error).toBeNull();
        expect(run.completed).toBe(1);
        expect(run.messages[0].framing).toEqual({ kind: 'chunked' });
        expect(run.messages[0].keepAlive).toBe(true);
        expect(run.messages[0].body.equals(data)).toBe(true);
        // Every body view is a view of the bytes we fed, never a copy.
        const buffers = new Set(parts.map((p) => p.buffer));
        for (const view of run.messages[0].bodyViews) expect(buffers.has(view.buffer as ArrayBuffer)).toBe(true);
      }),
      fcOptions(150),
    );
  });

  it('F2: any chunk sizes, size spellings (leading zeros, upper case), extensions and trailers give the same body', () => {
    fc.assert(
      fc.property(chunkedBodyArb, cutsArb, (body, cuts) => {
        const wire = Buffer.concat([RESPONSE_HEAD, encodeChunked(body), latin1('HTTP/1.1 204 No Content\r\n\r\n')]);
        const run = parseResponses(splitAt(wire, cutsFor(wire.length, cuts)), { finish: true });
        expect(run.error).toBeNull();
        expect(run.completed).toBe(2);
        expect(run.messages[0].body.equals(body.data)).toBe(true);
        // Trailers are not fields of the head, and what follows the chunked body is the next message.
        expect(run.messages[0].head.headers.size).toBe(1);
        expect(run.messages[1].head.status).toBe(204);
      }),
      fcOptions(150),
    );
  });
});

describe('truncated chunked bodies (O2)', () => {
  it('O2: a chunked response cut anywhere before its end is truncated on finish(), with a prefix of its body delivered', () => {
    fc.assert(
      fc.property(chunkedBodyArb, fc.double({ min: 0, max: 1, noNaN: true, maxExcluded: true }), cutsArb, (body, at, cuts) => {
        const wire = Buffer.concat([RESPONSE_HEAD, encodeChunked(body)]);
        const end = 1 + Math.floor(at * (wire.length - 1)); // 1 .. wire.length - 1
        const prefix = wire.subarray(0, end);
        const run = parseResponses(splitAt(prefix, cutsFor(prefix.length, cuts)), { finish: true });
        expect(run.completed).toBe(0);
        expect(run.error?.kind).toBe('truncated');
        expect(run.failedIn).toBe('finish');
        const got = run.messages[0]?.body ?? Buffer.alloc(0);
        expect(got.equals(body.data.subarray(0, got.length))).toBe(true);
      }),
      fcOptions(150),
    );
  });

  it('O2: a Content-Length response cut anywhere before its end is truncated on finish()', () => {
    fc.assert(
      fc.property(bodyBytesArb.filter((b) => b.length > 0), fc.double({ min: 0, max: 1, noNaN: true, maxExcluded: true }), (data, at) => {
        const wire = Buffer.concat([latin1(`HTTP/1.1 200 OK\r\nContent-Length: ${data.length}\r\n\r\n`), data]);
        const end = 1 + Math.floor(at * (wire.length - 1));
        const run = parseResponses(wire.subarray(0, end), { finish: true });
        expect(run.completed).toBe(0);
        expect(run.error?.kind).toBe('truncated');
        const got = run.messages[0]?.body ?? Buffer.alloc(0);
        expect(got.equals(data.subarray(0, got.length))).toBe(true);
      }),
      fcOptions(150),
    );
  });
});

describe('response framing agrees with the parse (F2, O3)', () => {
  const coding = fc.constantFrom('chunked', 'gzip', 'identity', 'br', 'Chunked', 'CHUNKED', 'deflate');
  const sep = fc.constantFrom(',', ', ', ' ,', ' , ', ',\t', ',,');
  const edge = fc.constantFrom('', '', '', ',', ' ,', '\t', ' ', ', ');
  /** A Transfer-Encoding field value: a list of codings with odd but legal separators and edges. */
  const teValue = fc
    .tuple(edge, fc.array(fc.tuple(coding, sep), { minLength: 0, maxLength: 3 }), coding, edge)
    .map(([lead, middle, lastCoding, trail]) => `${lead.trimStart()}${middle.map(([c, s]) => c + s).join('')}${lastCoding}${trail}`);

  // BUG (src/http1/parser.ts ResponseParser.framingOf): the parser announces the framing it
  // derives from the field text, while llhttp delimits the body by its own reading of the list;
  // they disagree on a trailing empty element or trailing whitespace (`chunked,`, `chunked\t`):
  // announced 'chunked', parsed read-until-close with the raw chunk syntax as the body.
  // Pinned example: `Transfer-Encoding: chunked,`.
  it('F2/O3: for any Transfer-Encoding list, the framing a response announces is the one its body is parsed with', () => {
    fc.assert(
      fc.property(fc.array(teValue, { minLength: 1, maxLength: 2 }), (values) => {
        const data = latin1('hello world');
        const chunked = encodeChunked({ data, chunks: [data.subarray(0, 5), data.subarray(5)], spellings: [], last: { zeros: 0, upper: false, ext: '' }, trailers: [] });
        const head = `HTTP/1.1 200 OK\r\n${values.map((v) => `Transfer-Encoding: ${v}\r\n`).join('')}\r\n`;
        const run = parseResponses(Buffer.concat([latin1(head), chunked]), { finish: true });
        if (run.error) {
          expect(run.error.kind).toBe('invalid');
          return;
        }
        const [m] = run.messages;
        expect(run.completed).toBe(1);
        if (m.framing.kind === 'chunked') {
          expect(m.body.equals(data)).toBe(true);
          expect(m.completedByFinish).toBe(false);
        } else {
          expect(m.framing).toEqual({ kind: 'close' });
          expect(m.body.equals(chunked)).toBe(true);
          expect(m.completedByFinish).toBe(true);
        }
      }),
      fcOptions(150, { examples: [[['chunked,']], [['gzip, chunked']], [['chunked', 'gzip']]] }),
    );
  });
});
