// L5: the store is bounded, and what happens when it is full is a rule. With a tiny store
// (64 KiB in 16 KiB slabs) an object that does not fit "overflows": its further bytes live outside
// the store, it is still delivered whole to every client attached to it, it is never cached, and no
// new client attaches to it. Its outside bytes are released as the slowest reader passes them, and
// the origin is paused while more than `overflowWindow` bytes are held: memory stays bounded.
import net from 'node:net';
import { describe, expect, it } from 'vitest';
import { parseResponses, sendRaw, bodyBytes } from '../support/raw-client.js';
import { requestKit } from '../support/requests.js';
import type { OriginScript } from '../support/scripted-origin.js';
import { cleanupAfterEach, startOriginAndProxy, testKit } from '../support/proxy.js';
import { PatternChecker, patternBody, patternBytes } from '../support/bytes.js';
import { delay, waitFor } from '../support/ports.js';
import type { CreateProxyOptions } from '../../src/index.js';

const KiB = 1024;
const MiB = 1024 * KiB;
const TINY: Partial<CreateProxyOptions> = { storeSize: 64 * KiB, storeSlabSize: 16 * KiB };
const CACHEABLE: [string, string] = ['Cache-Control', 'max-age=60'];

const cleanups = cleanupAfterEach();
const { signal, client } = testKit(cleanups);
const setup = (script: OriginScript, options: Partial<CreateProxyOptions> = {}) => startOriginAndProxy(cleanups, script, options);

const { request: GET, fetchOnce } = requestKit({ host: 'store.test', idleMs: 3000 });

/** Checks a body as it streams by: the head is skipped, the rest must be the pattern. */
function patternSink(): { onData(chunk: Buffer): void; checker: PatternChecker; head: () => string } {
  const checker = new PatternChecker();
  let headText = '';
  let inHead = true;
  let pending = Buffer.alloc(0);
  return {
    checker,
    head: () => headText,
    onData(chunk) {
      if (inHead) {
        pending = Buffer.concat([pending, chunk]);
        const end = pending.indexOf('\r\n\r\n');
        if (end < 0) return;
        headText = pending.toString('latin1', 0, end);
        inHead = false;
        chunk = pending.subarray(end + 4);
      }
      checker.push(chunk);
    },
  };
}

/** A client connection that sends `request` and reads nothing until resume(); its body is checked as it arrives. */
function rawPaused(port: number, request: string): { resume(): void; sink: ReturnType<typeof patternSink>; closed: Promise<void> } {
  const socket = net.connect({ port, host: '127.0.0.1' });
  cleanups.push(() => void socket.destroy());
  socket.on('error', () => {});
  socket.pause();
  const sink = patternSink();
  socket.on('data', (chunk: Buffer) => sink.onData(chunk));
  socket.write(request);
  const closed = new Promise<void>((resolve) => socket.once('close', () => resolve()));
  return { resume: () => socket.resume(), sink, closed };
}

// ------------------------------------------------------------------------------------------------

describe('L5: a store committed up front (storePrefault)', () => {
  it('L5: the proxy serves while the worker commits the store; objects stored before and after are byte-exact hits', async () => {
    const body = patternBytes(0, 3 * MiB);
    const { origin, proxy } = await setup((_req, res) => res.send({ headers: [CACHEABLE], body, chunkSizes: [64 * KiB] }), {
      storeSize: 64 * MiB,
      storeSlabSize: 16 * MiB,
      storePrefault: true,
    });
    // Served at once, while the worker may still be faulting in the very pages written.
    const early = await fetchOnce(proxy.port, '/early');
    expect(early.header('x-cache')).toBe('MISS');
    expect(early.body.equals(body)).toBe(true);
    await proxy.proxy.storeCommitted();
    expect(proxy.proxy.stats().store).toMatchObject({ prefault: 'done', slabsAllocated: 4 });
    const late = await fetchOnce(proxy.port, '/late');
    expect(late.body.equals(body)).toBe(true);
    for (const path of ['/early', '/late']) {
      const hit = await fetchOnce(proxy.port, path);
      expect(hit.header('x-cache')).toBe('HIT');
      expect(hit.body.equals(body)).toBe(true);
    }
    expect(origin.requests.length).toBe(2);
  });
});

describe('L5: objects larger than the store', () => {
  it('L5: an object larger than the store is delivered whole to every attached client, and never cached', async () => {
    const size = 256 * KiB;
    const body = patternBytes(0, size);
    const { origin, proxy } = await setup((_req, res) => res.send({ headers: [CACHEABLE], body, chunkSizes: [16 * KiB], gapMs: 5, delayHeadMs: 80 }), TINY);
    // Three clients attach before the head (one origin request), then the body overflows the store.
    const all = await Promise.all([0, 1, 2].map(() => fetchOnce(proxy.port, '/big')));
    expect(origin.requests.length).toBe(1);
    for (const res of all) {
      expect(res.status).toBe(200);
      expect(res.complete).toBe(true);
      expect(res.header('content-length')).toBe(String(size));
      expect(res.body.equals(body)).toBe(true);
    }
    // Never cached: the next request is a new fetch.
    const next = await fetchOnce(proxy.port, '/big');
    expect(next.header('x-cache')).toBe('MISS');
    expect(next.body.equals(body)).toBe(true);
    expect(origin.requests.length).toBe(2);
  });

  it('L5: an overflowed object takes no new client: a request arriving then starts its own fetch, and both complete', async () => {
    const size = 160 * KiB;
    const body = patternBytes(0, size);
    const rest = signal();
    const { origin, proxy } = await setup(async (req, res) => {
      await res.head(200, [CACHEABLE, ['Content-Length', String(size)]]);
      if (origin.requests.indexOf(req) === 0) {
        for (let at = 0; at < 100 * KiB; at += 10 * KiB) await res.write(body.subarray(at, at + 10 * KiB));
        await rest.promise;
        await res.write(body.subarray(100 * KiB));
      } else {
        await res.write(body);
      }
    }, TINY);
    const first = await client(proxy.port);
    await first.write(GET('/overflowing'));
    await bodyBytes(first, 100 * KiB); // more than the whole store: the object has overflowed
    const late = await fetchOnce(proxy.port, '/overflowing');
    expect(origin.requests.length).toBe(2);
    expect(late.body.equals(body)).toBe(true);
    rest.resolve();
    const res = await first.readResponse();
    expect(res.complete).toBe(true);
    expect(res.body.equals(body)).toBe(true);
  });

  it('L5: a chunked object (unknown length) that overflows is still delivered whole, with its terminating chunk', async () => {
    const size = 200 * KiB;
    const body = patternBytes(0, size);
    const { origin, proxy } = await setup((_req, res) => res.send({ headers: [CACHEABLE], body, framing: 'chunked', chunkSizes: [8 * KiB], gapMs: 2, delayHeadMs: 50 }), TINY);
    const [a, b] = await Promise.all([fetchOnce(proxy.port, '/chunked-big'), fetchOnce(proxy.port, '/chunked-big')]);
    for (const res of [a, b]) {
      expect(res.terminatingChunk).toBe(true);
      expect(res.body.equals(body)).toBe(true);
    }
    expect(origin.requests.length).toBe(1);
    expect((await fetchOnce(proxy.port, '/chunked-big')).header('x-cache')).toBe('MISS');
  });
});

describe('L5: overflowed objects and clients that wait for the whole body', () => {
  // Regression (fixed, both tests): a client that waits for the complete body (doStream off, V1, V2) never moves
  // its cursor, so readerProgressed() (src/stream/fetch.ts) never releases the overflow bytes; once
  // they pass overflowWindow the origin is paused and, with the between-bytes timer off while
  // paused, nothing ever resumes it: the waiting client (and every streaming client of the fetch)
  // hangs forever. SPEC L5: an object that cannot be kept is still delivered to its attached clients.
  it('L5: with streaming off, an object larger than the store and the overflow window is still delivered whole', async () => {
    const size = 512 * KiB;
    const body = patternBytes(0, size);
    const { proxy } = await setup((_req, res) => res.send({ headers: [CACHEABLE], body, chunkSizes: [16 * KiB] }), {
      ...TINY,
      overflowWindow: 64 * KiB,
      rules: [{ path: '/buffered*', doStream: false }],
    });
    const exchange = await sendRaw(proxy.port, GET('/buffered'), { idleMs: 1500 });
    const [res] = parseResponses(exchange);
    expect(res?.status).toBe(200);
    expect(res.complete).toBe(true);
    expect(res.body.equals(body)).toBe(true);
  });

  it('L5 + V2: an HTTP/1.0 client waiting on an overflowing streaming miss does not stall it: both clients get the whole body', async () => {
    const size = 512 * KiB;
    const body = patternBytes(0, size);
    const { proxy } = await setup((_req, res) => res.send({ headers: [CACHEABLE], body, framing: 'chunked', chunkSizes: [16 * KiB], delayHeadMs: 80 }), {
      ...TINY,
      overflowWindow: 64 * KiB,
    });
    const v11 = sendRaw(proxy.port, GET('/mixed'), { idleMs: 1500 });
    await delay(20);
    const v10 = sendRaw(proxy.port, 'GET /mixed HTTP/1.0\r\nHost: store.test\r\n\r\n', { idleMs: 1500 });
    const [r11] = parseResponses(await v11);
    const [r10] = parseResponses(await v10);
    expect(r11.terminatingChunk).toBe(true);
    expect(r11.body.equals(body)).toBe(true);
    expect(r10?.status).toBe(200);
    expect(r10.header('content-length')).toBe(String(size));
    expect(r10.body.equals(body)).toBe(true);
  });
});

describe('L5: a store full of pinned bytes', () => {
  it('L5: while in-flight objects pin the whole ring, a new object is delivered whole and not cached; once unpinned, objects are cached again', async () => {
    const pinnedSize = 60 * KiB;
    const pinned = patternBytes(0, pinnedSize);
    const other = patternBytes(7, 40 * KiB);
    const finish = signal();
    const { origin, proxy } = await setup(async (req, res) => {
      if (req.target === '/pinned') {
        await res.head(200, [CACHEABLE, ['Content-Length', String(pinnedSize)]]);
        await res.write(pinned.subarray(0, 50 * KiB));
        await finish.promise;
        await res.write(pinned.subarray(50 * KiB));
        return;
      }
      await res.send({ headers: [CACHEABLE], body: other });
    }, TINY);
    // 50 KiB of a 64 KiB store are held by an object still being fetched.
    const holder = await client(proxy.port);
    await holder.write(GET('/pinned'));
    await bodyBytes(holder, 50 * KiB);
    const during = await fetchOnce(proxy.port, '/other');
    expect(during.body.equals(other)).toBe(true);
    const again = await fetchOnce(proxy.port, '/other');
    expect(again.header('x-cache')).toBe('MISS');
    expect(again.body.equals(other)).toBe(true);
    expect(origin.requests.filter((r) => r.target === '/other').length).toBe(2);
    // The pinned object completes: it fits, so it is cached.
    finish.resolve();
    expect((await holder.readResponse()).body.equals(pinned)).toBe(true);
    await delay(20);
    const pinnedHit = await fetchOnce(proxy.port, '/pinned');
    expect(pinnedHit.header('x-cache')).toBe('HIT');
    expect(pinnedHit.body.equals(pinned)).toBe(true);
    // Nothing is pinned any more: the next object evicts what it must and is cached.
    await delay(20);
    await fetchOnce(proxy.port, '/other');
    const hit = await fetchOnce(proxy.port, '/other');
    expect(hit.header('x-cache')).toBe('HIT');
    expect(hit.body.equals(other)).toBe(true);
    expect(origin.requests.filter((r) => r.target === '/other').length).toBe(3);
  });

  it('L5: slow readers holding hits pin the ring: a new object is still delivered and not cached; after the pins go it is cached', async () => {
    // The pins must outlast what the kernel buffers for a client that does not read (several MiB on
    // loopback), so this store is 16 MiB and its objects 7 MiB.
    const big = 7 * MiB;
    const small = 4 * MiB;
    const { origin, proxy } = await setup(
      (req, res) => res.send({ headers: [CACHEABLE], body: patternBody(req.target === '/new' ? small : big), chunkSizes: [256 * KiB] }),
      { storeSize: 16 * MiB, storeSlabSize: 4 * MiB },
    );
    for (const path of ['/a', '/b']) {
      const res = await sendRaw(proxy.port, GET(path), { idleMs: 3000, maxRetain: 1024 });
      expect(res.totalBytes).toBeGreaterThan(big);
    }
    // Two clients that do not read until we let them: each pins its hit.
    const holders = ['/a', '/b'].map((path) => rawPaused(proxy.port, GET(path)));
    await delay(300); // both hits are being written (and pinned) by now
    const sinkNew = patternSink();
    await sendRaw(proxy.port, GET('/new'), { idleMs: 3000, maxRetain: 0, onData: sinkNew.onData });
    expect(sinkNew.head()).toMatch(/X-Cache: MISS/);
    expect(sinkNew.checker.ok(small)).toBe(true);
    const sinkAgain = patternSink();
    await sendRaw(proxy.port, GET('/new'), { idleMs: 3000, maxRetain: 0, onData: sinkAgain.onData });
    expect(sinkAgain.head()).toMatch(/X-Cache: MISS/);
    expect(sinkAgain.checker.ok(small)).toBe(true);
    expect(origin.requests.filter((r) => r.target === '/new').length).toBe(2);
    // The hits themselves are delivered whole to their slow readers.
    for (const holder of holders) holder.resume();
    for (const holder of holders) {
      await holder.closed;
      expect(holder.sink.head()).toMatch(/X-Cache: HIT/);
      expect(holder.sink.checker.ok(big)).toBe(true);
    }
    // The pins are gone: the object is cached again.
    await delay(20);
    await sendRaw(proxy.port, GET('/new'), { idleMs: 3000, maxRetain: 0 });
    const sinkHit = patternSink();
    await sendRaw(proxy.port, GET('/new'), { idleMs: 3000, maxRetain: 0, onData: sinkHit.onData });
    expect(sinkHit.head()).toMatch(/X-Cache: HIT/);
    expect(sinkHit.checker.ok(small)).toBe(true);
    expect(origin.requests.filter((r) => r.target === '/new').length).toBe(3);
  });
});

describe('L5: memory stays bounded; reclaimed bytes are never served', () => {
  it('L5: an overflowed object whose only reader does not read pauses the origin (overflowWindow), then completes intact', async () => {
    const size = 48 * MiB;
    const window = 1 * MiB;
    const piece = 64 * KiB;
    let flushed = 0;
    let originDone = false;
    const { proxy } = await setup(
      async (_req, res) => {
        await res.head(200, [CACHEABLE, ['Content-Length', String(size)]]);
        const body = patternBody(size);
        const socket = res.socket;
        // Count the bytes the kernel took from us: the proxy can only hold what it has read.
        for (let at = 0; at < size && !socket.destroyed; at += piece) {
          const data = body.subarray(at, at + piece);
          const more = socket.write(data, (err) => {
            if (!err) flushed += data.length;
          });
          if (!more) await new Promise<void>((resolve) => { socket.once('drain', resolve); socket.once('close', resolve); });
        }
        originDone = true;
      },
      { ...TINY, overflowWindow: window },
    );
    const sink = patternSink();
    const socket = net.connect({ port: proxy.port, host: '127.0.0.1' });
    cleanups.push(() => void socket.destroy());
    socket.on('error', () => {});
    socket.pause();
    socket.on('data', (chunk: Buffer) => sink.onData(chunk));
    const closed = new Promise<void>((resolve) => socket.once('close', () => resolve()));
    await new Promise<void>((resolve) => socket.once('connect', () => resolve()));
    socket.write(GET('/huge'));
    await delay(600);
    const whilePaused = flushed;
    // Window + the proxy's write-ahead and read arena + kernel buffers on both hops (loopback
    // autotuning lets each grow to several MiB): well under the body, never all of it.
    expect(whilePaused).toBeGreaterThan(0);
    expect(whilePaused, `origin flushed ${whilePaused} bytes while the reader was paused`).toBeLessThan(window + 24 * MiB);
    expect(originDone).toBe(false);
    socket.resume();
    await waitFor(() => sink.checker.offset >= size, 10_000, 'the whole body');
    expect(sink.checker.ok(size)).toBe(true);
    expect(sink.head()).toMatch(/Content-Length: 50331648/);
    await closed;
    expect(originDone).toBe(true);
  });

  it('L5 + R8: when the last reader of an overflowed object leaves, the fetch does not linger paused (it finishes or is aborted)', async () => {
    const size = 16 * MiB;
    let originDone = false;
    const { origin, proxy } = await setup(
      async (_req, res) => {
        await res.head(200, [CACHEABLE, ['Content-Length', String(size)]]);
        const body = patternBody(size);
        const socket = res.socket;
        for (let at = 0; at < size && !socket.destroyed; at += 64 * KiB) {
          if (!socket.write(body.subarray(at, at + 64 * KiB))) {
            await new Promise<void>((resolve) => { socket.once('drain', resolve); socket.once('close', resolve); });
          }
        }
        originDone = !socket.destroyed;
      },
      { ...TINY, overflowWindow: 256 * KiB },
    );
    const c = await client(proxy.port);
    c.pause();
    await c.write(GET('/abandoned'));
    await origin.waitForRequests(1);
    await delay(300); // the window is full and the origin paused
    await c.close();
    // Nobody can ever read this object (overflowed: never cached, no new client attaches), so it
    // must not hold an origin connection and its window forever.
    await waitFor(() => originDone || origin.openConnections() === 0, 2000, 'the abandoned overflowed fetch to finish or be aborted');
  });

  // Regression (fixed): the stale object a revalidation fetch (InflightFetch.revalidating, src/stream/fetch.ts) will
  // serve is not pinned while the conditional request is out. The store evicts it to make room for
  // /other and overwrites its slab; the origin's 304 then makes revalidated() serve the stale
  // object's views anyway (no check of `dead`): the client gets a 200 HIT whose body holds ~16 KiB
  // of /other's bytes. SPEC R5 (a hit is an intact object), P4 (never corrupts another response).
  it('L5 + C3: a stale object whose bytes the store reclaims during its revalidation is never served from overwritten memory', async () => {
    const stale = patternBytes(0, 40 * KiB);
    const other = Buffer.alloc(40 * KiB, 0x58); // 'X' bytes: easy to spot in the wrong body
    const answer304 = signal();
    const { origin, proxy } = await setup(async (req, res) => {
      if (req.target === '/other') return res.send({ headers: [CACHEABLE], body: other });
      if (req.header('if-none-match') === '"s1"') {
        await answer304.promise;
        return res.send({ status: 304, headers: [['ETag', '"s1"'], ['Cache-Control', 'max-age=60']] });
      }
      // Stale on arrival (Age reaches max-age), with a validator: the next request revalidates.
      await res.send({ headers: [['Cache-Control', 'max-age=1'], ['Age', '1'], ['ETag', '"s1"']], body: stale });
    }, TINY);
    await fetchOnce(proxy.port, '/stale');
    const revalidating = fetchOnce(proxy.port, '/stale');
    await waitFor(() => origin.requests.length === 2, 1000, 'the revalidation request');
    // Meanwhile another object needs the room the stale one holds in the 64 KiB store.
    expect((await fetchOnce(proxy.port, '/other')).body.equals(other)).toBe(true);
    answer304.resolve();
    const res = await revalidating;
    // Either the cached body (intact) or a fresh fetch of it; never bytes of another object.
    if (res.status === 200) {
      expect(res.body.length).toBe(stale.length);
      expect(res.body.equals(stale), 'the revalidated body is the stored one, byte for byte').toBe(true);
    }
  });
});

