// The streaming miss with request collapsing, seen from clients and the origin on real loopback
// sockets: bytes go out as they arrive (R1), one origin request per key in flight (R2), late
// joiners get a replay then live bytes (R3), an object is a hit only once complete (R5), a stale
// in-flight object takes no new clients (R6), readers are independent (R7), and clients that go
// away do not abort a fetch that still matters (R8).
import net from 'node:net';
import { pino, type Logger } from 'pino';
import { describe, expect, it } from 'vitest';
import { parseResponses, sendRaw, soFar, bodyBytes } from '../support/raw-client.js';
import { requestKit } from '../support/requests.js';
import type { OriginScript } from '../support/scripted-origin.js';
import { cleanupAfterEach, startOriginAndProxy, testKit } from '../support/proxy.js';
import { PatternChecker, patternBytes } from '../support/bytes.js';
import { delay, waitFor } from '../support/ports.js';
import type { CreateProxyOptions } from '../../src/index.js';

const KiB = 1024;
const MiB = 1024 * KiB;

const cleanups = cleanupAfterEach();
const { signal, client } = testKit(cleanups);
const setup = (script: OriginScript, options: Partial<CreateProxyOptions> = {}) => startOriginAndProxy(cleanups, script, options);

const { request: GET, fetchOnce } = requestKit({ host: 'cache.test', idleMs: 3000 });

/**
 * A client connection that sends `request` and reads nothing until resume(): the proxy's writes to
 * it back up. The body (after the head) is checked against the pattern as it arrives.
 */
function rawPaused(port: number, request: string): { resume(): void; bytesRead(): number; checker: PatternChecker; closed: Promise<void> } {
  const socket = net.connect({ port, host: '127.0.0.1' });
  cleanups.push(() => void socket.destroy());
  socket.on('error', () => {});
  socket.pause();
  const checker = new PatternChecker();
  let read = 0;
  let head: Buffer | null = Buffer.alloc(0);
  socket.on('data', (chunk: Buffer) => {
    read += chunk.length;
    if (head) {
      head = Buffer.concat([head, chunk]);
      const end = head.indexOf('\r\n\r\n');
      if (end < 0) return;
      chunk = head.subarray(end + 4);
      head = null;
    }
    checker.push(chunk);
  });
  socket.write(request);
  const closed = new Promise<void>((resolve) => socket.once('close', () => resolve()));
  return { resume: () => socket.resume(), bytesRead: () => read, checker, closed };
}

/** The access log (pino, info level) of a proxy, as objects. */
function accessLog(): { logger: Logger; records: () => Array<Record<string, unknown>> } {
  const lines: Array<Record<string, unknown>> = [];
  const logger = pino({ level: 'info' }, { write: (line: string) => void lines.push(JSON.parse(line) as Record<string, unknown>) });
  return { logger, records: () => lines.filter((l) => l.msg === 'access') };
}

const SHARED = ['Cache-Control', 's-maxage=60'] as [string, string];

describe('R1: streaming — bytes reach clients as they arrive', () => {
  it('R1: the head and the first chunk reach the client before the origin sends the second piece (chunked)', async () => {
    const next = signal();
    let secondSentAt = 0;
    const { proxy } = await setup(async (_req, res) => {
      await res.head(200, [SHARED, ['Transfer-Encoding', 'chunked']]);
      await res.chunk('first-piece;');
      await next.promise;
      secondSentAt = Date.now();
      await res.chunk('second-piece');
      await res.lastChunk();
    });
    const c = await client(proxy.port);
    await c.write(GET('/r1-chunked'));
    // The origin is holding the second piece until we say so: the first must arrive on its own.
    const early = await bodyBytes(c, 'first-piece;'.length, 1500);
    const firstArrivedAt = Date.now();
    expect(early.status).toBe(200);
    expect(early.framing).toBe('chunked');
    expect(early.body.toString()).toBe('first-piece;');
    expect(early.complete).toBe(false);
    expect(early.header('x-cache')).toBe('MISS');
    expect(early.header('age')).toMatch(/^\d+$/);
    expect(early.header('x-cache-hits')).toMatch(/^\d+$/);
    next.resolve();
    const res = await c.readResponse();
    expect(res.complete).toBe(true);
    expect(res.terminatingChunk).toBe(true);
    expect(res.body.toString()).toBe('first-piece;second-piece');
    expect(firstArrivedAt).toBeLessThanOrEqual(secondSentAt);
  });

  it('R1: with Content-Length too: the head goes out before any body byte, the first piece before the second', async () => {
    const body = patternBytes(0, 30_000);
    const afterHead = signal();
    const afterFirst = signal();
    const { proxy } = await setup(async (_req, res) => {
      await res.head(200, [SHARED, ['Content-Length', String(body.length)]]);
      await afterHead.promise;
      await res.write(body.subarray(0, 10_000));
      await afterFirst.promise;
      await res.write(body.subarray(10_000));
    });
    const c = await client(proxy.port);
    await c.write(GET('/r1-length'));
    const head = await bodyBytes(c, 0, 1500);
    expect(head.header('content-length')).toBe('30000');
    expect(head.body.length).toBe(0);
    afterHead.resolve();
    const early = await bodyBytes(c, 10_000, 1500);
    expect(early.body.equals(body.subarray(0, 10_000))).toBe(true);
    afterFirst.resolve();
    const res = await c.readResponse();
    expect(res.complete).toBe(true);
    expect(res.body.equals(body)).toBe(true);
  });

  it('R1: a drip of many small pieces: the origin sends each piece only once the client has the previous one', async () => {
    const pieces = 8;
    // seen[i] resolves when the client has piece i; the origin waits for it before sending piece i+1.
    const seen = Array.from({ length: pieces }, () => signal());
    const { proxy } = await setup(async (_req, res) => {
      await res.head(200, [SHARED, ['Transfer-Encoding', 'chunked']]);
      for (let i = 0; i < pieces; i++) {
        await res.chunk(`<${i}>`);
        await seen[i].promise;
      }
      await res.lastChunk();
    });
    const expected = (n: number): string => Array.from({ length: n }, (_, j) => `<${j}>`).join('');
    const c = await client(proxy.port);
    await c.write(GET('/r1-drip'));
    for (let i = 0; i < pieces; i++) {
      const res = await bodyBytes(c, expected(i + 1).length, 1500);
      expect(res.body.toString()).toBe(expected(i + 1));
      seen[i].resolve();
    }
    const res = await c.readResponse();
    expect(res.terminatingChunk).toBe(true);
    expect(res.body.toString()).toBe(expected(pieces));
  });
});

describe('R2: collapsing — one origin request per key in flight', () => {
  it('R2: N concurrent clients on a slow fetch: the origin sees one request, every client the same body', async () => {
    const body = patternBytes(0, 200_000);
    const log = accessLog();
    const { origin, proxy } = await setup((_req, res) => res.send({ headers: [SHARED], body, chunkSizes: [20_000], gapMs: 15, delayHeadMs: 80 }), { logger: log.logger });
    const n = 8;
    const exchanges = await Promise.all(Array.from({ length: n }, () => sendRaw(proxy.port, GET('/r2'), { idleMs: 3000 })));
    expect(origin.requests.length).toBe(1);
    for (const exchange of exchanges) {
      const [res] = parseResponses(exchange);
      expect(res.status).toBe(200);
      expect(res.complete).toBe(true);
      expect(res.header('content-length')).toBe(String(body.length));
      expect(res.header('x-cache')).toBe('MISS');
      expect(res.body.equals(body)).toBe(true);
    }
    const states = log.records().map((r) => r.cache).sort();
    expect(states).toEqual(['MISS', ...Array<string>(n - 1).fill('COLLAPSED')].sort());
  });

  it('R2: clients that arrive while the head is still pending attach too (the origin sees one request before its head)', async () => {
    const sendHead = signal();
    const { origin, proxy } = await setup(async (_req, res) => {
      await sendHead.promise;
      await res.send({ headers: [SHARED], body: 'collapsed before the head' });
    });
    const pending = Array.from({ length: 5 }, () => sendRaw(proxy.port, GET('/r2-head'), { idleMs: 3000 }));
    await origin.waitForRequests(1);
    await delay(150); // every request is parsed and looked up by now
    expect(origin.requests.length).toBe(1);
    sendHead.resolve();
    const responses = (await Promise.all(pending)).map((e) => parseResponses(e)[0]);
    expect(origin.requests.length).toBe(1);
    for (const res of responses) {
      expect(res.body.toString()).toBe('collapsed before the head');
      expect(res.header('x-cache')).toBe('MISS');
    }
  });

  it('R2 + C1: a HEAD for the key attaches to the GET in flight and gets the head a GET gets', async () => {
    const rest = signal();
    const { origin, proxy } = await setup(async (_req, res) => {
      await res.head(200, [SHARED, ['Content-Length', '20']]);
      await res.write('0123456789');
      await rest.promise;
      await res.write('abcdefghij');
    });
    const c = await client(proxy.port);
    await c.write(GET('/r2-headreq'));
    await bodyBytes(c, 10);
    const head = await fetchOnce(proxy.port, '/r2-headreq', { method: 'HEAD' });
    expect(head.status).toBe(200);
    expect(head.header('content-length')).toBe('20');
    expect(head.body.length).toBe(0);
    expect(origin.requests.length).toBe(1);
    rest.resolve();
    expect((await c.readResponse()).body.toString()).toBe('0123456789abcdefghij');
  });
});

describe('R3: replay — a late joiner gets what arrived, then live bytes', () => {
  for (const framing of ['length', 'chunked'] as const) {
    it(`R3: a client joining after k bytes gets the k bytes at once, then the rest live (${framing})`, async () => {
      const body = patternBytes(0, 30_000);
      const k = 12_000;
      const rest = signal();
      const { origin, proxy } = await setup(async (_req, res) => {
        await res.head(200, [SHARED, framing === 'length' ? ['Content-Length', String(body.length)] : ['Transfer-Encoding', 'chunked']]);
        const piece = (b: Buffer) => (framing === 'length' ? res.write(b) : res.chunk(b));
        await piece(body.subarray(0, 5_000));
        await piece(body.subarray(5_000, k));
        await rest.promise;
        await piece(body.subarray(k, 20_000));
        await res.sleep(20);
        await piece(body.subarray(20_000));
        if (framing === 'chunked') await res.lastChunk();
      });
      const first = await client(proxy.port);
      await first.write(GET('/r3'));
      await bodyBytes(first, k);
      // The origin holds the rest: everything the joiner gets now is the replay.
      const late = await client(proxy.port);
      await late.write(GET('/r3'));
      const replay = await bodyBytes(late, k, 1500);
      expect(replay.body.length).toBe(k);
      expect(replay.body.equals(body.subarray(0, k))).toBe(true);
      expect(replay.header('x-cache')).toBe('MISS');
      expect(replay.framing).toBe(framing);
      rest.resolve();
      const [a, b] = await Promise.all([first.readResponse(), late.readResponse()]);
      expect(a.complete && b.complete).toBe(true);
      expect(a.body.equals(body)).toBe(true);
      expect(b.body.equals(a.body)).toBe(true);
      expect(origin.requests.length).toBe(1);
    });
  }

  it('R3: a replay of several MiB (past any write-ahead) then live bytes: bodies identical', async () => {
    const size = 6 * MiB;
    const k = 4 * MiB;
    const body = patternBytes(0, size);
    const rest = signal();
    const { origin, proxy } = await setup(async (_req, res) => {
      await res.head(200, [SHARED, ['Content-Length', String(size)]]);
      for (let at = 0; at < k; at += 64 * KiB) await res.write(body.subarray(at, at + 64 * KiB));
      await rest.promise;
      for (let at = k; at < size; at += 64 * KiB) await res.write(body.subarray(at, at + 64 * KiB));
    });
    const first = await client(proxy.port);
    await first.write(GET('/r3-big'));
    await first.readUntil((b) => b.length >= k, 5000);
    const late = await client(proxy.port);
    await late.write(GET('/r3-big'));
    await late.readUntil((b) => b.length >= k, 5000);
    rest.resolve();
    const [a, b] = await Promise.all([first.readResponse('GET', 5000), late.readResponse('GET', 5000)]);
    expect(a.body.equals(body)).toBe(true);
    expect(b.body.equals(body)).toBe(true);
    expect(origin.requests.length).toBe(1);
  });

  it('R3: many joiners at different offsets all complete with the identical body', async () => {
    const body = patternBytes(0, 120_000);
    const { origin, proxy } = await setup((_req, res) => res.send({ headers: [SHARED], body, framing: 'chunked', chunkSizes: [10_000], gapMs: 25 }));
    const joins: Array<Promise<ReturnType<typeof parseResponses>>> = [];
    for (let i = 0; i < 6; i++) {
      joins.push(sendRaw(proxy.port, GET('/r3-many'), { idleMs: 3000 }).then((e) => parseResponses(e)));
      await delay(40);
    }
    for (const [res] of await Promise.all(joins)) {
      expect(res.complete).toBe(true);
      expect(res.terminatingChunk).toBe(true);
      expect(res.body.equals(body)).toBe(true);
    }
    expect(origin.requests.length).toBe(1);
  });
});

describe('R5: commit at the end', () => {
  it('R5: not a HIT while the body is arriving; a HIT with Content-Length once complete', async () => {
    const rest = signal();
    const { origin, proxy } = await setup(async (_req, res) => {
      await res.head(200, [SHARED, ['Transfer-Encoding', 'chunked']]);
      await res.chunk('part one, ');
      await rest.promise;
      await res.chunk('part two');
      await res.lastChunk();
    });
    const first = await client(proxy.port);
    await first.write(GET('/r5'));
    await bodyBytes(first, 10);
    // In flight: the object is not a hit yet (it attaches, streamed, chunked).
    const during = await client(proxy.port);
    await during.write(GET('/r5'));
    const attached = await bodyBytes(during, 10);
    expect(attached.header('x-cache')).toBe('MISS');
    expect(attached.framing).toBe('chunked');
    rest.resolve();
    await first.readResponse();
    await during.readResponse();
    const hit = await fetchOnce(proxy.port, '/r5');
    expect(hit.header('x-cache')).toBe('HIT');
    expect(hit.framing).toBe('length');
    expect(hit.header('content-length')).toBe('18');
    expect(hit.header('transfer-encoding')).toBeUndefined();
    expect(hit.body.toString()).toBe('part one, part two');
    expect(hit.header('x-cache-hits')).toBe('1');
    expect(origin.requests.length).toBe(1);
  });

  it('R5: a fetch that fails mid-body is never a HIT: its clients are cut and the next request starts a new fetch', async () => {
    const fail = signal();
    const { origin, proxy } = await setup(async (req, res) => {
      if (origin.requests.indexOf(req) === 0) {
        await res.head(200, [SHARED, ['Content-Length', '1000']]);
        await res.write('f'.repeat(500));
        await fail.promise;
        await res.reset();
        return;
      }
      await res.send({ headers: [SHARED], body: 'g'.repeat(1000) });
    });
    const first = await client(proxy.port);
    await first.write(GET('/r5-fail'));
    await bodyBytes(first, 500);
    const attached = await client(proxy.port);
    await attached.write(GET('/r5-fail'));
    await bodyBytes(attached, 500);
    fail.resolve();
    for (const c of [first, attached]) {
      expect(await c.waitClose(3000)).toBe(true);
      const res = soFar(c)!;
      expect(res.complete).toBe(false);
      expect(res.body.length).toBe(500);
    }
    const next = await fetchOnce(proxy.port, '/r5-fail');
    expect(next.header('x-cache')).toBe('MISS');
    expect(next.body.toString()).toBe('g'.repeat(1000));
    expect(origin.requests.length).toBe(2);
    const hit = await fetchOnce(proxy.port, '/r5-fail');
    expect(hit.header('x-cache')).toBe('HIT');
    expect(hit.body.toString()).toBe('g'.repeat(1000));
    expect(origin.requests.length).toBe(2);
  });

  it('R5: a chunked body cut before its terminating chunk is not committed', async () => {
    const { origin, proxy } = await setup((req, res) =>
      origin.requests.indexOf(req) === 0
        ? res.send({ headers: [SHARED], body: 'c'.repeat(300), framing: 'chunked', chunkSizes: [100], failAt: { byte: 300, how: 'close' } })
        : res.send({ headers: [SHARED], body: 'whole' }),
    );
    const cut = await fetchOnce(proxy.port, '/r5-cut');
    expect(cut.terminatingChunk).toBe(false);
    const next = await fetchOnce(proxy.port, '/r5-cut');
    expect(next.header('x-cache')).toBe('MISS');
    expect(next.body.toString()).toBe('whole');
    expect(origin.requests.length).toBe(2);
  });
});

describe('R6: freshness of the in-flight object', () => {
  it('R6: once the in-flight response is stale, new requests start a new fetch (and collapse onto it); attached clients finish', async () => {
    const finishFirst = signal();
    const finishSecond = signal();
    const { origin, proxy } = await setup(async (req, res) => {
      const n = origin.requests.indexOf(req);
      await res.head(200, [['Cache-Control', 's-maxage=1'], ['Content-Length', '20'], ['X-Fetch', String(n)]]);
      await res.write(`fetch${n}-part1|`.padEnd(10, '.').slice(0, 10));
      await (n === 0 ? finishFirst : finishSecond).promise;
      await res.write(`fetch${n}-part2|`.padEnd(10, '.').slice(0, 10));
    });
    const a = await client(proxy.port);
    await a.write(GET('/r6'));
    await bodyBytes(a, 10);
    // Still fresh: attaches.
    const b = await client(proxy.port);
    await b.write(GET('/r6'));
    await bodyBytes(b, 10);
    expect(origin.requests.length).toBe(1);
    // Past its 1 s TTL (counted from the head): a new request starts a new fetch.
    await delay(1100);
    const c = await client(proxy.port);
    await c.write(GET('/r6'));
    await origin.waitForRequests(2, 1000);
    await bodyBytes(c, 10);
    // ... and the next one collapses onto that new fetch.
    const d = await client(proxy.port);
    await d.write(GET('/r6'));
    await bodyBytes(d, 10);
    expect(origin.requests.length).toBe(2);
    finishFirst.resolve();
    finishSecond.resolve();
    const [ra, rb, rc, rd] = await Promise.all([a, b, c, d].map((x) => x.readResponse()));
    expect(ra.header('x-fetch')).toBe('0');
    expect(rb.header('x-fetch')).toBe('0');
    expect(rc.header('x-fetch')).toBe('1');
    expect(rd.header('x-fetch')).toBe('1');
    for (const r of [ra, rb, rc, rd]) expect(r.complete).toBe(true);
    expect(ra.body.equals(rb.body)).toBe(true);
    expect(rc.body.equals(rd.body)).toBe(true);
    expect(rc.body.toString().startsWith('fetch1')).toBe(true);
  });
});

describe('R7: independent readers', () => {
  it('R7: a client that does not read delays neither a fast client nor the origin', async () => {
    const size = 12 * MiB; // more than the kernel and write-ahead buffers of one client
    let originDone = false;
    const { origin, proxy } = await setup(async (_req, res) => {
      await res.send({ headers: [SHARED], body: patternBytes(0, size), chunkSizes: [256 * KiB], delayHeadMs: 30 });
      originDone = true;
    });
    // The slow client reads nothing until we let it.
    const slow = rawPaused(proxy.port, GET('/r7'));
    await origin.waitForRequests(1);
    const fast = await sendRaw(proxy.port, GET('/r7'), { idleMs: 3000 });
    const [fastRes] = parseResponses(fast);
    expect(fastRes.complete).toBe(true);
    const fastCheck = new PatternChecker();
    fastCheck.push(fastRes.body);
    expect(fastCheck.ok(size)).toBe(true);
    // The fast client got everything and the origin sent everything while the slow one read nothing.
    await waitFor(() => originDone, 3000, 'the origin finished sending while the slow client was not reading');
    expect(slow.bytesRead()).toBe(0);
    slow.resume();
    await slow.closed;
    expect(slow.checker.ok(size)).toBe(true);
    expect(origin.requests.length).toBe(1);
  });

  it('R7: a reader that keeps pausing (slowReader) leaves other clients at full speed; all bodies identical', async () => {
    const size = 8 * MiB;
    const body = patternBytes(0, size);
    const { origin, proxy } = await setup((_req, res) => res.send({ headers: [SHARED], body, chunkSizes: [128 * KiB], delayHeadMs: 30 }));
    let slowDone = false;
    // At least 8 MiB / 512 KiB = 16 pauses of 80 ms: more than 1.2 s whatever the machine.
    const slow = sendRaw(proxy.port, GET('/r7-drip'), { slowReader: { pauseMs: 80, everyBytes: 512 * KiB }, highWaterMark: 16 * KiB, idleMs: 3000 }).then((e) => {
      slowDone = true;
      return e;
    });
    await origin.waitForRequests(1);
    const fast = await Promise.all([sendRaw(proxy.port, GET('/r7-drip'), { idleMs: 3000 }), sendRaw(proxy.port, GET('/r7-drip'), { idleMs: 3000 })]);
    // The fast clients finished while the slow one was still pausing: they did not wait for it.
    expect(slowDone).toBe(false);
    for (const e of fast) expect(parseResponses(e)[0].body.equals(body)).toBe(true);
    const slowExchange = await slow;
    expect(parseResponses(slowExchange)[0].body.equals(body)).toBe(true);
    expect(origin.requests.length).toBe(1);
  });
});

describe('R8: clients going away', () => {
  it('R8: the client that triggered a cacheable fetch leaves mid-body: the fetch completes and is a HIT afterwards', async () => {
    const rest = signal();
    let originFinished = false;
    const { origin, proxy } = await setup(async (_req, res) => {
      await res.head(200, [SHARED, ['Content-Length', '2000']]);
      await res.write('a'.repeat(1000));
      await rest.promise;
      await res.sleep(20);
      await res.write('b'.repeat(1000));
      originFinished = true;
    });
    const c = await client(proxy.port);
    await c.write(GET('/r8-cacheable'));
    await bodyBytes(c, 1000);
    await c.close();
    await delay(50);
    rest.resolve();
    await waitFor(() => originFinished, 2000, 'the origin sent the whole body');
    await delay(50);
    // The origin connection was not cut: it is kept for reuse.
    expect(origin.openConnections()).toBe(1);
    const hit = await fetchOnce(proxy.port, '/r8-cacheable');
    expect(hit.header('x-cache')).toBe('HIT');
    expect(hit.body.toString()).toBe('a'.repeat(1000) + 'b'.repeat(1000));
    expect(origin.requests.length).toBe(1);
  });

  it('R8: the trigger leaves before the head of a cacheable fetch: the fetch goes on to the cache', async () => {
    const sendHead = signal();
    const { origin, proxy } = await setup(async (_req, res) => {
      await sendHead.promise;
      await res.send({ headers: [SHARED], body: 'kept for the cache' });
    });
    const c = await client(proxy.port);
    await c.write(GET('/r8-early'));
    await origin.waitForRequests(1);
    await c.close();
    await delay(50);
    sendHead.resolve();
    await delay(100);
    const hit = await fetchOnce(proxy.port, '/r8-early');
    expect(hit.header('x-cache')).toBe('HIT');
    expect(hit.body.toString()).toBe('kept for the cache');
    expect(origin.requests.length).toBe(1);
  });

  it('R8: the trigger leaves while another client is attached: the other gets the whole body', async () => {
    const rest = signal();
    const { proxy } = await setup(async (_req, res) => {
      await res.head(200, [SHARED, ['Transfer-Encoding', 'chunked']]);
      await res.chunk('x'.repeat(500));
      await rest.promise;
      await res.chunk('y'.repeat(500));
      await res.lastChunk();
    });
    const trigger = await client(proxy.port);
    await trigger.write(GET('/r8-other'));
    await bodyBytes(trigger, 500);
    const other = await client(proxy.port);
    await other.write(GET('/r8-other'));
    await bodyBytes(other, 500);
    await trigger.close();
    await delay(30);
    rest.resolve();
    const res = await other.readResponse();
    expect(res.complete).toBe(true);
    expect(res.body.toString()).toBe('x'.repeat(500) + 'y'.repeat(500));
  });

  it('R8: an uncacheable fetch whose only client left mid-body is aborted (the origin sees its connection closed)', async () => {
    const { origin, proxy } = await setup((_req, res) =>
      res.send({ headers: [['Cache-Control', 'no-store']], body: 'n'.repeat(200_000), chunkSizes: [1000], gapMs: 20 }),
    );
    const c = await client(proxy.port);
    await c.write(GET('/r8-nostore'));
    await bodyBytes(c, 1000);
    await c.close();
    // Unaborted, the origin would be writing for another four seconds.
    await waitFor(() => origin.openConnections() === 0, 1500, 'the origin connection closed after the client left');
  });

  it('R8: a subscriber that closed between events is noticed after the next event, not at the one after it', async () => {
    // A closed client's FIN looks like a half-close; its kernel answers our next bytes with a reset
    // that only a later write would see. The proxy probes after writing, so one event is enough.
    const left = signal();
    let eventsAfterLeaving = 0;
    let proxyHungUp = false;
    const { proxy } = await setup(async (_req, res) => {
      res.socket.once('end', () => (proxyHungUp = true));
      await res.head(200, [['Content-Type', 'text/event-stream'], ['Cache-Control', 'no-store'], ['Transfer-Encoding', 'chunked']]);
      await res.chunk('data: 1\n\n');
      await left.promise;
      await res.chunk('data: 2\n\n');
      eventsAfterLeaving++;
      // A quiet stream: the next event would come later than the test waits.
      await res.sleep(3000);
      await res.chunk('data: 3\n\n');
      eventsAfterLeaving++;
      await res.lastChunk();
    });
    const c = await client(proxy.port);
    await c.write(GET('/r8-sse'));
    await bodyBytes(c, 'data: 1\n\n'.length);
    await c.close();
    left.resolve();
    await waitFor(() => proxyHungUp, 1500, 'the proxy closing the origin stream after the one event that followed the departure');
    expect(eventsAfterLeaving).toBe(1);
  });

  it('R8: a client that half-closes after its request still gets the whole stream (the probes cost it nothing)', async () => {
    const { proxy } = await setup(async (_req, res) => {
      await res.head(200, [['Content-Type', 'text/event-stream'], ['Cache-Control', 'no-store'], ['Transfer-Encoding', 'chunked']]);
      for (const n of [1, 2, 3]) {
        await res.chunk(`data: ${n}\n\n`);
        await res.sleep(250); // past the first probe after each write
      }
      await res.lastChunk();
    });
    const ex = await sendRaw(proxy.port, GET('/r8-half-close'), { halfClose: true, idleMs: 3000 });
    const [response] = parseResponses(ex);
    expect(response.complete).toBe(true);
    expect(response.body.toString()).toBe('data: 1\n\ndata: 2\n\ndata: 3\n\n');
  });

  it('R8: an uncacheable fetch whose only client left before the head is aborted at the head', async () => {
    const { origin, proxy } = await setup((_req, res) =>
      res.send({ headers: [['Cache-Control', 'private']], body: 'p'.repeat(200_000), chunkSizes: [1000], gapMs: 20, delayHeadMs: 150 }),
    );
    const socket = net.connect(proxy.port, '127.0.0.1');
    socket.on('error', () => {});
    socket.write(GET('/r8-private'));
    await origin.waitForRequests(1);
    socket.destroy();
    await waitFor(() => origin.openConnections() === 0, 1500, 'the origin connection closed after the client left');
  });
});
