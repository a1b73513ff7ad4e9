// Fakes for driving the stream layer's state machines without sockets: an ExchangeHost that
// records what a client would receive, an origin request that records pause/resume/abort, and a
// FetchEnvironment over a real RingStore and CacheIndex (the store is not mocked).
import pino from 'pino';
import { ClientExchange, type ExchangeHost, type OutgoingBytes } from '../../src/net/client-exchange.js';
import { HeaderFields } from '../../src/http1/headers.js';
import type { HttpVersion, ResponseHead } from '../../src/http1/message.js';
import type { OriginRequest } from '../../src/net/origin-pool.js';
import type { OriginResponseHandler } from '../../src/net/origin-connection.js';
import { RingStore } from '../../src/cache/store.js';
import { CacheIndex } from '../../src/cache/index.js';
import type { FetchEnvironment, HeadDecision, InflightFetch } from '../../src/stream/fetch.js';
import type { ObjectReader } from '../../src/stream/reader.js';

/** What one client's connection got: the bytes, how the response ended, drain waiters. */
export class FakeHost implements ExchangeHost {
  readonly remoteAddress = '127.0.0.1';
  /** Set it to hold a reader back (write-ahead, R7). */
  bufferedBytes = 0;
  readonly pieces: Buffer[] = [];
  writes = 0;
  ended: { abrupt: boolean; reason?: string } | null = null;
  private drains: Array<() => void> = [];

  canPersist(): boolean {
    return true;
  }

  write(data: OutgoingBytes | readonly OutgoingBytes[], onWritten?: (err?: Error | null) => void): boolean {
    this.writes++;
    for (const piece of Array.isArray(data) ? data : [data as OutgoingBytes]) {
      this.pieces.push(typeof piece === 'string' ? Buffer.from(piece, 'latin1') : Buffer.from(piece));
    }
    if (onWritten) queueMicrotask(() => onWritten(null));
    return true;
  }

  writeNow(data: OutgoingBytes): boolean {
    return this.write(data);
  }

  waitDrain(_exchange: ClientExchange, callback: () => void): void {
    this.drains.push(callback);
  }

  resumeReading(): void {}

  exchangeEnded(_exchange: ClientExchange, abrupt: boolean, reason?: string): void {
    this.ended = { abrupt, reason };
  }

  /** The socket took everything: waiting writers go on. */
  drain(): void {
    this.bufferedBytes = 0;
    for (const callback of this.drains.splice(0)) callback();
  }

  get text(): string {
    return Buffer.concat(this.pieces).toString('latin1');
  }

  /** The body after the head (as framed). */
  get body(): string {
    const text = this.text;
    return text.slice(text.indexOf('\r\n\r\n') + 4);
  }
}

export function clientExchange(host: FakeHost, options: { method?: string; version?: HttpVersion; headers?: [string, string][] } = {}): ClientExchange {
  const request = { method: options.method ?? 'GET', target: '/x', version: options.version ?? { major: 1, minor: 1 }, headers: HeaderFields.from([['Host', 'example'], ...(options.headers ?? [])]) };
  return new ClientExchange(host, request, { kind: 'none' }, true);
}

/** An origin request that only records what the fetch asked of it. */
export class FakeOrigin {
  aborted = 0;
  paused = 0;
  resumed = 0;
  abort(): void {
    this.aborted++;
  }
  pause(): void {
    this.paused++;
  }
  resume(): void {
    this.resumed++;
  }
  asRequest(): OriginRequest {
    return this as unknown as OriginRequest;
  }
}

export function responseHead(headers: [string, string][] = [], status = 200): ResponseHead {
  return { status, reason: 'OK', version: { major: 1, minor: 1 }, headers: HeaderFields.from(headers) };
}

export function decision(overrides: Partial<HeadDecision> = {}): HeadDecision {
  return {
    policy: { storable: true, ttl: 60, mustRevalidate: false, source: 'test' },
    share: true,
    store: true,
    stream: true,
    hitForPass: false,
    clientHead: { status: 200, reason: 'OK', headers: HeaderFields.from([['Content-Type', 'text/plain']]) },
    ...overrides,
  };
}

export interface FakeEnvironment extends FetchEnvironment {
  readonly redispatched: ObjectReader[];
  readonly handedOff: ObjectReader[];
  readonly settledFetches: InflightFetch[];
}

export function fetchEnvironment(options: { decide?: HeadDecision; storeSize?: number; slabSize?: number; overflowWindow?: number; maxObjectSize?: number } = {}): FakeEnvironment {
  const store = new RingStore(options.storeSize ?? 1024 * 1024, options.slabSize ?? 64 * 1024);
  const redispatched: ObjectReader[] = [];
  const handedOff: ObjectReader[] = [];
  const settledFetches: InflightFetch[] = [];
  const relay: OriginResponseHandler = { onHead() {}, onBody() {}, onEnd() {}, onError() {} };
  return {
    store,
    index: new CacheIndex(store),
    logger: pino({ level: 'silent' }),
    maxObjectSize: options.maxObjectSize ?? 1024 * 1024,
    maxObjectSizeBuffered: options.maxObjectSize ?? 1024 * 1024,
    hitForPassMs: 10_000,
    overflowWindow: options.overflowWindow ?? 1024 * 1024,
    backlogWarningBytes: Number.MAX_SAFE_INTEGER,
    backlogPassed() {},
    decide: () => options.decide ?? decision(),
    redispatch: (reader) => {
      reader.release();
      redispatched.push(reader);
    },
    handOff: (reader) => {
      reader.release();
      handedOff.push(reader);
      return relay;
    },
    settled: (fetch) => settledFetches.push(fetch),
    redispatched,
    handedOff,
    settledFetches,
  };
}

/** One turn of the event loop: the fetch wakes its readers with setImmediate. */
export const nextTurn = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));
