// K3 on real sockets: the deliver hook runs for every response (hits, misses, collapsed clients,
// every kind of pass, the proxy's own errors), so the README's `ctx.headers.delete('x-internal')`
// never leaks the header, whatever path a response takes.
import { describe, expect, it } from 'vitest';
import type { DeliverContext } from '../../src/index.js';
import { requestKit } from '../support/requests.js';
import { cleanupAfterEach, startOriginAndProxy, startProxy, testKit } from '../support/proxy.js';

const cleanups = cleanupAfterEach();
const { signal, client } = testKit(cleanups);
const { request, fetchOnce } = requestKit({ host: 'deliver.test', idleMs: 2000 });

function recordingHook(): { seen: Array<{ status: number; xCache: string | undefined; target: string }>; deliver(ctx: DeliverContext): void } {
  const seen: Array<{ status: number; xCache: string | undefined; target: string }> = [];
  return {
    seen,
    deliver(ctx) {
      seen.push({ status: ctx.status, xCache: ctx.headers.get('x-cache'), target: ctx.request.target });
      ctx.headers.delete('x-internal'); // the README's example
    },
  };
}

describe('deliver hook (K3)', () => {
  it("K3: the README example removes x-internal on a PASS: recv pass, POST, Authorization, no-store", async () => {
    const hook = recordingHook();
    const { proxy } = await startOriginAndProxy(
      cleanups,
      (req, res) => res.send({ headers: [['X-Internal', 'secret'], ['Cache-Control', req.target === '/nostore' ? 'no-store' : 'max-age=60']], body: 'b' }),
      { hooks: { deliver: hook.deliver, recv: (ctx) => void (ctx.path === '/private' && (ctx.pass = true)) } },
    );
    const responses = [
      await fetchOnce(proxy.port, '/private'),
      await fetchOnce(proxy.port, '/post', { method: 'POST', body: 'x' }),
      await fetchOnce(proxy.port, '/auth', { headers: [['Authorization', 'Basic eDp5']] }),
      await fetchOnce(proxy.port, '/nostore'),
      await fetchOnce(proxy.port, '/nostore'),
    ];
    for (const res of responses) {
      expect(res.header('x-cache')).toBe('PASS');
      expect(res.header('x-internal'), res.rawHead).toBeUndefined();
    }
    expect(hook.seen.map((s) => s.target)).toEqual(['/private', '/post', '/auth', '/nostore', '/nostore']);
  });

  it('K3: hits, misses and collapsed clients all go through the hook', async () => {
    const hook = recordingHook();
    const release = signal();
    const { origin, proxy } = await startOriginAndProxy(
      cleanups,
      async (req, res) => {
        await release.promise;
        await res.send({ headers: [['X-Internal', 'secret'], ['Cache-Control', 'max-age=60']], body: 'shared' });
      },
      { hooks: { deliver: hook.deliver } },
    );
    const miss = await client(proxy.port);
    await miss.write(request('/obj'));
    await expect.poll(() => origin.requests.length).toBe(1);
    const collapsed = await client(proxy.port);
    await collapsed.write(request('/obj'));
    await expect.poll(() => proxy.proxy.stats().responses.COLLAPSED).toBe(1);
    release.resolve();
    const responses = [await miss.readResponse(), await collapsed.readResponse(), await fetchOnce(proxy.port, '/obj')];
    expect(responses.map((r) => r.header('x-cache'))).toEqual(['MISS', 'MISS', 'HIT']);
    for (const res of responses) expect(res.header('x-internal')).toBeUndefined();
    expect(hook.seen).toHaveLength(3);
  });

  it("K3: the proxy's own errors (503 from a cache fetch and from a pass, 400) go through the hook", async () => {
    const hook = recordingHook();
    const proxy = await startProxy('http://127.0.0.1:9', {
      hooks: {
        deliver(ctx) {
          hook.deliver(ctx);
          ctx.headers.set('X-Served-By', 'edge-7');
        },
      },
    });
    cleanups.push(() => proxy.close());
    const responses = [
      await fetchOnce(proxy.port, '/down'),
      await fetchOnce(proxy.port, '/down', { method: 'POST', body: 'x' }),
      await fetchOnce(proxy.port, '/bad', { headers: [['Content_Length', '3']] }),
    ];
    expect(responses.map((r) => r.status)).toEqual([503, 503, 400]);
    for (const res of responses) expect(res.header('x-served-by')).toBe('edge-7');
    expect(hook.seen.map((s) => [s.status, s.xCache])).toEqual([
      [503, 'MISS'],
      [503, 'PASS'],
      [400, 'PASS'],
    ]);
    // The error bodies still arrive whole after the hook edited the head.
    expect(responses[0].body.toString()).toMatch(/connect/);
    expect(responses[0].complete).toBe(true);
  });
});
