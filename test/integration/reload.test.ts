// K1 in the library: proxy.reload() changes what new requests get (rules, TTLs), keeps every
// connection and object, refuses a bad configuration without changing anything, and lets a fetch
// in flight finish under the configuration it started with. The CLI's SIGHUP is in cli-reload.test.ts.
import { describe, expect, it } from 'vitest';
import { OptionError } from '../../src/index.js';
import { requestKit } from '../support/requests.js';
import { cleanupAfterEach, startOriginAndProxy, testKit } from '../support/proxy.js';

const cleanups = cleanupAfterEach();
const { signal, client } = testKit(cleanups);
const { request, fetchOnce } = requestKit({ host: 'reload.test', idleMs: 2000 });

describe('proxy.reload (K1)', () => {
  it('K1: a new default TTL and new rules apply to the next requests; stored objects stay hits', async () => {
    const { origin, proxy } = await startOriginAndProxy(cleanups, (req, res) => res.send({ body: `body of ${req.target}` }), { rules: [{ path: '/kept', ttl: 60 }] });
    await fetchOnce(proxy.port, '/kept');
    // Default TTL 0: not cached, and the key is hit-for-pass (R4).
    expect((await fetchOnce(proxy.port, '/before')).header('x-cache')).toBe('PASS');
    expect((await fetchOnce(proxy.port, '/before')).header('x-cache')).toBe('PASS');

    const result = proxy.proxy.reload({ origin: origin.url, logLevel: 'silent', defaultTtl: 30, rules: [{ path: '/never', pass: true }] });
    expect(result).toEqual({ applied: ['defaultTtl', 'rules'], needsRestart: [] });
    expect((await fetchOnce(proxy.port, '/after')).header('x-cache')).toBe('MISS');
    expect((await fetchOnce(proxy.port, '/after')).header('x-cache')).toBe('HIT');
    expect((await fetchOnce(proxy.port, '/never')).header('x-cache')).toBe('PASS');
    // The object stored under the old rule is still there.
    expect((await fetchOnce(proxy.port, '/kept')).header('x-cache')).toBe('HIT');
    expect(proxy.proxy.options.defaultTtl).toBe(30);
  });

  it('K1: an invalid configuration throws OptionError naming the key and changes nothing', async () => {
    const { origin, proxy } = await startOriginAndProxy(cleanups, (req, res) => res.send({ body: 'x' }), { defaultTtl: 30 });
    expect(() => proxy.proxy.reload({ origin: origin.url, defaultTtl: 0, idleTimeout: -5 })).toThrow(new OptionError('idleTimeout: -5 must be a positive integer'));
    expect(proxy.proxy.options.defaultTtl).toBe(30);
    await fetchOnce(proxy.port, '/still');
    expect((await fetchOnce(proxy.port, '/still')).header('x-cache')).toBe('HIT');
  });

  it('K1: restart-only options keep their running value and are reported', async () => {
    const { origin, proxy } = await startOriginAndProxy(cleanups, (req, res) => res.send({ body: 'x' }), { storeSize: '32m' });
    const result = proxy.proxy.reload({ origin: origin.url, storeSize: '64m', listen: '127.0.0.1:1' });
    expect(result.needsRestart).toEqual(['listen', 'storeSize']);
    expect(proxy.proxy.stats().store.capacity).toBe(32 * 1024 * 1024);
    expect(proxy.proxy.address()?.port).toBe(proxy.port);
  });

  it('K1: a keep-alive connection opened before the reload goes on serving after it', async () => {
    const { origin, proxy } = await startOriginAndProxy(cleanups, (req, res) => res.send({ body: `body of ${req.target}` }));
    const c = await client(proxy.port);
    await c.write(request('/one', { keepAlive: true }));
    expect((await c.readResponse()).body.toString()).toBe('body of /one');
    proxy.proxy.reload({ origin: origin.url, defaultTtl: 30 });
    await c.write(request('/two', { keepAlive: true }));
    expect((await c.readResponse()).body.toString()).toBe('body of /two');
    await c.write(request('/two', { keepAlive: true }));
    expect((await c.readResponse()).header('x-cache')).toBe('HIT');
    expect(c.closed).toBe(false);
  });

  it('K1: a fetch in flight during the reload is decided under the rules it started with', async () => {
    const release = signal();
    const { origin, proxy } = await startOriginAndProxy(
      cleanups,
      async (req, res) => {
        if (req.target === '/inflight') await release.promise;
        await res.send({ body: `body of ${req.target}` });
      },
      { rules: [{ path: '/inflight', ttl: 60 }] },
    );
    const c = await client(proxy.port);
    await c.write(request('/inflight'));
    // The fetch has reached the origin, its head not back yet; the new config would not cache it.
    await expect.poll(() => origin.requests.length).toBe(1);
    proxy.proxy.reload({ origin: origin.url, rules: [{ path: '/inflight', pass: true, ttl: 0 }] });
    release.resolve();
    const first = await c.readResponse();
    expect([first.status, first.header('x-cache')]).toEqual([200, 'MISS']);
    // Stored under the old rule (ttl 60), though the new rule passes new requests for it.
    expect(proxy.proxy.stats().store.objects).toBe(1);
    expect((await fetchOnce(proxy.port, '/inflight')).header('x-cache')).toBe('PASS');
    expect(origin.requests.length).toBe(2);
  });
});
