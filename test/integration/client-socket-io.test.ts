// The client side's socket I/O on real sockets: reads into one shared buffer (src/net/shared-reads.ts)
// and writes straight to the handle (src/net/raw-write.ts). Requests split across reads and bursts
// past the pipelining limit (reads paused and resumed), request bodies kept past their read (copied
// out of the shared buffer), request-body backpressure, response backpressure and the send timeout,
// and h2c's preface check handing its bytes to the HTTP/1 engine intact.
import { createHash } from 'node:crypto';
import net, { type AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import type { CreateProxyOptions } from '../../src/index.js';
import { Listener } from '../../src/net/listener.js';
import { openClient, parseResponses } from '../support/raw-client.js';
import { startOriginAndProxy, startProxy } from '../support/proxy.js';
import { delay, waitFor } from '../support/ports.js';

const cleanups: Array<() => Promise<void> | void> = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

const CACHEABLE: [string, string] = ['Cache-Control', 'max-age=60'];

/** Bytes whose value depends on their position (and `salt`): a chunk moved, lost or overwritten shows. */
function pattern(length: number, salt: number): Buffer {
  const out = Buffer.allocUnsafe(length);
  for (let i = 0; i < length; i++) out[i] = (i * 31 + (i >> 9) + salt) & 0xff;
  return out;
}

function sha256(bytes: Buffer): string {
  return createHash('sha256').update(bytes).digest('hex');
}

function get(path: string): string {
  return `GET ${path} HTTP/1.1\r\nHost: io.test\r\n\r\n`;
}

async function echoSetup(options: Partial<CreateProxyOptions> = {}) {
  return startOriginAndProxy(
    cleanups,
    async (req, res) => {
      if (req.target.startsWith('/slow')) await res.sleep(5);
      const cacheable = req.method === 'GET' && req.target.startsWith('/hit');
      await res.send({ headers: cacheable ? [CACHEABLE] : [], body: `${req.method} ${req.target} ${req.body.length} ${sha256(req.body)}` });
    },
    options,
  );
}

async function client(port: number) {
  const c = await openClient(port);
  cleanups.push(() => c.close());
  c.socket.setNoDelay(true);
  return c;
}

describe('client reads into a shared buffer', () => {
  it('F5: a pipelined burst cut into pieces across many reads: every response, in order, right', async () => {
    const { proxy } = await echoSetup();
    const targets = Array.from({ length: 24 }, (_, i) => (i % 3 === 0 ? `/hit/${i % 6}` : `/miss/${i}?q=${'x'.repeat(i * 7)}`));
    const burst = Buffer.from(targets.map(get).join(''), 'latin1');
    const c = await client(proxy.port);
    // Cuts at every kind of place: inside a method, a field name, a CRLF CRLF, between requests.
    let at = 0;
    for (let n = 0; at < burst.length; n++) {
      const size = [1, 2, 3, 17, 5, 64, 7, 130, 4, 2][n % 10]!;
      await c.write(burst.subarray(at, at + size));
      at += size;
      if (n % 4 === 0) await delay(1);
    }
    const responses = await c.readResponses(targets.map(() => 'GET'), 10_000);
    expect(responses.map((r) => r.status)).toEqual(targets.map(() => 200));
    expect(responses.map((r) => r.body.toString().split(' ').slice(0, 2).join(' '))).toEqual(targets.map((t) => `GET ${t}`));
  });

  it('F5: more pipelined requests than the limit in one write: reads pause and resume, every response in order', async () => {
    const { proxy } = await echoSetup();
    const targets = Array.from({ length: 60 }, (_, i) => `/slow/${i}`);
    const c = await client(proxy.port);
    await c.write(targets.map(get).join(''));
    const responses = await c.readResponses(targets.map(() => 'GET'), 20_000);
    expect(responses.map((r) => r.body.toString().split(' ')[1])).toEqual(targets);
  });

  it('request bodies kept past their read (queued before the origin connection is up) reach the origin intact', async () => {
    const { proxy } = await echoSetup();
    const length = 3 * 1024 * 1024 + 11;
    const body = pattern(length, 5);
    const c = await client(proxy.port);
    const head = `POST /upload HTTP/1.1\r\nHost: io.test\r\nContent-Length: ${length}\r\n\r\n`;
    await c.write(Buffer.concat([Buffer.from(head, 'latin1'), body.subarray(0, 1000)]));
    // Many reads, each of which must not overwrite the bytes of the ones before.
    for (let at = 1000; at < length; at += 40_000) await c.write(body.subarray(at, Math.min(length, at + 40_000)));
    const response = await c.readResponse('POST', 20_000);
    expect(response.body.toString()).toBe(`POST /upload ${length} ${sha256(body)}`);
  });

  it('a chunked request body split across reads (chunk sizes and data cut anywhere) reaches the origin intact', async () => {
    const { proxy } = await echoSetup();
    const pieces = [pattern(70_000, 1), pattern(3, 2), pattern(200_000, 3), pattern(1, 4)];
    const framed = Buffer.concat([
      Buffer.from('POST /chunked HTTP/1.1\r\nHost: io.test\r\nTransfer-Encoding: chunked\r\n\r\n', 'latin1'),
      ...pieces.flatMap((p) => [Buffer.from(`${p.length.toString(16)}\r\n`, 'latin1'), p, Buffer.from('\r\n', 'latin1')]),
      Buffer.from('0\r\n\r\n', 'latin1'),
    ]);
    const c = await client(proxy.port);
    for (let at = 0, n = 0; at < framed.length; n++) {
      const size = [5, 9000, 1, 65_536, 3][n % 5]!;
      await c.write(framed.subarray(at, at + size));
      at += size;
    }
    const whole = Buffer.concat(pieces);
    expect((await c.readResponse('POST', 20_000)).body.toString()).toBe(`POST /chunked ${whole.length} ${sha256(whole)}`);
  });

  it('body chunks a reader keeps past their read stay intact (each is a copy, not a view of the shared buffer)', async () => {
    const kept: Buffer[] = [];
    let ended!: () => void;
    const bodyEnded = new Promise<void>((resolve) => (ended = resolve));
    const listener = new Listener(
      { maxHeadSize: 16 * 1024, headerTimeout: 5000, idleTimeout: 5000, sendTimeout: 5000, maxClientConnections: 10 },
      {
        onExchange(exchange) {
          exchange.readBody({
            onData: (chunk) => kept.push(chunk) > 0, // kept, and more welcome
            onEnd: () => {
              ended();
              exchange.write('HTTP/1.1 204 No Content\r\n\r\n');
              exchange.end();
            },
            onError: () => {},
          });
        },
        onProtocolError: () => {},
        onConnectionRefused: () => {},
      },
    );
    const { port } = await listener.listen(0, '127.0.0.1');
    cleanups.push(() => listener.close(300));
    const length = 200 * 1000;
    const body = pattern(length, 7);
    const c = await client(port);
    await c.write(`POST /keep HTTP/1.1\r\nHost: io.test\r\nContent-Length: ${length}\r\n\r\n`);
    // One read each: later reads land in the same shared buffer as the earlier ones did.
    for (let at = 0; at < length; at += 1000) {
      await c.write(body.subarray(at, at + 1000));
      if (at % 10_000 === 0) await delay(2);
    }
    await bodyEnded;
    expect(kept.length).toBeGreaterThan(5);
    expect(Buffer.concat(kept).equals(body)).toBe(true);
    expect((await c.readResponse('POST')).status).toBe(204);
  });

  it('R7: request-body backpressure: an origin that does not read stops the client reads; they resume when it reads', async () => {
    // An origin that reads nothing of the body for a while, then all of it.
    let release!: () => void;
    const released = new Promise<void>((resolve) => (release = resolve));
    let originBytes = 0;
    const origin = net.createServer((socket) => {
      socket.pause();
      void released.then(() => {
        const hash = createHash('sha256');
        let head = Buffer.alloc(0);
        let inBody = false;
        socket.on('data', (chunk: Buffer) => {
          if (!inBody) {
            head = Buffer.concat([head, chunk]);
            const end = head.indexOf('\r\n\r\n');
            if (end < 0) return;
            inBody = true;
            chunk = head.subarray(end + 4);
          }
          originBytes += chunk.length;
          hash.update(chunk);
          if (originBytes === BODY) {
            const text = `${originBytes} ${hash.digest('hex')}`;
            socket.end(`HTTP/1.1 200 OK\r\nContent-Length: ${text.length}\r\n\r\n${text}`);
          }
        });
        socket.resume();
      });
    });
    await new Promise<void>((resolve) => origin.listen(0, '127.0.0.1', resolve));
    cleanups.push(() => new Promise<void>((resolve) => origin.close(() => resolve())));
    const proxy = await startProxy(`http://127.0.0.1:${(origin.address() as AddressInfo).port}`);
    cleanups.push(() => proxy.proxy.close(300));
    const BODY = 24 * 1024 * 1024;
    const body = pattern(BODY, 9);
    const c = await client(proxy.port);
    void c.write(Buffer.concat([Buffer.from(`POST /up HTTP/1.1\r\nHost: io.test\r\nContent-Length: ${BODY}\r\n\r\n`, 'latin1'), body]));
    // The proxy stops reading once the origin's buffers are full: most of the body waits at the client.
    await delay(500);
    const waiting = c.socket.writableLength;
    expect(waiting).toBeGreaterThan(BODY / 4);
    await delay(200);
    expect(c.socket.writableLength).toBe(waiting);
    release();
    const response = await c.readResponse('POST', 30_000);
    expect(response.body.toString()).toBe(`${BODY} ${sha256(body)}`);
    expect(c.socket.writableLength).toBe(0);
  });
});

describe('client writes straight to the handle', () => {
  it('R7: a client that stops reading a large hit backs the writes up, then gets every byte intact', async () => {
    const size = 8 * 1024 * 1024;
    const body = pattern(size, 3);
    const { proxy } = await startOriginAndProxy(cleanups, (_req, res) => res.send({ headers: [CACHEABLE], body }));
    const warm = await client(proxy.port);
    await warm.write(get('/big'));
    expect((await warm.readResponse('GET', 20_000)).body.length).toBe(size);
    const slow = await client(proxy.port);
    slow.pause();
    await slow.write(get('/big'));
    await delay(300);
    // A fast client is served meanwhile.
    const fast = await client(proxy.port);
    await fast.write(get('/big'));
    expect(sha256((await fast.readResponse('GET', 20_000)).body)).toBe(sha256(body));
    expect(slow.received().length).toBeLessThan(size);
    slow.resume();
    const response = await slow.readResponse('GET', 20_000);
    expect(response.header('x-cache')).toMatch(/HIT/);
    expect(sha256(response.body)).toBe(sha256(body));
  });

  it('P2: a client that never reads is dropped at the send timeout; other connections carry on', async () => {
    const size = 16 * 1024 * 1024;
    const { proxy } = await startOriginAndProxy(
      cleanups,
      (req, res) => res.send({ headers: [CACHEABLE], body: req.target === '/huge' ? pattern(size, 4) : `small ${req.target}` }),
      { sendTimeout: 300 },
    );
    const stuck = await client(proxy.port);
    stuck.pause();
    await stuck.write(get('/huge'));
    await waitFor(() => proxy.proxy.stats().connections.clients === 1, 5000, 'the proxy to take the connection');
    // Its FIN waits behind the bytes the client does not read: the proxy's side is what shows.
    await waitFor(() => proxy.proxy.stats().connections.clients === 0, 10_000, 'the proxy to drop the client that does not read');
    // A client that reads is not cut (small, so that a loaded machine cannot make it slow for 300 ms).
    const other = await client(proxy.port);
    await other.write(get('/small'));
    expect((await other.readResponse('GET', 20_000)).body.toString()).toBe('small /small');
    stuck.resume();
    const cut = await stuck.readResponse('GET', 20_000);
    expect(cut.complete).toBe(false);
    expect(stuck.closedByServer).toBe(true);
  });

  it('F5: responses pipelined behind a large one keep their order through the raw path', async () => {
    const big = pattern(1024 * 1024, 6);
    const { proxy } = await startOriginAndProxy(cleanups, (req, res) =>
      res.send({ headers: [CACHEABLE], body: req.target === '/big' ? big : `small ${req.target}` }),
    );
    const c = await client(proxy.port);
    await c.write(get('/a') + get('/big') + get('/b') + get('/big') + get('/c'));
    const responses = await c.readResponses(['GET', 'GET', 'GET', 'GET', 'GET'], 20_000);
    expect(responses.map((r) => (r.body.length > 1000 ? sha256(r.body) === sha256(big) : r.body.toString()))).toEqual(['small /a', true, 'small /b', true, 'small /c']);
  });
});

describe('h2c beside HTTP/1 with shared-buffer reads', () => {
  it('H1: an HTTP/1 request whose first bytes could begin the preface, split across reads, is served intact', async () => {
    const { proxy } = await echoSetup({ h2c: true });
    const c = await client(proxy.port);
    // "P" is a prefix of the preface ("PRI * HTTP/2.0"): the check waits for more.
    const request = 'POST /p HTTP/1.1\r\nHost: io.test\r\nContent-Length: 5\r\n\r\nhello' + get('/after');
    await c.write(request.slice(0, 1));
    await delay(20);
    await c.write(request.slice(1, 3));
    await delay(20);
    await c.write(request.slice(3));
    const responses = await c.readResponses(['POST', 'GET'], 10_000);
    expect(responses[0]!.body.toString()).toBe(`POST /p 5 ${sha256(Buffer.from('hello'))}`);
    expect(responses[1]!.body.toString().split(' ').slice(0, 2).join(' ')).toBe('GET /after');
  });

  it('H1: a pipelined HTTP/1 burst on an h2c listener, in one write', async () => {
    const { proxy } = await echoSetup({ h2c: true });
    const targets = Array.from({ length: 20 }, (_, i) => `/h/${i}`);
    const c = await client(proxy.port);
    await c.write(targets.map(get).join(''));
    // parseResponses also returns a response still arriving: wait for the last one to be complete.
    const raw = await c.readUntil((bytes) => parseResponses(bytes, targets.map(() => 'GET'))[targets.length - 1]?.complete === true, 10_000);
    expect(parseResponses(raw, targets.map(() => 'GET')).map((r) => r.body.toString().split(' ')[1])).toEqual(targets);
  });
});
