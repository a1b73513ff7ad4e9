// L (logging): the access line our own logger writes without pino's serializer says exactly what
// pino would have written for the same response: same fields, same order, same values.
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { pino } from 'pino';
import { accessLine, jsonText, recordResponse, type AccessRecord } from '../../src/proxy/access-log.js';
import { fcOptions } from '../support/fc.js';
import { ProxyCounters } from '../../src/proxy/stats.js';
import type { ClientExchange } from '../../src/net/client-exchange.js';

function record(target: string, extra: Partial<AccessRecord> = {}): AccessRecord {
  // A stand-in with the fields the access line reads (a pure function: no socket needed).
  const exchange = {
    request: { method: 'GET', target, version: { major: 1, minor: 1 } },
    startedAt: performance.now() - 2.5,
    bytesSent: 1301,
    clientAddress: '127.0.0.1',
    state: 'ended',
  } as unknown as ClientExchange;
  return { exchange, status: 200, cache: 'HIT', firstByteAt: performance.now() - 1, ...extra };
}

/** What pino writes for the record (an embedder's pino logger takes the generic path). */
function viaPino(r: AccessRecord): Record<string, unknown> {
  const lines: string[] = [];
  const logger = pino({ name: 'streamcache', base: undefined }, { write: (s: string) => void lines.push(s) });
  recordResponse({ logger, stats: new ProxyCounters() }, r);
  expect(lines).toHaveLength(1);
  return JSON.parse(lines[0]!) as Record<string, unknown>;
}

function comparable(line: Record<string, unknown>): Record<string, unknown> {
  // The clock moves between the two: time and the duration are checked for shape only.
  expect(typeof line.time).toBe('number');
  expect(typeof line.durationMs).toBe('number');
  const { time: _t, durationMs: _d, ...rest } = line;
  return rest;
}

describe('the access line', () => {
  const cases: Array<[string, AccessRecord]> = [
    ['a hit', record('/hit')],
    ['a target with quotes, backslashes, controls and latin1 bytes', record('/a"b\\c\u0001\u00e9\u00ff?q=<x>')],
    ['a failed miss with an error and a reason', record('/m', { cache: 'MISS', status: 503, firstByteAt: undefined, error: 'origin "x" reset', reason: { kind: 'origin', origin: 'reset', message: 'reset' } as AccessRecord['reason'] })],
  ];
  for (const [name, r] of cases) {
    it(`${name}: the same JSON fields, in the same order, as pino writes`, () => {
      const ours = JSON.parse(accessLine(r, performance.now(), Date.now())) as Record<string, unknown>;
      const theirs = viaPino(r);
      expect(Object.keys(ours)).toEqual(Object.keys(theirs));
      expect(comparable(ours)).toEqual(comparable(theirs));
    });
  }

  it('issue 18: any target, method, client address and error: the line pino writes (strings escaped only where JSON.stringify escapes)', () => {
    const text = fc.oneof(fc.string({ unit: 'binary', maxLength: 40 }), fc.string({ unit: fc.integer({ min: 0, max: 0xff }).map((c) => String.fromCharCode(c)), maxLength: 40 }), fc.constantFrom('/hit', '127.0.0.1', '::ffff:10.0.0.1'));
    fc.assert(
      fc.property(
        text,
        text,
        text,
        fc.option(text, { nil: undefined }),
        fc.record({ status: fc.constantFrom(200, 206, 304, 503), minor: fc.constantFrom(0, 1), cache: fc.constantFrom('HIT', 'MISS', 'PASS', 'COLLAPSED' as const), state: fc.constantFrom('ended', 'aborted', 'gone', 'open') }),
        (target, method, client, error, varied) => {
          const r = record(target, { error, status: varied.status, cache: varied.cache });
          (r.exchange.request as { method: string; version: unknown }).method = method;
          (r.exchange.request as { method: string; version: unknown }).version = { major: 1, minor: varied.minor };
          (r.exchange as unknown as { clientAddress: string; state: string }).clientAddress = client;
          (r.exchange as unknown as { clientAddress: string; state: string }).state = varied.state;
          const line = accessLine(r, performance.now(), Date.now());
          const ours = JSON.parse(line) as Record<string, unknown>;
          const theirs = viaPino(r);
          expect(Object.keys(ours)).toEqual(Object.keys(theirs));
          expect(comparable(ours)).toEqual(comparable(theirs));
          expect(line).toContain(`"path":${JSON.stringify(target)},`);
        },
      ),
      fcOptions(300),
    );
  });

  it('issue 18: jsonText(s) is what JSON.stringify(s) puts between its quotes, for any string', () => {
    fc.assert(
      fc.property(fc.string({ unit: 'binary', maxLength: 30 }), (s) => {
        expect(`"${jsonText(s)}"`).toBe(JSON.stringify(s));
      }),
      fcOptions(1000),
    );
    for (const s of ['', 'plain', 'a"b', 'a\\b', '\u0000', '\u001f', '\u007f', '\u00e9\u00ff', '\ud83d\ude00', '\ud800', 'x\udc00y']) expect(`"${jsonText(s)}"`).toBe(JSON.stringify(s));
  });

  it('issue 18: the time is written as String(time) for any time in ms', () => {
    const times = fc.oneof(fc.integer({ min: 0, max: 2 ** 31 }), fc.integer({ min: 1_700_000_000_000, max: 1_900_000_000_000 }), fc.maxSafeInteger());
    fc.assert(
      fc.property(times, (time) => {
        expect(accessLine(record('/t'), performance.now(), time)).toContain(`"time":${String(time)},"name"`);
      }),
      fcOptions(500),
    );
    for (const time of [0, 999_999_999, 1_000_000_000, 1_796_000_000_000, 1_796_000_000_005, 1_796_000_001_000]) {
      expect(accessLine(record('/t'), performance.now(), time)).toContain(`"time":${String(time)},"name"`);
    }
  });

  it('is one line ending in a newline', () => {
    const line = accessLine(record('/x\ny'), performance.now(), Date.now());
    expect(line.endsWith('}\n')).toBe(true);
    expect(line.slice(0, -1)).not.toContain('\n');
  });
});

describe('millis (the access line\'s ms with 3 decimals)', () => {
  it('prints what String(Math.round(ms * 1000) / 1000) prints, for every microsecond of the first 20 ms and some larger ones', async () => {
    const { millis } = await import('../../src/proxy/access-log.js');
    const samples: number[] = [];
    for (let us = 0; us <= 20_000; us++) samples.push(us / 1000, us / 1000 + 0.0004, us / 1000 - 0.0004);
    samples.push(123_456.7895, 9_999_999.9994, 0.0005, 1e-9);
    for (const ms of samples) {
      if (ms < 0) continue;
      expect(millis(ms), String(ms)).toBe(String(Math.round(ms * 1000) / 1000));
    }
  });
});
