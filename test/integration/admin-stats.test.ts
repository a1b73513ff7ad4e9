// K4 on real sockets: counters count at the event (three live SSE subscribers show one MISS and two
// COLLAPSED while the stream runs, not when it ends); /stats lists the fetch in flight with its key,
// bytes so far, readers and age; /healthz answers on the admin listener.
import { describe, expect, it } from 'vitest';
import { requestKit } from '../support/requests.js';
import { cleanupAfterEach, startOriginAndProxy, testKit } from '../support/proxy.js';
import type { StatsSnapshot } from '../../src/proxy/stats.js';

const cleanups = cleanupAfterEach();
const { signal, client } = testKit(cleanups);
const { request } = requestKit({ host: 'admin.test', idleMs: 2000 });

async function adminGet(port: number, path: string): Promise<Response> {
  return fetch(`http://127.0.0.1:${port}${path}`);
}

describe('admin listener (K4)', () => {
  it('K4: three live SSE subscribers: /stats shows MISS 1, COLLAPSED 2 and the fetch with 3 readers while the stream runs', async () => {
    const end = signal();
    const { origin, proxy } = await startOriginAndProxy(
      cleanups,
      async (req, res) => {
        await res.head(200, [['Content-Type', 'text/event-stream'], ['Cache-Control', 'no-cache, s-maxage=30'], ['Transfer-Encoding', 'chunked']]);
        await res.chunk('data: one\n\n');
        await end.promise;
        await res.chunk('data: two\n\n');
        await res.lastChunk();
      },
      { admin: '127.0.0.1:0' },
    );
    const adminPort = proxy.proxy.adminAddress()!.port;
    const subscribers = [];
    for (let i = 0; i < 3; i++) {
      const c = await client(proxy.port);
      await c.write(request('/events'));
      await c.readUntil((bytes) => bytes.includes('data: one'));
      subscribers.push(c);
    }
    const live = (await (await adminGet(adminPort, '/stats')).json()) as StatsSnapshot;
    expect(live.requests).toBe(3);
    expect(live.responses).toEqual({ HIT: 0, MISS: 1, COLLAPSED: 2, PASS: 0 });
    expect(live.collapsedAttaches).toBe(2);
    expect(live.inflight.objects).toBe(1);
    expect(live.inflight.readers).toBe(3);
    expect(live.inflight.fetches).toHaveLength(1);
    const [fetch] = live.inflight.fetches;
    expect(fetch).toMatchObject({ readers: 3, bytes: 'data: one\n\n'.length, state: 'receiving' });
    expect(fetch.key).toContain('/events');
    expect(fetch.ageMs).toBeGreaterThanOrEqual(0);
    expect(origin.requests).toHaveLength(1);

    end.resolve();
    for (const c of subscribers) expect((await c.readResponse()).body.toString()).toBe('data: one\n\ndata: two\n\n');
    await expect.poll(async () => ((await (await adminGet(adminPort, '/stats')).json()) as StatsSnapshot).inflight.objects).toBe(0);
    const after = (await (await adminGet(adminPort, '/stats')).json()) as StatsSnapshot;
    // Counted once each: the ends of the responses add nothing.
    expect(after.responses).toEqual({ HIT: 0, MISS: 1, COLLAPSED: 2, PASS: 0 });
    expect(after.inflight.fetches).toEqual([]);
    const metrics = await (await adminGet(adminPort, '/metrics')).text();
    expect(metrics).toMatch(/^streamcache_requests_total 3$/m);
    expect(metrics).toMatch(/^streamcache_responses_total\{cache="COLLAPSED"\} 2$/m);
  });

  it('K4: requests count when they arrive, before any response', async () => {
    const release = signal();
    const { proxy } = await startOriginAndProxy(cleanups, async (req, res) => {
      await release.promise;
      await res.send({ body: 'late' });
    });
    const c = await client(proxy.port);
    await c.write(request('/slow', { method: 'POST', body: 'x' }));
    await expect.poll(() => proxy.proxy.stats().requests).toBe(1);
    expect(proxy.proxy.stats().responses.PASS).toBe(1);
    release.resolve();
    expect((await c.readResponse()).status).toBe(200);
  });

  it('K4: /healthz answers 200 with a JSON status; unknown paths get a 404 naming the endpoints', async () => {
    const { proxy } = await startOriginAndProxy(cleanups, (req, res) => res.send({ body: 'x' }), { admin: '127.0.0.1:0' });
    const adminPort = proxy.proxy.adminAddress()!.port;
    const health = await adminGet(adminPort, '/healthz');
    expect(health.status).toBe(200);
    expect(health.headers.get('cache-control')).toBe('no-store');
    expect(await health.json()).toMatchObject({ status: 'ok' });
    const missing = await adminGet(adminPort, '/nope');
    expect(missing.status).toBe(404);
    expect(await missing.text()).toContain('/healthz');
  });
});
