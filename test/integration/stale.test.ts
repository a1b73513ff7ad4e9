// Serving stale on real sockets (SPEC G1-G4): stale-while-revalidate serves at once and refreshes
// in the background, once per object; stale-if-error stands in for every way the origin can fail
// a refresh; G3's directives forbid both; objects in flight and ended push streams are never
// served stale. Objects are made stale on arrival with the origin's Age (RFC 9111 §4.2.3), so no
// test waits for a TTL to run out.
import { describe, expect, it } from 'vitest';
import { cleanupAfterEach, startOriginAndProxy, startProxy, testKit } from '../support/proxy.js';
import type { OriginScript, ReceivedRequest, ScriptedResponder } from '../support/scripted-origin.js';
import { startScriptedOrigin } from '../support/scripted-origin.js';
import { requestKit } from '../support/requests.js';
import { delay, waitFor } from '../support/ports.js';
import type { CreateProxyOptions } from '../../src/index.js';

const cleanups = cleanupAfterEach();
const kit = testKit(cleanups);
const { fetchOnce } = requestKit({ host: 'stale.test' });

/** The first response: already `age` seconds old, with these Cache-Control directives and an ETag. */
function staleOnArrival(cacheControl: string, age: number, extra: [string, string][] = []): [string, string][] {
  return [['Cache-Control', cacheControl], ['Age', String(age)], ['ETag', '"v1"'], ...extra];
}

/**
 * The origin answers the first request for each path with `first`, every later one with `later` (default: a new
 * body, fresh for a minute). Returns the origin and a proxy in front of it.
 */
async function setup(
  first: [string, string][],
  later: (req: ReceivedRequest, res: ScriptedResponder, n: number) => Promise<void> | void = (_req, res) => res.send({ headers: [['Cache-Control', 'max-age=60'], ['ETag', '"v2"']], body: 'new' }),
  options: Partial<CreateProxyOptions> = {},
) {
  const seen = new Map<string, number>();
  const script: OriginScript = (req, res) => {
    const n = (seen.get(req.target) ?? 0) + 1;
    seen.set(req.target, n);
    if (n === 1) return res.send({ headers: first, body: 'old' });
    return later(req, res, n);
  };
  return startOriginAndProxy(cleanups, script, options);
}

describe('G1: stale-while-revalidate', () => {
  it('G1: a stale object inside its window is a hit at once, Age growing; one conditional background revalidation replaces it when complete', async () => {
    const answer = kit.signal();
    const { origin, proxy } = await setup(staleOnArrival('max-age=10, stale-while-revalidate=60', 15), async (_req, res) => {
      await answer.promise;
      await res.send({ headers: [['Cache-Control', 'max-age=60'], ['ETag', '"v2"']], body: 'new' });
    });
    expect((await fetchOnce(proxy.port, '/a')).body.toString()).toBe('old');
    const started = performance.now();
    const stale = await fetchOnce(proxy.port, '/a');
    expect(performance.now() - started).toBeLessThan(500); // the origin has not answered at all
    expect(stale.status).toBe(200);
    expect(stale.header('x-cache')).toBe('HIT');
    expect(stale.body.toString()).toBe('old');
    expect(Number(stale.header('age'))).toBeGreaterThanOrEqual(15);
    await origin.waitForRequests(2);
    expect(origin.requests[1].header('if-none-match')).toBe('"v1"');
    // Still in flight: every request in the window gets the stale object, and no second revalidation starts.
    for (let i = 0; i < 3; i++) expect((await fetchOnce(proxy.port, '/a')).body.toString()).toBe('old');
    expect(origin.requests).toHaveLength(2);
    expect(proxy.proxy.stats().stale).toMatchObject({ whileRevalidate: 4, backgroundRevalidations: 1 });
    answer.resolve();
    await waitFor(() => proxy.proxy.stats().inflight.objects === 0, 3000, 'the revalidation to complete');
    const fresh = await fetchOnce(proxy.port, '/a');
    expect(fresh).toMatchObject({ status: 200 });
    expect(fresh.body.toString()).toBe('new');
    expect(fresh.header('x-cache')).toBe('HIT');
    expect(Number(fresh.header('age'))).toBeLessThan(3);
    expect(origin.requests).toHaveLength(2);
  });

  it('G1/C3: a 304 to the background revalidation refreshes the object in place', async () => {
    const { origin, proxy } = await setup(staleOnArrival('max-age=10, stale-while-revalidate=60', 15), (_req, res) =>
      res.send({ status: 304, headers: [['Cache-Control', 'max-age=60'], ['ETag', '"v1"']] }),
    );
    await fetchOnce(proxy.port, '/b');
    expect((await fetchOnce(proxy.port, '/b')).body.toString()).toBe('old');
    await waitFor(() => origin.requests.length === 2 && proxy.proxy.stats().inflight.objects === 0, 3000, 'the 304');
    const refreshed = await fetchOnce(proxy.port, '/b');
    expect(refreshed.body.toString()).toBe('old');
    expect(refreshed.header('cache-control')).toBe('max-age=60');
    expect(Number(refreshed.header('age'))).toBeLessThan(3);
    await fetchOnce(proxy.port, '/b');
    expect(origin.requests).toHaveLength(2);
  });

  it('G1: N concurrent requests for a stale key: all answered from the stale object, one origin revalidation', async () => {
    const answer = kit.signal();
    const { origin, proxy } = await setup(staleOnArrival('max-age=10, stale-while-revalidate=60', 15), async (_req, res) => {
      await answer.promise;
      await res.send({ headers: [['Cache-Control', 'max-age=60']], body: 'new' });
    });
    await fetchOnce(proxy.port, '/n');
    const responses = await Promise.all(Array.from({ length: 30 }, () => fetchOnce(proxy.port, '/n')));
    expect(responses.map((r) => r.body.toString())).toEqual(Array(30).fill('old'));
    expect(responses.every((r) => r.header('x-cache') === 'HIT')).toBe(true);
    expect(origin.requests).toHaveLength(2);
    answer.resolve();
  });

  it('G1/R2: a request that finds the object past its window attaches to the background revalidation', async () => {
    const answer = kit.signal();
    // max-age=10, a 2 s window, 11 s old on arrival: the window ends about a second from now.
    const { origin, proxy } = await setup(staleOnArrival('max-age=10, stale-while-revalidate=2', 11), async (_req, res) => {
      await answer.promise;
      await res.send({ headers: [['Cache-Control', 'max-age=60']], body: 'new' });
    });
    await fetchOnce(proxy.port, '/r2');
    expect((await fetchOnce(proxy.port, '/r2')).body.toString()).toBe('old');
    await origin.waitForRequests(2);
    await delay(1_200);
    const late = fetchOnce(proxy.port, '/r2');
    await waitFor(() => proxy.proxy.stats().inflight.readers === 1, 3000, 'the late request attached');
    answer.resolve();
    const response = await late;
    expect(response.body.toString()).toBe('new');
    expect(response.header('x-cache')).toBe('MISS'); // collapsed onto the fetch, not a hit
    expect(origin.requests).toHaveLength(2);
  });

  it('G1: --grace is the window for a response that states none; a rule and Surrogate-Control give theirs', async () => {
    const hold = kit.signal();
    const later = async (_req: ReceivedRequest, res: ScriptedResponder) => {
      await hold.promise;
      await res.send({ headers: [['Cache-Control', 'max-age=60']], body: 'new' });
    };
    const graced = await setup(staleOnArrival('max-age=10', 15), later, { grace: 60 });
    await fetchOnce(graced.proxy.port, '/g');
    expect((await fetchOnce(graced.proxy.port, '/g')).body.toString()).toBe('old');

    const ruled = await setup(staleOnArrival('max-age=10', 15), later, { rules: [{ path: '/ruled', grace: 60 }] });
    await fetchOnce(ruled.proxy.port, '/ruled');
    expect((await fetchOnce(ruled.proxy.port, '/ruled')).body.toString()).toBe('old');

    const surrogate = await setup(staleOnArrival('max-age=10', 15, [['Surrogate-Control', 'max-age=10, stale-while-revalidate=60']]), later);
    await fetchOnce(surrogate.proxy.port, '/s');
    const served = await fetchOnce(surrogate.proxy.port, '/s');
    expect(served.body.toString()).toBe('old');
    expect(served.header('surrogate-control')).toBeUndefined();
    hold.resolve();
  });

  it('G1: past the window, a request waits for the origin (no grace by default)', async () => {
    const { origin, proxy } = await setup(staleOnArrival('max-age=10, stale-while-revalidate=2', 15));
    await fetchOnce(proxy.port, '/past');
    const response = await fetchOnce(proxy.port, '/past');
    expect(response.body.toString()).toBe('new');
    expect(origin.requests).toHaveLength(2);
  });
});

/** Every way the origin can fail a refresh, as a later-request script (or, for 'refused', none). */
const FAILURES: Record<string, (req: ReceivedRequest, res: ScriptedResponder) => Promise<void> | void> = {
  '500': (_req, res) => res.send({ status: 500, body: 'origin error' }),
  '503': (_req, res) => res.send({ status: 503, headers: [['Cache-Control', 'max-age=5']], body: 'origin down' }),
  'close before the head': (_req, res) => res.end(),
  'reset before the head': (_req, res) => res.reset({ settleMs: 0 }),
  'first-byte timeout': (_req, res) => res.stall(),
};

describe('G2: stale-if-error', () => {
  for (const [name, failure] of Object.entries(FAILURES)) {
    it(`G2: ${name}: the stale object is served instead, Age growing; logged and counted`, async () => {
      const { proxy } = await setup(staleOnArrival('max-age=10, stale-if-error=600', 15), failure, { firstByteTimeout: 300 });
      await fetchOnce(proxy.port, '/e');
      const response = await fetchOnce(proxy.port, '/e');
      expect(response.status).toBe(200);
      expect(response.body.toString()).toBe('old');
      expect(response.header('x-cache')).toBe('HIT');
      expect(Number(response.header('age'))).toBeGreaterThanOrEqual(15);
      expect(proxy.proxy.stats().stale).toMatchObject({ ifError: 1, refreshFailures: 1 });
      // K2: served stale for a failed refresh: fwd=stale, the origin's status when it sent one.
      const cacheStatus = response.header('cache-status') ?? '';
      expect(cacheStatus).toMatch(/^streamcache; fwd=stale; /);
      expect(cacheStatus).not.toMatch(/; hit\b/);
      if (name === '500' || name === '503') expect(cacheStatus).toContain(`fwd-status=${name}`);
      else expect(cacheStatus).not.toContain('fwd-status');
      expect(cacheStatus).toMatch(/; detail=[\w-]+$/);
    });
  }

  it('G2: connection refused (the origin is gone): the stale object is served', async () => {
    const origin = await startScriptedOrigin((_req, res) => res.send({ headers: staleOnArrival('max-age=10, stale-if-error=600', 15), body: 'old' }));
    const proxy = await startProxy(origin.url);
    cleanups.push(() => proxy.close());
    await fetchOnce(proxy.port, '/gone');
    await origin.close();
    const response = await fetchOnce(proxy.port, '/gone');
    expect(response.status).toBe(200);
    expect(response.body.toString()).toBe('old');
    expect(proxy.proxy.stats().stale.ifError).toBe(1);
    expect(response.header('cache-status')).toMatch(/^streamcache; fwd=stale; ttl=-\d+; detail=connect-/);
  });

  it('G2: --stale-if-error is the window for a response that states none, without validators too', async () => {
    const { proxy } = await setup([['Cache-Control', 'max-age=10'], ['Age', '15']], FAILURES['500'], { staleIfError: 600 });
    await fetchOnce(proxy.port, '/c');
    expect((await fetchOnce(proxy.port, '/c')).body.toString()).toBe('old');
  });

  it('G2: every client waiting on the failing fetch gets the stale object; the origin sees one refresh', async () => {
    const fail = kit.signal();
    const { origin, proxy } = await setup(staleOnArrival('max-age=10, stale-if-error=600', 15), async (_req, res) => {
      await fail.promise;
      await res.send({ status: 503, body: 'down' });
    });
    await fetchOnce(proxy.port, '/all');
    const waiting = Array.from({ length: 8 }, () => fetchOnce(proxy.port, '/all'));
    await waitFor(() => proxy.proxy.stats().inflight.readers === 8, 3000, 'eight clients waiting');
    fail.resolve();
    const responses = await Promise.all(waiting);
    expect(responses.map((r) => `${r.status} ${r.body}`)).toEqual(Array(8).fill('200 old'));
    expect(origin.requests).toHaveLength(2);
    expect(proxy.proxy.stats().stale.ifError).toBe(8);
  });

  it('G2: past the stale-if-error window the failure reaches the client', async () => {
    const { proxy } = await setup(staleOnArrival('max-age=10, stale-if-error=2', 15), FAILURES['500']);
    await fetchOnce(proxy.port, '/late');
    const response = await fetchOnce(proxy.port, '/late');
    expect(response.status).toBe(500);
    expect(response.body.toString()).toBe('origin error');
  });

  it('G1/G2: a failed background revalidation leaves the stale object in place', async () => {
    const { origin, proxy } = await setup(staleOnArrival('max-age=10, stale-while-revalidate=60', 15), FAILURES['500']);
    await fetchOnce(proxy.port, '/bg');
    expect((await fetchOnce(proxy.port, '/bg')).body.toString()).toBe('old');
    await waitFor(() => origin.requests.length === 2 && proxy.proxy.stats().inflight.objects === 0, 3000, 'the background fetch');
    expect(proxy.proxy.stats().stale).toMatchObject({ refreshFailures: 1, backgroundRevalidations: 1 });
    expect((await fetchOnce(proxy.port, '/bg')).body.toString()).toBe('old');
  });
});

describe('G3: where RFC 9111 forbids stale', () => {
  for (const directive of ['must-revalidate', 'proxy-revalidate', 'no-cache', 's-maxage=10']) {
    it(`G3: ${directive}: neither window applies, configured or stated`, async () => {
      const { origin, proxy } = await setup(
        staleOnArrival(`max-age=10, ${directive}, stale-while-revalidate=600, stale-if-error=600`, 15),
        (req, res) => (req.target === '/fail' ? FAILURES['500'](req, res) : res.send({ headers: [['Cache-Control', 'max-age=60']], body: 'new' })),
        { grace: 600, staleIfError: 600 },
      );
      await fetchOnce(proxy.port, '/ok');
      expect((await fetchOnce(proxy.port, '/ok')).body.toString()).toBe('new');
      expect(origin.requests).toHaveLength(2);
      await fetchOnce(proxy.port, '/fail');
      // 500 without freshness: not stored, so the client gets it as the origin sent it.
      expect((await fetchOnce(proxy.port, '/fail')).status).toBe(500);
    });
  }

  it('G3: Surrogate-Control windows still apply where Cache-Control forbids', async () => {
    const { proxy } = await setup(staleOnArrival('max-age=10, must-revalidate', 15, [['Surrogate-Control', 'max-age=10, stale-if-error=600']]), FAILURES['503']);
    await fetchOnce(proxy.port, '/sc');
    expect((await fetchOnce(proxy.port, '/sc')).body.toString()).toBe('old');
  });
});

describe('G4: never for objects in flight, never a revived stream', () => {
  it('G4/R6: an object in flight that is stale is not served: a new request starts its own fetch', async () => {
    const finish = kit.signal();
    let n = 0;
    const { origin, proxy } = await startOriginAndProxy(cleanups, async (_req, res) => {
      const mine = ++n;
      await res.head(200, [['Cache-Control', 'max-age=10, stale-while-revalidate=600, stale-if-error=600'], ['Age', '15'], ['Content-Length', '6']]);
      if (mine === 1) await finish.promise;
      await res.write(mine === 1 ? 'first!' : 'second');
    });
    const client = await kit.client(proxy.port);
    await client.write('GET /inflight HTTP/1.1\r\nHost: stale.test\r\n\r\n');
    await origin.waitForRequests(1);
    const second = await fetchOnce(proxy.port, '/inflight');
    expect(second.body.toString()).toBe('second');
    expect(origin.requests).toHaveLength(2);
    finish.resolve();
    expect((await client.readResponse()).body.toString()).toBe('first!');
  });

  it('G4: a push stream that ended (chunked, no validator) is not served stale; a stream with a length is', async () => {
    const { origin, proxy } = await startOriginAndProxy(
      cleanups,
      (req, res) =>
        res.send({
          headers: [['Surrogate-Control', 'max-age=10, stale-while-revalidate=600'], ['Age', '15'], ['Content-Type', 'text/event-stream']],
          framing: req.target === '/stream' ? 'chunked' : 'length',
          body: `data: ${origin.requests.length}\n\n`,
        }),
      {},
    );
    await fetchOnce(proxy.port, '/stream');
    expect((await fetchOnce(proxy.port, '/stream')).body.toString()).toBe('data: 2\n\n');
    await fetchOnce(proxy.port, '/sized');
    expect((await fetchOnce(proxy.port, '/sized')).body.toString()).toBe('data: 3\n\n');
  });
});

describe('G1/L5: store memory', () => {
  it('L5/G1: a background revalidation that overflows the store leaves the stale object in place', async () => {
    const KiB = 1024;
    const { origin, proxy } = await setup(
      staleOnArrival('max-age=10, stale-while-revalidate=600', 15),
      (_req, res) => res.send({ headers: [['Cache-Control', 'max-age=60']], body: Buffer.alloc(200 * KiB, 'x') }),
      { storeSize: 64 * KiB, storeSlabSize: 16 * KiB },
    );
    await fetchOnce(proxy.port, '/big');
    expect((await fetchOnce(proxy.port, '/big')).body.toString()).toBe('old');
    await waitFor(() => origin.requests.length === 2 && proxy.proxy.stats().inflight.objects === 0, 3000, 'the overflowing revalidation');
    const after = await fetchOnce(proxy.port, '/big');
    expect(after.body.toString()).toBe('old');
    expect(after.header('x-cache')).toBe('HIT');
  });
});

describe('F6: the age on arrival (RFC 9111 §4.2.3)', () => {
  it('F6: the response delay counts into Age (never younger than the origin said plus the wait), and Age lists take their first member', async () => {
    const { proxy } = await startOriginAndProxy(cleanups, (_req, res) =>
      res.send({ headers: [['Cache-Control', 'max-age=600'], ['Age', '10, 99']], body: 'slow', delayHeadMs: 1_100 }),
    );
    const miss = await fetchOnce(proxy.port, '/slow');
    expect(Number(miss.header('age'))).toBeGreaterThanOrEqual(11);
    expect(Number(miss.header('age'))).toBeLessThan(20);
    const hit = await fetchOnce(proxy.port, '/slow');
    expect(hit.header('x-cache')).toBe('HIT');
    expect(Number(hit.header('age'))).toBeGreaterThanOrEqual(11);
  });
});
