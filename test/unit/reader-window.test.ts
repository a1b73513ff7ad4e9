// ObjectReader with a window (B1-B3) and as one part of a segmented response (B4), without sockets:
// a CacheObject over a real store, a fake client host (test/support/stream-fakes.ts).
import { describe, expect, it } from 'vitest';
import { HeaderFields } from '../../src/http1/headers.js';
import { CacheObject } from '../../src/cache/object.js';
import { RingStore } from '../../src/cache/store.js';
import { ObjectReader, type PartPlan, type ReaderPart } from '../../src/stream/reader.js';
import { Http1ResponseWriter } from '../../src/stream/http1-writer.js';
import type { OutgoingBytes } from '../../src/net/client-exchange.js';
import { clientExchange, FakeHost } from '../support/stream-fakes.js';

/** The fields the writer adds to an error head in these tests. */
const MISS_FIELDS: readonly (readonly [string, string])[] = [['X-Cache', 'MISS']];

const POLICY = { storable: true, ttl: 60, mustRevalidate: false, source: 'test' };

/** A host that also keeps the very buffers it was handed, to tell a view of the store from a copy. */
class ViewRecordingHost extends FakeHost {
  readonly handed: Buffer[] = [];
  override write(data: OutgoingBytes | readonly OutgoingBytes[], onWritten?: (err?: Error | null) => void): boolean {
    for (const piece of Array.isArray(data) ? data : [data as OutgoingBytes]) if (typeof piece !== 'string') this.handed.push(piece as Buffer);
    return super.write(data, onWritten);
  }
}

function object(store: RingStore, body: string[], options: { complete?: boolean; declaredLength?: number } = {}): CacheObject {
  const head = { status: 200, reason: 'OK', headers: HeaderFields.from([['ETag', '"e"']]) };
  const o = new CacheObject('example/x', { ...head, version: { major: 1, minor: 1 } }, head, POLICY, Date.now(), 0, options.declaredLength);
  for (const piece of body) o.append(Buffer.from(piece), store);
  if (options.complete !== false) o.markComplete();
  return o;
}

describe('ObjectReader: a window on the cursor', () => {
  it('B1: a 206 from a hit is written from views of the store (its memory, not a copy)', () => {
    const store = new RingStore(64 * 1024, 4096);
    const o = object(store, ['0123456789', 'abcdefghij']);
    const host = new ViewRecordingHost();
    const r = new ObjectReader(clientExchange(host, { headers: [['Range', 'bytes=5-14']] }), 'HIT', { finished() {} });
    r.begin(o, true);
    expect(host.text).toMatch(/^HTTP\/1\.1 206 Partial Content\r\nETag: "e"\r\nContent-Length: 10\r\nContent-Range: bytes 5-14\/20\r\n/);
    expect(host.body).toBe('56789abcde');
    const views = host.handed.filter((b) => b.length === 5);
    expect(views).toHaveLength(2);
    for (const view of views) expect(view.buffer).toBe(o.chunks[0]!.buffer);
  });

  it('B2: a window on a filling object ends at its last byte, before the object completes, and unpins once written', async () => {
    const store = new RingStore(64 * 1024, 4096);
    const o = object(store, ['01234'], { complete: false, declaredLength: 20 });
    const host = new FakeHost();
    const finished: Array<string | undefined> = [];
    const r = new ObjectReader(clientExchange(host, { headers: [['Range', 'bytes=3-7']] }), 'COLLAPSED', { finished: (_r, e) => finished.push(e) });
    r.begin(o, true);
    expect(r.state).toBe('writing');
    expect(host.body).toBe('34');
    o.append(Buffer.from('56789'), store);
    r.wake();
    expect(r.state).toBe('done');
    expect(host.body).toBe('34567');
    expect(host.ended).toEqual({ abrupt: false, reason: undefined });
    expect(finished).toEqual([undefined]);
    await Promise.resolve();
    expect(o.pins).toBe(0);
  });

  it('B2: a range on a filling object of unknown length waits for the complete object', () => {
    const store = new RingStore(64 * 1024, 4096);
    const o = object(store, ['01234'], { complete: false });
    const host = new FakeHost();
    const r = new ObjectReader(clientExchange(host, { headers: [['Range', 'bytes=-3']] }), 'COLLAPSED', { finished() {} });
    r.begin(o, true);
    expect(r.state).toBe('waiting-body');
    expect(host.writes).toBe(0);
    o.append(Buffer.from('56789'), store);
    o.markComplete();
    r.wake();
    expect(host.text).toContain('Content-Range: bytes 7-9/10\r\n');
    expect(host.body).toBe('789');
  });

  it('B1: 416 carries Content-Range bytes */LENGTH and Content-Length 0', () => {
    const o = object(new RingStore(64 * 1024, 4096), ['0123456789']);
    const host = new FakeHost();
    new ObjectReader(clientExchange(host, { headers: [['Range', 'bytes=10-']] }), 'HIT', { finished() {} }).begin(o, true);
    expect(host.text).toMatch(/^HTTP\/1\.1 416 Range Not Satisfiable\r\n/);
    expect(host.text).toContain('Content-Length: 0\r\nContent-Range: bytes */10\r\n');
    expect(host.body).toBe('');
  });
});

describe('ObjectReader as a part of a segmented response', () => {
  function part(writer: Http1ResponseWriter, plan: PartPlan): ReaderPart {
    return { writer, plan: () => plan, refused() {} };
  }

  it('B4: the first part writes the head, later parts only bytes; only the last ends the response', () => {
    const store = new RingStore(64 * 1024, 4096);
    const host = new FakeHost();
    const exchange = clientExchange(host);
    const writer = new Http1ResponseWriter(exchange, { errorFields: MISS_FIELDS });
    const first = new ObjectReader(exchange, 'HIT', { finished() {} }, undefined, part(writer, { window: { start: 0, end: 4 }, head: { status: 200, length: 8, fields: [] }, last: false }));
    first.begin(object(store, ['abcd']), true);
    expect(host.text).toContain('Content-Length: 8\r\n');
    expect(host.ended).toBeNull();
    const second = new ObjectReader(exchange, 'HIT', { finished() {} }, undefined, part(writer, { window: { start: 0, end: 4 }, last: true }));
    second.begin(object(store, ['efgh']), true);
    expect(host.body).toBe('abcdefgh');
    expect(host.ended).toEqual({ abrupt: false, reason: undefined });
  });

  it('B4, O2: a part after the head that fails ends the response abruptly, never with a 503 inside the body', () => {
    const store = new RingStore(64 * 1024, 4096);
    const host = new FakeHost();
    const exchange = clientExchange(host);
    const writer = new Http1ResponseWriter(exchange, { errorFields: MISS_FIELDS });
    new ObjectReader(exchange, 'HIT', { finished() {} }, undefined, part(writer, { window: { start: 0, end: 4 }, head: { status: 200, length: 8, fields: [] }, last: false })).begin(object(store, ['abcd']), true);
    const filling = object(store, ['ef'], { complete: false, declaredLength: 4 });
    const second = new ObjectReader(exchange, 'MISS', { finished() {} }, undefined, part(writer, { window: { start: 0, end: 4 }, last: true }));
    second.begin(filling, true);
    second.fail('origin fetch failed mid-body');
    expect(host.body).toBe('abcdef');
    expect(host.text).not.toContain('503');
    expect(host.ended).toEqual({ abrupt: true, reason: 'origin fetch failed mid-body' });
  });
});
