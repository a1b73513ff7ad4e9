// Log lines leave once per event-loop turn (src/proxy/log-batch.ts): fewer writes, same lines.
import { describe, expect, it } from 'vitest';
import { pino } from 'pino';
import { LogBatch } from '../../src/proxy/log-batch.js';

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
});
