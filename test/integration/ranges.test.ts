// B1-B3 on real sockets: byte ranges from complete objects, from fetches in flight, and on misses.
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { cleanupAfterEach, startOriginAndProxy, testKit } from '../support/proxy.js';
import { requestKit } from '../support/requests.js';
import { bodyBytes } from '../support/raw-client.js';
import { patternBytes } from '../support/bytes.js';
import type { OriginScript } from '../support/scripted-origin.js';

const { request, fetchOnce } = requestKit({ host: 'ranges.test' });
const cleanups = cleanupAfterEach();
const kit = testKit(cleanups);
const run = promisify(execFile);

const BODY = patternBytes(0, 1000);
const LAST_MODIFIED = 'Tue, 01 Dec 2026 10:00:00 GMT';
const DATE = 'Tue, 01 Dec 2026 10:00:10 GMT';
const cacheable: [string, string][] = [['Cache-Control', 'max-age=60'], ['ETag', '"v1"'], ['Last-Modified', LAST_MODIFIED], ['Date', DATE]];
const serveBody: OriginScript = (req, res) => res.send({ headers: cacheable, body: BODY });

/** The proxy with `path` already cached (one miss). */
async function withCachedObject(script: OriginScript = serveBody) {
  const started = await startOriginAndProxy(cleanups, script);
  const miss = await fetchOnce(started.proxy.port, '/file');
  expect(miss.status).toBe(200);
  return started;
}

describe('B1: ranges from complete objects', () => {
  it('B1: a-b, a- and -n on a hit get 206, Content-Range and exactly those bytes', async () => {
    const { origin, proxy } = await withCachedObject();
    for (const [range, start, end] of [['bytes=0-9', 0, 10], ['bytes=990-', 990, 1000], ['bytes=-5', 995, 1000], ['bytes=100-99999', 100, 1000]] as const) {
      const res = await fetchOnce(proxy.port, '/file', { headers: [['Range', range]] });
      expect(res.status, range).toBe(206);
      expect(res.header('content-range'), range).toBe(`bytes ${start}-${end - 1}/1000`);
      expect(res.header('content-length'), range).toBe(String(end - start));
      expect(res.header('x-cache')).toBe('HIT');
      expect(res.header('accept-ranges')).toBe('bytes');
      expect(res.body.equals(BODY.subarray(start, end)), range).toBe(true);
    }
    expect(origin.requests).toHaveLength(1);
  });

  it('B1: an unsatisfiable range gets 416 with Content-Range: bytes */LENGTH and no body', async () => {
    const { proxy } = await withCachedObject();
    for (const range of ['bytes=1000-', 'bytes=5000-6000', 'bytes=-0']) {
      const res = await fetchOnce(proxy.port, '/file', { headers: [['Range', range]] });
      expect(res.status, range).toBe(416);
      expect(res.header('content-range')).toBe('bytes */1000');
      expect(res.header('content-length')).toBe('0');
      expect(res.body.length).toBe(0);
    }
  });

  it('B1: several ranges, another unit or a malformed Range get the whole object as 200', async () => {
    const { proxy } = await withCachedObject();
    for (const range of ['bytes=0-1,5-6', 'items=0-5', 'bytes=9-1', 'bytes']) {
      const res = await fetchOnce(proxy.port, '/file', { headers: [['Range', range]] });
      expect(res.status, range).toBe(200);
      expect(res.header('content-range')).toBeUndefined();
      expect(res.body.equals(BODY), range).toBe(true);
    }
  });

  it('B1: If-Range with the strong ETag or the Last-Modified date gets the range; anything else the whole object', async () => {
    const { proxy } = await withCachedObject();
    const ask = (ifRange: string) => fetchOnce(proxy.port, '/file', { headers: [['Range', 'bytes=0-9'], ['If-Range', ifRange]] });
    expect((await ask('"v1"')).status).toBe(206);
    expect((await ask(LAST_MODIFIED)).status).toBe(206);
    for (const other of ['"v2"', 'W/"v1"', 'Tue, 01 Dec 2026 09:00:00 GMT']) {
      const res = await ask(other);
      expect(res.status, other).toBe(200);
      expect(res.body.equals(BODY)).toBe(true);
    }
  });

  it('B1: HEAD with Range gets the head of the whole object (range handling is defined for GET only)', async () => {
    const { proxy } = await withCachedObject();
    const res = await fetchOnce(proxy.port, '/file', { method: 'HEAD', headers: [['Range', 'bytes=0-9']] });
    expect(res.status).toBe(200);
    expect(res.header('content-length')).toBe('1000');
    expect(res.header('accept-ranges')).toBe('bytes');
    expect(res.body.length).toBe(0);
  });

  it('B1: ranges on a kept-alive connection: a 206 then a 416 then a 200, each framed exactly', async () => {
    const { proxy } = await withCachedObject();
    const client = await kit.client(proxy.port);
    await client.write(request('/file', { keepAlive: true, headers: [['Range', 'bytes=10-19']] }));
    await client.write(request('/file', { keepAlive: true, headers: [['Range', 'bytes=2000-']] }));
    await client.write(request('/file', { keepAlive: true }));
    const [a, b, c] = await client.readResponses(['GET', 'GET', 'GET']);
    expect([a.status, b.status, c.status]).toEqual([206, 416, 200]);
    expect(a.body.equals(BODY.subarray(10, 20))).toBe(true);
    expect(c.body.equals(BODY)).toBe(true);
  });

  it('B1: curl -r gets the range of a hit', async () => {
    const { proxy } = await withCachedObject();
    const { stdout } = await run('curl', ['-s', '-r', '0-9', '-o', '-', '-w', '\n%{http_code}', '-H', 'Host: ranges.test', `${proxy.url}/file`], { encoding: 'latin1' });
    const status = stdout.slice(stdout.lastIndexOf('\n') + 1);
    expect(status).toBe('206');
    expect(Buffer.from(stdout.slice(0, stdout.lastIndexOf('\n')), 'latin1').equals(BODY.subarray(0, 10))).toBe(true);
  });
});

/** A miss whose origin sent 300 of 1000 bytes (Content-Length) and waits for `go`; a first client holds those 300. */
async function fetchStalledAt300() {
  const go = kit.signal();
  const started = await startOriginAndProxy(cleanups, async (_req, res) => {
    await res.head(200, [...cacheable, ['Content-Length', '1000']]);
    await res.write(BODY.subarray(0, 300));
    await go.promise;
    await res.write(BODY.subarray(300));
  });
  const first = await kit.client(started.proxy.port);
  await first.write(request('/file'));
  await bodyBytes(first, 300);
  return { go, ...started };
}

describe('B2, B3: ranges on fetches in flight and on misses', () => {
  it('B3: a range miss fetches the whole object without Range, gets its range, and the object is cached whole', async () => {
    const { origin, proxy } = await startOriginAndProxy(cleanups, serveBody);
    const res = await fetchOnce(proxy.port, '/file', { headers: [['Range', 'bytes=100-199'], ['If-Range', '"v1"']] });
    expect(res.status).toBe(206);
    expect(res.header('content-range')).toBe('bytes 100-199/1000');
    expect(res.body.equals(BODY.subarray(100, 200))).toBe(true);
    expect(origin.requests[0].header('range')).toBeUndefined();
    expect(origin.requests[0].header('if-range')).toBeUndefined();
    const whole = await fetchOnce(proxy.port, '/file');
    expect(whole.header('x-cache')).toBe('HIT');
    expect(whole.body.equals(BODY)).toBe(true);
    expect(origin.requests).toHaveLength(1);
  });

  it('B2: a range on a fetch in flight with a known length gets 206 at once, then its bytes as they arrive', async () => {
    const { go, origin, proxy } = await fetchStalledAt300();
    const ranged = await kit.client(proxy.port);
    await ranged.write(request('/file', { headers: [['Range', 'bytes=200-499']] }));
    // The head and the 100 bytes that have arrived come before the rest exists.
    const early = await bodyBytes(ranged, 100);
    expect(early.status).toBe(206);
    expect(early.header('content-range')).toBe('bytes 200-499/1000');
    expect(early.header('x-cache')).toBe('MISS');
    expect(early.body.equals(BODY.subarray(200, 300))).toBe(true);
    go.resolve();
    const done = await ranged.readResponse();
    expect(done.complete).toBe(true);
    expect(done.body.equals(BODY.subarray(200, 500))).toBe(true);
    expect(origin.requests).toHaveLength(1);
  });

  it('B2: a range whose bytes have arrived ends before the object is complete', async () => {
    const { proxy } = await fetchStalledAt300();
    const ranged = await kit.client(proxy.port);
    await ranged.write(request('/file', { headers: [['Range', 'bytes=0-99']] }));
    const res = await ranged.readResponse();
    expect(res.status).toBe(206);
    expect(res.complete).toBe(true);
    expect(res.body.equals(BODY.subarray(0, 100))).toBe(true);
  });

  it('B2: while the length is unknown (chunked origin) a range waits for the complete object', async () => {
    const go = kit.signal();
    const { proxy } = await startOriginAndProxy(cleanups, async (_req, res) => {
      await res.head(200, [...cacheable, ['Transfer-Encoding', 'chunked']]);
      await res.chunk(BODY.subarray(0, 300));
      await go.promise;
      await res.chunk(BODY.subarray(300));
      await res.lastChunk();
    });
    const first = await kit.client(proxy.port);
    await first.write(request('/file'));
    await bodyBytes(first, 300);
    const ranged = await kit.client(proxy.port);
    await ranged.write(request('/file', { headers: [['Range', 'bytes=0-9']] }));
    await expect(ranged.readUntil(1, 300)).rejects.toThrow();
    go.resolve();
    const res = await ranged.readResponse();
    expect(res.status).toBe(206);
    expect(res.header('content-range')).toBe('bytes 0-9/1000');
    expect(res.body.equals(BODY.subarray(0, 10))).toBe(true);
  });

  it('B2, O2: an origin failing before the range is complete ends the 206 abruptly, never cleanly', async () => {
    const { proxy } = await startOriginAndProxy(cleanups, async (_req, res) => {
      await res.head(200, [...cacheable, ['Content-Length', '1000']]);
      await res.write(BODY.subarray(0, 300));
      await res.reset();
    });
    const ranged = await kit.client(proxy.port);
    await ranged.write(request('/file', { headers: [['Range', 'bytes=200-499']] }));
    expect(await ranged.waitClose()).toBe(true);
    const res = await ranged.readResponse();
    expect(res.status).toBe(206);
    expect(res.complete).toBe(false);
    expect(res.body.equals(BODY.subarray(200, 200 + res.body.length))).toBe(true);
  });

  it('B2, F3: an HTTP/1.0 client gets its range with Content-Length', async () => {
    const { proxy } = await withCachedObject();
    const res = await fetchOnce(proxy.port, '/file', { version: '1.0', headers: [['Range', 'bytes=5-14']] });
    expect(res.status).toBe(206);
    expect(res.header('content-length')).toBe('10');
    expect(res.body.equals(BODY.subarray(5, 15))).toBe(true);
  });
});
