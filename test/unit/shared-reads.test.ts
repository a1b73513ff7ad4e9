// src/net/shared-reads.ts: an accepted socket moved to a shared-buffer reader reads every byte in
// order, pauses and resumes, still counts once among the server's connections (so server.close()
// waits for it), and sockets it cannot move are left as they were; on real loopback sockets.
import net, { type Server, type Socket } from 'node:net';
import tls from 'node:tls';
import { afterEach, describe, expect, it } from 'vitest';
import { canShareReads, shareReads } from '../../src/net/shared-reads.js';
import { delay, LOOPBACK, waitFor, withTimeout } from '../support/ports.js';
import { makeTestCertificate } from '../support/tls-cert.js';

const open: Array<{ destroy(): void }> = [];
const servers: Server[] = [];
afterEach(() => {
  for (const s of open.splice(0)) s.destroy();
  for (const server of servers.splice(0)) server.close();
});

async function acceptedPair(options: net.ServerOpts = { pauseOnConnect: true }): Promise<{ server: Server; accepted: Socket; peer: Socket }> {
  const server = net.createServer(options);
  servers.push(server);
  const accepted = new Promise<Socket>((resolve) => server.once('connection', resolve));
  await new Promise<void>((resolve) => server.listen(0, LOOPBACK, resolve));
  const peer = net.connect((server.address() as net.AddressInfo).port, LOOPBACK);
  peer.on('error', () => {});
  open.push(peer);
  await new Promise((resolve) => peer.once('connect', resolve));
  return { server, accepted: await accepted, peer };
}

function connections(server: Server): Promise<number> {
  return new Promise((resolve, reject) => server.getConnections((err, n) => (err ? reject(err) : resolve(n))));
}

describe('shareReads', () => {
  it('reads every byte in order into the shared buffer; each view is valid during its call', async () => {
    const { accepted, peer } = await acceptedPair();
    const copies: Buffer[] = [];
    const views: Buffer[] = [];
    const socket = shareReads(accepted, (bytes) => {
      views.push(bytes);
      copies.push(Buffer.from(bytes));
    });
    expect(socket).not.toBeNull();
    open.push(socket!);
    expect(accepted.destroyed).toBe(true); // the husk: no handle, nothing to close
    const sent = Buffer.alloc(300_000);
    for (let i = 0; i < sent.length; i++) sent[i] = (i * 7 + (i >> 8)) & 0xff;
    for (let at = 0; at < sent.length; at += 30_000) {
      peer.write(sent.subarray(at, at + 30_000));
      await delay(2);
    }
    await waitFor(() => copies.reduce((n, c) => n + c.length, 0) >= sent.length, 5000, 'every byte read');
    expect(Buffer.concat(copies).equals(sent)).toBe(true);
    expect(copies.length).toBeGreaterThan(1);
    // All views share one memory: the reason a kept chunk must be copied.
    expect(new Set(views.map((v) => v.buffer)).size).toBe(1);
  });

  it('pause() stops the reads and resume() restarts them; the end and the close still come', async () => {
    const { accepted, peer } = await acceptedPair();
    let read = 0;
    const socket = shareReads(accepted, (bytes) => void (read += bytes.length))!;
    open.push(socket);
    peer.write('first');
    await waitFor(() => read === 5, 2000, 'the first bytes');
    socket.pause();
    peer.write('second');
    await delay(100);
    expect(read).toBe(5);
    const ended = new Promise<void>((resolve) => socket.once('end', () => resolve()));
    socket.resume();
    await waitFor(() => read === 11, 2000, 'the bytes sent while paused');
    peer.end();
    await withTimeout(ended, 2000, "the socket's end");
    const closed = new Promise<void>((resolve) => socket.once('close', () => resolve()));
    socket.end();
    await withTimeout(closed, 2000, "the socket's close");
  });

  it("moves the server's connection count with the handle: counted once, and server.close() waits for it", async () => {
    const { server, accepted } = await acceptedPair();
    expect(await connections(server)).toBe(1);
    const socket = shareReads(accepted, () => {})!;
    expect(await connections(server)).toBe(1);
    let closed = false;
    server.close(() => (closed = true));
    await delay(100);
    expect(closed).toBe(false);
    socket.destroy();
    await waitFor(() => closed, 2000, 'server.close() once the moved socket is gone');
  });

  it('writes on the moved socket reach the peer', async () => {
    const { accepted, peer } = await acceptedPair();
    const socket = shareReads(accepted, () => {})!;
    open.push(socket);
    const got: Buffer[] = [];
    peer.on('data', (chunk: Buffer) => got.push(chunk));
    socket.write('answer');
    await waitFor(() => Buffer.concat(got).toString() === 'answer', 2000, 'the answer');
  });

  it('leaves alone a socket it cannot move: bytes already buffered, or a TLS socket', async () => {
    const { accepted, peer } = await acceptedPair({ pauseOnConnect: false });
    peer.write('already read');
    await waitFor(() => accepted.readableLength > 0, 2000, 'bytes in the Readable buffer');
    expect(canShareReads(accepted)).toBe(false);
    expect(shareReads(accepted, () => {})).toBeNull();
    expect(accepted.destroyed).toBe(false);
    expect(accepted.read()?.toString()).toBe('already read');

    const { key, cert } = makeTestCertificate();
    const tlsServer = tls.createServer({ key, cert });
    servers.push(tlsServer);
    const secure = new Promise<tls.TLSSocket>((resolve) => tlsServer.once('secureConnection', resolve));
    await new Promise<void>((resolve) => tlsServer.listen(0, LOOPBACK, resolve));
    const client = tls.connect({ port: (tlsServer.address() as net.AddressInfo).port, host: LOOPBACK, ca: cert, servername: 'localhost' });
    client.on('error', () => {});
    open.push(client);
    const socket = await secure;
    open.push(socket);
    expect(canShareReads(socket)).toBe(false);
    expect(shareReads(socket, () => {})).toBeNull();
  });
});
