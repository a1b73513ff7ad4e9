// Bodies both ways through the pass-through proxy: Content-Length and chunked request bodies
// streamed to the origin, response bodies streamed back, 1 GiB byte-exact, and backpressure: a
// client that does not read pauses the origin read (R7 for a pass, DESIGN "backpressure both ways").
import { createHash, randomBytes } from 'node:crypto';
import http from 'node:http';
import net, { type AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseResponses, sendRaw } from '../support/raw-client.js';
import { startProxy, type RunningProxy } from '../support/proxy.js';

const MiB = 1024 * 1024;
const BLOCK = randomBytes(MiB);

/** Block i of a big body: the random block with its first 8 bytes replaced by i (so blocks cannot swap unseen). */
function block(i: number): Buffer {
  const b = Buffer.from(BLOCK);
  b.writeBigUInt64BE(BigInt(i), 0);
  return b;
}

function expectedHash(blocks: number): string {
  const hash = createHash('sha256');
  for (let i = 0; i < blocks; i++) hash.update(block(i));
  return hash.digest('hex');
}

let origin: http.Server;
let proxy: RunningProxy;
/** Bytes the origin socket handed to the kernel in the current big download. */
let originFlushed = () => 0;

beforeAll(async () => {
  origin = http.createServer((req, res) => {
    const url = new URL(req.url!, 'http://x');
    if (url.pathname === '/echo-hash') {
      const hash = createHash('sha256');
      let length = 0;
      req.on('data', (chunk: Buffer) => {
        hash.update(chunk);
        length += chunk.length;
      });
      req.on('end', () => {
        const body = JSON.stringify({ length, sha256: hash.digest('hex'), te: req.headers['transfer-encoding'] ?? null, cl: req.headers['content-length'] ?? null });
        res.writeHead(200, { 'Content-Length': Buffer.byteLength(body) }).end(body);
      });
      return;
    }
    if (url.pathname === '/blocks') {
      const blocks = Number(url.searchParams.get('n'));
      const chunked = url.searchParams.has('chunked');
      res.writeHead(200, chunked ? {} : { 'Content-Length': blocks * MiB });
      const socket = res.socket!;
      const start = socket.bytesWritten;
      originFlushed = () => socket.bytesWritten - start;
      let i = 0;
      const pump = () => {
        while (i < blocks) {
          if (!res.write(block(i++))) return void res.once('drain', pump);
        }
        res.end();
      };
      pump();
      return;
    }
    res.writeHead(404).end();
  });
  await new Promise<void>((resolve) => origin.listen(0, '127.0.0.1', resolve));
  proxy = await startProxy(`http://127.0.0.1:${(origin.address() as AddressInfo).port}`);
});

afterAll(async () => {
  await proxy.close();
  await new Promise((resolve) => origin.close(resolve));
});

/** Downloads through a raw socket, hashing the body as it streams; returns framing facts and the hash. */
function download(path: string, version = '1.1'): Promise<{ status: number; head: string; bodyBytes: number; sha256: string; closed: boolean }> {
  return new Promise((resolve, reject) => {
    const socket = net.connect(proxy.port, '127.0.0.1');
    const hash = createHash('sha256');
    let head = '';
    let headDone = false;
    let pending: Buffer = Buffer.alloc(0);
    let bodyBytes = 0;
    let chunked = false;
    let remainingInChunk = 0;
    let chunkBuffer: Buffer = Buffer.alloc(0);
    socket.write(`GET ${path} HTTP/${version}\r\nHost: t\r\nConnection: close\r\n\r\n`);
    socket.on('data', (data: Buffer) => {
      if (!headDone) {
        pending = Buffer.concat([pending, data]);
        const end = pending.indexOf('\r\n\r\n');
        if (end < 0) return;
        head = pending.toString('latin1', 0, end);
        headDone = true;
        chunked = /transfer-encoding: chunked/i.test(head);
        data = pending.subarray(end + 4);
      }
      if (!chunked) {
        hash.update(data);
        bodyBytes += data.length;
        return;
      }
      // Minimal chunk decoding for the test: sizes then data.
      chunkBuffer = chunkBuffer.length ? Buffer.concat([chunkBuffer, data]) : data;
      for (;;) {
        if (remainingInChunk > 0) {
          const take = Math.min(remainingInChunk, chunkBuffer.length);
          hash.update(chunkBuffer.subarray(0, take));
          bodyBytes += take;
          remainingInChunk -= take;
          chunkBuffer = chunkBuffer.subarray(take);
          if (remainingInChunk > 0) return;
          continue;
        }
        const lineEnd = chunkBuffer.indexOf('\r\n', chunkBuffer[0] === 13 ? 2 : 0);
        if (lineEnd < 0) return;
        const line = chunkBuffer.toString('latin1', chunkBuffer[0] === 13 ? 2 : 0, lineEnd);
        chunkBuffer = chunkBuffer.subarray(lineEnd + 2);
        remainingInChunk = parseInt(line, 16);
        if (remainingInChunk === 0) return;
      }
    });
    socket.on('error', reject);
    socket.on('close', () => resolve({ status: Number(head.split(' ')[1]), head, bodyBytes, sha256: hash.digest('hex'), closed: true }));
  });
}

describe('request bodies to the origin', () => {
  it('C4: a Content-Length request body is streamed to the origin byte-exact', async () => {
    const body = randomBytes(5 * MiB + 17);
    const response = await fetch(`${proxy.url}/echo-hash`, { method: 'POST', body, headers: { 'Content-Type': 'application/octet-stream' } });
    const seen = (await response.json()) as { length: number; sha256: string; cl: string | null; te: string | null };
    expect(seen.length).toBe(body.length);
    expect(seen.cl).toBe(String(body.length));
    expect(seen.sha256).toBe(createHash('sha256').update(body).digest('hex'));
  });

  it('C4: a chunked request body (odd chunk sizes, extensions, trailers) reaches the origin exactly', async () => {
    const parts = [Buffer.from('a'), randomBytes(70_000), Buffer.from('tail')];
    const wire = [
      'POST /echo-hash HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n',
      `1;ext=1\r\n`, parts[0], '\r\n',
      `${parts[1].length.toString(16)}\r\n`, parts[1], '\r\n',
      `4\r\n`, parts[2], '\r\n0\r\nX-Trailer: t\r\n\r\n',
    ];
    const exchange = await sendRaw(proxy.port, wire.map((p) => (typeof p === 'string' ? Buffer.from(p, 'latin1') : p)), { idleMs: 2000 });
    const [res] = parseResponses(exchange);
    const seen = JSON.parse(res.body.toString()) as { length: number; sha256: string; te: string | null };
    expect(seen.length).toBe(70_005);
    expect(seen.te).toBe('chunked');
    expect(seen.sha256).toBe(createHash('sha256').update(Buffer.concat(parts)).digest('hex'));
  });

  it('Expect: 100-continue is answered by the proxy and the body still reaches the origin', async () => {
    const exchange = await sendRaw(proxy.port, 'POST /echo-hash HTTP/1.1\r\nHost: t\r\nContent-Length: 5\r\nExpect: 100-continue\r\nConnection: close\r\n\r\nhello', { idleMs: 2000 });
    const responses = parseResponses(exchange);
    expect(responses[0].status).toBe(100);
    expect(JSON.parse(responses[1].body.toString()).length).toBe(5);
  });
});

describe('response bodies to the client', () => {
  it('F1: a 1 GiB Content-Length body passes through byte-exact (sha256)', async () => {
    const blocks = 1024;
    const result = await download(`/blocks?n=${blocks}`);
    expect(result.status).toBe(200);
    expect(result.head).toMatch(new RegExp(`content-length: ${blocks * MiB}`, 'i'));
    expect(result.bodyBytes).toBe(blocks * MiB);
    expect(result.sha256).toBe(expectedHash(blocks));
  }, 120_000);

  it('F2: a 64 MiB chunked body passes through byte-exact to a 1.1 client', async () => {
    const result = await download('/blocks?n=64&chunked=1');
    expect(result.head).toMatch(/transfer-encoding: chunked/i);
    expect(result.bodyBytes).toBe(64 * MiB);
    expect(result.sha256).toBe(expectedHash(64));
  });

  it('F3: a 16 MiB chunked body reaches a 1.0 client whole, with Content-Length', async () => {
    const result = await download('/blocks?n=16&chunked=1', '1.0');
    expect(result.head).toMatch(new RegExp(`content-length: ${16 * MiB}`, 'i'));
    expect(result.head).not.toMatch(/transfer-encoding/i);
    expect(result.sha256).toBe(expectedHash(16));
  });

  it('R7 (pass): a client that does not read pauses the origin read instead of buffering the body', async () => {
    const blocks = 256;
    const socket = net.connect({ port: proxy.port, host: '127.0.0.1' });
    socket.write(`GET /blocks?n=${blocks} HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n`);
    socket.pause();
    await new Promise((resolve) => setTimeout(resolve, 1500));
    const flushedWhilePaused = originFlushed();
    // Kernel buffers on both hops plus one socket high-water mark each: a few MiB, not 256.
    expect(flushedWhilePaused).toBeGreaterThan(0);
    expect(flushedWhilePaused).toBeLessThan(48 * MiB);
    let received = 0;
    socket.on('data', (d: Buffer) => (received += d.length));
    socket.resume();
    await new Promise((resolve) => socket.on('close', resolve));
    expect(received).toBeGreaterThan(blocks * MiB);
  }, 60_000);
});
