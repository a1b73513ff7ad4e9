// The h2c preface check (H1): any proper prefix of the HTTP/2 preface is 'undecided' until it is
// whole; any HTTP/1 request is told apart at its first byte that differs, so HTTP/1.x never waits.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { H2_PREFACE, classifyPreface } from '../../src/net/h2-preface.js';
import { fcOptions } from '../support/fc.js';

describe('h2c preface (H1)', () => {
  it('H1: every proper prefix of the preface is undecided, the whole preface is h2', () => {
    for (let n = 0; n < H2_PREFACE.length; n++) expect(classifyPreface(H2_PREFACE.subarray(0, n))).toBe('undecided');
    expect(classifyPreface(Buffer.concat([H2_PREFACE, Buffer.from([0, 0, 0, 4])]))).toBe('h2');
  });

  it('H1: an HTTP/1 request is told apart at its first differing byte, whatever its split', () => {
    fc.assert(
      fc.property(fc.constantFrom('GET', 'POST', 'PUT', 'PRI', 'PATCH', 'OPTIONS'), fc.stringMatching(/^\/[a-z]{0,10}$/), fc.nat(40), (method, path, cut) => {
        const request = Buffer.from(`${method} ${path} HTTP/1.1\r\nHost: t\r\n\r\n`, 'latin1');
        expect(classifyPreface(request)).toBe('http1');
        const first = request.subarray(0, Math.min(cut, request.length));
        const verdict = classifyPreface(first);
        // A prefix is undecided only while it is also a prefix of the preface.
        expect(verdict === 'undecided').toBe(H2_PREFACE.subarray(0, first.length).equals(first));
      }),
      fcOptions(100),
    );
  });
});
