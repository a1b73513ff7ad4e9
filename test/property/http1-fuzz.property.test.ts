// Fuzzing the parsers (P1, P2, P4): random bytes, HTTP-flavoured token soup, and valid messages
// with bytes flipped, inserted or deleted. Whatever comes in, feed() and finish() never throw; a
// failure is a ParseError whose kind maps to 400 ('invalid') or 431 ('head-too-large') while
// reading, or 'truncated' at end of input; errors are sticky and nothing is reported after one;
// and every message that completes carries exactly the body its framing announced.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { ParseError, type RequestHead, type ResponseHead } from '../../src/http1/index.js';
import { fcOptions } from '../support/fc.js';
import { cutsArb, cutsFor, requestArb, responseArb } from './http1-arbitraries.js';
import { latin1, parseRequests, parseResponses, splitAt, statusForParseError, type ParseRun } from './http1-harness.js';

/** Checks the invariants every run must keep, whatever its input. */
function checkRun(run: ParseRun<RequestHead | ResponseHead>): void {
  expect(run.eventsAfterError).toBe(0);
  expect(run.nonStickyErrors).toBe(0);
  expect(run.strayBodies).toBe(0);
  if (run.error) {
    expect(run.error).toBeInstanceOf(ParseError);
    if (run.failedIn === 'feed') {
      expect(['invalid', 'head-too-large']).toContain(run.error.kind);
      expect([400, 431]).toContain(statusForParseError(run.error.kind));
    } else {
      expect(run.error.kind).toBe('truncated');
    }
  }
  expect(run.completed).toBeLessThanOrEqual(run.messages.length);
  run.messages.forEach((m, i) => {
    const complete = i < run.completed;
    switch (m.framing.kind) {
      case 'none':
        expect(m.body.length).toBe(0);
        break;
      case 'length':
        expect(m.body.length).toBeLessThanOrEqual(m.framing.length);
        if (complete) expect(m.body.length).toBe(m.framing.length);
        break;
      default:
        break;
    }
    // A message with a known length (or none) never waits for the connection to close.
    if (m.framing.kind === 'none' || m.framing.kind === 'length') expect(m.completedByFinish).toBe(false);
  });
}

type Kind = 'request' | 'response';

function parseBoth(kind: Kind, input: Buffer, cuts: number[] | 'bytewise', noBody: boolean, maxHeadSize?: number): ParseRun<RequestHead | ResponseHead> {
  const parts = splitAt(input, cutsFor(input.length, cuts));
  const options = { finish: true, feedAfterError: true, maxHeadSize };
  return kind === 'request' ? parseRequests(parts, options) : parseResponses(parts, { ...options, noBody: () => noBody });
}

/** Bytes that matter to HTTP/1 framing, to insert as mutations. */
const INTERESTING = [0x0d, 0x0a, 0x00, 0x20, 0x09, 0x2c, 0x3a, 0x3b, 0x30, 0x31, 0x35, 0x66, 0x78, 0x2d, 0x2b, 0x22, 0x7f, 0x80, 0xa0, 0xff];

type Mutation = { op: 'flip'; at: number; bit: number } | { op: 'insert'; at: number; byte: number } | { op: 'delete'; at: number } | { op: 'splice'; at: number; text: string };

const mutationArb: fc.Arbitrary<Mutation> = fc.oneof(
  fc.record({ op: fc.constant('flip' as const), at: fc.double({ min: 0, max: 1, noNaN: true }), bit: fc.integer({ min: 0, max: 7 }) }),
  fc.record({ op: fc.constant('insert' as const), at: fc.double({ min: 0, max: 1, noNaN: true }), byte: fc.oneof(fc.constantFrom(...INTERESTING), fc.integer({ min: 0, max: 255 })) }),
  fc.record({ op: fc.constant('delete' as const), at: fc.double({ min: 0, max: 1, noNaN: true }) }),
  fc.record({
    op: fc.constant('splice' as const),
    at: fc.double({ min: 0, max: 1, noNaN: true }),
    text: fc.constantFrom('\r\n', '\n', '\r\n\r\n', ' ', 'Content-Length: 5\r\n', 'Transfer-Encoding: chunked\r\n', 'Content-Length: 0\r\n', ', chunked', '0\r\n\r\n', 'HTTP/1.1', ':', '\r\n '),
  }),
);

function mutate(input: Buffer, mutations: Mutation[]): Buffer {
  let buf = Buffer.from(input);
  for (const m of mutations) {
    const at = Math.min(buf.length, Math.floor(m.at * (buf.length + 1)));
    switch (m.op) {
      case 'flip':
        if (at < buf.length) buf[at] ^= 1 << m.bit;
        break;
      case 'insert':
        buf = Buffer.concat([buf.subarray(0, at), Buffer.from([m.byte]), buf.subarray(at)]);
        break;
      case 'delete':
        if (at < buf.length) buf = Buffer.concat([buf.subarray(0, at), buf.subarray(at + 1)]);
        break;
      case 'splice':
        buf = Buffer.concat([buf.subarray(0, at), latin1(m.text), buf.subarray(at)]);
        break;
    }
  }
  return buf;
}

const kindArb = fc.constantFrom<Kind>('request', 'response');

/** Tokens of HTTP/1 syntax, to make random input that gets past the first byte. */
const SOUP = [
  'GET', 'POST', 'HEAD', 'CONNECT', 'HTTP/1.1', 'HTTP/1.0', 'HTTP/2.0', ' ', '  ', '/', '/a?b', '*', '200', '204', '304', '100', 'OK',
  '\r\n', '\n', '\r', '\r\n\r\n', ':', ': ', 'Host', 'Content-Length', 'Transfer-Encoding', 'chunked', 'gzip', 'Connection', 'close',
  'keep-alive', 'Upgrade', ',', ';', '0', '5', 'a', 'ff', '-1', '\t', '\x00', '\x7f', '\xa0', '\xff', 'x'.repeat(100),
];
const soupArb = fc.array(fc.constantFrom(...SOUP), { maxLength: 60 }).map((tokens) => latin1(tokens.join('')));

describe('http1 parser fuzzing (P1, P2, P4)', () => {
  it('P4: random bytes, fed in any pieces, never throw and fail only as 400/431 (or truncated at the end)', () => {
    fc.assert(
      fc.property(kindArb, fc.uint8Array({ maxLength: 512 }), cutsArb, fc.boolean(), (kind, bytes, cuts, noBody) => {
        checkRun(parseBoth(kind, Buffer.from(bytes), cuts, noBody));
      }),
      fcOptions(300),
    );
  });

  it('P4: a soup of HTTP tokens never throws and fails only as 400/431 (or truncated at the end)', () => {
    fc.assert(
      fc.property(kindArb, soupArb, cutsArb, fc.boolean(), fc.option(fc.integer({ min: 8, max: 400 }), { nil: undefined }), (kind, input, cuts, noBody, max) => {
        const prefix = kind === 'request' ? 'GET / HTTP/1.1\r\n' : 'HTTP/1.1 200 OK\r\n';
        checkRun(parseBoth(kind, input, cuts, noBody, max));
        checkRun(parseBoth(kind, Buffer.concat([latin1(prefix), input]), cuts, noBody, max));
      }),
      fcOptions(300),
    );
  });

  it('P1/P4: valid requests with bytes flipped, inserted, deleted or spliced never throw and fail only as 400/431', () => {
    fc.assert(
      fc.property(
        fc.array(requestArb({ last: false }), { minLength: 1, maxLength: 3 }),
        fc.array(mutationArb, { minLength: 1, maxLength: 4 }),
        cutsArb,
        fc.option(fc.integer({ min: 16, max: 2000 }), { nil: undefined }),
        (messages, mutations, cuts, max) => {
          const input = mutate(Buffer.concat(messages.map((m) => m.wire)), mutations);
          checkRun(parseBoth('request', input, cuts, false, max));
        },
      ),
      fcOptions(300),
    );
  });

  it('P1/P4: valid responses with bytes flipped, inserted, deleted or spliced never throw and fail only as 400/431', () => {
    const anyResponse = fc.oneof(responseArb('length'), responseArb('chunked'), responseArb('bodiless-status'), responseArb('informational'), responseArb('close'));
    fc.assert(
      fc.property(
        fc.array(anyResponse, { minLength: 1, maxLength: 3 }),
        fc.array(mutationArb, { minLength: 1, maxLength: 4 }),
        cutsArb,
        fc.boolean(),
        (messages, mutations, cuts, noBody) => {
          const input = mutate(Buffer.concat(messages.map((m) => m.wire)), mutations);
          checkRun(parseBoth('response', input, cuts, noBody));
        },
      ),
      fcOptions(300),
    );
  });

  it('P1: a mutated stream parses the same whole or split: no split lets a different message through', () => {
    fc.assert(
      fc.property(
        fc.array(requestArb({ last: false }), { minLength: 1, maxLength: 3 }),
        fc.array(mutationArb, { minLength: 1, maxLength: 3 }),
        cutsArb,
        (messages, mutations, cuts) => {
          const input = mutate(Buffer.concat(messages.map((m) => m.wire)), mutations);
          const whole = parseRequests(input, { finish: true });
          const split = parseRequests(splitAt(input, cutsFor(input.length, cuts)), { finish: true });
          const view = (run: typeof whole) => ({
            heads: run.messages.map((m) => [m.head.method, m.head.target, [...m.head.headers]]),
            bodies: run.messages.map((m) => m.body.toString('latin1')),
            completed: run.completed,
            error: run.error?.kind ?? null,
          });
          expect(view(split)).toEqual(view(whole));
        },
      ),
      fcOptions(200),
    );
  });
});
