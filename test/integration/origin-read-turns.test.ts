// Issue 18: an origin connection reading a big body gives way to the rest of the event loop every
// 4 MiB (src/net/origin-connection.ts mayReadOn). libuv reads a socket up to 32 times per poll
// phase while reads fill their buffers; with 2 MiB reads straight into the store that was tens of
// MiB before readers were woken or another socket read (measured: other clients' requests waited
// ~20 ms unread). On real loopback sockets: a 256 MiB body from an origin writing as fast as it can
// arrives over many turns, never more than 4 MiB + one read per turn (9 MiB in a turn without the
// yield on this machine), and exactly.
import net from 'node:net';
import type { AddressInfo } from 'node:net';
import { describe, expect, it } from 'vitest';
import { OriginPool } from '../../src/net/origin-pool.js';
import { RingStore, type StoreOwner } from '../../src/cache/store.js';
import { cleanupAfterEach } from '../support/proxy.js';
import { delay } from '../support/ports.js';
import { patternBytes } from '../support/bytes.js';

const cleanups = cleanupAfterEach();
const MiB = 1024 * 1024;

describe('origin reads give way to the event loop', () => {
  it('a fast origin\'s body is read over many turns, at most 4 MiB + one read each, exactly', async () => {
    const body = patternBytes(0, 256 * MiB);
    const server = net.createServer((socket) => {
      socket.on('error', () => {});
      socket.once('data', () => {
        socket.write(`HTTP/1.1 200 OK\r\nContent-Length: ${body.length}\r\n\r\n`);
        // As the benchmark origin does: 1 MiB pieces, as fast as the socket takes them.
        let at = 0;
        const pump = (): void => {
          while (at < body.length) {
            const piece = body.subarray(at, at + MiB);
            at += piece.length;
            if (!socket.write(piece)) return void socket.once('drain', pump);
          }
        };
        pump();
      });
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    cleanups.push(() => new Promise<void>((resolve) => server.close(() => resolve())));
    const pool = new OriginPool(
      { host: '127.0.0.1', port: (server.address() as AddressInfo).port, tls: false, insecure: false },
      { connectTimeout: 2000, firstByteTimeout: 5000, betweenBytesTimeout: 5000, idleTimeout: 5000, maxConnections: 2, queueTimeout: 1000 },
    );
    cleanups.push(() => pool.destroy());
    const store = new RingStore(512 * MiB, 64 * MiB);
    const owner: StoreOwner = { pins: 1, dead: false, onEvicted: () => {} };
    const views: Buffer[] = [];
    let turn = 0;
    let ticking = true;
    const tick = (): void => {
      turn++;
      if (ticking) setImmediate(tick);
    };
    const perTurn = new Map<number, number>();
    const done = new Promise<void>((resolve, reject) => {
      pool.request('GET / HTTP/1.1\r\nHost: x\r\n\r\n', { expectNoBody: false, hasBody: false }, {
        onHead: () => setImmediate(tick),
        bodyTarget: (max) => store.reserve(owner, max),
        onBody: (chunk) => {
          views.push(...store.append(chunk, owner)!);
          perTurn.set(turn, (perTurn.get(turn) ?? 0) + chunk.length);
        },
        onEnd: () => resolve(),
        onError: reject,
      });
    });
    await done;
    ticking = false;
    await delay(10);
    expect(Buffer.concat(views).equals(body)).toBe(true);
    const most = Math.max(...perTurn.values());
    expect(most).toBeLessThanOrEqual(4 * MiB + 2 * MiB);
    expect(perTurn.size).toBeGreaterThan(3);
  });
});
