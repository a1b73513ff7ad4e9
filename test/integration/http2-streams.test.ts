// H3: many streams on one HTTP/2 connection, each with its own reader: 100 EventSource streams get
// every event; a stream whose client stops reading is held by flow control alone, while the
// others on the same connection go on, and it gets the identical body once it reads again.
import type { ClientHttp2Stream } from 'node:http2';
import { describe, expect, it } from 'vitest';
import { cleanupAfterEach, startOriginAndProxy } from '../support/proxy.js';
import { closeSession, connectH2, h2Request } from '../support/h2-client.js';
import { delay } from '../support/ports.js';

const cleanups = cleanupAfterEach();
const PUSH: [string, string][] = [['Content-Type', 'text/event-stream'], ['Cache-Control', 'no-cache, s-maxage=28']];

/** An event stream: `count` events of `size` bytes (`data: <i> xxx…\n\n`), `gapMs` apart, then the end. */
function events(count: number, size: number): string[] {
  return Array.from({ length: count }, (_, i) => {
    const prefix = `data: ${i} `;
    return `${prefix}${'x'.repeat(Math.max(0, size - prefix.length - 2))}\n\n`;
  });
}

function sseOrigin(list: string[], gapMs: number) {
  return async (_req: unknown, res: { head(s: number, h: [string, string][]): Promise<void>; chunk(b: string): Promise<void>; sleep(ms: number): Promise<void>; lastChunk(): Promise<void> }) => {
    await res.head(200, [...PUSH, ['Transfer-Encoding', 'chunked']]);
    for (const event of list) {
      await res.chunk(event);
      await res.sleep(gapMs);
    }
    await res.lastChunk();
  };
}

describe('H3: many EventSource streams on one connection', () => {
  it('H3, R2, R3: 100 EventSource streams on one HTTP/2 connection each get every event', async () => {
    const list = events(20, 60);
    const { origin, proxy } = await startOriginAndProxy(cleanups, sseOrigin(list, 20) as never, { h2c: true });
    const s = connectH2(proxy.port);
    cleanups.push(() => closeSession(s));
    const streams = await Promise.all(Array.from({ length: 100 }, () => h2Request(s, '/events', { accept: 'text/event-stream' })));
    const expected = list.join('');
    for (const r of streams) {
      expect(r.status).toBe(200);
      expect(r.endedCleanly).toBe(true);
      expect(r.body.toString()).toBe(expected);
    }
    expect(origin.requests.length).toBe(1);
  });

  it('H3, R7: a stalled stream is held by flow control only: the others go on, and it gets the whole body when it reads again', async () => {
    const list = events(40, 8_000);
    const expected = list.join('');
    // A send timeout far shorter than the stall: one stream without window is flow control, not a dead client.
    const { proxy } = await startOriginAndProxy(cleanups, sseOrigin(list, 5) as never, { h2c: true, sendTimeout: 200 });
    const s = connectH2(proxy.port);
    cleanups.push(() => closeSession(s));
    const stalled: ClientHttp2Stream = s.request({ ':path': '/big-events' });
    const stalledChunks: Buffer[] = [];
    let stalledEnded = false;
    let stalledOnce = false;
    stalled.on('data', (c: Buffer) => {
      stalledChunks.push(c);
      if (stalledOnce) return;
      stalledOnce = true;
      stalled.pause();
    });
    stalled.on('end', () => (stalledEnded = true));
    stalled.on('error', (err: Error) => {
      throw new Error(`the stalled stream must be held, not reset: ${err.message}`);
    });
    const others = await Promise.all(Array.from({ length: 9 }, () => h2Request(s, '/big-events')));
    for (const r of others) expect(r.body.toString()).toBe(expected);
    // The others are complete; the stalled stream holds what flow control let through: its window
    // (64 KiB) and what its client buffered before pausing, far from the 320 kB body.
    const heldBytes = stalledChunks.reduce((n, c) => n + c.length, 0) + stalled.readableLength;
    expect(stalledEnded).toBe(false);
    expect(heldBytes).toBeLessThan(200_000);
    await delay(600);
    const done = new Promise<void>((resolve) => stalled.on('end', resolve));
    stalled.resume();
    await done;
    expect(Buffer.concat(stalledChunks).toString()).toBe(expected);
  });

  it('H3: memory per idle event stream stays small (readers share one copy of the object, R7)', async () => {
    const { proxy } = await startOriginAndProxy(cleanups, (async (_req: unknown, res: { head(s: number, h: [string, string][]): Promise<void>; chunk(b: string): Promise<void>; sleep(ms: number): Promise<void>; lastChunk(): Promise<void> }) => {
      await res.head(200, [...PUSH, ['Transfer-Encoding', 'chunked']]);
      await res.chunk('data: hello\n\n');
      await res.sleep(1_500);
      await res.lastChunk();
    }) as never, { h2c: true });
    const s = connectH2(proxy.port);
    cleanups.push(() => closeSession(s));
    await h2Request(s, '/health');
    const before = process.memoryUsage();
    const opened: ClientHttp2Stream[] = [];
    let firstEvents = 0;
    for (let i = 0; i < 100; i++) {
      const st = s.request({ ':path': '/idle' });
      st.once('data', () => firstEvents++);
      st.on('error', () => {});
      opened.push(st);
    }
    for (let i = 0; i < 100 && firstEvents < 100; i++) await delay(20);
    expect(firstEvents).toBe(100);
    const after = process.memoryUsage();
    // Client and proxy share this process: the figure covers both ends of each stream.
    const perStream = (after.heapUsed + after.external - before.heapUsed - before.external) / 100;
    expect(perStream).toBeLessThan(64 * 1024);
    await Promise.all(opened.map((st) => new Promise((resolve) => st.on('close', resolve).resume())));
  });
});
