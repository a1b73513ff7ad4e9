// src/net/output-batch.ts: what a client connection writes in one tick leaves together, in order,
// and whoever waits for room always hears of it (backpressure, R7), on a real loopback socket.
import type { Socket } from 'node:net';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { OutputBatch } from '../../src/net/output-batch.js';
import { loopbackPair, withTimeout, type LoopbackPair } from '../support/ports.js';

describe('OutputBatch', () => {
  let pair: LoopbackPair;
  let writer: Socket;
  let received: Buffer[];

  beforeEach(async () => {
    pair = await loopbackPair();
    ({ writer, received } = pair);
  });

  afterEach(() => pair.close());

  async function receivedBytes(length: number): Promise<Buffer> {
    await withTimeout(
      new Promise<void>((resolve) => {
        const check = (): void => {
          if (Buffer.concat(received).length >= length) resolve();
          else setTimeout(check, 5);
        };
        check();
      }),
      5000,
      `${length} bytes at the reader`,
    );
    return Buffer.concat(received);
  }

  it('joins the small pieces of one tick into one socket write, in order', async () => {
    const batch = new OutputBatch(writer, () => {});
    const write = vi.spyOn(writer, 'write');
    batch.add(Buffer.from('HTTP/1.1 200 OK\r\n'));
    batch.add([Buffer.from('Content-Length: 5\r\n\r\n'), Buffer.alloc(0), Buffer.from('hello')]);
    expect(batch.pending).toBe(true);
    expect(batch.bufferedBytes).toBe(17 + 21 + 5);
    expect(write).not.toHaveBeenCalled();
    await new Promise((resolve) => process.nextTick(resolve));
    expect(write).toHaveBeenCalledTimes(1);
    expect(batch.pending).toBe(false);
    expect((await receivedBytes(43)).toString()).toBe('HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello');
  });

  it('takes heads as latin1 strings: one byte per code unit, alone or joined with buffers', async () => {
    const batch = new OutputBatch(writer, () => {});
    const write = vi.spyOn(writer, 'write');
    const head = 'HTTP/1.1 200 OK\r\nX-Name: caf\xe9 \xff\r\nContent-Length: 3\r\n\r\n';
    batch.add([head, Buffer.from('abc')]);
    expect(batch.bufferedBytes).toBe(head.length + 3);
    await new Promise((resolve) => process.nextTick(resolve));
    expect(write).toHaveBeenCalledTimes(1);
    batch.add('HTTP/1.1 204 No Content\r\nX-Byte: \xe9\r\n\r\n');
    batch.flush();
    expect(write).toHaveBeenCalledTimes(2);
    const expected = Buffer.concat([Buffer.from(head, 'latin1'), Buffer.from('abc'), Buffer.from('HTTP/1.1 204 No Content\r\nX-Byte: \xe9\r\n\r\n', 'latin1')]);
    expect((await receivedBytes(expected.length)).equals(expected)).toBe(true);
  });

  it('writes a large batch as its pieces, without copying them, in order', async () => {
    const pieces = [Buffer.alloc(40_000, 'a'), Buffer.alloc(30_000, 'b'), Buffer.from('end')];
    const batch = new OutputBatch(writer, () => {});
    const write = vi.spyOn(writer, 'write');
    batch.add(pieces);
    batch.flush();
    expect(write.mock.calls.map(([data]) => data)).toEqual(pieces);
    expect((await receivedBytes(70_003)).equals(Buffer.concat(pieces))).toBe(true);
  });

  it('runs every write callback once the bytes are written, after the bytes before them', async () => {
    const batch = new OutputBatch(writer, () => {});
    const order: string[] = [];
    batch.add(Buffer.from('one'), () => order.push('first'));
    batch.add(Buffer.alloc(0), () => order.push('empty'));
    batch.add(Buffer.from('two'), () => order.push('second'));
    expect(order).toEqual([]);
    await withTimeout(new Promise((resolve) => batch.add(Buffer.alloc(0), resolve)), 2000, 'the last callback');
    expect(order).toEqual(['first', 'empty', 'second']);
    expect((await receivedBytes(6)).toString()).toBe('onetwo');
  });

  it('a batch past the high-water mark reports full, and room comes back by drain or by onRoom (the kernel took it whole)', async () => {
    let room = 0;
    const batch = new OutputBatch(writer, () => room++);
    const size = writer.writableHighWaterMark * 8;
    expect(batch.add(Buffer.alloc(size, 'x'))).toBe(false);
    expect(batch.full).toBe(true);
    const drained = new Promise<void>((resolve) => writer.once('drain', () => resolve()));
    batch.flush();
    if (room === 0) await withTimeout(drained, 5000, "the socket's drain");
    expect(batch.full).toBe(false);
    expect((await receivedBytes(size)).length).toBe(size);
  });

  it('hold() keeps what is added (no microtask flush) until release(), which writes it as one', async () => {
    const batch = new OutputBatch(writer, () => {});
    const write = vi.spyOn(writer, 'write');
    batch.hold();
    batch.add('HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n');
    batch.add(Buffer.from('ok'));
    await new Promise((resolve) => setImmediate(resolve));
    expect(write).not.toHaveBeenCalled();
    expect(batch.pending).toBe(true);
    batch.release();
    expect(write).toHaveBeenCalledTimes(1);
    expect(batch.pending).toBe(false);
    // Released, it batches to the end of the tick again.
    batch.add(Buffer.from('next'));
    expect(write).toHaveBeenCalledTimes(1);
    await new Promise((resolve) => process.nextTick(resolve));
    expect(write).toHaveBeenCalledTimes(2);
    expect((await receivedBytes(42)).toString()).toBe('HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\noknext');
  });

  it('a flush on a destroyed socket still runs the callbacks, so nothing waits for ever', () => {
    const batch = new OutputBatch(writer, () => {});
    const done = vi.fn();
    batch.add(Buffer.from('lost'), done);
    writer.destroy();
    batch.flush();
    expect(done).toHaveBeenCalledWith(null);
  });
});
