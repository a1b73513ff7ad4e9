// The warm-up before listening (src/proxy/warm-up.ts): it runs in private, once per process, and
// the proxy then behaves as it would without it.
import { pino, type Logger } from 'pino';
import { describe, expect, it } from 'vitest';
import { cleanupAfterEach, startProxy } from '../support/proxy.js';
import { startScriptedOrigin } from '../support/scripted-origin.js';
import { fetchOnce } from '../support/requests.js';
import { warmUp } from '../../src/proxy/warm-up.js';
import { createProxy } from '../../src/index.js';

const cleanups = cleanupAfterEach();

function captureLog(): { logger: Logger; lines: Array<Record<string, unknown>> } {
  const lines: Array<Record<string, unknown>> = [];
  const logger = pino({ level: 'info' }, { write: (line: string) => void lines.push(JSON.parse(line) as Record<string, unknown>) });
  return { logger, lines };
}

describe('warm-up before listening', () => {
  it('R5, R1: never reaches the real origin, logs what it did, and the first real miss and hit are served as usual', async () => {
    const origin = await startScriptedOrigin(async (_req, res) => res.send({ headers: [['Cache-Control', 'max-age=60']], body: 'real body' }));
    cleanups.push(() => origin.close());
    const log = captureLog();
    const proxy = await startProxy(origin.url, { logger: log.logger });
    cleanups.push(() => proxy.close());
    // Listening, warmed, and the real origin has seen nothing yet.
    expect(origin.requests).toHaveLength(0);
    const done = log.lines.find((l) => typeof l.msg === 'string' && l.msg.startsWith('warm-up done'));
    expect(done, JSON.stringify(log.lines)).toBeDefined();
    expect(done!.error).toBeUndefined();
    expect(done!.requests as number).toBeGreaterThan(0);
    expect(done!.ms as number).toBeGreaterThanOrEqual(0);
    // The warm-up's own requests left no trace in this proxy's counters or store.
    expect(proxy.proxy.stats().requests).toBe(0);
    expect(proxy.proxy.stats().store.objects).toBe(0);
    const miss = await fetchOnce(proxy.port, '/first');
    expect(miss.status).toBe(200);
    expect(miss.header('x-cache')).toBe('MISS');
    expect(miss.body.toString()).toBe('real body');
    const hit = await fetchOnce(proxy.port, '/first');
    expect(hit.header('x-cache')).toBe('HIT');
    expect(origin.requests).toHaveLength(1);
  });

  it('the real store is allocated whole (not committed) before listening, so no slab sets off a collection mid-traffic', async () => {
    const origin = await startScriptedOrigin(async (_req, res) => res.send({ body: 'x' }));
    cleanups.push(() => origin.close());
    const log = captureLog();
    const proxy = await startProxy(origin.url, { logger: log.logger, storeSize: 64 * 1024 * 1024, storeSlabSize: 16 * 1024 * 1024 });
    cleanups.push(() => proxy.close());
    expect(proxy.proxy.stats().store.slabsAllocated).toBe(4);
    const done = log.lines.find((l) => typeof l.msg === 'string' && l.msg.startsWith('warm-up done'));
    expect(done!.slabs).toBe(4);
    const cold = await startProxy(origin.url, { warmUp: false, storeSize: 64 * 1024 * 1024, storeSlabSize: 16 * 1024 * 1024 });
    cleanups.push(() => cold.close());
    expect(cold.proxy.stats().store.slabsAllocated).toBe(0);
  });

  it('warmUp: false skips it (no warm-up log line)', async () => {
    const origin = await startScriptedOrigin(async (_req, res) => res.send({ body: 'x' }));
    cleanups.push(() => origin.close());
    const log = captureLog();
    const proxy = await startProxy(origin.url, { logger: log.logger, warmUp: false });
    cleanups.push(() => proxy.close());
    expect(log.lines.some((l) => String(l.msg).startsWith('warm-up'))).toBe(false);
    expect((await fetchOnce(proxy.port, '/x')).status).toBe(200);
  });

  it('serves misses, hits and a chunked miss through a private proxy, every one a 200', async () => {
    const report = await warmUp((origin) => createProxy({ origin, logLevel: 'silent', storeSize: 4 * 1024 * 1024, storeSlabSize: 4 * 1024 * 1024, warmUp: false }), {
      rounds: 3,
      hitsPerRound: 4,
      connections: 2,
      budgetMs: 10_000,
    });
    expect(report.error).toBeUndefined();
    // One chunked miss first, then 3 rounds of a miss and 4 hits.
    expect(report).toMatchObject({ requests: 16, misses: 4, hits: 12 });
  });

  it('large misses: a 256 KiB body in pieces (read straight into the store), each a 200', async () => {
    const report = await warmUp((origin) => createProxy({ origin, logLevel: 'silent', storeSize: 4 * 1024 * 1024, storeSlabSize: 4 * 1024 * 1024, warmUp: false }), {
      rounds: 1,
      hitsPerRound: 1,
      connections: 2,
      budgetMs: 10_000,
      largeMisses: 3,
    });
    expect(report.error).toBeUndefined();
    // The chunked miss, 3 large misses, then one round of a miss and a hit.
    expect(report).toMatchObject({ requests: 6, misses: 5, hits: 1 });
  });

  it('a warm-up that cannot finish reports why instead of throwing', async () => {
    const report = await warmUp(() => ({
      listen: () => Promise.reject(new Error('no loopback here')),
      close: async () => {},
    }));
    expect(report.error).toBe('no loopback here');
    expect(report.requests).toBe(0);
  });
});
