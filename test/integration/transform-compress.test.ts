// T1 on real sockets: on-the-fly compression (`compress: 'gzip' | 'br'` from the fetch hook or a
// rule) of responses the origin sent uncompressed. Streaming is off for such a fetch; the object is
// stored compressed, with Content-Encoding, Vary: Accept-Encoding and a weak ETag; clients that
// accept the coding get it as stored, others get it decoded, always with Content-Length (F1, F3,
// V1); Accept-Encoding is normalised into the variant key (C1); responses already encoded are left
// as they are; the non-streaming size limit (L1-L3) and origin failures (O1, O2) apply.
import zlib from 'node:zlib';
import { describe, expect, it } from 'vitest';
import { parseResponses, sendRaw, type ParsedResponse } from '../support/raw-client.js';
import { requestKit, type RequestOptions } from '../support/requests.js';
import type { OriginScript } from '../support/scripted-origin.js';
import { cleanupAfterEach, startOriginAndProxy, testKit } from '../support/proxy.js';
import { delay } from '../support/ports.js';
import { createProxy, type CreateProxyOptions } from '../../src/index.js';

const cleanups = cleanupAfterEach();
const { signal, client } = testKit(cleanups);
const setup = (script: OriginScript, options: Partial<CreateProxyOptions> = {}) => startOriginAndProxy(cleanups, script, options);

/** `ae`: an Accept-Encoding field, sent before any other header. */
type Opts = RequestOptions & { ae?: string };
const kit = requestKit({ host: 't1.test', idleMs: 3000 });
const withAe = ({ ae, ...opts }: Opts): RequestOptions => ({ ...opts, headers: [...(ae === undefined ? [] : [['Accept-Encoding', ae] as [string, string]]), ...(opts.headers ?? [])] });
const request = (path: string, opts: Opts = {}): string => kit.request(path, withAe(opts));
const fetchOnce = (port: number, path: string, opts: Opts = {}) => kit.fetchOnce(port, path, withAe(opts));

const TEXT = 'The quick brown fox jumps over the lazy dog. '.repeat(400);
const gzipHook: Partial<CreateProxyOptions> = { hooks: { fetch: (ctx) => void (ctx.compress = 'gzip') } };
const brHook: Partial<CreateProxyOptions> = { hooks: { fetch: (ctx) => void (ctx.compress = 'br') } };

function plainOrigin(headers: [string, string][] = [['Cache-Control', 'max-age=60'], ['Content-Type', 'text/plain']], body = TEXT): OriginScript {
  return (_req, res) => res.send({ headers, body });
}

function expectCompressed(res: ParsedResponse, coding: 'gzip' | 'br', body = TEXT): void {
  expect(res.status).toBe(200);
  expect(res.header('content-encoding')).toBe(coding);
  expect(res.header('content-length')).toBe(String(res.body.length));
  expect(res.header('transfer-encoding')).toBeUndefined();
  expect(res.header('vary')?.toLowerCase()).toContain('accept-encoding');
  expect(res.body.length).toBeLessThan(Buffer.byteLength(body));
  const decoded = coding === 'gzip' ? zlib.gunzipSync(res.body) : zlib.brotliDecompressSync(res.body);
  expect(decoded.toString('latin1')).toBe(body);
}

function expectIdentity(res: ParsedResponse, body = TEXT): void {
  expect(res.status).toBe(200);
  expect(res.header('content-encoding')).toBeUndefined();
  expect(res.header('content-length')).toBe(String(Buffer.byteLength(body)));
  expect(res.header('transfer-encoding')).toBeUndefined();
  expect(res.header('vary')?.toLowerCase()).toContain('accept-encoding');
  expect(res.body.toString('latin1')).toBe(body);
}

// ------------------------------------------------------------------------------------------------

describe('T1: compression by the fetch hook', () => {
  it('T1 gzip: a client that accepts gzip gets the stored gzip bytes with Content-Encoding, Content-Length and Vary; then a HIT', async () => {
    const { origin, proxy } = await setup(plainOrigin(), gzipHook);
    const miss = await fetchOnce(proxy.port, '/g', { ae: 'gzip' });
    expectCompressed(miss, 'gzip');
    expect(miss.header('x-cache')).toBe('MISS');
    const hit = await fetchOnce(proxy.port, '/g', { ae: 'gzip, deflate' });
    expectCompressed(hit, 'gzip');
    expect(hit.header('x-cache')).toBe('HIT');
    expect(hit.body.equals(miss.body)).toBe(true);
    expect(origin.requests.length).toBe(1);
    // V4/C1: the origin saw the normalised Accept-Encoding.
    expect(origin.requests[0].header('accept-encoding')).toBe('gzip');
  });

  it('T1: an uncacheable response is compressed too: each client gets it transformed, nothing is stored, no hit-for-pass', async () => {
    const { origin, proxy } = await setup((_req, res) => res.send({ headers: [['Cache-Control', 'no-store']], body: TEXT }), gzipHook);
    const accepting = await fetchOnce(proxy.port, '/private', { ae: 'gzip' });
    expect(accepting.header('content-encoding')).toBe('gzip');
    expect(zlib.gunzipSync(accepting.body).toString()).toBe(TEXT);
    expect(Number(accepting.header('content-length'))).toBe(accepting.body.length);
    const plain = await fetchOnce(proxy.port, '/private');
    expect(plain.header('content-encoding')).toBeUndefined();
    expect(plain.body.toString()).toBe(TEXT);
    expect(origin.requests.length).toBe(2);
  });

  it('T1 br: a client that accepts br gets brotli', async () => {
    const { origin, proxy } = await setup(plainOrigin(), brHook);
    expectCompressed(await fetchOnce(proxy.port, '/b', { ae: 'gzip, deflate, br' }), 'br');
    const hit = await fetchOnce(proxy.port, '/b', { ae: 'br' });
    expectCompressed(hit, 'br');
    expect(hit.header('x-cache')).toBe('HIT');
    expect(origin.requests.length).toBe(1);
  });

  it('T1: a client that does not accept the coding gets the body decoded, with Content-Length (miss and hit)', async () => {
    const { origin, proxy } = await setup(plainOrigin(), gzipHook);
    const miss = await fetchOnce(proxy.port, '/n');
    expectIdentity(miss);
    expect(miss.header('x-cache')).toBe('MISS');
    const hit = await fetchOnce(proxy.port, '/n', { ae: 'identity' });
    expectIdentity(hit);
    expect(hit.header('x-cache')).toBe('HIT');
    expect(origin.requests.length).toBe(1);
    expect(origin.requests[0].header('accept-encoding')).toBeUndefined();
  });

  it('T1: q-values are respected: gzip;q=0 is not accepting, *;q=0.5 is', async () => {
    const { proxy } = await setup(plainOrigin(), gzipHook);
    expectIdentity(await fetchOnce(proxy.port, '/q', { ae: 'gzip;q=0, deflate' }));
    expectCompressed(await fetchOnce(proxy.port, '/q', { ae: 'deflate, *;q=0.5' }), 'gzip');
  });

  it('T1/C1: Accept-Encoding is normalised into the key: br, gzip or none, so variants collapse (3 origin fetches for 9 spellings)', async () => {
    const { origin, proxy } = await setup(plainOrigin(), gzipHook);
    const spellings: Array<[string | undefined, 'gzip' | 'identity']> = [
      ['gzip', 'gzip'],
      ['gzip, deflate', 'gzip'],
      ['x-gzip;q=0.8, deflate', 'gzip'],
      ['br', 'identity'], // the br variant holds gzip bytes (the hook's choice); a br-only client gets them decoded
      ['br, gzip', 'gzip'],
      ['gzip;q=0.5, br', 'gzip'],
      [undefined, 'identity'],
      ['identity', 'identity'],
      ['zstd, deflate', 'identity'],
    ];
    for (const [ae, expected] of spellings) {
      const res = await fetchOnce(proxy.port, '/k', { ae });
      if (expected === 'gzip') expectCompressed(res, 'gzip');
      else expectIdentity(res);
    }
    expect(origin.requests.length).toBe(3);
    expect(origin.requests.map((r) => r.header('accept-encoding'))).toEqual(['gzip', 'br', undefined]);
  });

  it('T1: a response the origin sent compressed is left as it is (bytes, headers, streaming)', async () => {
    const gz = zlib.gzipSync(Buffer.from(TEXT));
    const { proxy } = await setup((_req, res) => res.send({ headers: [['Cache-Control', 'max-age=60'], ['Content-Encoding', 'gzip']], body: gz, framing: 'chunked' }), gzipHook);
    const res = await fetchOnce(proxy.port, '/pre', { ae: 'gzip' });
    expect(res.header('content-encoding')).toBe('gzip');
    expect(res.header('vary')).toBeUndefined();
    expect(res.framing).toBe('chunked'); // streaming stayed on: the origin's length was unknown
    expect(res.body.equals(gz)).toBe(true);
    // A client that does not accept gzip gets it as it is too (only our own compression is undone).
    const hit = await fetchOnce(proxy.port, '/pre');
    expect(hit.header('content-encoding')).toBe('gzip');
    expect(hit.body.equals(gz)).toBe(true);
  });

  it('T1: Cache-Control: no-transform is respected, and 204 is never compressed', async () => {
    const { proxy } = await setup(
      (req, res) =>
        req.target === '/204'
          ? res.send({ status: 204, headers: [['Cache-Control', 'max-age=60']] })
          : res.send({ headers: [['Cache-Control', 'max-age=60, no-transform']], body: TEXT }),
      gzipHook,
    );
    const res = await fetchOnce(proxy.port, '/nt', { ae: 'gzip' });
    expect(res.header('content-encoding')).toBeUndefined();
    expect(res.body.toString('latin1')).toBe(TEXT);
    const empty = await fetchOnce(proxy.port, '/204', { ae: 'gzip' });
    expect(empty.status).toBe(204);
    expect(empty.header('content-encoding')).toBeUndefined();
  });

  it('T1: the stored ETag is weakened, and a conditional request gets 304 from the compressed object', async () => {
    const { proxy } = await setup(plainOrigin([['Cache-Control', 'max-age=60'], ['ETag', '"v1"']]), gzipHook);
    const res = await fetchOnce(proxy.port, '/etag', { ae: 'gzip' });
    expect(res.header('etag')).toBe('W/"v1"');
    for (const ae of ['gzip', undefined]) {
      const cond = await fetchOnce(proxy.port, '/etag', { ae, headers: [['If-None-Match', '"v1"']] });
      expect(cond.status).toBe(304);
      expect(cond.header('content-encoding')).toBeUndefined();
    }
  });
});

describe('T1/C3: revalidation', () => {
  it('T1/C3: a compressed object revalidated with a 304 stays compressed and says so, even if the hook no longer asks for compression', async () => {
    let fetches = 0;
    const { origin, proxy } = await setup(
      (req, res) =>
        req.header('if-none-match')
          ? res.send({ status: 304, headers: [['ETag', '"r1"'], ['Cache-Control', 'no-cache']] })
          : res.send({ headers: [['Cache-Control', 'no-cache'], ['ETag', '"r1"']], body: TEXT }),
      { hooks: { fetch: (ctx) => void (fetches++ === 0 && (ctx.compress = 'gzip')) } },
    );
    expectCompressed(await fetchOnce(proxy.port, '/r', { ae: 'gzip' }), 'gzip');
    const again = await fetchOnce(proxy.port, '/r', { ae: 'gzip' });
    expectCompressed(again, 'gzip');
    expect(again.header('x-cache')).toBe('HIT');
    expect(again.header('etag')).toBe('W/"r1"');
    expect(origin.requests.length).toBe(2);
    expect(origin.requests[1].header('if-none-match')).toBe('W/"r1"');
  });
});

describe('T1: streaming is off', () => {
  it('T1/R2: no client gets a byte until the whole body arrived; then Content-Length; collapsed clients of the variant share one fetch', async () => {
    const rest = signal();
    const { origin, proxy } = await setup(async (_req, res) => {
      await res.head(200, [['Cache-Control', 'max-age=60'], ['Transfer-Encoding', 'chunked']]);
      await res.chunk(TEXT.slice(0, 1000));
      await rest.promise;
      await res.chunk(TEXT.slice(1000));
      await res.lastChunk();
    }, gzipHook);
    const a = await client(proxy.port);
    await a.write(request('/s', { ae: 'gzip' }));
    await origin.waitForRequests(1);
    await delay(50);
    const b = await client(proxy.port);
    await b.write(request('/s', { ae: 'deflate, gzip' }));
    await delay(200);
    expect(a.received().length).toBe(0);
    expect(b.received().length).toBe(0);
    rest.resolve();
    const [ra, rb] = await Promise.all([a.readResponse(), b.readResponse()]);
    expectCompressed(ra, 'gzip');
    expectCompressed(rb, 'gzip');
    expect(ra.header('x-cache')).toBe('MISS');
    expect(origin.requests.length).toBe(1);
  });

  it('T1/R2: a client of the same variant that does not accept gzip (br-only) collapses onto the fetch and gets it decoded', async () => {
    const rest = signal();
    const { origin, proxy } = await setup(async (_req, res) => {
      await res.head(200, [['Cache-Control', 'max-age=60'], ['Content-Length', String(TEXT.length)]]);
      await res.write(TEXT.slice(0, 10));
      await rest.promise;
      await res.write(TEXT.slice(10));
    }, gzipHook);
    const a = await client(proxy.port);
    await a.write(request('/s2', { ae: 'br, gzip' }));
    await origin.waitForRequests(1);
    const b = await client(proxy.port);
    await b.write(request('/s2', { ae: 'br' }));
    await delay(150);
    expect(a.received().length + b.received().length).toBe(0);
    rest.resolve();
    expectCompressed(await a.readResponse(), 'gzip');
    expectIdentity(await b.readResponse());
    expect(origin.requests.length).toBe(1);
  });
});

describe('T1: HEAD, HTTP/1.0, rules', () => {
  it('T1/F4: HEAD gets the head a GET would get: the compressed length, or the identity length', async () => {
    const { proxy } = await setup(plainOrigin(), gzipHook);
    const get = await fetchOnce(proxy.port, '/h', { ae: 'gzip' });
    const head = await fetchOnce(proxy.port, '/h', { method: 'HEAD', ae: 'gzip' });
    expect(head.header('content-length')).toBe(get.header('content-length'));
    expect(head.header('content-encoding')).toBe('gzip');
    expect(head.body.length).toBe(0);
    const plainHead = await fetchOnce(proxy.port, '/h', { method: 'HEAD' });
    expect(plainHead.header('content-length')).toBe(String(TEXT.length));
    expect(plainHead.header('content-encoding')).toBeUndefined();
    // A HEAD miss of the identity variant (nothing stored yet for it).
    const headMiss = await fetchOnce(proxy.port, '/h2', { method: 'HEAD' });
    expect(headMiss.header('content-length')).toBe(String(TEXT.length));
  });

  it('T1/F3/V1: HTTP/1.0 clients, accepting or not, get Content-Length and the connection closes', async () => {
    const { proxy } = await setup((_req, res) => res.send({ headers: [['Cache-Control', 'max-age=60']], body: TEXT, framing: 'chunked' }), gzipHook);
    for (const ae of ['gzip', undefined, 'gzip']) {
      const exchange = await sendRaw(proxy.port, request('/old', { version: '1.0', ae }), { idleMs: 3000 });
      expect(exchange.closedByServer).toBe(true);
      const [res] = parseResponses(exchange, ['GET']);
      if (ae) expectCompressed(res, 'gzip');
      else expectIdentity(res);
    }
  });

  it('T1: a config rule sets compress for matching paths only', async () => {
    const { proxy } = await setup(plainOrigin(), { rules: [{ path: '/static/*', compress: 'br' }] });
    expectCompressed(await fetchOnce(proxy.port, '/static/app.js', { ae: 'br' }), 'br');
    const other = await fetchOnce(proxy.port, '/api/x', { ae: 'br' });
    expect(other.header('content-encoding')).toBeUndefined();
    expect(other.body.toString('latin1')).toBe(TEXT);
  });

  it('T1: rules validation: compress must be "gzip" or "br"; esi a boolean', () => {
    expect(() => createProxy({ origin: 'http://127.0.0.1:1', rules: [{ path: '/*', compress: 'deflate' as 'gzip' }] })).toThrow(/rules\[0\]\.compress: must be "gzip" or "br"/);
    expect(() => createProxy({ origin: 'http://127.0.0.1:1', rules: [{ path: '/*', esi: 'yes' as unknown as boolean }] })).toThrow(/rules\[0\]\.esi: must be a boolean/);
  });
});

describe('T1: limits and origin failures', () => {
  it('T1/L2: an origin Content-Length above the non-streaming limit: 503 at once', async () => {
    const { proxy } = await setup(plainOrigin(), { ...gzipHook, maxObjectSizeBuffered: 1000, maxObjectSize: 1_000_000 });
    const res = await fetchOnce(proxy.port, '/big', { ae: 'gzip' });
    expect(res.status).toBe(503);
    expect(res.body.toString()).toMatch(/maximum object size \(1000 bytes\)/);
  });

  it('T1/L3: no Content-Length: the body is fetched and compressed until it passes the non-streaming limit, then 503 (the limit counts identity bytes)', async () => {
    const { origin, proxy } = await setup((_req, res) => res.send({ headers: [['Cache-Control', 'max-age=60']], body: TEXT, framing: 'chunked', chunkSizes: [500] }), {
      ...gzipHook,
      maxObjectSizeBuffered: 5000,
      maxObjectSize: 1_000_000,
    });
    const res = await fetchOnce(proxy.port, '/big2', { ae: 'gzip' });
    expect(res.status).toBe(503);
    // Nothing was cached: the next request fetches again.
    await fetchOnce(proxy.port, '/big2', { ae: 'gzip' });
    expect(origin.requests.length).toBe(2);
  });

  it('T1/O1: an origin that fails before its head: 503', async () => {
    const { proxy } = await setup((_req, res) => res.reset({ settleMs: 0 }), gzipHook);
    const res = await fetchOnce(proxy.port, '/down', { ae: 'gzip' });
    expect(res.status).toBe(503);
  });

  it('T1/O2: an origin that fails mid-body: 503 (the head never went out), nothing cached', async () => {
    const { origin, proxy } = await setup(
      (_req, res) => res.send({ headers: [['Cache-Control', 'max-age=60']], body: TEXT, failAt: { byte: 3000, how: 'close' } }),
      gzipHook,
    );
    for (const ae of ['gzip', undefined]) {
      const res = await fetchOnce(proxy.port, '/cut', { ae });
      expect(res.status).toBe(503);
    }
    expect(origin.requests.length).toBe(2);
  });
});

describe('T1/L5: the store stays usable', () => {
  it('T1/L5: decoding deliveries (including clients that leave while waiting) leave no pin behind: a small store keeps evicting and caching', async () => {
    // Bodies that do not compress much (hex of a pseudo-random sequence), so that the store fills.
    const body = (n: number) => {
      let x = n + 1;
      let out = '';
      for (let i = 0; i < 1000; i++) {
        x = (x * 1103515245 + 12345) % 2147483648;
        out += (x >>> 8).toString(16).padStart(6, '0').slice(0, 2);
      }
      return out;
    };
    const { proxy } = await setup((req, res) => res.send({ headers: [['Cache-Control', 'max-age=60']], body: body(Number(req.target.slice(3))), delayHeadMs: req.target === '/o/5' ? 200 : 0 }), {
      ...gzipHook,
      storeSize: 64 * 1024,
      storeSlabSize: 16 * 1024,
    });
    // A client that goes away while it waits for a compressed object it would get decoded.
    const leaver = await client(proxy.port);
    await leaver.write(request('/o/5'));
    await delay(50);
    await leaver.close();
    for (let n = 0; n < 40; n++) {
      expectIdentity(await fetchOnce(proxy.port, `/o/${n}`), body(n));
      expectCompressed(await fetchOnce(proxy.port, `/o/${n}`, { ae: 'gzip' }), 'gzip', body(n));
    }
    const stats = proxy.proxy.stats().store;
    expect(stats.evictedExtents).toBeGreaterThan(0);
    expect(stats.blockedAppends).toBe(0);
    expect((await fetchOnce(proxy.port, '/o/39')).header('x-cache')).toBe('HIT');
  });
});
