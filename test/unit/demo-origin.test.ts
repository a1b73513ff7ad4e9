import { createHash } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { fillLargeBody, LARGE_BODY_PERIOD, largeBodyByte, largeBodySha256, largeBodySlice, startDemoOrigin } from '../../src/demo/origin.js';
import type { DemoOrigin } from '../../src/demo/origin.js';

interface SseEvent {
  id: number;
  event: string;
  data: { id: number; sentAt: number };
}

function parseEvents(text: string): SseEvent[] {
  return text
    .split('\n\n')
    .filter((block) => block.trim() !== '')
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

  it('GET / is a small cacheable HTML page with Content-Length that links to the other endpoints', async () => {
    const response = await fetch(`${origin.url}/`);
    const body = await response.text();
    expect(response.status).toBe(200);
    expect(response.headers.get('content-type')).toMatch(/^text\/html/);
    expect(response.headers.get('cache-control')).toBe('max-age=60');
    expect(Number(response.headers.get('content-length'))).toBe(Buffer.byteLength(body));
    expect(body).toContain('href="/events"');
    expect(body).toContain('href="/large/');
  });

  it('C2: /events follows the push-stream recipe (no-cache, s-maxage=28), chunked, no Content-Length', async () => {
    const response = await fetch(`${origin.url}/events`);
    await response.text();
    expect(response.status).toBe(200);
    expect(response.headers.get('content-type')).toBe('text/event-stream');
    expect(response.headers.get('cache-control')).toBe('no-cache, s-maxage=28');
    expect(response.headers.get('content-length')).toBeNull();
    expect(response.headers.get('transfer-encoding')).toBe('chunked');
  });

  it('/events ticks with increasing ids that continue across streams, and each stream ends', async () => {
    const first = parseEvents(await (await fetch(`${origin.url}/events`)).text());
    const second = parseEvents(await (await fetch(`${origin.url}/events`)).text());
    // 300 ms at one event per 40 ms, first event at once: about 8 each; allow for a loaded machine.
    expect(first.length).toBeGreaterThanOrEqual(3);
    expect(second.length).toBeGreaterThanOrEqual(3);
    const ids = [...first, ...second].map((e) => e.id);
    for (let i = 1; i < ids.length; i++) expect(ids[i]).toBe(ids[i - 1] + 1);
    for (const event of [...first, ...second]) {
      expect(event.event).toBe('tick');
      expect(event.data.id).toBe(event.id);
      expect(Math.abs(event.data.sentAt - Date.now())).toBeLessThan(10_000);
    }
  });

  it('/events stops ticking when the client goes away', async () => {
    const controller = new AbortController();
    const response = await fetch(`${origin.url}/events`, { signal: controller.signal });
    const reader = (response.body as ReadableStream<Uint8Array>).getReader();
    const { value } = await reader.read();
    const lastSeen = Math.max(...parseEvents(Buffer.from(value as Uint8Array).toString()).map((e) => e.id));
    controller.abort();
    await reader.closed.catch(() => undefined);
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
