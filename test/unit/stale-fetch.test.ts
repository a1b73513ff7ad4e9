// InflightFetch refreshing a stale object, without sockets (test/support/stream-fakes.ts): the
// G2 fallback to every client that got no byte, a 5xx taken as a failure, our own limits not
// covered, and a background revalidation (G1) that leaves the stale object in the index until its
// result is complete.
import { describe, expect, it } from 'vitest';
import { InflightFetch } from '../../src/stream/fetch.js';
import { ObjectReader, type ReaderRole } from '../../src/stream/reader.js';
import { OriginError } from '../../src/net/origin-connection.js';
import { HeaderFields } from '../../src/http1/headers.js';
import type { CacheObject } from '../../src/cache/object.js';
import type { StaleWindows } from '../../src/cache/stale.js';
import type { FetchFailure } from '../../src/stream/reasons.js';
import { clientExchange, decision, FakeHost, FakeOrigin, fetchEnvironment, nextTurn, responseHead, type FakeEnvironment } from '../support/stream-fakes.js';

const KEY = 'example/x';
const request = clientExchange(new FakeHost()).request;

/** An environment whose objects live 10 s and may be served stale as `windows` say; failures recorded. */
function staleEnvironment(windows: StaleWindows, maxObjectSize?: number) {
  const env = fetchEnvironment({ maxObjectSize });
  const failures: Array<{ failure: FetchFailure; served: number }> = [];
  // The head clients get keeps the origin's ETag (G4: a validator makes the object eligible).
  const clientHead = { status: 200, reason: 'OK', headers: HeaderFields.from([['ETag', '"v1"']]) };
  env.decide = () => decision({ policy: { storable: true, ttl: 10, mustRevalidate: false, source: 'test' }, stale: windows, clientHead });
  env.refreshFailed = (_fetch, failure, served) => void failures.push({ failure, served });
  return { env, failures };
}

/** A complete object, 15 s old on arrival (stale by 5 s), in the index. */
function storeStale(env: FakeEnvironment): CacheObject {
  const fetch = new InflightFetch(env, KEY, request, null);
  fetch.start(new FakeOrigin().asRequest());
  fetch.onHead(responseHead([['Age', '15'], ['ETag', '"v1"']]), { kind: 'length', length: 3 });
  fetch.onBody(Buffer.from('old'));
  fetch.onEnd();
  const stored = env.index.lookup(KEY, request.headers)!;
  expect(stored.isFresh(Date.now())).toBe(false);
  return stored;
}

function refresh(env: FakeEnvironment, stale: CacheObject, background = false) {
  const origin = new FakeOrigin();
  const fetch = new InflightFetch(env, KEY, request, stale, background);
  fetch.start(origin.asRequest());
  const join = (role: ReaderRole) => {
    const host = new FakeHost();
    const reader = new ObjectReader(clientExchange(host), role, { finished: (r) => fetch.readerFinished(r) });
    fetch.attach(reader);
    return { host, reader };
  };
  return { fetch, origin, join };
}

describe('G2: a refresh that fails serves the stale object', () => {
  it('G2: a connect failure: every waiting client gets the stale object as a hit; counted once with how many it served', async () => {
    const { env, failures } = staleEnvironment({ whileRevalidate: 0, ifError: 600 });
    const stale = storeStale(env);
    const { fetch, join } = refresh(env, stale);
    const clients = [join('MISS'), join('COLLAPSED')];
    fetch.onError(new OriginError('connect-failed', 'head', 'cannot connect to origin: ECONNREFUSED'));
    await nextTurn();
    for (const { host, reader } of clients) {
      expect(host.text).toMatch(/^HTTP\/1\.1 200 OK\r\n/);
      expect(host.text).toContain('X-Cache: HIT\r\n');
      expect(host.body).toBe('old');
      expect(reader.staleBecause).toMatchObject({ kind: 'origin', origin: 'connect-failed' });
    }
    expect(failures).toEqual([{ failure: expect.objectContaining({ kind: 'origin' }), served: 2 }]);
    expect(env.index.lookup(KEY, request.headers)).toBe(stale);
  });

  it('G2: a 5xx head is a failure: the origin is dropped and no byte of it reaches a client', async () => {
    const { env, failures } = staleEnvironment({ whileRevalidate: 0, ifError: 600 });
    const { fetch, origin, join } = refresh(env, storeStale(env));
    const client = join('MISS');
    fetch.onHead(responseHead([], 503), { kind: 'length', length: 4 });
    await nextTurn();
    expect(origin.aborted).toBe(1);
    expect(client.host.body).toBe('old');
    expect(failures[0]).toMatchObject({ failure: { kind: 'origin-status', status: 503 }, served: 1 });
  });

  it('G2: outside the window the clients get the 503 of O1', async () => {
    const { env } = staleEnvironment({ whileRevalidate: 0, ifError: 2 });
    const { fetch, join } = refresh(env, storeStale(env));
    const client = join('MISS');
    fetch.onError(new OriginError('first-byte-timeout', 'head', 'first byte timeout (15000 ms)'));
    await nextTurn();
    expect(client.host.text).toMatch(/^HTTP\/1\.1 503 /);
  });

  it('G2: our own size limit (L2) is no origin failure: 503, not the stale object', async () => {
    const { env } = staleEnvironment({ whileRevalidate: 0, ifError: 600 }, 100);
    const { fetch, join } = refresh(env, storeStale(env));
    const client = join('MISS');
    fetch.onHead(responseHead(), { kind: 'length', length: 1000 });
    await nextTurn();
    expect(client.host.text).toMatch(/^HTTP\/1\.1 503 /);
  });
});

describe('G1: a background revalidation', () => {
  it('G1: its new head leaves the stale object in the index; the complete result replaces it', async () => {
    const { env } = staleEnvironment({ whileRevalidate: 600, ifError: 0 });
    const stale = storeStale(env);
    const { fetch } = refresh(env, stale, true);
    fetch.onHead(responseHead(), { kind: 'length', length: 3 });
    fetch.onBody(Buffer.from('new'));
    expect(env.index.lookup(KEY, request.headers)).toBe(stale);
    fetch.onEnd();
    const replaced = env.index.lookup(KEY, request.headers)!;
    expect(replaced).not.toBe(stale);
    expect(replaced.length).toBe(3);
    expect(stale.dead).toBe(true);
  });

  it('G1/O2: a body that fails leaves the stale object in place, counted as a failed refresh', () => {
    const { env, failures } = staleEnvironment({ whileRevalidate: 600, ifError: 0 });
    const stale = storeStale(env);
    const { fetch } = refresh(env, stale, true);
    fetch.onHead(responseHead(), { kind: 'length', length: 3 });
    fetch.onError(new OriginError('premature-close', 'body', 'origin closed the connection'));
    expect(env.index.lookup(KEY, request.headers)).toBe(stale);
    expect(stale.dead).toBe(false);
    expect(failures).toHaveLength(1);
  });

  it('G1: a 5xx nobody waits on is a failed refresh, the stale object stays', () => {
    const { env, failures } = staleEnvironment({ whileRevalidate: 600, ifError: 0 });
    const stale = storeStale(env);
    const { fetch, origin } = refresh(env, stale, true);
    fetch.onHead(responseHead([], 500), { kind: 'length', length: 3 });
    expect(origin.aborted).toBe(1);
    expect(failures[0]).toMatchObject({ failure: { kind: 'origin-status', status: 500 }, served: 0 });
    expect(env.index.lookup(KEY, request.headers)).toBe(stale);
  });
});
