// Log lines leave once per event-loop turn (src/proxy/log-batch.ts): fewer writes, same lines.
import { describe, expect, it } from 'vitest';
import { pino } from 'pino';
import { LogBatch } from '../../src/proxy/log-batch.js';
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
    const pieces = ['{"e"', ':5}\n', 'left over'];
    batch.writeAsciiPieces(pieces, 2);
    pieces[0] = 'changed after';
    batch.writeAscii('{"f":6}\n');
    await nextTurn();
    expect(out.writes[2]!.toString('utf8')).toBe('{"e":5}\n{"f":6}\n');
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
});
