// L (logging): the access line our own logger writes without pino's serializer says exactly what
// pino would have written for the same response: same fields, same order, same values.
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { pino } from 'pino';
import { accessLine, jsonText, recordHit, recordResponse, writeAccessLine, type AccessRecord } from '../../src/proxy/access-log.js';
import { LogBatch } from '../../src/proxy/log-batch.js';
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

/** One batch for the property's runs: a line like the last one copies the last one's run from the slab. */
const shared: Buffer[] = [];
const sharedBatch = new LogBatch({ writeBytes: (b: Buffer) => void shared.push(Buffer.from(b)) });
/** Lines of the property that went the string way (so that both ways are seen to be drawn). */
let stringWay = 0;
let lines = 0;
for (const way of ['write', 'writeAscii'] as const) {
  const original = sharedBatch[way].bind(sharedBatch);
  sharedBatch[way] = (line: string) => {
    stringWay++;
    original(line);
  };
}

/**
 * The bytes writeAccessLine puts into a batch for one record, as the batch hands them to stdout:
 * the record written twice in one turn (the second line made from the first's run).
 */
function batchBytes(r: AccessRecord, now: number, time: number): Buffer {
  shared.length = 0;
  writeAccessLine(sharedBatch, r, now, time);
  writeAccessLine(sharedBatch, r, now + 0.001, time);
  lines += 2;
  sharedBatch.flush();
  expect(shared).toHaveLength(1);
  return shared[0]!;
}

describe('the access line written as bytes into the batch (issue 18)', () => {
  const plainText = fc.string({ unit: fc.integer({ min: 0x20, max: 0x7f }).map((c) => String.fromCharCode(c)), maxLength: 30 });
  // Mostly what the fast writer takes (so that it is drawn often), sometimes what it gives up on.
  const anyText = fc.oneof({ arbitrary: plainText, weight: 12 }, fc.constantFrom('/hit', '127.0.0.1', 'GET', 'HEAD', '/caf\u00e9', 'a"b', '\u0001', ''), fc.string({ unit: 'binary', maxLength: 20 }));
  const rarely = <T>(value: fc.Arbitrary<T>): fc.Arbitrary<T | undefined> => fc.oneof({ arbitrary: fc.constant(undefined), weight: 3 }, value);
  const micros = fc.oneof(fc.integer({ min: 0, max: 5_000_000 }), fc.integer({ min: -5000, max: 2 ** 32 }), fc.constantFrom(0, 1, 999, 1000, 1001, 2 ** 31 - 1, 2 ** 31)).map((us) => us / 1000);
  const fraction = fc.constantFrom(0, 0.0004, 0.0005, 0.00049, -0.0004);

  it('are the string line\'s UTF-8, byte for byte, for any record, clock and time (the fast path and its fall-backs)', () => {
    fc.assert(
      fc.property(
        fc.record({
          target: anyText,
          method: anyText,
          client: anyText,
          state: fc.constantFrom('ended', 'aborted', 'gone', 'open'),
          error: rarely(anyText),
          reason: rarely(fc.constantFrom('origin', 'no-store', 'bad-request')),
          status: fc.constantFrom(200, 206, 304, 503),
          minor: fc.constantFrom(0, 1),
          cache: fc.constantFrom('HIT', 'MISS', 'PASS', 'COLLAPSED' as const),
          bytes: fc.oneof(fc.constantFrom(0, 1301), fc.nat()),
          ttfb: fc.option(fc.tuple(micros, fraction), { nil: undefined }),
          duration: fc.tuple(micros, fraction),
          time: fc.oneof(fc.integer({ min: 1_700_000_000_000, max: 1_900_000_000_000 }), fc.integer({ min: 0, max: 2 ** 31 }), fc.constantFrom(0, 999_999_999, 1e9, 1e15 - 1, 1e15, Number.MAX_SAFE_INTEGER)),
        }),
        (v) => {
          const startedAt = 1000.25;
          const exchange = { request: { method: v.method, target: v.target, version: { major: 1, minor: v.minor } }, startedAt, bytesSent: v.bytes, clientAddress: v.client, state: v.state } as unknown as ClientExchange;
          const r: AccessRecord = {
            exchange,
            status: v.status,
            cache: v.cache,
            firstByteAt: v.ttfb === undefined ? undefined : startedAt + v.ttfb[0] + v.ttfb[1],
            error: v.error,
            reason: v.reason === undefined ? undefined : ({ kind: v.reason, message: v.reason } as AccessRecord['reason']),
          };
          const now = startedAt + v.duration[0] + v.duration[1];
          const expected = Buffer.concat([Buffer.from(accessLine(r, now, v.time), 'utf8'), Buffer.from(accessLine(r, now + 0.001, v.time), 'utf8')]);
          const got = batchBytes(r, now, v.time);
          expect(got.toString('latin1')).toBe(expected.toString('latin1'));
        },
      ),
      fcOptions(2000),
    );
    // Both ways were drawn: lines written in place and lines that went the string way.
    expect(stringWay).toBeGreaterThan(lines / 10);
    expect(stringWay).toBeLessThan(lines * 0.9);
  });

  it('a turn of lines that change and repeat (time, method, path, status, client): each line\'s own bytes, written in place', () => {
    const writes: Buffer[] = [];
    const batch = new LogBatch({ writeBytes: (b: Buffer) => void writes.push(Buffer.from(b)) });
    // Plain lines never take the string way (writeAscii, write): they are written into the slab.
    batch.writeAscii = batch.write = () => expect.fail('a plain access line went the string way');
    let expected = '';
    for (let i = 0; i < 300; i++) {
      const exchange = {
        request: { method: i % 7 === 0 ? 'HEAD' : 'GET', target: i % 3 === 0 ? `/o/${i}` : '/hit', version: { major: 1, minor: i % 5 === 0 ? 0 : 1 } },
        startedAt: 10,
        bytesSent: i % 4 === 0 ? 17 : 1301,
        clientAddress: i % 11 === 0 ? '::1' : '127.0.0.1',
        state: i % 13 === 0 ? 'aborted' : 'ended',
      } as unknown as ClientExchange;
      const r: AccessRecord = { exchange, status: i % 9 === 0 ? 404 : 200, cache: i % 6 === 0 ? 'MISS' : 'HIT', firstByteAt: 10 + i / 997 };
      const time = 1_796_000_000_000 + Math.floor(i / 10);
      expected += accessLine(r, 10.5 + i / 1000, time);
      writeAccessLine(batch, r, 10.5 + i / 1000, time);
    }
    batch.flush();
    expect(Buffer.concat(writes).toString('latin1')).toBe(expected);
  });

  it('recordHit: the line recordResponse writes for the same hit, its time this turn\'s clock and its duration its time to first byte', () => {
    const writes: Buffer[] = [];
    const batch = new LogBatch({ writeBytes: (b: Buffer) => void writes.push(Buffer.from(b)) });
    const exchange = record('/hit').exchange;
    const firstByteAt = exchange.startedAt + 0.75;
    const stats = new ProxyCounters();
    const before = Date.now();
    // An embedder's logger (no own sink): the line through pino, durationMs = ttfbMs.
    const lines: string[] = [];
    const embedder = pino({ name: 'streamcache', base: undefined }, { write: (l: string) => void lines.push(l) });
    recordHit({ logger: embedder, stats }, exchange, 200, firstByteAt);
    const viaPinoLine = JSON.parse(lines[0]!) as Record<string, unknown>;
    expect(viaPinoLine.durationMs).toBe(viaPinoLine.ttfbMs);
    expect(stats.bytesOut).toBe(1301);
    // Our own logger's batch, as recordHit writes into it (now = firstByteAt): the same fields as pino's.
    writeAccessLine(batch, { exchange, status: 200, cache: 'HIT', firstByteAt }, firstByteAt, batch.turnTime());
    batch.flush();
    const ours = JSON.parse(writes[0]!.toString('utf8')) as Record<string, unknown>;
    expect(ours.time).toBeGreaterThanOrEqual(before);
    expect(ours.time).toBeLessThanOrEqual(Date.now());
    const { time: _a, ...oursRest } = ours;
    const { time: _b, ...theirsRest } = viaPinoLine;
    expect(oursRest).toEqual(theirsRest);
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
