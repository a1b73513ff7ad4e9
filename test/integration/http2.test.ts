// HTTP/2 towards clients (H1, H2): h2c beside HTTP/1.x on one port, TLS with ALPN h2 and
// http/1.1 on one listener, one cache for every version; per stream, a complete body ends with
// END_STREAM and an abrupt end (O2, L4) is RST_STREAM(INTERNAL_ERROR) while the connection's other
// streams go on; no hop-by-hop field in HTTP/2.
import { execFile } from 'node:child_process';
import { X509Certificate } from 'node:crypto';
import http2 from 'node:http2';
import tls from 'node:tls';
import { describe, expect, it } from 'vitest';
import { parseResponses, sendRaw } from '../support/raw-client.js';
import { cleanupAfterEach, startOriginAndProxy } from '../support/proxy.js';
import type { OriginScript } from '../support/scripted-origin.js';
import type { CreateProxyOptions } from '../../src/index.js';
import { closeSession, connectH2, h2Request } from '../support/h2-client.js';
import { generateTestCertificate, makeTestCertificate } from '../support/tls-cert.js';

const cleanups = cleanupAfterEach();
const setup = (script: OriginScript, options: Partial<CreateProxyOptions> = {}) => startOriginAndProxy(cleanups, script, options);
const CACHEABLE: [string, string] = ['Cache-Control', 'max-age=60'];
const { NGHTTP2_INTERNAL_ERROR } = http2.constants;

function session(port: number, ca?: string): http2.ClientHttp2Session {
  const s = connectH2(port, { ca });
  cleanups.push(() => closeSession(s));
  return s;
}

function curl(args: string[]): Promise<{ stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => execFile('curl', args, { timeout: 10_000 }, (err, stdout, stderr) => (err ? reject(err) : resolve({ stdout, stderr }))));
}

describe('H1: h2c beside HTTP/1.x on the cleartext listener', () => {
  it('H1: curl --http2-prior-knowledge gets an HTTP/2 response, and HTTP/1.1 on the same port still works', async () => {
    const { proxy } = await setup((req, res) => res.send({ headers: [CACHEABLE], body: `body of ${req.target}` }), { h2c: true });
    const { stdout } = await curl(['-s', '--http2-prior-knowledge', '-o', '-', '-w', '\n%{http_version} %{response_code}', `${proxy.url}/a`]);
    expect(stdout).toBe('body of /a\n2 200');
    const [res] = parseResponses(await sendRaw(proxy.port, 'GET /a HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n'));
    expect(res.status).toBe(200);
    expect(res.body.toString()).toBe('body of /a');
  });

  it('H1: both versions share one cache (a miss over HTTP/2 is a hit over HTTP/1.1, and back)', async () => {
    const { origin, proxy } = await setup((req, res) => res.send({ headers: [CACHEABLE], body: `body of ${req.target}` }), { h2c: true });
    const s = session(proxy.port);
    const first = await h2Request(s, '/shared');
    expect(first.headers['x-cache']).toBe('MISS');
    const [hit] = parseResponses(await sendRaw(proxy.port, 'GET /shared HTTP/1.1\r\nHost: 127.0.0.1:' + proxy.port + '\r\nConnection: close\r\n\r\n'));
    expect(hit.status).toBe(200);
    expect(hit.header('x-cache')).toBe('HIT');
    const again = await h2Request(s, '/shared');
    expect(again.headers['x-cache']).toBe('HIT');
    expect(again.body.toString()).toBe('body of /shared');
    expect(origin.requests.length).toBe(1);
  });

  it('H1: without --h2c the preface is an HTTP/1 request the engine refuses (400), as before', async () => {
    const { proxy } = await setup((_req, res) => res.send({ body: 'x' }));
    const exchange = await sendRaw(proxy.port, 'PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n', { idleMs: 500 });
    expect(exchange.bytes.toString('latin1')).toMatch(/^HTTP\/1\.1 400 /);
  });
});

describe('H1: TLS with ALPN h2 and http/1.1', () => {
  it('H1: ALPN h2 gets HTTP/2, ALPN http/1.1 gets our HTTP/1 engine on the same port', async () => {
    const cert = generateTestCertificate();
    const { proxy } = await setup((req, res) => res.send({ headers: [CACHEABLE], body: `body of ${req.target}` }), { tlsCert: cert.cert, tlsKey: cert.key });
    const s = session(proxy.port, cert.cert);
    const res = await h2Request(s, '/tls');
    expect(res.status).toBe(200);
    expect(res.body.toString()).toBe('body of /tls');
    expect((s.socket as tls.TLSSocket).alpnProtocol).toBe('h2');
    const wire = await new Promise<string>((resolve, reject) => {
      const socket = tls.connect({ port: proxy.port, host: '127.0.0.1', servername: 'localhost', ca: cert.cert, ALPNProtocols: ['http/1.1'] }, () => {
        expect(socket.alpnProtocol).toBe('http/1.1');
        socket.write(`GET /tls HTTP/1.1\r\nHost: localhost:${proxy.port}\r\nConnection: close\r\n\r\n`);
      });
      let text = '';
      socket.on('data', (d: Buffer) => (text += d.toString('latin1')));
      socket.on('end', () => resolve(text));
      socket.on('error', reject);
    });
    expect(wire).toMatch(/^HTTP\/1\.1 200 OK\r\n/);
    expect(wire).toMatch(/\r\nX-Cache: HIT\r\n/);
    expect(wire.endsWith('\r\n\r\nbody of /tls')).toBe(true);
  });

  it('H1: reloadTls serves the new certificate to new connections; open ones go on', async () => {
    const first = generateTestCertificate();
    const { proxy } = await setup((req, res) => res.send({ body: `body of ${req.target}` }), { tlsCert: first.cert, tlsKey: first.key });
    const before = session(proxy.port, first.cert);
    expect((await h2Request(before, '/a')).status).toBe(200);
    const second = makeTestCertificate();
    expect(() => proxy.proxy.reloadTls({ cert: 'not a pem', key: 'nor this' })).toThrow();
    proxy.proxy.reloadTls(second);
    const after = session(proxy.port, second.cert);
    expect((await h2Request(after, '/b')).status).toBe(200);
    const peer = (after.socket as tls.TLSSocket).getPeerCertificate();
    expect(peer.fingerprint256).toBe(new X509Certificate(second.cert).fingerprint256);
    expect((await h2Request(before, '/c')).status).toBe(200);
  });
});

describe('H2: every stream is served like an HTTP/1.1 request', () => {
  it('H2, F2: a body of unknown length ends with END_STREAM; no hop-by-hop field reaches the client', async () => {
    const { proxy } = await setup((_req, res) =>
      res.send({ headers: [['Connection', 'keep-alive, X-Hop'], ['Keep-Alive', 'timeout=5'], ['X-Hop', '1'], ['X-End', 'kept']], body: 'a'.repeat(50_000), framing: 'chunked', chunkSizes: [10_000] }),
    { h2c: true });
    const res = await h2Request(session(proxy.port), '/chunked');
    expect(res.status).toBe(200);
    expect(res.endedCleanly).toBe(true);
    expect(res.body.length).toBe(50_000);
    for (const name of ['connection', 'keep-alive', 'transfer-encoding', 'x-hop', 'upgrade', 'te']) expect(res.headers[name]).toBeUndefined();
    expect(res.headers['x-end']).toBe('kept');
  });

  it('H2, O2: an origin reset mid-body is RST_STREAM(INTERNAL_ERROR), and the other streams of the connection go on', async () => {
    const { proxy } = await setup(async (req, res) => {
      if (req.target === '/broken') return res.send({ body: 'b'.repeat(100_000), framing: 'chunked', chunkSizes: [10_000], failAt: { byte: 30_000, how: 'reset' } });
      return res.send({ body: 'whole', gapMs: 20 });
    }, { h2c: true });
    const s = session(proxy.port);
    const [broken, fine] = await Promise.all([h2Request(s, '/broken'), h2Request(s, '/fine')]);
    expect(broken.status).toBe(200);
    expect(broken.endedCleanly).toBe(false);
    expect(broken.rstCode).toBe(NGHTTP2_INTERNAL_ERROR);
    expect(broken.body.length).toBeLessThan(100_000);
    expect(fine.endedCleanly).toBe(true);
    expect(fine.body.toString()).toBe('whole');
    expect((await h2Request(s, '/after')).body.toString()).toBe('whole');
  });

  it('H2, L4: a streaming body past the object size limit is RST_STREAM(INTERNAL_ERROR), never END_STREAM', async () => {
    const { proxy } = await setup((_req, res) => res.send({ headers: [CACHEABLE], body: 'c'.repeat(200_000), framing: 'chunked', chunkSizes: [16_384], gapMs: 2 }), { h2c: true, maxObjectSize: 64 * 1024 });
    const res = await h2Request(session(proxy.port), '/huge');
    expect(res.endedCleanly).toBe(false);
    expect(res.rstCode).toBe(NGHTTP2_INTERNAL_ERROR);
    expect(res.body.length).toBeLessThanOrEqual(64 * 1024);
  });

  it('H2, O1: a failure before the head is a 503 with a reason, on a stream that ends cleanly', async () => {
    const { proxy } = await setup((_req, res) => res.stall(), { h2c: true, firstByteTimeout: 100 });
    const res = await h2Request(session(proxy.port), '/slow');
    expect(res.status).toBe(503);
    expect(res.endedCleanly).toBe(true);
    expect(res.body.toString()).toMatch(/first byte timeout/);
  });

  it('H2, R2, R3: HTTP/2 streams and HTTP/1.1 clients collapse onto one fetch and get the identical body', async () => {
    const body = 'z'.repeat(40_000);
    const { origin, proxy } = await setup((_req, res) => res.send({ headers: [CACHEABLE], body, framing: 'chunked', chunkSizes: [4_000], gapMs: 10 }), { h2c: true });
    const s = session(proxy.port);
    const results = await Promise.all([
      h2Request(s, '/c'),
      h2Request(s, '/c'),
      sendRaw(proxy.port, 'GET /c HTTP/1.1\r\nHost: 127.0.0.1:' + proxy.port + '\r\nConnection: close\r\n\r\n').then((e) => parseResponses(e)[0]),
    ]);
    expect(origin.requests.length).toBe(1);
    expect(results[0].body.toString()).toBe(body);
    expect(results[1].body.toString()).toBe(body);
    expect(results[2].body.toString()).toBe(body);
  });

  it('H2, C4: a POST body is streamed to the origin and the answer comes back', async () => {
    const { origin, proxy } = await setup(async (req, res) => {
      const got = await req.bodyDone;
      return res.send({ body: `got ${got.length} bytes` });
    }, { h2c: true });
    const res = await h2Request(session(proxy.port), '/post', { ':method': 'POST' }, 'p'.repeat(70_000));
    expect(res.body.toString()).toBe('got 70000 bytes');
    expect(origin.requests[0].method).toBe('POST');
    expect(origin.requests[0].header('host')).toBe(`127.0.0.1:${proxy.port}`);
  });

  it('H2, F4: HEAD gets the head a GET would get and no DATA', async () => {
    const { proxy } = await setup((_req, res) => res.send({ headers: [CACHEABLE], body: 'twelve bytes' }), { h2c: true });
    const s = session(proxy.port);
    await h2Request(s, '/h');
    const head = await h2Request(s, '/h', { ':method': 'HEAD' });
    expect(head.status).toBe(200);
    expect(head.headers['content-length']).toBe('12');
    expect(head.body.length).toBe(0);
    expect(head.endedCleanly).toBe(true);
  });

  it('H2, K3: the deliver hook edits the head an HTTP/2 client gets', async () => {
    const { proxy } = await setup((_req, res) => res.send({ headers: [CACHEABLE], body: 'delivered' }), {
      h2c: true,
      hooks: { deliver: (ctx) => void ctx.headers.set('X-Delivered', `status ${ctx.status}`) },
    });
    const s = session(proxy.port);
    const miss = await h2Request(s, '/d');
    const hit = await h2Request(s, '/d');
    expect(miss.headers['x-delivered']).toBe('status 200');
    expect(hit.headers['x-delivered']).toBe('status 200');
    expect(hit.headers['x-cache']).toBe('HIT');
    expect(hit.body.toString()).toBe('delivered');
  });

  it('H2: with streaming off, a body of unknown length comes whole with Content-Length and END_STREAM', async () => {
    const { proxy } = await setup((_req, res) => res.send({ headers: [CACHEABLE], body: 'w'.repeat(30_000), framing: 'chunked', chunkSizes: [5_000], gapMs: 5 }), { h2c: true, stream: false });
    const res = await h2Request(session(proxy.port), '/whole');
    expect(res.endedCleanly).toBe(true);
    expect(res.headers['content-length']).toBe('30000');
    expect(res.body.length).toBe(30_000);
  });

  it('H2, B1: a Range request over HTTP/2 gets 206 with Content-Range and exactly those bytes', async () => {
    const body = Array.from({ length: 1000 }, (_, i) => String.fromCharCode(97 + (i % 26))).join('');
    const { proxy } = await setup((_req, res) => res.send({ headers: [CACHEABLE, ['ETag', '"r1"']], body }), { h2c: true });
    const s = session(proxy.port);
    await h2Request(s, '/r');
    const part = await h2Request(s, '/r', { range: 'bytes=10-19' });
    expect(part.status).toBe(206);
    expect(part.headers['content-range']).toBe('bytes 10-19/1000');
    expect(part.body.toString()).toBe(body.slice(10, 20));
    expect(part.endedCleanly).toBe(true);
  });
});
