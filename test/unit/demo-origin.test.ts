import { createHash } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { fillLargeBody, LARGE_BODY_PERIOD, largeBodyByte, largeBodySha256, largeBodySlice, startDemoOrigin } from '../../src/demo/origin.js';
import type { DemoOrigin } from '../../src/demo/origin.js';
import { createServer } from 'node:http';
import { DEMO_PAGE } from '../../src/demo/page.js';
import { closeServer, freePort, listenOnFreePort, waitFor } from '../support/ports.js';

interface SseEvent {
  id: number;
  event: string;
  data: { id: number; sentAt: number; data?: unknown; url?: string; size?: number; contentType?: string };
}

/** A /events response read as it comes: the text so far, its events, and a way to hang up. */
interface OpenStream {
  response: Response;
  text(): string;
  events(): SseEvent[];
  ended: Promise<void>;
  close(): Promise<void>;
}

async function openStream(url: string): Promise<OpenStream> {
  const controller = new AbortController();
  const response = await fetch(url, { signal: controller.signal });
  const reader = (response.body as ReadableStream<Uint8Array>).getReader();
  const decoder = new TextDecoder();
  let text = '';
  const ended = (async () => {
    try {
      for (let chunk = await reader.read(); !chunk.done; chunk = await reader.read()) text += decoder.decode(chunk.value, { stream: true });
    } catch {
      // aborted
    }
  })();
  return {
    response,
    text: () => text,
    events: () => parseEvents(text.slice(0, text.lastIndexOf('\n\n') + 2)),
    ended,
    close: async () => {
      controller.abort();
      await ended;
    },
  };
}

async function publish(url: string, body: string, contentType = 'application/json'): Promise<{ status: number; json: Record<string, unknown>; headers: Headers }> {
  const response = await fetch(`${url}/publish`, { method: 'POST', headers: { 'Content-Type': contentType }, body });
  return { status: response.status, json: (await response.json()) as Record<string, unknown>, headers: response.headers };
}

/** The events of an SSE text; blocks without an id (the retry line, heartbeat comments) are left out. */
function parseEvents(text: string): SseEvent[] {
  return text
    .split('\n\n')
    .filter((block) => /^id: /m.test(block))
    .map((block) => {
      const fields = new Map(block.split('\n').map((line) => [line.slice(0, line.indexOf(':')), line.slice(line.indexOf(':') + 2)] as const));
      return { id: Number(fields.get('id')), event: fields.get('event') ?? '', data: JSON.parse(fields.get('data') ?? 'null') };
    });
}

async function sha256OfResponse(response: Response): Promise<{ sha256: string; length: number }> {
  const hash = createHash('sha256');
  let length = 0;
  for await (const chunk of response.body as unknown as AsyncIterable<Uint8Array>) {
    hash.update(chunk);
    length += chunk.length;
  }
  return { sha256: hash.digest('hex'), length };
}

describe('demo origin', () => {
  let origin: DemoOrigin;
  beforeAll(async () => {
    origin = await startDemoOrigin({ streamDurationMs: 300, eventIntervalMs: 40 });
  });
  afterAll(() => origin.close());

  it('listens on an ephemeral loopback port and reports its URL', () => {
    expect(origin.port).toBeGreaterThan(0);
    expect(origin.url).toBe(`http://127.0.0.1:${origin.port}`);
  });

  it('GET / is the demo page: cacheable HTML with Content-Length that links to the other endpoints', async () => {
    const response = await fetch(`${origin.url}/`);
    const body = await response.text();
    expect(response.status).toBe(200);
    expect(response.headers.get('content-type')).toMatch(/^text\/html/);
    expect(response.headers.get('cache-control')).toBe('max-age=60');
    expect(Number(response.headers.get('content-length'))).toBe(Buffer.byteLength(body));
    expect(body).toContain('href="/events"');
    expect(body).toContain('href="/large/');
  });

  it('C2: /events follows the push-stream recipe (no-cache, s-maxage shorter than the stream), chunked, no Content-Length', async () => {
    const response = await fetch(`${origin.url}/events`);
    const text = await response.text();
    expect(response.status).toBe(200);
    expect(response.headers.get('content-type')).toBe('text/event-stream');
    // A 300 ms stream: s-maxage is at least 1 (0 would make it uncacheable, and every viewer a fetch).
    expect(response.headers.get('cache-control')).toBe('no-cache, s-maxage=1');
    expect(response.headers.get('content-length')).toBeNull();
    expect(response.headers.get('transfer-encoding')).toBe('chunked');
    // The retry line goes out first, with the head: EventSource reconnects that soon after the end.
    expect(text.startsWith('retry: 1000\n\n')).toBe(true);
  });

  it('/events ticks with increasing ids that continue across streams, and each stream ends', async () => {
    const first = parseEvents(await (await fetch(`${origin.url}/events`)).text());
    const second = parseEvents(await (await fetch(`${origin.url}/events`)).text());
    // 300 ms at one event per 40 ms: about 7 each; a loaded machine delays timers a lot.
    expect(first.length).toBeGreaterThanOrEqual(1);
    expect(second.length).toBeGreaterThanOrEqual(1);
    expect(first.length + second.length).toBeGreaterThanOrEqual(3);
    const ids = [...first, ...second].map((e) => e.id);
    for (let i = 1; i < ids.length; i++) expect(ids[i]).toBe(ids[i - 1] + 1);
    for (const event of [...first, ...second]) {
      expect(event.event).toBe('tick');
      expect(event.data.id).toBe(event.id);
      expect(Math.abs(event.data.sentAt - Date.now())).toBeLessThan(10_000);
    }
  });

  it('/events stops ticking when the client goes away', async () => {
    const stream = await openStream(`${origin.url}/events`);
    await waitFor(() => stream.events().length > 0, 2_000, 'a tick');
    const lastSeen = Math.max(...stream.events().map((e) => e.id));
    await stream.close();
    // A timer left running would spend about 5 ids in this pause.
    await sleep(200);
    const next = parseEvents(await (await fetch(`${origin.url}/events`)).text());
    expect(next[0].id).toBeLessThanOrEqual(lastSeen + 2);
  });

  it('/large/N sends exactly N deterministic bytes with Content-Length, matching largeBodySha256', async () => {
    const size = 3 * 1024 * 1024 + 12_345;
    const response = await fetch(`${origin.url}/large/${size}`);
    expect(response.status).toBe(200);
    expect(response.headers.get('content-length')).toBe(String(size));
    expect(response.headers.get('cache-control')).toBe('max-age=3600');
    expect(await sha256OfResponse(response)).toEqual({ sha256: largeBodySha256(size), length: size });
  });

  it('/large/N?chunked=1 sends the same bytes chunked, without Content-Length', async () => {
    const size = 2 * 1024 * 1024 + 7;
    const response = await fetch(`${origin.url}/large/${size}?chunked=1`);
    expect(response.headers.get('content-length')).toBeNull();
    expect(response.headers.get('transfer-encoding')).toBe('chunked');
    expect(await sha256OfResponse(response)).toEqual({ sha256: largeBodySha256(size), length: size });
  });

  it('/large streams a big body with backpressure (64 MiB, read to the end)', async () => {
    const size = 64 * 1024 * 1024;
    const response = await fetch(`${origin.url}/large/${size}`);
    expect(await sha256OfResponse(response)).toEqual({ sha256: largeBodySha256(size), length: size });
  });

  it('/large/0 is an empty body', async () => {
    const response = await fetch(`${origin.url}/large/0`);
    expect(response.headers.get('content-length')).toBe('0');
    expect((await response.arrayBuffer()).byteLength).toBe(0);
  });

  it.each(['abc', '-1', '', '1.5', '99999999999999999'])('/large/%s is 400', async (size) => {
    const response = await fetch(`${origin.url}/large/${size}`);
    expect(response.status).toBe(400);
    expect(await response.text()).toContain('bad size');
  });

  it('anything else is 404 with a short text', async () => {
    const response = await fetch(`${origin.url}/nothing/here`);
    expect(response.status).toBe(404);
    expect(await response.text()).toBe('not found: /nothing/here\n');
  });

  it('counts requests per path', async () => {
    const before = origin.requests('/counted');
    const total = origin.requests();
    await (await fetch(`${origin.url}/counted`)).text();
    await (await fetch(`${origin.url}/counted?x=1`)).text();
    expect(origin.requests('/counted')).toBe(before + 2);
    expect(origin.requests()).toBe(total + 2);
  });
});

describe('demo origin: the publisher', () => {
  let origin: DemoOrigin;
  beforeAll(async () => {
    // Publishing only (no tick), 1.5 s streams, no replay: each test controls what a stream carries.
    origin = await startDemoOrigin({ streamDurationMs: 1_500, streamMaxAge: 1, eventIntervalMs: 0, retryMs: 250, replayMs: 0, heartbeatMs: 0 });
  });
  afterAll(() => origin.close());

  it('C2: the stream head says s-maxage as configured; 30 s streams get the recipe s-maxage=28 by default', async () => {
    const response = await fetch(`${origin.url}/events`, { method: 'HEAD' });
    expect(response.headers.get('cache-control')).toBe('no-cache, s-maxage=1');
    const defaults = await startDemoOrigin();
    try {
      const head = await fetch(`${defaults.url}/events`, { method: 'HEAD' });
      expect(head.status).toBe(200);
      expect(head.headers.get('cache-control')).toBe('no-cache, s-maxage=28');
      expect(defaults.streamStarts()).toEqual([]); // a HEAD is not a stream
    } finally {
      await defaults.close();
    }
  });

  it('POST /publish (JSON) sends one event to every open stream, the same id on each', async () => {
    const [a, b] = await Promise.all([openStream(`${origin.url}/events`), openStream(`${origin.url}/events`)]);
    await waitFor(() => origin.openStreams() === 2, 2_000, 'two streams');
    expect(a.text().startsWith('retry: 250\n\n')).toBe(true);
    const before = Date.now();
    const result = await publish(origin.url, JSON.stringify({ event: 'news', data: { headline: 'hello', n: 1 } }));
    expect(result.status).toBe(200);
    expect(result.headers.get('cache-control')).toBe('no-store');
    expect(result.json).toMatchObject({ event: 'news', streams: 2, queued: false, size: JSON.stringify({ headline: 'hello', n: 1 }).length });
    const id = result.json.id as number;
    for (const stream of [a, b]) {
      await waitFor(() => stream.events().length === 1, 2_000, 'the event');
      const [event] = stream.events();
      expect(event).toMatchObject({ id, event: 'news', data: { id, data: { headline: 'hello', n: 1 } } });
      expect(event.data.sentAt).toBeGreaterThanOrEqual(before);
      expect(event.data.sentAt).toBe(result.json.sentAt);
    }
    await Promise.all([a.close(), b.close()]);
  });

  it('POST /publish with a text body publishes the text as data; ?event= names it; the default name is message', async () => {
    const stream = await openStream(`${origin.url}/events`);
    await waitFor(() => origin.openStreams() === 1, 2_000, 'a stream');
    const first = await publish(origin.url, 'plain words', 'text/plain');
    const second = await fetch(`${origin.url}/publish?event=alert`, { method: 'POST', body: 'fire' });
    expect(first.json).toMatchObject({ event: 'message', streams: 1 });
    expect(await second.json()).toMatchObject({ event: 'alert', streams: 1 });
    await waitFor(() => stream.events().length === 2, 2_000, 'two events');
    expect(stream.events().map((e) => [e.event, e.data.data])).toEqual([
      ['message', 'plain words'],
      ['alert', 'fire'],
    ]);
    await stream.close();
  });

  it('an event published while no stream is open waits for the next stream, and opens it', async () => {
    await waitFor(() => origin.openStreams() === 0, 3_000, 'no stream open');
    const result = await publish(origin.url, JSON.stringify({ data: 'while nobody listens' }));
    expect(result.json).toMatchObject({ streams: 0, queued: true });
    expect((await origin.demoStats()).origin.queued).toBe(1);
    const stream = await openStream(`${origin.url}/events`);
    await waitFor(() => stream.events().length === 1, 2_000, 'the waiting event');
    expect(stream.events()[0]).toMatchObject({ id: result.json.id, data: { data: 'while nobody listens' } });
    expect((await origin.demoStats()).origin.queued).toBe(0);
    await stream.close();
    // Delivered once: with replay off, the next stream does not carry it again.
    const next = await openStream(`${origin.url}/events`);
    await sleep(100);
    expect(next.events()).toEqual([]);
    await next.close();
  });

  it('a payload above the inline limit (4 KiB) is not inlined: the event carries /payload/<id>, served with max-age=3600', async () => {
    const stream = await openStream(`${origin.url}/events`);
    await waitFor(() => origin.openStreams() >= 1, 2_000, 'a stream');
    const big = { blob: 'z'.repeat(5_000) };
    const json = await publish(origin.url, JSON.stringify({ data: big }));
    const text = await publish(origin.url, 'w'.repeat(4_097), 'text/plain');
    const small = await publish(origin.url, JSON.stringify({ data: 'x'.repeat(4_094) })); // 4096 bytes as JSON: inlined
    expect(json.json).toMatchObject({ url: `/payload/${json.json.id}`, size: JSON.stringify(big).length });
    expect(small.json.url).toBeUndefined();
    await waitFor(() => stream.events().length === 3, 2_000, 'three events');
    const [first, second, third] = stream.events();
    expect(first.data).toMatchObject({ url: `/payload/${json.json.id}`, size: JSON.stringify(big).length, contentType: 'application/json' });
    expect(first.data.data).toBeUndefined();
    expect(second.data).toMatchObject({ url: `/payload/${text.json.id}`, size: 4_097, contentType: 'text/plain; charset=utf-8' });
    expect(third.data.data).toBe('x'.repeat(4_094));
    // The stream stays small: what a late joiner replays is notifications, not payloads.
    expect(stream.text().length).toBeLessThan(4_096 + 600);

    const payload = await fetch(`${origin.url}${first.data.url}`);
    expect(payload.status).toBe(200);
    expect(payload.headers.get('cache-control')).toBe('max-age=3600');
    expect(payload.headers.get('content-type')).toBe('application/json');
    expect(await payload.json()).toEqual(big);
    const textPayload = await fetch(`${origin.url}${second.data.url}`);
    expect(textPayload.headers.get('content-type')).toBe('text/plain; charset=utf-8');
    expect(await textPayload.text()).toBe('w'.repeat(4_097));
    expect((await fetch(`${origin.url}/payload/999999`)).status).toBe(404);
    await stream.close();
  });

  it.each([
    { what: 'not JSON', body: '{oops', message: 'not JSON' },
    { what: 'JSON without data', body: '{"event":"news"}', message: 'data' },
    { what: 'a JSON array', body: '[1,2]', message: 'data' },
    { what: 'an event name with a newline', body: '{"event":"a\\nb","data":1}', message: 'event name' },
    { what: 'a non-string event', body: '{"event":5,"data":1}', message: 'event must be a string' },
  ])('POST /publish with $what is 400', async ({ body, message }) => {
    const result = await publish(origin.url, body);
    expect(result.status).toBe(400);
    expect(String(result.json.error)).toContain(message);
  });

  it('POST /publish above 1 MiB is 413; GET /publish is 405; other paths refuse POST', async () => {
    const tooBig = await fetch(`${origin.url}/publish`, { method: 'POST', body: 'x'.repeat(1024 * 1024 + 1) }).catch((err: unknown) => err);
    // The origin answers 413 and stops reading; the client may see the answer or the closed socket.
    if (tooBig instanceof Response) expect(tooBig.status).toBe(413);
    const get = await fetch(`${origin.url}/publish`);
    expect(get.status).toBe(405);
    expect(get.headers.get('allow')).toBe('POST');
    expect((await fetch(`${origin.url}/events`, { method: 'POST', body: 'x' })).status).toBe(405);
  });

  it('ids are shared by ticks and published events, and increase across streams', async () => {
    const ticking = await startDemoOrigin({ streamDurationMs: 400, eventIntervalMs: 50, replayMs: 0 });
    try {
      const stream = await openStream(`${ticking.url}/events`);
      await waitFor(() => stream.events().length >= 2, 2_000, 'two ticks');
      const published = ticking.publish({ data: 'between ticks' });
      await stream.ended;
      const second = parseEvents(await (await fetch(`${ticking.url}/events`)).text());
      const all = [...stream.events(), ...second];
      expect(all.find((e) => e.id === published.id)).toMatchObject({ event: 'message', data: { data: 'between ticks' } });
      for (let i = 1; i < all.length; i++) expect(all[i].id).toBe(all[i - 1].id + 1);
    } finally {
      await ticking.close();
    }
  });

  it('overlapping streams carry the same tick ids (one ticker for all streams)', async () => {
    const ticking = await startDemoOrigin({ streamDurationMs: 600, eventIntervalMs: 40 });
    try {
      const a = await openStream(`${ticking.url}/events`);
      await sleep(150);
      const b = await openStream(`${ticking.url}/events`);
      await Promise.all([a.ended, b.ended]);
      const idsA = new Set(a.events().map((e) => e.id));
      const idsB = b.events().map((e) => e.id);
      expect(idsB.length).toBeGreaterThanOrEqual(3);
      // Whatever b got while a was open, a got too.
      const lastOfA = Math.max(...idsA);
      for (const id of idsB.filter((i) => i <= lastOfA)) expect(idsA.has(id)).toBe(true);
    } finally {
      await ticking.close();
    }
  });

  it('replay: a new stream opens with the events of the last replayMs, so a late reconnect misses nothing', async () => {
    const replaying = await startDemoOrigin({ streamDurationMs: 300, eventIntervalMs: 0, replayMs: 1_000, heartbeatMs: 0 });
    try {
      const first = await openStream(`${replaying.url}/events`);
      await waitFor(() => replaying.openStreams() === 1, 2_000, 'a stream');
      const a = replaying.publish({ data: 'a' });
      const b = replaying.publish({ data: 'b' });
      await first.ended;
      const second = parseEvents(await (await fetch(`${replaying.url}/events`)).text());
      expect(second.map((e) => e.id)).toEqual([a.id, b.id]);
      await sleep(1_100);
      const third = parseEvents(await (await fetch(`${replaying.url}/events`)).text());
      expect(third).toEqual([]);
    } finally {
      await replaying.close();
    }
  });

  it('a silent stream gets a heartbeat comment (a cache gives up on an origin silent for its between-bytes timeout)', async () => {
    const quiet = await startDemoOrigin({ streamDurationMs: 500, eventIntervalMs: 0, heartbeatMs: 100 });
    try {
      const text = await (await fetch(`${quiet.url}/events`)).text();
      expect(text.match(/^:\n\n/gm)?.length).toBeGreaterThanOrEqual(1);
    } finally {
      await quiet.close();
    }
  });
});

describe('demo origin: /demo-stats and the page', () => {
  it('/demo-stats: the origin\'s counts, no-store; proxy numbers null until statsUrl is set', async () => {
    const origin = await startDemoOrigin({ streamDurationMs: 200, eventIntervalMs: 0 });
    try {
      await (await fetch(`${origin.url}/events`)).text();
      origin.publish({ event: 'news', data: 1 });
      const response = await fetch(`${origin.url}/demo-stats`);
      expect(response.headers.get('cache-control')).toBe('no-store');
      const stats = (await response.json()) as Record<string, unknown>;
      expect(stats).toMatchObject({
        origin: { streamsStarted: 1, streamsOpen: 0, lastEventId: 1, published: 1, queued: 1, eventNames: ['news'], streamDurationMs: 200, streamMaxAge: 1 },
        proxy: null,
      });
      expect(stats.proxyError).toBeUndefined();
    } finally {
      await origin.close();
    }
  });

  it('/demo-stats merges the proxy\'s admin /stats (subscribers = inflight.readers), and says why when it cannot', async () => {
    let adminHits = 0;
    const admin = createServer((req, res) => {
      adminHits++;
      res.writeHead(200, { 'Content-Type': 'application/json' });
      res.end(JSON.stringify({ inflight: { readers: 7, objects: 1, bufferedBytes: 120 }, connections: { clients: 9 }, originFetches: 3, collapsedAttaches: 6 }));
    });
    const adminPort = await listenOnFreePort(admin);
    const origin = await startDemoOrigin({ statsUrl: `http://127.0.0.1:${adminPort}/stats` });
    try {
      const stats = (await (await fetch(`${origin.url}/demo-stats`)).json()) as Record<string, unknown>;
      expect(stats.proxy).toEqual({ subscribers: 7, clientConnections: 9, originFetches: 3, collapsedAttaches: 6, inflightObjects: 1, inflightBufferedBytes: 120 });
      // Many pages polling at once: one admin request serves all that come within 250 ms.
      const hits = adminHits;
      await Promise.all(Array.from({ length: 10 }, () => fetch(`${origin.url}/demo-stats`).then((r) => r.text())));
      expect(adminHits - hits).toBeLessThanOrEqual(5);

      origin.setStatsUrl(`http://127.0.0.1:${await freePort()}/stats`);
      const down = (await (await fetch(`${origin.url}/demo-stats`)).json()) as Record<string, unknown>;
      expect(down.proxy).toBeNull();
      expect(String(down.proxyError)).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/stats: /);
    } finally {
      await origin.close();
      await closeServer(admin);
    }
  });

  it('/ and /demo serve the page (max-age=60); it subscribes to /events, polls /demo-stats, publishes to /publish', async () => {
    const origin = await startDemoOrigin();
    try {
      for (const path of ['/', '/demo']) {
        const response = await fetch(`${origin.url}${path}`);
        expect(response.headers.get('cache-control')).toBe('max-age=60');
        expect(await response.text()).toBe(DEMO_PAGE);
      }
    } finally {
      await origin.close();
    }
    expect(DEMO_PAGE).toContain("new EventSource('/events')");
    expect(DEMO_PAGE).toContain("fetch('/demo-stats'");
    expect(DEMO_PAGE).toContain("fetch('/publish'");
  });

  it('the page\'s script is valid JavaScript (there is no build step to catch a typo)', () => {
    const scripts = [...DEMO_PAGE.matchAll(/<script>([\s\S]*?)<\/script>/g)].map((m) => m[1]);
    expect(scripts).toHaveLength(1);
    expect(() => new Function(scripts[0])).not.toThrow();
  });
});

describe('large body helpers', () => {
  it('slices, fill and byte-by-byte agree at any offset, across the period', () => {
    const offset = 3 * LARGE_BODY_PERIOD - 100;
    const filled = fillLargeBody(Buffer.alloc(300), offset);
    for (let i = 0; i < filled.length; i++) expect(filled[i]).toBe(largeBodyByte(offset + i));
    expect(largeBodySlice(offset, 300).equals(filled)).toBe(true);
  });

  it('fillLargeBody crosses slice boundaries (2.5 MiB from an odd offset)', () => {
    const offset = 1_000_003;
    const filled = fillLargeBody(Buffer.alloc(2.5 * 1024 * 1024), offset);
    for (const i of [0, 1, 1024 * 1024 - 1, 1024 * 1024, 2 * 1024 * 1024 + 17, filled.length - 1]) {
      expect(filled[i]).toBe(largeBodyByte(offset + i));
    }
    expect(createHash('sha256').update(fillLargeBody(Buffer.alloc(5000), 0)).digest('hex')).toBe(largeBodySha256(5000));
  });

  it('uses every byte value, so a text decoding on the way would corrupt it', () => {
    const seen = new Set(largeBodySlice(0, LARGE_BODY_PERIOD));
    expect(seen.size).toBe(256);
  });
});
