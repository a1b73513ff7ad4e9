// Property: however a valid byte stream is cut into reads, it parses to the same messages as in one
// piece, and those are the messages that were generated (F5 pipelining, F1/F2 framing, O3).
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { fcOptions } from '../support/fc.js';
import { cutsArb, cutsFor, fieldValueArb, requestArb, requestStreamArb, responseStreamArb, targetArb } from './http1-arbitraries.js';
import type { HeaderFields } from '../../src/http1/index.js';
import { latin1, parseRequests, parseResponses, splitAt, summarize } from './http1-harness.js';

/** What a lookup must answer: the values of the fields whose name lower-cases to the name asked's. */
function expectLookupsAsModel(headers: HeaderFields, fields: ReadonlyArray<readonly [string, string]>): void {
  const asked = new Set(fields.flatMap(([name]) => [name, name.toLowerCase(), name.toUpperCase()]));
  for (const extra of ['host', 'Content-Length', 'x-absent-name']) asked.add(extra);
  for (const name of asked) {
    const values = fields.filter(([n]) => n.toLowerCase() === name.toLowerCase()).map(([, v]) => v);
    expect(headers.getAll(name)).toEqual(values);
    expect(headers.get(name)).toBe(values[0]);
    expect(headers.has(name)).toBe(values.length > 0);
  }
}

describe('http1 parser: any split of a valid stream parses the same', () => {
  it('field lookups (any case of the name, known names matched byte for byte or not) answer as toLowerCase would, however the stream is split', () => {
    fc.assert(
      fc.property(requestStreamArb(3), cutsArb, (messages, cuts) => {
        const wire = Buffer.concat(messages.map((m) => m.wire));
        for (const run of [parseRequests(wire, { finish: true }), parseRequests(splitAt(wire, cutsFor(wire.length, cuts)), { finish: true })]) {
          expect(run.error).toBeNull();
          run.messages.forEach((m, i) => expectLookupsAsModel(m.head.headers, messages[i].expected.head.headers));
        }
      }),
      fcOptions(150),
    );
  });

  it('F5: pipelined requests (any methods, targets, fields, Content-Length and chunked bodies) parse the same however the stream is split', () => {
    fc.assert(
      fc.property(requestStreamArb(5), cutsArb, (messages, cuts) => {
        const wire = Buffer.concat(messages.map((m) => m.wire));
        const whole = summarize(parseRequests(wire, { finish: true }));
        expect(whole).toEqual({ messages: messages.map((m) => m.expected), completed: messages.length, error: null });
        const split = summarize(parseRequests(splitAt(wire, cutsFor(wire.length, cuts)), { finish: true }));
        expect(split).toEqual(whole);
      }),
      fcOptions(150),
    );
  });

  it('F4/O3: a stream of responses (Content-Length, chunked, 204/304, 1xx, HEAD, a final close-delimited one) parses the same however it is split', () => {
    fc.assert(
      fc.property(responseStreamArb(5), cutsArb, ({ messages }, cuts) => {
        const wire = Buffer.concat(messages.map((m) => m.wire));
        const noBody = (i: number) => messages[i]?.noBody ?? false;
        const whole = summarize(parseResponses(wire, { finish: true, noBody }));
        expect(whole).toEqual({ messages: messages.map((m) => m.expected), completed: messages.length, error: null });
        const split = summarize(parseResponses(splitAt(wire, cutsFor(wire.length, cuts)), { finish: true, noBody }));
        expect(split).toEqual(whole);
      }),
      fcOptions(150),
    );
  });

  it('O3: a close-delimited response is complete only after finish(), however it is split', () => {
    fc.assert(
      fc.property(responseStreamArb(3), cutsArb, ({ messages, closeDelimited }, cuts) => {
        const wire = Buffer.concat(messages.map((m) => m.wire));
        const noBody = (i: number) => messages[i]?.noBody ?? false;
        const open = parseResponses(splitAt(wire, cutsFor(wire.length, cuts)), { noBody });
        expect(open.error).toBeNull();
        expect(open.completed).toBe(closeDelimited ? messages.length - 1 : messages.length);
        const last = open.messages.at(-1)!;
        expect(last.body.toString('latin1')).toBe(messages.at(-1)!.expected.body);
      }),
      fcOptions(100),
    );
  });

  it('P2: whether a head is too large does not depend on how it is split', () => {
    fc.assert(
      fc.property(requestArb({ last: true }), fc.integer({ min: 16, max: 600 }), cutsArb, (message, limit, cuts) => {
        const whole = parseRequests(message.wire, { maxHeadSize: limit });
        const split = parseRequests(splitAt(message.wire, cutsFor(message.wire.length, cuts)), { maxHeadSize: limit });
        expect(summarize(split)).toEqual(summarize(whole));
        if (whole.error) {
          // The head, or the trailer section, which counts on top of the head (see the report).
          expect(whole.error.kind).toBe('head-too-large');
          expect(whole.completed).toBe(0);
        }
      }),
      fcOptions(150),
    );
  });

  it('P2: a head is accepted under the limit and rejected over it, for heads of random fields', () => {
    fc.assert(
      fc.property(
        targetArb,
        fc.array(fc.tuple(fc.constantFrom('X-A', 'Accept', 'Cookie', 'X-Long-Field-Name'), fieldValueArb), { maxLength: 30 }),
        (target, fields) => {
          const head = `GET ${target} HTTP/1.1\r\n${fields.map(([n, v]) => `${n}: ${v}\r\n`).join('')}\r\n`;
          const size = Buffer.byteLength(head, 'latin1');
          // Generous below, strict above: the limit counts the head's bytes give or take the
          // framing of its lines, never a multiple of it.
          expect(parseRequests(latin1(head), { maxHeadSize: size + 16 }).error).toBeNull();
          const over = parseRequests(latin1(head), { maxHeadSize: Math.floor(size / 2) });
          expect(over.error?.kind).toBe('head-too-large');
        },
      ),
      fcOptions(150),
    );
  });
});
