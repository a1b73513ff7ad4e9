// Interim responses (RFC 9110 §15.2) on real sockets: a 103 Early Hints or 102 from the origin is
// relayed to HTTP/1.1 clients still waiting for their final head, never to HTTP/1.0 ones, never
// stored (a hit has none), and 100 Continue from the origin is dropped as before.
import { describe, expect, it } from 'vitest';
import { parseResponses, sendRaw } from '../support/raw-client.js';
import { cleanupAfterEach, startOriginAndProxy, testKit } from '../support/proxy.js';
import type { OriginScript } from '../support/scripted-origin.js';
import { requestKit } from '../support/requests.js';
import { waitFor } from '../support/ports.js';
import { closeSession, connectH2, h2Request } from '../support/h2-client.js';

const cleanups = cleanupAfterEach();
const kit = testKit(cleanups);
const { request, fetchOnce } = requestKit({ host: 'interim.test' });

const HINTS = 'HTTP/1.1 103 Early Hints\r\nLink: </style.css>; rel=preload\r\n\r\n';
const CACHEABLE: [string, string][] = [['Cache-Control', 'max-age=60']];

/** Answers with a 103 first (once `hintsGo` settles), then 200 `final` (once `release` settles). */
const withHints = (release?: Promise<void>, hintsGo?: Promise<void>): OriginScript => async (req, res) => {
  if (req.target === '/continue') {
    await res.raw('HTTP/1.1 100 Continue\r\n\r\n');
    return res.send({ headers: CACHEABLE, body: 'after continue' });
  }
  await hintsGo;
  if (req.target === '/processing') await res.raw('HTTP/1.1 102 Processing\r\n\r\n');
  else await res.raw(HINTS);
  await release;
  await res.send({ headers: req.target === '/private' ? [['Cache-Control', 'private']] : CACHEABLE, body: 'final' });
};

describe('interim responses from the origin', () => {
  it('1xx: a miss relays 103 Early Hints (its fields) before the final response to an HTTP/1.1 client; the hit has none', async () => {
    const { proxy } = await startOriginAndProxy(cleanups, withHints());
    const [hints, final] = parseResponses(await sendRaw(proxy.port, request('/page')), ['GET', 'GET']);
    expect(hints.status).toBe(103);
    expect(hints.header('link')).toBe('</style.css>; rel=preload');
    expect(final.status).toBe(200);
    expect(final.body.toString()).toBe('final');
    expect(final.header('x-cache')).toBe('MISS');
    // Never stored: the hit is the final response alone.
    const hit = await fetchOnce(proxy.port, '/page');
    expect(hit.header('x-cache')).toBe('HIT');
    expect(hit.wire.toString('latin1').startsWith('HTTP/1.1 200 ')).toBe(true);
  });

  it('1xx: 102 Processing is relayed too', async () => {
    const { proxy } = await startOriginAndProxy(cleanups, withHints());
    const responses = parseResponses(await sendRaw(proxy.port, request('/processing')), ['GET', 'GET']);
    expect(responses.map((r) => r.status)).toEqual([102, 200]);
  });

  it('1xx: an HTTP/1.0 client never gets an interim response', async () => {
    const { proxy } = await startOriginAndProxy(cleanups, withHints());
    const exchange = await sendRaw(proxy.port, request('/page', { version: '1.0' }));
    expect(exchange.bytes.toString('latin1')).toMatch(/^HTTP\/1\.1 200 /);
    expect(exchange.bytes.toString('latin1')).not.toMatch(/103/);
  });

  it('1xx: 100 Continue from the origin keeps being dropped', async () => {
    const { proxy } = await startOriginAndProxy(cleanups, withHints());
    const exchange = await sendRaw(proxy.port, request('/continue'));
    expect(exchange.bytes.toString('latin1')).toMatch(/^HTTP\/1\.1 200 /);
    expect(parseResponses(exchange)[0].body.toString()).toBe('after continue');
  });

  it('1xx/R2: collapsed clients waiting for the head each get it if HTTP/1.1; an HTTP/1.0 one does not; a late joiner does not; the origin sees one request', async () => {
    const hintsGo = kit.signal();
    const release = kit.signal();
    const { origin, proxy } = await startOriginAndProxy(cleanups, withHints(release.promise, hintsGo.promise));
    const [first, second, old, late] = await Promise.all([1, 2, 3, 4].map(() => kit.client(proxy.port)));
    await first.write(request('/collapsed'));
    await origin.waitForRequests(1);
    await second.write(request('/collapsed'));
    await old.write(request('/collapsed', { version: '1.0' }));
    await waitFor(() => proxy.proxy.stats().inflight.readers === 3, 3000, 'three clients attached');
    hintsGo.resolve();
    for (const client of [first, second]) await client.readUntil((bytes) => bytes.includes('\r\n\r\n'));
    // Attached after the 103 went out: the hint is not replayed (it is no part of the object).
    await late.write(request('/collapsed'));
    await waitFor(() => proxy.proxy.stats().inflight.readers === 4, 3000, 'the late joiner attached');
    release.resolve();
    const finals = await Promise.all([first, second, old, late].map((c) => c.readResponse()));
    expect(finals.map((r) => r.status)).toEqual([200, 200, 200, 200]);
    expect(finals.map((r) => r.body.toString())).toEqual(['final', 'final', 'final', 'final']);
    expect(origin.requests).toHaveLength(1);
    for (const client of [first, second]) expect(client.received().toString('latin1')).toMatch(/^HTTP\/1\.1 103 Early Hints\r\nLink: <\/style\.css>; rel=preload\r\n\r\nHTTP\/1\.1 200 /);
    for (const client of [old, late]) expect(client.received().toString('latin1')).toMatch(/^HTTP\/1\.1 200 /);
  });

  it('1xx/R4: a pass (an unshareable response) relays the 103 to its own client', async () => {
    const { proxy } = await startOriginAndProxy(cleanups, withHints());
    const responses = parseResponses(await sendRaw(proxy.port, request('/private')), ['GET', 'GET']);
    expect(responses.map((r) => r.status)).toEqual([103, 200]);
    const passed = parseResponses(await sendRaw(proxy.port, request('/private', { headers: [['Authorization', 'Bearer x']] })), ['GET', 'GET']);
    expect(passed.map((r) => r.status)).toEqual([103, 200]);
  });

  it('1xx/H2: an HTTP/2 client waiting beside an HTTP/1.1 one gets its response unharmed (no interim over HTTP/2 yet)', async () => {
    const hintsGo = kit.signal();
    const { origin, proxy } = await startOriginAndProxy(cleanups, withHints(undefined, hintsGo.promise), { h2c: true });
    const h1 = await kit.client(proxy.port);
    await h1.write(request('/mixed'));
    await origin.waitForRequests(1);
    const session = connectH2(proxy.port);
    cleanups.push(() => closeSession(session));
    const viaH2 = h2Request(session, '/mixed', { host: 'interim.test' });
    await waitFor(() => proxy.proxy.stats().inflight.readers === 2, 3000, 'both clients attached');
    hintsGo.resolve();
    const h2 = await viaH2;
    expect(h2.status).toBe(200);
    expect(h2.body.toString()).toBe('final');
    expect((await h1.readResponse()).body.toString()).toBe('final');
    expect(h1.received().toString('latin1')).toMatch(/^HTTP\/1\.1 103 Early Hints\r\n/);
  });
});
