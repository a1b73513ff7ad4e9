// ObjectReader's transitions and its ResponseWriter, without sockets: a CacheObject over a real
// store, a fake client host (test/support/stream-fakes.ts). Each test names the rule it proves.
import { describe, expect, it } from 'vitest';
import { HeaderFields } from '../../src/http1/headers.js';
import { CacheObject } from '../../src/cache/object.js';
import { RingStore } from '../../src/cache/store.js';
import { ObjectReader } from '../../src/stream/reader.js';
import { WRITE_AHEAD } from '../../src/stream/response-writer.js';
import { clientExchange, FakeHost } from '../support/stream-fakes.js';

const POLICY = { storable: true, ttl: 60, mustRevalidate: false, source: 'test' };

function object(body: string[], options: { complete?: boolean; declaredLength?: number; headers?: [string, string][] } = {}): CacheObject {
  const headers = HeaderFields.from(options.headers ?? [['Content-Type', 'text/plain']]);
  const head = { status: 200, reason: 'OK', headers };
  const o = new CacheObject('example/x', { ...head, version: { major: 1, minor: 1 } }, head, POLICY, Date.now(), 0, options.declaredLength);
  const store = new RingStore(64 * 1024, 4096);
  for (const piece of body) o.append(Buffer.from(piece), store);
  if (options.complete !== false) o.markComplete();
  return o;
}

function reader(options: Parameters<typeof clientExchange>[1] = {}) {
  const host = new FakeHost();
  const finished: Array<string | undefined> = [];
  const r = new ObjectReader(clientExchange(host, options), 'HIT', { finished: (_reader, error) => finished.push(error) });
  return { host, reader: r, finished };
}

describe('ObjectReader transitions', () => {
  it('F1/R5: a hit is one write of head (Content-Length, Age, X-Cache) and body; the reader is done, unpinned once written', async () => {
    const o = object(['hello ', 'world']);
    const { host, reader: r, finished } = reader();
    r.begin(o, true);
    expect(r.state).toBe('done');
    expect(host.writes).toBe(1);
    expect(host.text).toMatch(/^HTTP\/1\.1 200 OK\r\nContent-Type: text\/plain\r\nContent-Length: 11\r\nAge: 0\r\nX-Cache: HIT\r\nX-Cache-Hits: 0\r\n\r\nhello world$/);
    expect(host.ended).toEqual({ abrupt: false, reason: undefined });
    expect(finished).toEqual([undefined]);
    expect(o.pins).toBe(1);
    await Promise.resolve();
    expect(o.pins).toBe(0);
  });

  it('F4: HEAD gets the head a GET would (Content-Length) and no body', () => {
    const { host, reader: r } = reader({ method: 'HEAD' });
    r.begin(object(['abc']), true);
    expect(host.text).toContain('Content-Length: 3\r\n');
    expect(host.text.endsWith('\r\n\r\n')).toBe(true);
  });

  it('F2/R3: a filling object of unknown length streams chunked to an HTTP/1.1 client, head first, then each wake', () => {
    const o = object(['one'], { complete: false });
    const { host, reader: r } = reader();
    r.begin(o, true);
    expect(r.state).toBe('writing');
    expect(host.text).toContain('Transfer-Encoding: chunked\r\n');
    expect(host.body).toBe('3\r\none\r\n');
    o.append(Buffer.from('two!'), new RingStore(1024, 256));
    r.wake();
    expect(host.body).toBe('3\r\none\r\n4\r\ntwo!\r\n');
    o.markComplete();
    r.wake();
    expect(host.body).toBe('3\r\none\r\n4\r\ntwo!\r\n0\r\n\r\n');
    expect(r.state).toBe('done');
  });

  it('F3/V1: an HTTP/1.0 client waits for the whole body of unknown length, then gets it with Content-Length', () => {
    const o = object(['abc'], { complete: false });
    const { host, reader: r } = reader({ version: { major: 1, minor: 0 } });
    r.begin(o, true);
    expect(r.state).toBe('waiting-body');
    expect(host.pieces).toEqual([]);
    o.markComplete();
    r.wake();
    expect(host.text).toMatch(/^HTTP\/1\.1 200 OK\r\n/);
    expect(host.text).toContain('Content-Length: 3\r\n');
    expect(host.text).toContain('Connection: keep-alive\r\n');
    expect(host.text).not.toContain('chunked');
    expect(host.body).toBe('abc');
  });

  it('R7: a reader writes at most WRITE_AHEAD beyond its client, then waits for drain', () => {
    const o = object(['a', 'b'], { complete: false });
    const { host, reader: r } = reader();
    host.bufferedBytes = WRITE_AHEAD;
    r.begin(o, true);
    // The head left; no body byte did (no room).
    expect(r.cursor).toBe(0);
    expect(host.body).toBe('');
    host.drain();
    expect(r.cursor).toBe(2);
    expect(host.body).toBe('1\r\na\r\n1\r\nb\r\n');
  });

  it('O1: a failure before the head is a 503 with the reason; O2: after it, an abrupt close without the last chunk', () => {
    const waiting = reader({ version: { major: 1, minor: 0 } });
    waiting.reader.begin(object(['x'], { complete: false }), true);
    waiting.reader.fail('origin fetch failed', { kind: 'origin', origin: 'reset', message: 'origin fetch failed' });
    expect(waiting.host.text).toMatch(/^HTTP\/1\.1 503 Service Unavailable\r\nContent-Type: text\/plain; charset=utf-8\r\nContent-Length: 20\r\nX-Cache: MISS\r\n\r\norigin fetch failed\n$/);
    expect(waiting.reader.status).toBe(503);
    expect(waiting.reader.failure?.kind).toBe('origin');
    expect(waiting.finished).toEqual(['origin fetch failed']);

    const streaming = reader();
    streaming.reader.begin(object(['x'], { complete: false }), true);
    streaming.reader.fail('origin fetch failed mid-body');
    expect(streaming.host.ended).toEqual({ abrupt: true, reason: 'origin fetch failed mid-body' });
    expect(streaming.host.body).toBe('1\r\nx\r\n');
    expect(streaming.reader.status).toBe(200);
  });

  it('C3: a reader served from a revalidated object says HIT', () => {
    const { host, reader: r } = reader();
    const own = new ObjectReader(clientExchange(new FakeHost()), 'MISS', { finished() {} });
    own.servedFromStore();
    expect(own.role).toBe('HIT');
    r.begin(object(['a']), true);
    expect(host.text).toContain('X-Cache: HIT\r\n');
  });

  it('a wrong object transition throws (a coding error)', () => {
    const o = object(['a']);
    expect(() => o.markComplete()).toThrow(/no transition from complete to complete/);
    expect(() => o.markFailed()).toThrow(/no transition from complete to failed/);
    expect(() => o.append(Buffer.from('b'), new RingStore(1024, 256))).toThrow(/append to a complete object/);
  });
});
