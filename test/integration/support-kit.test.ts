// Tests of the test kit itself (test/support): the raw client and its independent response parser,
// the scripted fault origin, the TLS certificate and the small helpers, checked against node:http
// clients and servers so that the kit does not only agree with itself.
import http from 'node:http';
import https from 'node:https';
import { X509Certificate } from 'node:crypto';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { PatternChecker, patternBody, patternBytes } from '../support/bytes.js';
import { closeServer, delay, freePort, listenOnFreePort, waitFor, withTimeout } from '../support/ports.js';
import { ResponseParseError, openClient, parseResponses, sendRaw, type RawClient } from '../support/raw-client.js';
import { startScriptedOrigin, type ScriptedOrigin } from '../support/scripted-origin.js';
import { generateTestCertificate } from '../support/tls-cert.js';

const b = (s: string): Buffer => Buffer.from(s, 'latin1');

// ------------------------------------------------------------------------------------------------
describe('parseResponses', () => {
  it('reads a Content-Length response', () => {
    const [r, ...rest] = parseResponses(b('HTTP/1.1 200 OK\r\nContent-Length: 5\r\nX-A:  padded \t\r\n\r\nhello'), ['GET']);
    expect(rest).toHaveLength(0);
    expect(r).toMatchObject({ version: 'HTTP/1.1', status: 200, reason: 'OK', framing: 'length', complete: true, headComplete: true });
    expect(r.body.toString()).toBe('hello');
    expect(r.header('x-a')).toBe('padded');
    expect(r.headers).toEqual([['Content-Length', '5'], ['X-A', 'padded']]);
    expect(r.wireLength).toBe(r.rawHead.length + 5);
  });

  it('reads a truncated Content-Length body as incomplete, with the bytes that came', () => {
    const [r] = parseResponses(b('HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nhello'), ['GET']);
    expect(r.complete).toBe(false);
    expect(r.body.toString()).toBe('hello');
  });

  it('reads a chunked body with extensions and trailers', () => {
    const wire = 'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5;ext=1\r\nhello\r\nA\r\n0123456789\r\n0\r\nX-Trailer: t\r\n\r\n';
    const [r] = parseResponses(b(wire), ['GET']);
    expect(r).toMatchObject({ framing: 'chunked', complete: true, terminatingChunk: true, chunkSizes: [5, 10] });
    expect(r.body.toString()).toBe('hello0123456789');
    expect(r.trailers).toEqual([['X-Trailer', 't']]);
    expect(r.wireLength).toBe(wire.length);
  });

  it('reads chunked bytes without the terminating chunk as incomplete', () => {
    const [r] = parseResponses(b('HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n3\r\nab'), ['GET']);
    expect(r).toMatchObject({ framing: 'chunked', complete: false, terminatingChunk: false, chunkSizes: [5, 3] });
    expect(r.body.toString()).toBe('helloab');
  });

  it('reads a zero chunk without the final CRLF as terminated but incomplete', () => {
    const [r] = parseResponses(b('HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n'), ['GET']);
    expect(r).toMatchObject({ terminatingChunk: true, complete: false });
  });

  it('treats a close-delimited body as complete only on a clean close', () => {
    const wire = b('HTTP/1.0 200 OK\r\nServer: x\r\n\r\nuntil the end');
    expect(parseResponses(wire, ['GET'])[0]).toMatchObject({ framing: 'close', complete: true, version: 'HTTP/1.0' });
    expect(parseResponses(wire, ['GET'], { closedCleanly: false })[0].complete).toBe(false);
    expect(parseResponses({ bytes: wire, totalBytes: wire.length, closedByServer: true, error: 'ECONNRESET', elapsedMs: 1 }, ['GET'])[0].complete).toBe(false);
    expect(parseResponses({ bytes: wire, totalBytes: wire.length, closedByServer: true, elapsedMs: 1 }, ['GET'])[0].complete).toBe(true);
    // A final coding other than chunked is also read until close.
    expect(parseResponses(b('HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\n\r\nxx'), ['GET'])[0].framing).toBe('close');
  });

  it('gives HEAD responses and 204/304 no body, and splits pipelined responses', () => {
    const wire = b(
      'HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\n' + // HEAD
        'HTTP/1.1 304 Not Modified\r\nContent-Length: 5\r\n\r\n' +
        'HTTP/1.1 204 No Content\r\n\r\n' +
        'HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok',
    );
    const rs = parseResponses(wire, ['HEAD', 'GET', 'GET', 'GET']);
    expect(rs.map((r) => [r.status, r.framing, r.complete, r.body.length])).toEqual([
      [200, 'none', true, 0],
      [304, 'none', true, 0],
      [204, 'none', true, 0],
      [200, 'length', true, 2],
    ]);
  });

  it('lists 1xx interim responses without using up a request method', () => {
    const rs = parseResponses(b('HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\nxHTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\n'), ['POST', 'HEAD']);
    expect(rs.map((r) => [r.status, r.framing, r.complete])).toEqual([
      [100, 'none', true],
      [200, 'length', true],
      [200, 'none', true],
    ]);
  });

  it('returns a partial head as headComplete: false', () => {
    const rs = parseResponses(b('HTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\nxHTTP/1.1 404 Not Found\r\nX-Y: z\r'), ['GET', 'GET']);
    expect(rs).toHaveLength(2);
    expect(rs[1]).toMatchObject({ headComplete: false, complete: false, status: 404 });
    expect(rs[1].headers).toEqual([]); // the field line is not complete yet
    expect(parseResponses(b('HTTP/1.'), [])[0]).toMatchObject({ headComplete: false, status: 0 });
  });

  it('stops after maxFinal final responses', () => {
    const rs = parseResponses(b('HTTP/1.1 103 Early Hints\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\nnot http at all'), [], { maxFinal: 1 });
    expect(rs.map((r) => r.status)).toEqual([103, 200]);
  });

  it('joins repeated fields in header() and keeps each in headerAll()', () => {
    const [r] = parseResponses(b('HTTP/1.1 200 OK\r\nVary: a\r\nvary: b\r\nContent-Length: 0\r\n\r\n'), ['GET']);
    expect(r.header('VARY')).toBe('a, b');
    expect(r.headerAll('vary')).toEqual(['a', 'b']);
    expect(r.header('missing')).toBeUndefined();
  });

  it('notes framing anomalies that RFC 9112 resolves', () => {
    const [r] = parseResponses(b('HTTP/1.1 200 OK\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n'), ['GET']);
    expect(r.framing).toBe('chunked');
    expect(r.problems).toContain('both Transfer-Encoding and Content-Length');
    expect(parseResponses(b('HTTP/1.1 200 OK\r\nContent-Length: 1, 1\r\n\r\nx'), ['GET'])[0].problems).toContain('Content-Length repeated');
  });

  it.each([
    ['a bare LF', 'HTTP/1.1 200 OK\nContent-Length: 0\r\n\r\n'],
    ['a bare LF in a partial head', 'HTTP/1.1 200 OK\nContent-'],
    ['obs-fold', 'HTTP/1.1 200 OK\r\nX-A: 1\r\n  2\r\nContent-Length: 0\r\n\r\n'],
    ['a space before the colon', 'HTTP/1.1 200 OK\r\nContent-Length : 0\r\n\r\n'],
    ['a bad status line', 'HTTP/1.1 20 OK\r\n\r\n'],
    ['a status line without the second space', 'HTTP/1.1 200\r\nContent-Length: 0\r\n\r\n'],
    ['conflicting Content-Length', 'HTTP/1.1 200 OK\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\nx'],
    ['a non-numeric Content-Length', 'HTTP/1.1 200 OK\r\nContent-Length: +1\r\n\r\nx'],
    ['an invalid chunk size', 'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n'],
    ['chunk data longer than its size', 'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nabc\r\n0\r\n\r\n'],
    ['a leading empty line', '\r\nHTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n'],
  ])('throws on %s', (_what, wire) => {
    expect(() => parseResponses(b(wire), ['GET'])).toThrow(ResponseParseError);
  });

  it('never throws on a prefix of valid bytes, and only the full input completes every response', () => {
    const wire = b(
      'HTTP/1.1 100 Continue\r\n\r\n' +
        'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3;x=y\r\nabc\r\n1\r\nd\r\n0\r\nT: 1\r\n\r\n' +
        'HTTP/1.1 200 OK\r\nContent-Length: 4\r\n\r\n' +
        'HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\nxyz',
    );
    for (let n = 0; n <= wire.length; n++) {
      const rs = parseResponses(wire.subarray(0, n), ['GET', 'HEAD', 'GET'], { closedCleanly: false });
      const completeFinals = rs.filter((r) => r.complete && r.status >= 200).length;
      expect(completeFinals).toBe(n === wire.length ? 3 : completeFinals);
      if (n < wire.length) expect(completeFinals).toBeLessThan(3);
      expect(rs.reduce((sum, r) => sum + r.wireLength, 0)).toBe(n);
    }
  });
});

// ------------------------------------------------------------------------------------------------
describe('bytes', () => {
  it('patternBody slices agree with patternBytes and the checker finds the first wrong byte', () => {
    const body = patternBody(1_000_000);
    expect(body.subarray(300_000, 300_500).equals(patternBytes(300_000, 500))).toBe(true);
    expect(patternBytes(0, 600_000).subarray(251, 502).equals(patternBytes(0, 251))).toBe(true);
    const ok = new PatternChecker();
    ok.push(body.subarray(0, 70_000));
    ok.push(body.subarray(70_000, 1_000_000));
    expect(ok.ok(1_000_000)).toBe(true);
    const bad = new PatternChecker();
    const broken = patternBytes(0, 1000);
    broken[777] ^= 1;
    bad.push(broken.subarray(0, 500));
    bad.push(broken.subarray(500));
    expect(bad.firstMismatch).toBe(777);
    expect(bad.ok()).toBe(false);
  });
});

// ------------------------------------------------------------------------------------------------
describe('ports', () => {
  it('withTimeout passes values through and fails with a clear message', async () => {
    await expect(withTimeout(Promise.resolve(7), 100, 'x')).resolves.toBe(7);
    await expect(withTimeout(new Promise(() => {}), 20, 'the origin head')).rejects.toThrow('timed out after 20 ms: the origin head');
    await expect(waitFor(() => false, 20, 'never')).rejects.toThrow('never');
  });
});

// ------------------------------------------------------------------------------------------------
describe('sendRaw and openClient against node:http', () => {
  let server: http.Server;
  let port: number;
  const seen: { method: string; url: string; body: string }[] = [];

  beforeAll(async () => {
    server = http.createServer((req, res) => {
      const parts: Buffer[] = [];
      req.on('data', (c: Buffer) => parts.push(c));
      req.on('end', () => {
        seen.push({ method: req.method ?? '', url: req.url ?? '', body: Buffer.concat(parts).toString() });
        if (req.url === '/big') {
          res.setHeader('Content-Length', String(4 << 20));
          const body = patternBody(4 << 20);
          let offset = 0;
          const pump = (): void => {
            while (offset < body.length) {
              const piece = body.subarray(offset, offset + 65536);
              offset += piece.length;
              if (!res.write(piece)) return void res.once('drain', pump);
            }
            res.end();
          };
          return pump();
        }
        if (req.url === '/drip') {
          res.setHeader('Content-Type', 'text/plain');
          const timer = setInterval(() => res.write('.'), 20);
          res.on('close', () => clearInterval(timer));
          return;
        }
        if (req.url === '/chunked') {
          res.write('abc');
          return void setTimeout(() => res.end('def'), 10);
        }
        res.setHeader('Content-Length', String(req.url?.length ?? 0));
        res.end(req.url);
      });
    });
    server.keepAliveTimeout = 5000;
    port = await listenOnFreePort(server);
  });
  afterAll(async () => {
    server.closeAllConnections();
    await closeServer(server);
  });

  it('collects a keep-alive response until the client goes idle', async () => {
    const ex = await sendRaw(port, 'GET /hello HTTP/1.1\r\nHost: x\r\n\r\n', { idleMs: 100 });
    expect(ex.closedByServer).toBe(false);
    expect(ex.error).toBeUndefined();
    const [r] = parseResponses(ex, ['GET']);
    expect(r).toMatchObject({ status: 200, complete: true, framing: 'length' });
    expect(r.body.toString()).toBe('/hello');
  });

  it('sees the server close after Connection: close, and reads chunked bodies', async () => {
    const ex = await sendRaw(port, 'GET /chunked HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n', { idleMs: 2000 });
    expect(ex.closedByServer).toBe(true);
    expect(ex.elapsedMs).toBeLessThan(2000);
    const [r] = parseResponses(ex, ['GET']);
    expect(r).toMatchObject({ framing: 'chunked', complete: true, terminatingChunk: true });
    expect(r.body.toString()).toBe('abcdef');
  });

  it('writes array pieces with gaps, and pipelined requests get answers in order', async () => {
    const ex = await sendRaw(
      port,
      ['POST /p HTTP/1.1\r\nHost: x\r\nContent-Length: 6\r\n\r\nab', 'cd', 'ef', 'HEAD /h HTTP/1.1\r\nHost: x\r\n\r\nGET /g HTTP/1.1\r\nHost: x\r\n\r\n'],
      { writeGapMs: 30, idleMs: 150 },
    );
    expect(ex.elapsedMs).toBeGreaterThanOrEqual(90);
    expect(seen.find((s) => s.url === '/p')?.body).toBe('abcdef');
    const rs = parseResponses(ex, ['POST', 'HEAD', 'GET']);
    expect(rs.map((r) => [r.status, r.body.toString(), r.complete])).toEqual([
      [200, '/p', true],
      [200, '', true],
      [200, '/g', true],
    ]);
  });

  it('half-closes after the request and still reads the answer', async () => {
    const ex = await sendRaw(port, 'GET /half HTTP/1.1\r\nHost: x\r\n\r\n', { halfClose: true, idleMs: 2000 });
    expect(parseResponses(ex, ['GET'])[0].body.toString()).toBe('/half');
    expect(ex.closedByServer).toBe(true); // node:http ends its side after the client's FIN
  });

  it('reports a refused connection and a timeout', async () => {
    const refused = await sendRaw(await freePort(), 'GET / HTTP/1.1\r\n\r\n');
    expect(refused).toMatchObject({ closedByServer: false, error: 'ECONNREFUSED' });
    const drip = await sendRaw(port, 'GET /drip HTTP/1.1\r\nHost: x\r\n\r\n', { idleMs: 1000, timeoutMs: 200 });
    expect(drip).toMatchObject({ closedByServer: false, error: 'TIMEOUT' });
    expect(drip.elapsedMs).toBeLessThan(1000);
    expect(parseResponses(drip, ['GET'], { closedCleanly: false })[0]).toMatchObject({ framing: 'chunked', complete: false });
  });

  it('reads slowly, counts what it does not keep, and hands every chunk to onData', async () => {
    const checker = new PatternChecker();
    let headDone = false;
    const ex = await sendRaw(port, 'GET /big HTTP/1.1\r\nHost: x\r\n\r\n', {
      idleMs: 300,
      readDelayMs: 100,
      slowReader: { pauseMs: 20, everyBytes: 512 * 1024 },
      maxRetain: 1000,
      onData: (chunk) => {
        if (!headDone) {
          const end = chunk.indexOf('\r\n\r\n');
          headDone = true;
          chunk = chunk.subarray(end + 4);
        }
        checker.push(chunk);
      },
    });
    expect(ex.bytes.length).toBe(1000);
    expect(checker.ok(4 << 20)).toBe(true);
    expect(ex.totalBytes).toBe(ex.bytes.indexOf('\r\n\r\n') + 4 + (4 << 20));
    expect(ex.elapsedMs).toBeGreaterThanOrEqual(100 + 7 * 20);
  });

  describe('openClient', () => {
    let client: RawClient | undefined;
    afterEach(async () => {
      await client?.close();
      client = undefined;
    });

    it('rejects when it cannot connect', async () => {
      await expect(openClient(await freePort())).rejects.toThrow(/ECONNREFUSED/);
    });

    it('reads responses one by one on a kept-alive connection', async () => {
      client = await openClient(port);
      await client.write('GET /one HTTP/1.1\r\nHost: x\r\n\r\n');
      expect((await client.readResponse()).body.toString()).toBe('/one');
      await client.write('HEAD /two HTTP/1.1\r\nHost: x\r\n\r\nGET /three HTTP/1.1\r\nHost: x\r\n\r\n');
      const [two, three] = await client.readResponses(['HEAD', 'GET']);
      expect(two).toMatchObject({ status: 200, framing: 'none', complete: true });
      expect(two.header('content-length')).toBe('4');
      expect(three.body.toString()).toBe('/three');
      expect(await client.waitClose(50)).toBe(false);
      expect(client.closed).toBe(false);
    });

    it('readUntil waits for bytes or a predicate, and fails clearly on timeout', async () => {
      client = await openClient(port);
      await client.write('GET /abc HTTP/1.1\r\nHost: x\r\n\r\n');
      const got = await client.readUntil((bytes) => bytes.includes('/abc'));
      expect(got.toString()).toContain('/abc');
      await expect(client.readUntil(got.length + 1, 50)).rejects.toThrow(/timed out after 50 ms waiting for .*bytes/);
    });

    it('waitClose sees the server close; readResponse fails if it closes before a response', async () => {
      client = await openClient(port);
      await client.write('GET /bye HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n');
      expect((await client.readResponse()).header('connection')).toBe('close');
      expect(await client.waitClose(2000)).toBe(true);
      expect(client.closedByServer).toBe(true);
      await expect(client.readResponse('GET', 500)).rejects.toThrow(/connection closed \(by the server\)/);
    });
  });
});

// ------------------------------------------------------------------------------------------------
function httpGet(url: string, opts: https.RequestOptions = {}): Promise<{ status: number; headers: http.IncomingHttpHeaders; body: string; error?: string; rawHeaders: string[] }> {
  return new Promise((resolve) => {
    const mod = url.startsWith('https:') ? https : http;
    let responded = false;
    const req = mod.get(url, { agent: false, ...opts }, (res) => {
      responded = true;
      const parts: Buffer[] = [];
      let error: string | undefined;
      res.on('data', (c: Buffer) => parts.push(c));
      res.on('error', (e: NodeJS.ErrnoException) => (error ??= e.code ?? e.message));
      res.on('close', () =>
        resolve({
          status: res.statusCode ?? 0,
          headers: res.headers,
          rawHeaders: res.rawHeaders,
          body: Buffer.concat(parts).toString('latin1'),
          ...(error !== undefined || !res.complete ? { error: error ?? 'incomplete' } : {}),
        }),
      );
    });
    // Once the response has started, its own 'close' reports the outcome.
    req.on('error', (e: NodeJS.ErrnoException) => !responded && resolve({ status: 0, headers: {}, rawHeaders: [], body: '', error: e.code ?? e.message }));
  });
}

describe('scripted origin', () => {
  let origin: ScriptedOrigin | undefined;
  afterEach(async () => {
    await origin?.close();
    expect(origin?.openConnections() ?? 0).toBe(0);
    origin = undefined;
  });

  it('send() with Content-Length framing, read by fetch', async () => {
    origin = await startScriptedOrigin((req, res) => res.send({ headers: [['X-Path', req.target]], body: 'hello world' }));
    const r = await fetch(`${origin.url}/a?b=1`);
    expect(r.status).toBe(200);
    expect(r.headers.get('content-length')).toBe('11');
    expect(r.headers.get('x-path')).toBe('/a?b=1');
    expect(await r.text()).toBe('hello world');
    expect(origin.requests[0]).toMatchObject({ method: 'GET', target: '/a?b=1', version: 'HTTP/1.1', connectionId: 1, complete: true });
    expect(origin.errors).toEqual([]);
  });

  it('send() with chunked framing: exact chunk sizes on the wire, read by node:http', async () => {
    origin = await startScriptedOrigin((_req, res) => res.send({ body: 'abcdefghij', framing: 'chunked', chunkSizes: [3, 1], gapMs: 5 }));
    const viaHttp = await httpGet(`${origin.url}/`);
    expect(viaHttp).toMatchObject({ status: 200, body: 'abcdefghij' });
    expect(viaHttp.headers['transfer-encoding']).toBe('chunked');
    const ex = await sendRaw(origin.port, 'GET / HTTP/1.1\r\nHost: o\r\n\r\n', { idleMs: 100 });
    const [r] = parseResponses(ex, ['GET']);
    expect(r).toMatchObject({ framing: 'chunked', complete: true, chunkSizes: [3, 1, 1, 1, 1, 1, 1, 1] });
    expect(ex.bytes.toString('latin1')).toBe(
      'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n1\r\nd\r\n1\r\ne\r\n1\r\nf\r\n1\r\ng\r\n1\r\nh\r\n1\r\ni\r\n1\r\nj\r\n0\r\n\r\n',
    );
  });

  it("send() with 'close' framing: no length, body until FIN", async () => {
    origin = await startScriptedOrigin((_req, res) => res.send({ body: 'to the end', framing: 'close', http10: true }));
    expect(await httpGet(`${origin.url}/`)).toMatchObject({ status: 200, body: 'to the end' });
    const ex = await sendRaw(origin.port, 'GET / HTTP/1.1\r\nHost: o\r\n\r\n', { idleMs: 2000 });
    expect(ex.closedByServer).toBe(true);
    expect(ex.error).toBeUndefined();
    expect(ex.bytes.toString('latin1')).toBe('HTTP/1.0 200 OK\r\n\r\nto the end');
    expect(parseResponses(ex, ['GET'])[0]).toMatchObject({ framing: 'close', complete: true });
  });

  it('keeps the connection alive between responses and numbers connections', async () => {
    origin = await startScriptedOrigin((req, res) => res.send({ body: req.target }));
    const client = await openClient(origin.port);
    await client.write('GET /1 HTTP/1.1\r\nHost: o\r\n\r\nGET /2 HTTP/1.1\r\nHost: o\r\n\r\n');
    const rs = await client.readResponses(['GET', 'GET']);
    expect(rs.map((r) => r.body.toString())).toEqual(['/1', '/2']);
    await client.write('GET /3 HTTP/1.1\r\nHost: o\r\nConnection: close\r\n\r\n');
    expect((await client.readResponse()).body.toString()).toBe('/3');
    expect(await client.waitClose(2000)).toBe(true); // the request asked to close
    await client.close();
    await sendRaw(origin.port, 'GET /4 HTTP/1.1\r\nHost: o\r\n\r\n', { idleMs: 200 });
    expect(origin.requests.map((r) => [r.target, r.connectionId, r.indexOnConnection])).toEqual([
      ['/1', 1, 0],
      ['/2', 1, 1],
      ['/3', 1, 2],
      ['/4', 2, 0],
    ]);
    expect(origin.connections).toBe(2);
  });

  it('answers pipelined requests in order even when the first is slow', async () => {
    origin = await startScriptedOrigin(async (req, res) => {
      if (req.target === '/slow') await res.sleep(100);
      void res.send({ body: req.target }); // not awaited: the origin still waits for it
    });
    const ex = await sendRaw(origin.port, 'GET /slow HTTP/1.1\r\nHost: o\r\n\r\nGET /fast HTTP/1.1\r\nHost: o\r\n\r\n', { idleMs: 200 });
    expect(parseResponses(ex, ['GET', 'GET']).map((r) => r.body.toString())).toEqual(['/slow', '/fast']);
  });

  it('reset() mid-body: the client gets the bytes written, then ECONNRESET', async () => {
    origin = await startScriptedOrigin(async (_req, res) => {
      await res.head(200, [['Content-Length', '10']]);
      await res.write('hello');
      await res.reset();
    });
    const viaHttp = await httpGet(`${origin.url}/`);
    expect(viaHttp.body).toBe('hello');
    expect(viaHttp.error).toBe('ECONNRESET');
    const ex = await sendRaw(origin.port, 'GET / HTTP/1.1\r\nHost: o\r\n\r\n', { idleMs: 2000 });
    expect(ex).toMatchObject({ closedByServer: true, error: 'ECONNRESET' });
    expect(parseResponses(ex, ['GET'])[0]).toMatchObject({ complete: false, body: b('hello') });
  });

  it('failAt: reset, close and stall after exactly k body bytes', async () => {
    origin = await startScriptedOrigin((req, res) => {
      const how = req.target.slice(1) as 'reset' | 'close' | 'stall';
      return res.send({ body: patternBody(100_000), chunkSizes: [1000], framing: 'chunked', failAt: { byte: 12_345, how } });
    });
    const reset = await sendRaw(origin.port, 'GET /reset HTTP/1.1\r\nHost: o\r\n\r\n', { idleMs: 2000 });
    const close = await sendRaw(origin.port, 'GET /close HTTP/1.1\r\nHost: o\r\n\r\n', { idleMs: 2000 });
    const stall = await sendRaw(origin.port, 'GET /stall HTTP/1.1\r\nHost: o\r\n\r\n', { idleMs: 200 });
    expect([reset.closedByServer, reset.error]).toEqual([true, 'ECONNRESET']);
    expect([close.closedByServer, close.error]).toEqual([true, undefined]);
    expect([stall.closedByServer, stall.error]).toEqual([false, undefined]);
    for (const ex of [reset, close, stall]) {
      const [r] = parseResponses(ex, ['GET'], { closedCleanly: false });
      expect(r).toMatchObject({ framing: 'chunked', complete: false, terminatingChunk: false });
      expect(r.body.equals(patternBytes(0, 12_345))).toBe(true);
      expect(r.chunkSizes.at(-1)).toBe(345);
    }
  });

  it('failAt at the full length of a chunked body omits only the terminating chunk', async () => {
    origin = await startScriptedOrigin((_req, res) => res.send({ body: 'abcdef', framing: 'chunked', failAt: { byte: 6, how: 'close' } }));
    const ex = await sendRaw(origin.port, 'GET / HTTP/1.1\r\nHost: o\r\n\r\n', { idleMs: 2000 });
    const [r] = parseResponses(ex, ['GET']);
    expect(r).toMatchObject({ complete: false, terminatingChunk: false, body: b('abcdef') });
  });

  it('stall() keeps the connection open and silent; close() destroys it', async () => {
    origin = await startScriptedOrigin(async (_req, res) => {
      await res.head(200, [['Content-Length', '5']]);
      await res.stall();
      await res.write('never'); // no-op
    });
    const client = await openClient(origin.port);
    await client.write('GET / HTTP/1.1\r\nHost: o\r\n\r\n');
    await client.readUntil((bytes) => bytes.includes('\r\n\r\n'));
    expect(await client.waitClose(100)).toBe(false);
    expect(origin.openConnections()).toBe(1);
    await origin.close();
    expect(await client.waitClose(2000)).toBe(true);
    expect(client.received().toString('latin1')).toBe('HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\n');
    await client.close();
  });

  it('a lying chunk size is a parse error for node:http', async () => {
    origin = await startScriptedOrigin(async (_req, res) => {
      await res.head(200, [['Transfer-Encoding', 'chunked']]);
      await res.lyingChunk(2, 'abcdef');
      await res.lastChunk();
    });
    const r = await httpGet(`${origin.url}/`);
    expect(r.error).toMatch(/HPE_|ECONNRESET|incomplete/);
  });

  it('writes exact heads: HTTP/1.0, custom reason, headers in order, trailers', async () => {
    origin = await startScriptedOrigin(async (_req, res) => {
      await res.head(299, [['x-b', '2'], ['X-A', '1'], ['Transfer-Encoding', 'chunked']], { http10: true, reason: 'Odd One', delayMs: 20 });
      await res.chunk('xy');
      await res.lastChunk([['X-T', 'v']]);
      await res.end();
    });
    const ex = await sendRaw(origin.port, 'GET / HTTP/1.1\r\nHost: o\r\n\r\n', { idleMs: 2000 });
    expect(ex.bytes.toString('latin1')).toBe('HTTP/1.0 299 Odd One\r\nx-b: 2\r\nX-A: 1\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nxy\r\n0\r\nX-T: v\r\n\r\n');
    expect(ex.closedByServer).toBe(true);
  });

  it('send() omits the body for HEAD and 304 but keeps the head', async () => {
    origin = await startScriptedOrigin((req, res) => res.send({ status: req.target === '/304' ? 304 : 200, body: 'abc' }));
    const ex = await sendRaw(origin.port, 'HEAD / HTTP/1.1\r\nHost: o\r\n\r\nGET /304 HTTP/1.1\r\nHost: o\r\n\r\nGET / HTTP/1.1\r\nHost: o\r\n\r\n', { idleMs: 150 });
    expect(ex.bytes.toString('latin1')).toBe(
      'HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\n' + 'HTTP/1.1 304 Not Modified\r\nContent-Length: 3\r\n\r\n' + 'HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\nabc',
    );
  });

  it('send() leaves lying Content-Length headers alone', async () => {
    origin = await startScriptedOrigin((_req, res) => res.send({ headers: [['Content-Length', '10']], body: 'short', failAt: { byte: 5, how: 'close' } }));
    const ex = await sendRaw(origin.port, 'GET / HTTP/1.1\r\nHost: o\r\n\r\n', { idleMs: 2000 });
    const [r] = parseResponses(ex, ['GET']);
    expect(r.headerAll('content-length')).toEqual(['10']);
    expect(r).toMatchObject({ complete: false, body: b('short') });
  });

  it('records request bodies (length and chunked) and runs the script at the head when asked', async () => {
    const atHead: number[] = [];
    origin = await startScriptedOrigin(
      async (req, res) => {
        atHead.push(req.body.length);
        const body = await req.bodyDone;
        await res.send({ body: `got ${body.length}` });
      },
      { respondAtHead: true },
    );
    const client = await openClient(origin.port);
    await client.write('POST /u HTTP/1.1\r\nHost: o\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n');
    await origin.waitForRequests(1);
    await delay(20);
    expect(origin.requests[0].complete).toBe(false);
    await client.write('2\r\nde\r\n0\r\n\r\nPUT /v HTTP/1.1\r\nHost: o\r\nContent-Length: 4\r\n\r\nwxyz');
    const [r1, r2] = await client.readResponses(['POST', 'PUT']);
    expect([r1.body.toString(), r2.body.toString()]).toEqual(['got 5', 'got 4']);
    expect(atHead[0]).toBeLessThan(5);
    expect(origin.requests.map((r) => [r.method, r.framing, r.body.toString(), r.complete])).toEqual([
      ['POST', 'chunked', 'abcde', true],
      ['PUT', 'length', 'wxyz', true],
    ]);
    await client.close();
  });

  it('keeps a request the client cut short as incomplete, without an error', async () => {
    origin = await startScriptedOrigin((_req, res) => res.send({ body: 'never runs' }));
    const ex = await sendRaw(origin.port, 'POST /cut HTTP/1.1\r\nHost: o\r\nContent-Length: 10\r\n\r\nabcd', { halfClose: true, idleMs: 2000 });
    expect(ex.bytes.length).toBe(0);
    const [req] = origin.requests;
    expect(await req.bodyDone).toEqual(b('abcd'));
    expect(req.complete).toBe(false);
    expect(origin.errors).toEqual([]);
  });

  it('answers a request its parser rejects with 400 and records it', async () => {
    origin = await startScriptedOrigin((_req, res) => res.send({ body: 'no' }));
    const ex = await sendRaw(origin.port, 'GET / HTTP/1.1\r\nHost: o\r\nContent-Length: 1\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n', { idleMs: 2000 });
    expect(parseResponses(ex, ['GET'])[0].status).toBe(400);
    expect(ex.closedByServer).toBe(true);
    expect(origin.errors).toHaveLength(1);
  });

  it('close() cancels pending sleeps and closes every connection', async () => {
    let afterSleep = false;
    origin = await startScriptedOrigin(async (_req, res) => {
      await res.sleep(60_000);
      afterSleep = true;
      await res.send({ body: 'late' }); // no-op: the connection is gone
    });
    const pending = sendRaw(origin.port, 'GET / HTTP/1.1\r\nHost: o\r\n\r\n', { idleMs: 10_000 });
    await origin.waitForRequests(1);
    const t0 = Date.now();
    await origin.close();
    const ex = await pending;
    expect(Date.now() - t0).toBeLessThan(1000);
    expect(ex.closedByServer).toBe(true);
    expect(ex.bytes.length).toBe(0);
    await waitFor(() => afterSleep, 1000, 'the script to resume after close');
  });

  it('drives a large body through node:http with backpressure', async () => {
    const size = 32 << 20;
    origin = await startScriptedOrigin((_req, res) => res.send({ body: patternBody(size) }));
    const checker = new PatternChecker();
    await new Promise<void>((resolve, reject) => {
      http.get(`${origin?.url}/`, { agent: false }, (res) => {
        res.on('data', (c: Buffer) => checker.push(c));
        res.on('end', resolve);
        res.on('error', reject);
      });
    });
    expect(checker.ok(size)).toBe(true);
  });
});

// ------------------------------------------------------------------------------------------------
describe('TLS', () => {
  it('generates a certificate for localhost and 127.0.0.1, once per process', () => {
    const { key, cert } = generateTestCertificate();
    expect(key).toContain('PRIVATE KEY');
    const x509 = new X509Certificate(cert);
    expect(x509.subject).toContain('CN=localhost');
    expect(x509.subjectAltName).toContain('DNS:localhost');
    expect(x509.subjectAltName).toContain('IP Address:127.0.0.1');
    expect(x509.checkHost('localhost')).toBe('localhost');
    expect(x509.checkIP('127.0.0.1')).toBe('127.0.0.1');
    expect(generateTestCertificate()).toBe(generateTestCertificate());
  });

  it('serves a TLS origin that https.get trusts with the generated cert as ca', async () => {
    const tls = generateTestCertificate();
    const origin = await startScriptedOrigin(async (req, res) => {
      if (req.target === '/reset') {
        await res.head(200, [['Content-Length', '10']]);
        await res.write('12345');
        // A first TLS exchange can keep the client busy for a while; a RST before it reads the
        // bytes would discard them (see reset()).
        return res.reset({ settleMs: 300 });
      }
      return res.send({ body: 'secure', framing: req.target === '/chunked' ? 'chunked' : 'length' });
    }, { tls });
    try {
      expect(origin.url).toMatch(/^https:\/\/127\.0\.0\.1:\d+$/);
      expect(await httpGet(`${origin.url}/`, { ca: tls.cert })).toMatchObject({ status: 200, body: 'secure' });
      expect(await httpGet(`https://localhost:${origin.port}/chunked`, { ca: tls.cert })).toMatchObject({ status: 200, body: 'secure' });
      const untrusted = await httpGet(`${origin.url}/`);
      expect(untrusted.error).toMatch(/SELF_SIGNED|UNABLE_TO_VERIFY/);
      const reset = await httpGet(`${origin.url}/reset`, { ca: tls.cert });
      expect(reset).toMatchObject({ body: '12345', error: 'ECONNRESET' });
    } finally {
      await origin.close();
    }
  });
});

// ------------------------------------------------------------------------------------------------
describe('no leaks', () => {
  it('leaves no sockets, servers or timers of the kit behind', async () => {
    const kinds = ['TCPSocketWrap', 'TCPServerWrap', 'TLSWrap', 'Timeout'];
    const count = (): number => process.getActiveResourcesInfo().filter((k) => kinds.includes(k)).length;
    // Sockets closed by a peer disappear a moment later; give them that moment.
    await waitFor(() => count() === 0, 2000, `no open handles (still: ${process.getActiveResourcesInfo().join(', ')})`).catch(() => {});
    expect(process.getActiveResourcesInfo().filter((k) => kinds.includes(k))).toEqual([]);
  });
});

