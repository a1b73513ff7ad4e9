// HTTP/1.0 and 1.1 clients through the pass-through proxy: framing each version may get (F1-F4),
// persistence and pipelining (F5), hop-by-hop fields and Via (F6), HTTP/1.1 to the origin (V4).
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openClient, parseResponses, sendRaw } from '../support/raw-client.js';
import { startProxy, type RunningProxy } from '../support/proxy.js';

interface Seen {
  method: string;
  url: string;
  httpVersion: string;
  headers: http.IncomingHttpHeaders;
  remotePort: number;
}

let origin: http.Server;
let proxy: RunningProxy;
const seen: Seen[] = [];

beforeAll(async () => {
  origin = http.createServer((req, res) => {
    seen.push({ method: req.method!, url: req.url!, httpVersion: req.httpVersion, headers: req.headers, remotePort: req.socket.remotePort! });
    const url = new URL(req.url!, 'http://x');
    const delay = Number(url.searchParams.get('delay') ?? 0);
    setTimeout(() => {
      if (url.pathname === '/chunked') {
        res.writeHead(200, { 'Content-Type': 'text/plain', 'X-Hop': 'kept?', Connection: 'X-Hop' });
        res.write('first,');
        setTimeout(() => res.end('second'), 20);
        return;
      }
      if (url.pathname === '/no-content') return void res.writeHead(204).end();
      if (url.pathname === '/not-modified') return void res.writeHead(304, { ETag: '"v1"' }).end();
      const body = `path=${url.pathname}${url.search}`;
      res.writeHead(200, { 'Content-Type': 'text/plain', 'Content-Length': Buffer.byteLength(body), 'Keep-Alive': 'timeout=5' });
      res.end(req.method === 'HEAD' ? undefined : body);
    }, delay);
  });
  await new Promise<void>((resolve) => origin.listen(0, '127.0.0.1', resolve));
  proxy = await startProxy(`http://127.0.0.1:${(origin.address() as AddressInfo).port}`);
});

afterAll(async () => {
  await proxy.close();
  await new Promise((resolve) => origin.close(resolve));
});

describe('HTTP/1.1 clients', () => {
  it('F1: a Content-Length response keeps its length and exact bytes', async () => {
    const exchange = await sendRaw(proxy.port, 'GET /a?x=1 HTTP/1.1\r\nHost: example\r\nConnection: close\r\n\r\n');
    const [res] = parseResponses(exchange);
    expect(res.status).toBe(200);
    expect(res.framing).toBe('length');
    expect(res.body.toString()).toBe('path=/a?x=1');
    expect(exchange.closedByServer).toBe(true);
  });

  it('F2: an unknown-length response goes chunked to a 1.1 client and ends with the zero chunk', async () => {
    const exchange = await sendRaw(proxy.port, 'GET /chunked HTTP/1.1\r\nHost: example\r\nConnection: close\r\n\r\n');
    const [res] = parseResponses(exchange);
    expect(res.framing).toBe('chunked');
    expect(res.terminatingChunk).toBe(true);
    expect(res.body.toString()).toBe('first,second');
  });

  it('F6: hop-by-hop fields (and those Connection names) are removed; Via is added', async () => {
    const exchange = await sendRaw(proxy.port, 'GET /chunked HTTP/1.1\r\nHost: example\r\nConnection: close, X-Secret\r\nX-Secret: 1\r\nTE: trailers\r\nProxy-Authorization: x\r\n\r\n');
    const [res] = parseResponses(exchange);
    expect(res.header('x-hop')).toBeUndefined();
    expect(res.header('keep-alive')).toBeUndefined();
    expect(res.header('via')).toBe('1.1 streamcache');
    const request = seen.at(-1)!;
    expect(request.headers['x-secret']).toBeUndefined();
    expect(request.headers.te).toBeUndefined();
    expect(request.headers['proxy-authorization']).toBeUndefined();
    expect(request.headers.via).toBe('1.1 streamcache');
    expect(request.headers['x-forwarded-for']).toBe('127.0.0.1');
  });

  it('F5: a 1.1 connection persists across requests, and the origin connection is reused', async () => {
    const client = await openClient(proxy.port);
    await client.write('GET /one HTTP/1.1\r\nHost: example\r\n\r\n');
    const first = await client.readResponse();
    await client.write('GET /two HTTP/1.1\r\nHost: example\r\n\r\n');
    const second = await client.readResponse();
    expect(first.body.toString()).toBe('path=/one');
    expect(second.body.toString()).toBe('path=/two');
    expect(client.closed).toBe(false);
    const [a, b] = seen.slice(-2);
    expect(a.remotePort).toBe(b.remotePort);
    await client.close();
  });

  it('F5: pipelined requests are answered in order, even when later ones are faster', async () => {
    const client = await openClient(proxy.port);
    await client.write('GET /slow?delay=80 HTTP/1.1\r\nHost: e\r\n\r\nGET /fast HTTP/1.1\r\nHost: e\r\n\r\nHEAD /head HTTP/1.1\r\nHost: e\r\n\r\nGET /last HTTP/1.1\r\nHost: e\r\nConnection: close\r\n\r\n');
    const responses = await client.readResponses(['GET', 'GET', 'HEAD', 'GET']);
    expect(responses.map((r) => r.body.toString())).toEqual(['path=/slow?delay=80', 'path=/fast', '', 'path=/last']);
    expect(responses[2].header('content-length')).toBe(String('path=/head'.length));
    expect(await client.waitClose()).toBe(true);
  });

  it('F5: Connection: close from the client closes the connection after the response', async () => {
    const exchange = await sendRaw(proxy.port, 'GET /bye HTTP/1.1\r\nHost: e\r\nConnection: close\r\n\r\n', { idleMs: 2000 });
    const [res] = parseResponses(exchange);
    expect(res.header('connection')).toBe('close');
    expect(exchange.closedByServer).toBe(true);
  });

  it('V4: the origin is spoken to in HTTP/1.1 whatever the client version', async () => {
    await sendRaw(proxy.port, 'GET /v4 HTTP/1.0\r\n\r\n');
    expect(seen.at(-1)!.httpVersion).toBe('1.1');
    expect(seen.at(-1)!.headers.host).toBe(`127.0.0.1:${(origin.address() as AddressInfo).port}`);
  });
});

describe('HTTP/1.0 clients', () => {
  it('F3: a 1.0 client never gets chunked: an unknown-length body comes whole with Content-Length', async () => {
    const exchange = await sendRaw(proxy.port, 'GET /chunked HTTP/1.0\r\n\r\n');
    const [res] = parseResponses(exchange);
    expect(res.framing).toBe('length');
    expect(res.header('transfer-encoding')).toBeUndefined();
    expect(res.header('content-length')).toBe('12');
    expect(res.body.toString()).toBe('first,second');
    expect(exchange.closedByServer).toBe(true);
  });

  it('F3: a 1.0 connection closes after the response unless the request asked for keep-alive', async () => {
    const plain = await sendRaw(proxy.port, 'GET /a HTTP/1.0\r\n\r\n', { idleMs: 2000 });
    expect(plain.closedByServer).toBe(true);
    expect(parseResponses(plain)[0].header('connection')).toBe('close');

    const client = await openClient(proxy.port);
    await client.write('GET /k1 HTTP/1.0\r\nConnection: keep-alive\r\n\r\n');
    const first = await client.readResponse();
    expect(first.header('connection')).toBe('keep-alive');
    await client.write('GET /k2 HTTP/1.0\r\nConnection: keep-alive\r\n\r\n');
    expect((await client.readResponse()).body.toString()).toBe('path=/k2');
    expect(client.closed).toBe(false);
    await client.close();
  });
});

describe('bodiless responses', () => {
  it('F4: HEAD gets the head a GET would get, without a body', async () => {
    const client = await openClient(proxy.port);
    await client.write('HEAD /h HTTP/1.1\r\nHost: e\r\n\r\nGET /after HTTP/1.1\r\nHost: e\r\n\r\n');
    const [head, get] = await client.readResponses(['HEAD', 'GET']);
    expect(head.status).toBe(200);
    expect(head.header('content-length')).toBe(String('path=/h'.length));
    expect(head.body.length).toBe(0);
    expect(get.body.toString()).toBe('path=/after');
    await client.close();
  });

  it('F4: 204 and 304 carry no body and keep the connection usable', async () => {
    const client = await openClient(proxy.port);
    await client.write('GET /no-content HTTP/1.1\r\nHost: e\r\n\r\nGET /not-modified HTTP/1.1\r\nHost: e\r\n\r\nGET /z HTTP/1.1\r\nHost: e\r\n\r\n');
    const [noContent, notModified, after] = await client.readResponses(['GET', 'GET', 'GET']);
    expect(noContent.status).toBe(204);
    expect(noContent.header('content-length')).toBeUndefined();
    expect(noContent.header('transfer-encoding')).toBeUndefined();
    expect(notModified.status).toBe(304);
    expect(notModified.header('etag')).toBe('"v1"');
    expect(notModified.header('transfer-encoding')).toBeUndefined();
    expect(after.body.toString()).toBe('path=/z');
    await client.close();
  });
});
