// Log lines leave once per event-loop turn (src/proxy/log-batch.ts): fewer writes, same lines.
import { describe, expect, it } from 'vitest';
import { pino } from 'pino';
import { LogBatch, writeAllSync } from '../../src/proxy/log-batch.js';
import { writeAccessLine, type AccessRecord } from '../../src/proxy/access-log.js';
import type { ClientExchange } from '../../src/net/client-exchange.js';

/** A sink of bytes, as the stdout batch's destination (SonicBoom in buffer mode) takes them. */
function bytesSink(): { writes: Buffer[]; writeBytes(b: Buffer): void } {
  const writes: Buffer[] = [];
  return { writes, writeBytes: (b: Buffer) => void writes.push(b) };
}

function sink(): { writes: string[]; write(s: string): void } {
  const writes: string[] = [];
  return { writes, write: (s: string) => void writes.push(s) };
}

const nextTurn = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

describe('LogBatch', () => {
  it('every line of one turn leaves in one write, in order, at the end of that turn', async () => {
    const out = sink();
    const batch = new LogBatch(out);
    batch.write('a\n');
    batch.write('b\n');
    batch.write('c\n');
    expect(out.writes).toEqual([]);
    await nextTurn();
    expect(out.writes).toEqual(['a\nb\nc\n']);
    batch.write('d\n');
    await nextTurn();
    expect(out.writes).toEqual(['a\nb\nc\n', 'd\n']);
  });

  it('flush() writes what is pending at once (as at exit), and a later turn has nothing left to write', async () => {
    const out = sink();
    const batch = new LogBatch(out);
    batch.write('x\n');
    batch.flush();
    expect(out.writes).toEqual(['x\n']);
    await nextTurn();
    expect(out.writes).toEqual(['x\n']);
  });

  it('a destination that throws (stdout closed) drops the lines instead of crashing', async () => {
    const batch = new LogBatch({
      write: () => {
        throw Object.assign(new Error('write EPIPE'), { code: 'EPIPE' });
      },
    });
    batch.write('lost\n');
    expect(() => batch.flush()).not.toThrow();
  });

  it('as a pino destination: the access lines of a burst are whole JSON lines in one write', async () => {
    const out = sink();
    const logger = pino({ base: undefined }, new LogBatch(out));
    for (let i = 0; i < 5; i++) logger.info({ i }, 'access');
    await nextTurn();
    expect(out.writes).toHaveLength(1);
    const lines = out.writes[0]!.trim().split('\n').map((l) => JSON.parse(l) as { i: number; msg: string });
    expect(lines.map((l) => l.i)).toEqual([0, 1, 2, 3, 4]);
    expect(lines.every((l) => l.msg === 'access')).toBe(true);
  });

  it('issue 18: into a bytes sink, a turn\'s lines are one buffer: their UTF-8, whether written as ASCII or not', async () => {
    const out = bytesSink();
    const batch = new LogBatch(out);
    batch.writeAscii('{"a":1}\n');
    batch.writeAscii('{"b":2}\n');
    await nextTurn();
    expect(out.writes.map((b) => b.toString('utf8'))).toEqual(['{"a":1}\n{"b":2}\n']);
    batch.writeAscii('{"c":3}\n');
    batch.write('{"d":"\u00e9\u20ac"}\n');
    await nextTurn();
    expect(out.writes[1]!.equals(Buffer.from('{"c":3}\n{"d":"\u00e9\u20ac"}\n', 'utf8'))).toBe(true);
    const room = batch.lineRoom(20);
    const at = batch.lineEnd;
    room.write('{"e":5}\nleft over', at, 'latin1');
    batch.lineWritten(at + 8);
    batch.writeAscii('{"f":6}\n');
    await nextTurn();
    expect(out.writes[2]!.toString('utf8')).toBe('{"e":5}\n{"f":6}\n');
  });

  it('issue 18: bytes handed to the sink are never written again (later turns, a new slab), and a line written in place may be given up', async () => {
    const out = bytesSink();
    const batch = new LogBatch(out);
    const expected: string[] = [];
    for (let turn = 0; turn < 40; turn++) {
      let text = '';
      for (let i = 0; i < 50; i++) {
        const line = `{"turn":${turn},"i":${i},"pad":"${'x'.repeat((turn * 31 + i * 7) % 200)}"}\n`;
        batch.writeAscii(line);
        text += line;
      }
      // A writer that starts a line and gives up leaves nothing.
      batch.lineRoom(64).write('half a line', batch.lineEnd, 'latin1');
      expected.push(text);
      await nextTurn();
    }
    expect(out.writes.map((b) => b.toString('latin1'))).toEqual(expected);
    batch.write(`{"big":"${'\u00e9'.repeat(70_000)}"}\n`);
    batch.flush();
    expect(JSON.parse(out.writes.at(-1)!.toString('utf8'))).toEqual({ big: '\u00e9'.repeat(70_000) });
  });

  it('issue 18: turnTime is Date.now() read at the turn\'s first line, the same for the turn\'s lines, and read again next turn', async () => {
    const batch = new LogBatch(bytesSink());
    const before = Date.now();
    const first = batch.turnTime();
    expect(first).toBeGreaterThanOrEqual(before);
    expect(first).toBeLessThanOrEqual(Date.now());
    batch.writeAscii('x\n');
    expect(batch.turnTime()).toBe(first);
    await new Promise((resolve) => setTimeout(resolve, 5));
    const next = batch.turnTime();
    expect(next).toBeGreaterThanOrEqual(first + 4);
    expect(next).toBeLessThanOrEqual(Date.now());
  });

  it('issue 18: an access line with a path past ASCII reaches the bytes sink as UTF-8, one without as its own bytes', async () => {
    const out = bytesSink();
    const batch = new LogBatch(out);
    for (const target of ['/plain', '/caf\u00e9?\u00ff', '/q"uote']) {
      const exchange = { request: { method: 'GET', target, version: { major: 1, minor: 1 } }, startedAt: 0, bytesSent: 10, clientAddress: '127.0.0.1', state: 'ended' } as unknown as ClientExchange;
      const record: AccessRecord = { exchange, status: 200, cache: 'HIT', firstByteAt: 0.5 };
      writeAccessLine(batch, record, 1, 1_796_000_000_000);
    }
    await nextTurn();
    expect(out.writes).toHaveLength(1);
    const lines = out.writes[0]!.toString('utf8').trim().split('\n').map((l) => JSON.parse(l) as { path: string });
    expect(lines.map((l) => l.path)).toEqual(['/plain', '/caf\u00e9?\u00ff', '/q"uote']);
  });

  it('issue 18: writeAllSync writes every byte through partial writes and EAGAIN/EBUSY, and gives any other error to its caller', () => {
    const bytes = Buffer.from('{"a":1}\n{"b":2}\n{"c":3}\n');
    const got: Buffer[] = [];
    const script: Array<number | string> = [5, 'EAGAIN', 1, 'EBUSY', 'EAGAIN', 7, 100];
    let calls = 0;
    writeAllSync((b, offset, length) => {
      const step = script[calls++] ?? 100;
      if (typeof step === 'string') throw Object.assign(new Error(step), { code: step });
      const n = Math.min(step, length);
      got.push(Buffer.from(b.subarray(offset, offset + n)));
      return n;
    }, bytes);
    expect(Buffer.concat(got).equals(bytes)).toBe(true);
    expect(calls).toBe(7);
    const epipe = Object.assign(new Error('write EPIPE'), { code: 'EPIPE' });
    expect(() =>
      writeAllSync(() => {
        throw epipe;
      }, bytes),
    ).toThrow(epipe);
  });
});
