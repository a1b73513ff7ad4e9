// src/net/raw-write.ts: writes straight to a TCP socket's handle arrive whole and in order, keep
// the socket's Writable out of it, count what the kernel has not taken, report room when a write
// that went async completes, and end or destroy like socket writes; on a real loopback socket.
import net, { type Socket } from 'node:net';
import fc from 'fast-check';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { OutputBatch } from '../../src/net/output-batch.js';
import { RawOutput, StreamOutput, canWriteRaw, socketOutput, type OutgoingBytes } from '../../src/net/raw-write.js';
import { fcOptions } from '../support/fc.js';
import { LOOPBACK, loopbackPair, waitFor, withTimeout, type LoopbackPair } from '../support/ports.js';

describe('raw handle writes', () => {
  let pair: LoopbackPair;
  let writer: Socket;
  let reader: Socket;
  let received: Buffer[];

  beforeEach(async () => {
    pair = await loopbackPair();
    ({ writer, reader, received } = pair);
  });

  afterEach(() => pair.close());

  async function receivedBytes(length: number): Promise<Buffer> {
    await waitFor(() => Buffer.concat(received).length >= length, 5000, `${length} bytes at the reader`);
    return Buffer.concat(received);
  }

  function raw(onComplete: () => void = () => {}): RawOutput {
    const output = socketOutput(writer, onComplete, true);
    expect(output).toBeInstanceOf(RawOutput);
    return output as RawOutput;
  }

  it('is chosen for a connected TCP socket, not for one still connecting or when not asked for', () => {
    expect(canWriteRaw(writer)).toBe(true);
    expect(socketOutput(writer, () => {}, false)).toBeInstanceOf(StreamOutput);
    const connecting = net.connect(1, LOOPBACK);
    connecting.on('error', () => {});
    expect(canWriteRaw(connecting)).toBe(false);
    expect(socketOutput(connecting, () => {}, true)).toBeInstanceOf(StreamOutput);
    connecting.destroy();
  });

  it('writes buffers, latin1 strings and mixed writev lists byte for byte, without the Writable', async () => {
    const output = raw();
    const write = vi.spyOn(writer, 'write');
    output.write('HTTP/1.1 200 OK\r\nX-Name: caf\xe9 \xff\r\n\r\n');
    output.write(Buffer.from('body'));
    output.writev([Buffer.from('<'), 'mid\xe9', Buffer.from('>')]);
    output.writev([Buffer.from('a'), Buffer.from('b')]);
    expect(write).not.toHaveBeenCalled();
    expect(writer.writableLength).toBe(0);
    const expected = Buffer.concat([
      Buffer.from('HTTP/1.1 200 OK\r\nX-Name: caf\xe9 \xff\r\n\r\n', 'latin1'),
      Buffer.from('body<'),
      Buffer.from('mid\xe9', 'latin1'),
      Buffer.from('>ab'),
    ]);
    expect((await receivedBytes(expected.length)).equals(expected)).toBe(true);
  });

  it('property: any sequence of writes and writevs arrives as their concatenation', async () => {
    const piece = fc.oneof(
      fc.uint8Array({ maxLength: 3000 }).map((bytes) => Buffer.from(bytes) as OutgoingBytes),
      fc.string({ maxLength: 200, unit: fc.integer({ min: 0, max: 255 }).map((c) => String.fromCharCode(c)) }) as fc.Arbitrary<OutgoingBytes>,
    );
    const step = fc.oneof(piece.map((p) => [p]), fc.array(piece, { minLength: 1, maxLength: 5 }));
    await fc.assert(
      fc.asyncProperty(fc.array(step, { maxLength: 20 }), async (steps) => {
        received.length = 0;
        const output = raw();
        const expected: Buffer[] = [];
        for (const pieces of steps) {
          if (pieces.length === 1) output.write(pieces[0]!);
          else output.writev(pieces);
          for (const p of pieces) expected.push(typeof p === 'string' ? Buffer.from(p, 'latin1') : p);
        }
        const all = Buffer.concat(expected);
        const sentinel = Buffer.from('|end|');
        output.write(sentinel);
        const got = await receivedBytes(all.length + sentinel.length);
        expect(got.equals(Buffer.concat([all, sentinel]))).toBe(true);
      }),
      fcOptions(30),
    );
  });

  it('runs each callback after write() returns, in order, once the kernel has the bytes', async () => {
    const output = raw();
    const order: string[] = [];
    output.write(Buffer.from('one'), () => order.push('first'));
    output.writev(['two', Buffer.from('three')], () => order.push('second'));
    expect(order).toEqual([]);
    await withTimeout(new Promise<void>((resolve) => output.write(Buffer.alloc(0), () => resolve())), 2000, 'the last callback');
    expect(order).toEqual(['first', 'second']);
    expect((await receivedBytes(11)).toString()).toBe('onetwothree');
  });

  it("backpressure: a reader that stops makes it full with libuv's queue; each completion reports room; nothing is lost", async () => {
    reader.pause();
    let completions = 0;
    const output = raw(() => completions++);
    const chunk = Buffer.alloc(256 * 1024, 'z');
    let written = 0;
    let asyncDone = 0;
    while (!output.fullWith(0) && written < 64 * 1024 * 1024) {
      output.write(chunk, () => asyncDone++);
      written += chunk.length;
    }
    expect(output.fullWith(0)).toBe(true);
    expect(output.queuedBytes).toBeGreaterThanOrEqual(writer.writableHighWaterMark);
    expect(writer.writableLength).toBe(0); // the Writable never saw these bytes
    const batch = new OutputBatch(writer, () => {}, true);
    expect(batch.raw).toBe(true);
    reader.resume();
    await waitFor(() => output.queuedBytes === 0 && asyncDone === written / chunk.length, 10_000, 'the queue to drain');
    expect(completions).toBeGreaterThan(0);
    expect(output.fullWith(0)).toBe(false);
    const got = await receivedBytes(written);
    expect(got.length).toBe(written);
    expect(got.every((byte) => byte === 0x7a)).toBe(true);
  });

  it('end() after queued writes: libuv shuts the socket down only after them', async () => {
    reader.pause();
    const output = raw();
    const chunk = Buffer.alloc(512 * 1024, 'q');
    for (let i = 0; i < 8; i++) output.write(chunk);
    expect(output.queuedBytes).toBeGreaterThan(0);
    writer.end();
    const ended = new Promise<void>((resolve) => reader.once('end', () => resolve()));
    reader.resume();
    await withTimeout(ended, 10_000, "the reader's end");
    expect(Buffer.concat(received).length).toBe(8 * chunk.length);
  });

  it('after destroy(): queued writes call back (null), new writes are dropped with a callback, nothing throws', async () => {
    reader.pause();
    const output = raw();
    const pending = vi.fn();
    const chunk = Buffer.alloc(1024 * 1024, 'd');
    while (!output.fullWith(0)) output.write(chunk, pending);
    writer.destroy();
    await waitFor(() => pending.mock.calls.length > 0, 2000, 'the cancelled writes to call back');
    for (const call of pending.mock.calls) expect(call[0] ?? null).toBeNull();
    const late = vi.fn();
    output.write(Buffer.from('late'), late);
    expect(output.queuedBytes).toBe(0);
    await waitFor(() => late.mock.calls.length === 1, 1000, 'the late callback');
    expect(late).toHaveBeenCalledWith(null);
  });

  it('a write the handle refuses (after its shutdown) destroys the socket with the error, as the Writable would', async () => {
    const output = raw();
    const errors: NodeJS.ErrnoException[] = [];
    writer.on('error', (err) => errors.push(err));
    writer.end();
    await withTimeout(new Promise((resolve) => writer.once('finish', resolve)), 2000, "the writer's finish");
    const done = vi.fn();
    const closed = new Promise<void>((resolve) => writer.once('close', () => resolve()));
    output.write(Buffer.from('too late'), done);
    expect(writer.destroyed).toBe(true);
    await withTimeout(closed, 2000, "the writer's close");
    expect(errors.map((err) => [err.code, err.syscall])).toEqual([['EPIPE', 'write']]);
    expect(done).toHaveBeenCalledWith(errors[0]);
  });
});
