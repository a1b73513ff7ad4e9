// Issue 18: a Content-Length body from the origin is read straight into the store (the socket's
// reads land in bytes the store reserved for the object), on real loopback sockets through the
// whole proxy. The rules stay: bytes go out as they arrive (R1), late joiners replay then follow
// (R3), the object is a hit only once complete (R5), an origin failing mid-body ends clients
// abruptly and caches nothing (O2), and the store copies no body byte but those that came with the head.
import { describe, expect, it } from 'vitest';
import { bodyBytes } from '../support/raw-client.js';
import { requestKit } from '../support/requests.js';
import type { OriginScript } from '../support/scripted-origin.js';
import { cleanupAfterEach, startOriginAndProxy, testKit } from '../support/proxy.js';
import { patternBytes } from '../support/bytes.js';
import type { CreateProxyOptions } from '../../src/index.js';

const KiB = 1024;
const MiB = 1024 * KiB;
const SHARED: [string, string] = ['Cache-Control', 'max-age=60'];

const cleanups = cleanupAfterEach();
const { signal, client } = testKit(cleanups);
const setup = (script: OriginScript, options: Partial<CreateProxyOptions> = {}) => startOriginAndProxy(cleanups, script, options);
const { request: GET, fetchOnce } = requestKit({ host: 'cache.test', idleMs: 3000 });

describe('origin Content-Length bodies read in place into the store', () => {
  for (const [name, pieces] of [
    ['one write', [3 * MiB]],
    ['odd pieces', [1, 7, 65_535, 65_537, 300_001]],
    ['many small writes', [4093]],
  ] as const) {
    it(`R1, R5: ${name}: the miss and the hit carry the exact bytes; only the head's read was copied`, async () => {
      const body = patternBytes(0, 3 * MiB + 17);
      const { origin, proxy } = await setup(async (_req, res) => {
        await res.send({ headers: [SHARED, ['Content-Length', String(body.length)]], body, chunkSizes: [...pieces] });
      }, { storeSize: 16 * MiB, storeSlabSize: 1 * MiB });
      const miss = await fetchOnce(proxy.port, '/in-place');
      expect(miss.header('x-cache')).toBe('MISS');
      expect(miss.body.equals(body)).toBe(true);
      const hit = await fetchOnce(proxy.port, '/in-place');
      expect(hit.header('x-cache')).toBe('HIT');
      expect(hit.body.equals(body)).toBe(true);
      expect(origin.requests).toHaveLength(1);
      const store = proxy.proxy.stats().store;
      expect(store.appendedBytes).toBe(body.length);
      // What arrived in the read that carried the head (a short read: 64 KiB at most) is copied; the rest is not.
      expect(store.copiedBytes).toBeLessThanOrEqual(64 * KiB);
    });
  }

  it('storePrefault: the slabs are shared memory; the socket reads into them just the same', async () => {
    const body = patternBytes(0, 5 * MiB + 3);
    const { proxy } = await setup(async (_req, res) => {
      await res.send({ headers: [SHARED, ['Content-Length', String(body.length)]], body, chunkSizes: [300_000] });
    }, { storeSize: 32 * MiB, storeSlabSize: 8 * MiB, storePrefault: true });
    await proxy.proxy.storeCommitted();
    const miss = await fetchOnce(proxy.port, '/prefaulted');
    expect(miss.body.equals(body)).toBe(true);
    const hit = await fetchOnce(proxy.port, '/prefaulted');
    expect(hit.header('x-cache')).toBe('HIT');
    expect(hit.body.equals(body)).toBe(true);
    expect(proxy.proxy.stats().store.copiedBytes).toBeLessThanOrEqual(64 * KiB);
  });

  it('R3: a late joiner on an in-place fill replays what arrived, then follows: bodies identical', async () => {
    const body = patternBytes(0, 2 * MiB);
    const k = 1 * MiB;
    const rest = signal();
    const { origin, proxy } = await setup(async (_req, res) => {
      await res.head(200, [SHARED, ['Content-Length', String(body.length)]]);
      for (let at = 0; at < k; at += 100_000) await res.write(body.subarray(at, Math.min(k, at + 100_000)));
      await rest.promise;
      for (let at = k; at < body.length; at += 333_333) await res.write(body.subarray(at, Math.min(body.length, at + 333_333)));
    });
    const first = await client(proxy.port);
    await first.write(GET('/late'));
    await bodyBytes(first, k);
    const late = await client(proxy.port);
    await late.write(GET('/late'));
    const replay = await bodyBytes(late, k, 2000);
    expect(replay.body.equals(body.subarray(0, k))).toBe(true);
    rest.resolve();
    const [a, b] = await Promise.all([first.readResponse(), late.readResponse()]);
    expect(a.body.equals(body)).toBe(true);
    expect(b.body.equals(body)).toBe(true);
    expect(origin.requests).toHaveLength(1);
    expect(proxy.proxy.stats().store.copiedBytes).toBeLessThanOrEqual(64 * KiB);
  });

  it('O2, R5: the origin resetting mid-body ends the client abruptly and caches nothing; the next request refetches intact', async () => {
    const body = patternBytes(0, 1 * MiB);
    let calls = 0;
    const { origin, proxy } = await setup(async (_req, res) => {
      calls++;
      if (calls === 1) return res.send({ headers: [SHARED, ['Content-Length', String(body.length)]], body, chunkSizes: [100_000], failAt: { byte: 600_000, how: 'reset' } });
      return res.send({ headers: [SHARED, ['Content-Length', String(body.length)]], body, chunkSizes: [100_000] });
    }, { storeSize: 4 * MiB, storeSlabSize: 1 * MiB });
    const cut = await fetchOnce(proxy.port, '/cut');
    expect(cut.status).toBe(200);
    expect(cut.complete).toBe(false);
    expect(cut.body.length).toBeLessThan(body.length);
    const again = await fetchOnce(proxy.port, '/cut');
    expect(again.header('x-cache')).toBe('MISS');
    expect(again.body.equals(body)).toBe(true);
    expect((await fetchOnce(proxy.port, '/cut')).header('x-cache')).toBe('HIT');
    expect(origin.requests).toHaveLength(2);
  });

  it('L5: a store of pinned bytes refuses the reservation: the body is copied outside the store, exact, and not cached', async () => {
    const body = patternBytes(0, 3 * MiB);
    const hold = signal();
    const { proxy } = await setup(async (req, res) => {
      if (req.target === '/hold') {
        // Half the store, pinned by a fetch still in flight.
        await res.head(200, [SHARED, ['Content-Length', String(4 * MiB)]]);
        await res.write(patternBytes(0, 2 * MiB));
        await hold.promise;
        return res.write(patternBytes(2 * MiB, 2 * MiB));
      }
      return res.send({ headers: [SHARED, ['Content-Length', String(body.length)]], body, chunkSizes: [256 * KiB] });
    }, { storeSize: 4 * MiB, storeSlabSize: 1 * MiB });
    const holder = await client(proxy.port);
    await holder.write(GET('/hold'));
    await bodyBytes(holder, 2 * MiB, 3000);
    const big = await fetchOnce(proxy.port, '/big');
    expect(big.body.equals(body)).toBe(true);
    hold.resolve();
    await holder.readResponse();
    expect((await fetchOnce(proxy.port, '/big')).header('x-cache')).toBe('MISS');
  });
});
