// Micro benchmarks of the hit path's stages above the socket and the parser (issue 18): the cache
// key and lookup, the head and write of a hit (the general path, an ObjectReader and its HTTP/1
// writer, beside the plain hit), and the access line. Socket-free: the client is a host that only
// counts what it is given.
//   npm run build && node dist/bench/micro-hit.js        (env BENCH_TIME = ms per task, default 1000)
import { pino } from 'pino';
import { HeaderFields } from '../src/http1/headers.js';
import type { RequestHead } from '../src/http1/message.js';
import { CacheObject } from '../src/cache/object.js';
import { CacheIndex, cacheKey } from '../src/cache/index.js';
import { RingStore } from '../src/cache/store.js';
import { ClientExchange, type ExchangeHost, type OutgoingBytes } from '../src/net/client-exchange.js';
import { accessLine, jsonText, type AccessRecord } from '../src/proxy/access-log.js';
import { hitReaderHooks, serveHit, servePlainHit } from '../src/proxy/cache-flow.js';
import type { ProxyContext } from '../src/proxy/context.js';
import { validateRequest } from '../src/proxy/origin-request.js';
import { ProxyCounters } from '../src/proxy/stats.js';
import { runMicroSuite, type MicroTask } from './micro-suite.js';


// ---------------------------------------------------------------------------------------------
// Inputs: the stages bench's hit (GET /hit, 1 KiB, max-age=3600) behind the origin's usual fields.

/** A client connection that takes every write at once and counts the bytes. */
class CountingHost implements ExchangeHost {
  readonly remoteAddress = '127.0.0.1';
  readonly bufferedBytes = 0;
  bytes = 0;
  ended = 0;
  canPersist(): boolean {
    return true;
  }
  write(data: OutgoingBytes | readonly OutgoingBytes[], onWritten?: (err?: Error | null) => void): boolean {
    for (const piece of Array.isArray(data) ? data : [data as OutgoingBytes]) this.bytes += piece.length;
    onWritten?.(null);
    return true;
  }
  writeNow(data: OutgoingBytes): boolean {
    return this.write(data);
  }
  waitDrain(_exchange: ClientExchange, callback: () => void): void {
    callback();
  }
  resumeReading(): void {}
  exchangeEnded(): void {
    this.ended++;
  }
}

function request(): RequestHead {
  return { method: 'GET', target: '/hit', version: { major: 1, minor: 1 }, headers: new HeaderFields(['Host', 'bench', 'User-Agent', 'streamcache-bench']) };
}

const store = new RingStore(4 * 1024 * 1024, 1024 * 1024);
const index = new CacheIndex(store);
const storedHeaders = HeaderFields.from([
  ['Content-Type', 'application/octet-stream'],
  ['Date', 'Mon, 07 Dec 2026 12:00:00 GMT'],
  ['Cache-Control', 'max-age=3600'],
  ['ETag', '"3f9a1c2e-400"'],
  ['Last-Modified', 'Sun, 06 Dec 2026 00:00:00 GMT'],
  ['Via', '1.1 streamcache'],
  ['Accept-Ranges', 'bytes'],
]);
const objectHead = { status: 200, reason: 'OK', headers: storedHeaders };
const hitObject = new CacheObject('bench/hit', { ...objectHead, version: { major: 1, minor: 1 } }, objectHead, { storable: true, ttl: 3600, mustRevalidate: false, source: 'bench' }, Date.now(), 0, 1024);
hitObject.append(Buffer.alloc(1024, 'x'), store);
hitObject.markComplete();
index.insert(hitObject);

const host = new CountingHost();
const logger = pino({ level: 'warn' });
const ctx = {
  options: { viaName: 'streamcache', maxObjectSizeBuffered: 1024 * 1024 },
  hooks: {},
  stats: new ProxyCounters(),
  logger,
  esi: undefined,
  hitReaderHooks: hitReaderHooks(() => ctx),
} as unknown as ProxyContext;

// ---------------------------------------------------------------------------------------------

/** Every task here loops a synchronous fn `batch` times per sample. */
type Spec = MicroTask & { batch: number };

let sink: unknown;
const specs: Spec[] = [];

{
  let fresh = 0;
  let looked = 0;
  specs.push({
    name: 'lookup: validate, cache key, index lookup, freshness',
    batch: 64,
    fn: () => {
      const req = request();
      const target = validateRequest(req);
      if (typeof target === 'string') throw new Error(target);
      looked++;
      if (index.lookup(cacheKey(req, target.path), req.headers)?.isFresh(Date.now())) fresh++;
    },
    check: () => (fresh === looked ? null : `${fresh} of ${looked} lookups found the hit fresh`),
  });
}

{
  let served = 0;
  const before = host.bytes;
  specs.push({
    name: 'hit, general path (ObjectReader + Http1ResponseWriter), head and write',
    batch: 64,
    fn: () => {
      serveHit(ctx, new ClientExchange(host, request(), { kind: 'none' }, true), hitObject);
      served++;
    },
    check: () => (host.ended >= served && host.bytes > before ? null : `${host.ended} ended of ${served}`),
  });
}

specs.push({
  name: 'hit, plain hit (writePlainHit), head and write',
  batch: 64,
  fn: () => servePlainHit(ctx, new ClientExchange(host, request(), { kind: 'none' }, true), hitObject, Date.now()),
  check: () => (hitObject.pins === 0 ? null : `${hitObject.pins} pins left`),
});

{
  const exchange = new ClientExchange(host, request(), { kind: 'none' }, true);
  exchange.bytesSent = 1325;
  const record: AccessRecord = { exchange, status: 200, cache: 'HIT', firstByteAt: exchange.startedAt + 0.05 };
  specs.push({
    name: 'access line (accessLine)',
    batch: 64,
    fn: () => {
      sink = accessLine(record, exchange.startedAt + 0.1, 1_796_000_000_000);
    },
  });
  specs.push({
    name: 'escape a path: jsonText (a scan)',
    batch: 256,
    fn: () => {
      sink = jsonText('/assets/js/app.3f9a1c2e.js?v=000123');
    },
  });
  specs.push({
    name: '  reference: JSON.stringify of the same path',
    batch: 256,
    fn: () => {
      sink = JSON.stringify('/assets/js/app.3f9a1c2e.js?v=000123');
    },
  });
}

// ---------------------------------------------------------------------------------------------

await runMicroSuite('streamcache micro benchmarks (hit path: lookup, head and write, access line)', specs);
void sink;
