// InflightFetch's transitions without sockets: a fake origin request and client hosts, a real
// store and index (test/support/stream-fakes.ts). Each test names the rule the transition proves.
import { describe, expect, it } from 'vitest';
import { InflightFetch } from '../../src/stream/fetch.js';
import { ObjectReader, type ReaderRole } from '../../src/stream/reader.js';
import { WRITE_AHEAD } from '../../src/stream/response-writer.js';
import { HeaderFields } from '../../src/http1/headers.js';
import { OriginError } from '../../src/net/origin-connection.js';
import { clientExchange, decision, FakeHost, FakeOrigin, fetchEnvironment, nextTurn, responseHead, type FakeEnvironment } from '../support/stream-fakes.js';

const CHUNKED = { kind: 'chunked' } as const;

function setup(env: FakeEnvironment = fetchEnvironment()) {
  const origin = new FakeOrigin();
  const request = clientExchange(new FakeHost()).request;
  const fetch = new InflightFetch(env, 'example/x', request, null);
  fetch.start(origin.asRequest());
  const finished: Array<{ reader: ObjectReader; error?: string }> = [];
  const join = (role: ReaderRole, options: Parameters<typeof clientExchange>[1] = {}) => {
    const host = new FakeHost();
    const reader = new ObjectReader(clientExchange(host, options), role, {
      progressed: () => fetch.readerProgressed(),
      finished(r, error) {
        fetch.readerFinished(r);
        finished.push({ reader: r, error });
      },
    });
    fetch.attach(reader);
    return { host, reader };
  };
  return { env, origin, fetch, join, finished };
}

describe('InflightFetch transitions', () => {
  it('R2: clients that ask while the head is awaited attach to the one fetch; each gets the same bytes, appended once', async () => {
    const { env, fetch, join } = setup();
    expect(fetch.state).toBe('awaiting-head');
    expect(fetch.canAttach(HeaderFields.from([]), Date.now())).toBe(true);
    const a = join('MISS');
    const b = join('COLLAPSED');
    fetch.onHead(responseHead([['Cache-Control', 'max-age=60']]), CHUNKED);
    expect(fetch.state).toBe('receiving');
    fetch.onBody(Buffer.from('hello '));
    fetch.onBody(Buffer.from('world'));
    await nextTurn();
    // A late joiner replays what is there, then follows live.
    const c = join('COLLAPSED');
    fetch.onEnd();
    await nextTurn();
    expect(fetch.state).toBe('complete');
    for (const client of [a, b, c]) {
      expect(client.host.text).toMatch(/^HTTP\/1\.1 200 OK\r\n/);
      expect(client.host.text).toContain('Transfer-Encoding: chunked\r\n');
      expect(client.host.body).toBe('6\r\nhello \r\n5\r\nworld\r\n0\r\n\r\n');
      expect(client.host.ended).toEqual({ abrupt: false, reason: undefined });
    }
    expect(env.store.used).toBe(11);
    expect(env.settledFetches).toEqual([fetch]);
  });

  it('R4: an unshareable response goes to its own client as a pass; the others are dispatched afresh; the key is hit-for-pass', () => {
    const env = fetchEnvironment({ decide: decision({ share: false, store: false, hitForPass: true }) });
    const { fetch, join, finished } = setup(env);
    const own = join('MISS');
    const other = join('COLLAPSED');
    fetch.onHead(responseHead([['Cache-Control', 'no-store']]), { kind: 'length', length: 3 });
    expect(fetch.state).toBe('handed-off');
    expect(env.handedOff).toEqual([own.reader]);
    expect(env.redispatched).toEqual([other.reader]);
    expect(env.index.isHitForPass('example/x', Date.now())).toBe(true);
    expect(fetch.canAttach(HeaderFields.from([]), Date.now())).toBe(false);
    // Released readers wrote nothing and log nothing: the pass and the new dispatch do.
    expect(own.host.pieces).toEqual([]);
    expect(other.host.pieces).toEqual([]);
    expect(finished).toEqual([]);
  });

  it('R5: the object enters the index only once complete, never after a failure', async () => {
    const ok = setup();
    ok.join('MISS');
    ok.fetch.onHead(responseHead(), { kind: 'length', length: 4 });
    ok.fetch.onBody(Buffer.from('abcd'));
    expect(ok.env.index.lookup('example/x', HeaderFields.from([]))).toBeUndefined();
    ok.fetch.onEnd();
    const stored = ok.env.index.lookup('example/x', HeaderFields.from([]));
    expect(stored?.state).toBe('complete');
    expect(stored?.dead).toBe(false);

    const bad = setup();
    bad.join('MISS');
    bad.fetch.onHead(responseHead(), { kind: 'length', length: 4 });
    bad.fetch.onBody(Buffer.from('ab'));
    bad.fetch.onError(new OriginError('premature-close', 'body', 'origin closed mid-body'));
    await nextTurn();
    expect(bad.fetch.state).toBe('failed');
    expect(bad.fetch.object?.state).toBe('failed');
    expect(bad.fetch.object?.dead).toBe(true);
    expect(bad.env.index.lookup('example/x', HeaderFields.from([]))).toBeUndefined();
  });

  it('R6: once the object in flight is no longer fresh, new requests do not attach to it', () => {
    const env = fetchEnvironment({ decide: decision({ policy: { storable: true, ttl: 2, mustRevalidate: false, source: 'test' } }) });
    const { fetch, join } = setup(env);
    join('MISS');
    fetch.onHead(responseHead(), CHUNKED);
    const now = Date.now();
    expect(fetch.canAttach(HeaderFields.from([]), now)).toBe(true);
    expect(fetch.canAttach(HeaderFields.from([]), now + 3_000)).toBe(false);
  });

  it('L5: an object past the store holds its overflow within the window: the origin waits for the slowest reader, then resumes; it is never cached', async () => {
    const env = fetchEnvironment({ storeSize: 256, slabSize: 64, overflowWindow: 1000 });
    const { fetch, join, origin } = setup(env);
    const slow = join('MISS');
    fetch.onHead(responseHead([['Cache-Control', 'max-age=60']]), CHUNKED);
    await nextTurn();
    // The client's socket is full: the reader may not write ahead.
    slow.host.bufferedBytes = WRITE_AHEAD;
    for (let i = 0; i < 10; i++) fetch.onBody(Buffer.alloc(200, 107 + i));
    await nextTurn();
    const object = fetch.object!;
    expect(object.overflowed).toBe(true);
    expect(object.overflowBytes).toBeGreaterThan(1000);
    expect(origin.paused).toBe(1);
    slow.host.drain();
    expect(object.overflowBytes).toBe(0);
    expect(origin.resumed).toBe(1);
    fetch.onEnd();
    await nextTurn();
    expect(slow.host.ended).toEqual({ abrupt: false, reason: undefined });
    // Letters k-t: never read as chunk sizes.
    expect(slow.host.body.replace(/[0-9a-f]+\r\n|\r\n/g, '')).toBe(Array.from({ length: 10 }, (_, i) => String.fromCharCode(107 + i).repeat(200)).join(''));
    expect(env.index.lookup('example/x', HeaderFields.from([]))).toBeUndefined();
  });

  it('O2: a failure after the head cuts the streaming client abruptly (no last chunk); O1: one still waiting gets a 503', async () => {
    const { fetch, join, finished } = setup();
    const streaming = join('MISS');
    // An HTTP/1.0 client cannot stream a body of unknown length (F3): it waits for the whole body.
    const waiting = join('COLLAPSED', { version: { major: 1, minor: 0 } });
    fetch.onHead(responseHead(), CHUNKED);
    fetch.onBody(Buffer.from('part'));
    await nextTurn();
    expect(waiting.reader.state).toBe('waiting-body');
    fetch.onError(new OriginError('reset', 'body', 'origin reset'));
    expect(streaming.host.ended).toEqual({ abrupt: true, reason: 'origin reset' });
    expect(streaming.host.body).toBe('4\r\npart\r\n');
    expect(waiting.host.text).toMatch(/^HTTP\/1\.1 503 Service Unavailable\r\n/);
    expect(waiting.host.text).toContain('X-Cache: MISS\r\n');
    expect(waiting.host.body).toBe('origin reset\n');
    expect(waiting.host.ended).toEqual({ abrupt: false, reason: undefined });
    expect(finished.map((f) => f.error)).toEqual(['origin reset', 'origin reset']);
    expect(finished.map((f) => f.reader.failure?.kind)).toEqual(['origin', 'origin']);
  });

  it('L2: a Content-Length above the limit fails at the head: 503 to every client, the origin aborted, a typed too-large reason', () => {
    const env = fetchEnvironment({ maxObjectSize: 100 });
    const { fetch, join, origin } = setup(env);
    const a = join('MISS');
    fetch.onHead(responseHead(), { kind: 'length', length: 101 });
    expect(fetch.state).toBe('failed');
    expect(origin.aborted).toBe(1);
    expect(a.host.text).toMatch(/^HTTP\/1\.1 503 /);
    expect(a.reader.failure).toMatchObject({ kind: 'too-large', limit: 100 });
  });
});
