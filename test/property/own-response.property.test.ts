// The HTTP/2 adapter reads back what our own serializer wrote (src/http1/own-response.ts): for any
// head, any body, chunked or with Content-Length, cut into any pieces, the decoder gives back the
// same status, fields and body bytes, and says the message is complete exactly at its end (H2).
// Also the h2c preface check (H1): any split of the preface is 'undecided' until whole, any
// HTTP/1 request start is 'http1' at once.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { HeaderFields } from '../../src/http1/headers.js';
import { OwnResponseDecoder } from '../../src/http1/own-response.js';
import { LAST_CHUNK, frameChunk, framedChunk, responseHeadString } from '../../src/http1/serializer.js';
import { H2_PREFACE, classifyPreface } from '../../src/net/h2-preface.js';
import { fcOptions } from '../support/fc.js';

const token = fc.stringMatching(/^[A-Za-z][A-Za-z0-9-]{0,15}$/).filter((n) => !['content-length', 'transfer-encoding'].includes(n.toLowerCase()));
const value = fc.stringMatching(/^[!-~]([ -~]{0,30}[!-~])?$/);

/** Cuts `bytes` at the given fractions. */
function split(bytes: Buffer, cuts: number[]): Buffer[] {
  const at = [...new Set(cuts.map((c) => Math.floor(c * bytes.length)))].sort((a, b) => a - b);
  const out: Buffer[] = [];
  let from = 0;
  for (const to of at) {
    out.push(bytes.subarray(from, to));
    from = to;
  }
  out.push(bytes.subarray(from));
  return out.filter((b) => b.length > 0);
}

describe('OwnResponseDecoder reads back our own responses (H2)', () => {
  it('H2: status, fields and body survive any framing and any split', () => {
    fc.assert(
      fc.property(
        fc.constantFrom(200, 203, 404, 410, 503),
        fc.array(fc.tuple(token, value), { maxLength: 6 }),
        fc.array(fc.uint8Array({ minLength: 1, maxLength: 300 }), { maxLength: 6 }),
        fc.boolean(),
        fc.boolean(),
        fc.array(fc.double({ min: 0, max: 1, noNaN: true }), { maxLength: 8 }),
        (status, fields, pieces, chunked, shared, cuts) => {
          const body = Buffer.concat(pieces.map((p) => Buffer.from(p)));
          const headers = HeaderFields.from(fields);
          headers.set(chunked ? 'Transfer-Encoding' : 'Content-Length', chunked ? 'chunked' : String(body.length));
          const parts: Buffer[] = [Buffer.from(responseHeadString({ major: 1, minor: 1 }, status, '', headers), 'latin1')];
          if (chunked) {
            for (const p of pieces) parts.push(...(shared ? [framedChunk(Buffer.from(p))] : frameChunk(Buffer.from(p))));
            parts.push(LAST_CHUNK);
          } else parts.push(body);
          const got: Buffer[] = [];
          let head: { status: number; headers: HeaderFields; bodyless: boolean } | undefined;
          const decoder = new OwnResponseDecoder({ onHead: (s, h, b) => (head = { status: s, headers: h, bodyless: b }), onBody: (c) => got.push(Buffer.from(c)) }, false);
          for (const piece of split(Buffer.concat(parts), cuts)) expect(decoder.feed(piece)).toBeNull();
          expect(head?.status).toBe(status);
          for (const [n, v] of fields) expect(head?.headers.getAll(n)).toContain(v);
          expect(Buffer.concat(got).equals(body)).toBe(true);
          expect(decoder.complete).toBe(true);
          expect(head?.bodyless).toBe(body.length === 0 && !chunked);
        },
      ),
      fcOptions(200),
    );
  });

  it('H2: a HEAD answer, a 304 and a 204 are bodiless whatever their fields say', () => {
    for (const [status, method] of [[200, 'HEAD'], [304, 'GET'], [204, 'GET']] as const) {
      let bodyless: boolean | undefined;
      const decoder = new OwnResponseDecoder({ onHead: (_s, _h, b) => (bodyless = b), onBody: () => {} }, method === 'HEAD');
      expect(decoder.feed(Buffer.from(`HTTP/1.1 ${status} X\r\nContent-Length: 12\r\n\r\n`, 'latin1'))).toBeNull();
      expect(bodyless).toBe(true);
      expect(decoder.complete).toBe(true);
    }
  });

  it('H2: bytes that are not a response we write are reported, never repaired', () => {
    const decoder = new OwnResponseDecoder({ onHead: () => {}, onBody: () => {} }, false);
    expect(decoder.feed(Buffer.from('HTTX/1.1 200 OK\r\n\r\n', 'latin1'))).toMatch(/not a status line/);
    const chunked = new OwnResponseDecoder({ onHead: () => {}, onBody: () => {} }, false);
    expect(chunked.feed(Buffer.from('HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n', 'latin1'))).toMatch(/invalid chunk size/);
  });
});

describe('h2c preface (H1)', () => {
  it('H1: every proper prefix of the preface is undecided, the whole preface is h2', () => {
    for (let n = 0; n < H2_PREFACE.length; n++) expect(classifyPreface(H2_PREFACE.subarray(0, n))).toBe('undecided');
    expect(classifyPreface(Buffer.concat([H2_PREFACE, Buffer.from([0, 0, 0, 4])]))).toBe('h2');
  });

  it('H1: an HTTP/1 request is told apart at its first differing byte', () => {
    fc.assert(
      fc.property(fc.constantFrom('GET', 'POST', 'PUT', 'PRI', 'PATCH', 'OPTIONS'), fc.stringMatching(/^\/[a-z]{0,10}$/), (method, path) => {
        const request = Buffer.from(`${method} ${path} HTTP/1.1\r\nHost: t\r\n\r\n`, 'latin1');
        expect(classifyPreface(request)).toBe('http1');
      }),
      fcOptions(100),
    );
  });
});
