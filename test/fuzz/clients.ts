// The three kinds of client the harness drives against the proxy, each a pure plan generated from a
// 32-bit seed plus a runner that plays the plan on real sockets:
//
// - hostile clients: random bytes, mutated requests, smuggling shapes, huge heads, bad chunking,
//   pipelined junk, slow writes, half-closes, abrupt resets, readers that stop reading, floods.
//   Nothing is expected of the proxy's answers, with two exceptions: a smuggled request must never
//   reach the origin (checked there), and a valid request followed by junk must get its response
//   intact before the proxy gives up on the junk.
// - well-behaved groups: 1-8 clients, HTTP/1.0 and 1.1, keep-alive, pipelined or sequential, often
//   on the same URL at the same time (collapsing, replay), slow readers among them. Every response
//   is checked byte for byte against the URL's body (good-urls.ts) with the independent parser of
//   test/support/raw-client.ts.
// - evil fetches: well-formed GETs of /evil/<n> (the hostile origin's answers). The proxy's output
//   must still be valid HTTP framed for the client's version, and when the origin's bytes were a
//   valid response that the proxy relays whole, the client must get exactly its status and body.
import net from 'node:net';
import { openClient, parseResponses, sendRaw, type ParsedResponse, type RawExchange } from '../support/raw-client.js';
import { Rng, hex32, mix32 } from './prng.js';
import { chunked, mutate, showBytes, splitRandom } from './mutate.js';
import { HOT_GOOD_URLS, firstDifference, goodBody, goodPath, goodSpecFor, pickGoodSpec, type GoodSpec } from './good-urls.js';
import { evilExpectation, evilPlan } from './hostile-origin.js';
import { FUZZ_PROXY_OPTIONS, STALL_SHARE } from './config.js';
import { TimerSet, watchPeerEnd } from '../support/socket-watch.js';

/** Something a client saw that the proxy must never do. */
export interface ClientFailure {
  /** The SPEC rule broken (P4, F1, ...), with a short title. */
  rule: string;
  detail: string;
  /**
   * The failure is what a proxy timeout firing produces (a 503 "timeout", a 408, a body cut off, a
   * long silence): an event-loop stall of at least this many ms during the case would explain it.
   */
  stallExplains?: number;
}

/** The stall that would explain `res` (received on a connection the proxy closed or not), if any. */
function stallExplaining(res: ParsedResponse | undefined, closedByProxy: boolean): number | undefined {
  const o = FUZZ_PROXY_OPTIONS;
  const least = Math.min(o.headerTimeout, o.firstByteTimeout, o.betweenBytesTimeout, o.idleTimeout) * STALL_SHARE;
  if (!res) return closedByProxy ? least : undefined;
  if (res.status === 408 || (res.status === 503 && /timeout/i.test(res.body.toString('latin1')))) return least;
  if (!res.complete && closedByProxy) return least;
  return undefined;
}

/** How many /evil/ URLs are hot (requested by many clients, so their objects get cached and shared). */
export const HOT_EVIL_URLS = 64;

const LOOPBACK = '127.0.0.1';

function pickEvilSeed(rng: Rng): number {
  return rng.chance(0.6) ? rng.int(0, HOT_EVIL_URLS - 1) : rng.u32();
}

// ================================================================================================
// Hostile clients

export type HostileStep =
  | { op: 'write'; bytes: Buffer }
  | { op: 'wait'; ms: number }
  /** Half-close (FIN); keep reading. */
  | { op: 'end' }
  /** Abrupt close (RST). */
  | { op: 'reset' }
  /** Stop reading (the proxy's writes back up) / start again. */
  | { op: 'pause' }
  | { op: 'resume' };

export interface HostileConnectionPlan {
  steps: HostileStep[];
  /** After the last step, keep reading until the proxy closes or this long passes without a byte. */
  lingerMs: number;
  /** Socket buffer size (small: backpressure reaches the proxy sooner). */
  highWaterMark?: number;
}

export interface HostilePlan {
  seed: number;
  label: string;
  description: string;
  connections: HostileConnectionPlan[];
  /** The first response on the (single) connection must be this URL's, intact (junk-after-valid). */
  firstResponse?: { spec: GoodSpec; version: '1.0' | '1.1' };
}

export interface HostileOutcome {
  received: Buffer;
  totalBytes: number;
  closedByServer: boolean;
  error?: string;
}

const METHODS: readonly (readonly [number, string])[] = [
  [50, 'GET'], [10, 'HEAD'], [12, 'POST'], [5, 'PUT'], [3, 'DELETE'], [3, 'OPTIONS'], [2, 'PATCH'], [2, 'PURGE'], [1, 'TRACE'], [1, 'CONNECT'], [1, 'get'], [1, 'G\x00T'],
];

const EXTRA_FIELDS: readonly string[] = [
  'User-Agent: fuzz-hostile', 'Accept: */*', 'Accept-Encoding: gzip, br', 'Cache-Control: no-cache', 'Cache-Control: max-age=0', 'Pragma: no-cache',
  'If-None-Match: "e1"', 'If-None-Match: *', 'If-Modified-Since: Mon, 01 Jan 2001 00:00:00 GMT', 'Range: bytes=0-10', 'Cookie: a=b',
  'Connection: keep-alive', 'Connection: close', 'Connection: Upgrade', 'Upgrade: websocket', 'X-Forwarded-For: 10.0.0.1', 'Via: 1.1 other',
  'TE: trailers', 'Expect: 100-continue', 'Authorization: Basic Zm9vOmJhcg==', 'Proxy-Connection: keep-alive', 'Keep-Alive: 300',
  `X-Long: ${'l'.repeat(4000)}`, 'X-Obs: \xe9t\xe9', 'Content-Type: text/plain', 'Max-Forwards: 0',
];

function hostileTarget(rng: Rng): string {
  return rng.weighted<() => string>([
    [35, () => goodPath(goodSpecFor(rng.int(0, HOT_GOOD_URLS - 1)))],
    [5, () => goodPath(pickGoodSpec(rng, 0))],
    [30, () => `/evil/${pickEvilSeed(rng)}`],
    [8, () => `/x/${rng.u32()}${rng.chance(0.3) ? `?q=${rng.u32()}` : ''}`],
    [5, () => `http://${rng.pick(['127.0.0.1', 'example.com', 'a.test:8080'])}${goodPath(goodSpecFor(rng.int(0, HOT_GOOD_URLS - 1)))}`],
    [2, () => '*'],
    [5, () => rng.pick(['/%00', '/a b', '/\xff\xfe', '/..%2f..%2f', '/?', '//', '/#frag', `/${'a'.repeat(rng.int(1000, 20_000))}`, '', 'noslash', '/\t'])],
  ])();
}

interface BuiltRequest {
  bytes: Buffer;
  headLength: number;
}

/** A well-formed request (or, with `method`/`target` from the pools above, a strange but syntactic one). */
function buildRequest(rng: Rng, seed: number, options: { target?: string; method?: string; version?: '1.0' | '1.1'; body?: 'none' | 'length' | 'chunked' } = {}): BuiltRequest {
  const method = options.method ?? rng.weighted(METHODS);
  const target = options.target ?? hostileTarget(rng);
  const version = options.version ?? (rng.chance(0.85) ? '1.1' : '1.0');
  const lines = [`${method} ${target} HTTP/${version}`];
  if (version === '1.1' || rng.chance(0.5)) lines.push(`Host: ${rng.pick(['127.0.0.1', '127.0.0.1', 'example.com', 'a.test:8080', ''])}`);
  lines.push(`X-Fuzz-Case: ${hex32(seed)}`);
  const extra = rng.int(0, 4);
  for (let i = 0; i < extra; i++) lines.push(rng.pick(EXTRA_FIELDS));
  const bodyKind = options.body ?? (['POST', 'PUT', 'PATCH'].includes(method) ? rng.pick(['length', 'chunked', 'none'] as const) : rng.chance(0.05) ? 'length' : 'none');
  let body: Buffer = Buffer.alloc(0);
  if (bodyKind !== 'none') {
    const data = rng.bytes(rng.logInt(0, 20_000));
    if (bodyKind === 'length') {
      lines.push(`Content-Length: ${data.length}`);
      body = data;
    } else {
      lines.push('Transfer-Encoding: chunked');
      body = chunked(data, [rng.logInt(1, 4096), rng.logInt(1, 4096)], { extensions: rng.chance(0.2), rng, trailers: rng.chance(0.1) ? ['X-T: 1'] : [] });
    }
  }
  const head = Buffer.from(`${lines.join('\r\n')}\r\n\r\n`, 'latin1');
  return { bytes: Buffer.concat([head, body]), headLength: head.length };
}

/** A request the proxy must never forward: it lives where a strict parser sees only body bytes or an error. */
function smuggledRequest(seed: number): string {
  return `GET /smuggled/${hex32(seed)} HTTP/1.1\r\nHost: x\r\n\r\n`;
}

/**
 * Request smuggling shapes. In each, a strict HTTP/1.1 parser either rejects the message (P1: 400
 * and close) or reads the smuggled request as body bytes; only a lenient or confused parser sees it
 * as a request of its own.
 */
function smugglingShape(rng: Rng, seed: number): { name: string; bytes: Buffer } {
  const S = smuggledRequest(seed);
  const front = rng.chance(0.5) ? goodPath(goodSpecFor(rng.int(0, HOT_GOOD_URLS - 1))) : `/evil/${pickEvilSeed(rng)}`;
  const method = rng.pick(['POST', 'GET', 'PUT']);
  const h = `Host: 127.0.0.1\r\nX-Fuzz-Case: ${hex32(seed)}\r\n`;
  const req = (fields: string, body: string, version = '1.1'): string => `${method} ${front} HTTP/${version}\r\n${h}${fields}\r\n${body}`;
  const chunkOf = (s: string): string => `${s.length.toString(16)}\r\n${s}\r\n0\r\n\r\n`;
  const shapes: (readonly [string, () => string])[] = [
    ['CL.TE', () => req('Content-Length: 5\r\nTransfer-Encoding: chunked\r\n', `0\r\n\r\n${S}`)],
    ['TE.CL', () => req('Transfer-Encoding: chunked\r\nContent-Length: 4\r\n', chunkOf(S))],
    ['TE obfuscated + CL', () => req(`Content-Length: 5\r\nTransfer-Encoding: ${rng.pick(['xchunked', 'chunked ', 'Chunked', 'chunked, identity', 'identity, chunked', 'chunked;q=1', '"chunked"', 'chunked\x0b', '\x0cchunked'])}\r\n`, `0\r\n\r\n${S}`)],
    ['TE name obfuscated + CL', () => req(`Content-Length: 5\r\n${rng.pick(['Transfer-Encoding : chunked', 'Transfer-Encoding\t: chunked', 'X: y\r\n Transfer-Encoding: chunked', 'X: y\r\n\tTransfer-Encoding: chunked'])}\r\n`, `0\r\n\r\n${S}`)],
    ['CL.CL differing', () => req(`Content-Length: 5\r\nContent-Length: ${5 + S.length}\r\n`, `0\r\n\r\n${S}`)],
    ['CL list differing', () => req(`Content-Length: 5, ${5 + S.length}\r\n`, `0\r\n\r\n${S}`)],
    ['CL invalid', () => req(`Content-Length: ${rng.pick(['+5', '5.0', '0x5', '5 5', '5e0', '-5', '05a', '\x005'])}\r\n`, `0\r\n\r\n${S}`)],
    ['chunk size invalid', () => req('Transfer-Encoding: chunked\r\n', `${rng.pick(['0x0', '+0', '-0', '0_0', 'g', '', '0\x00', 'fffffffffffffffff0'])}\r\n\r\n${S}`)],
    ['chunked LF-only', () => req('Transfer-Encoding: chunked\r\n', `0\n\n${S}`)],
    ['chunk data overrun', () => req('Transfer-Encoding: chunked\r\n', `2\r\nabcd\r\n0\r\n\r\n${S}`)],
    ['HTTP/1.0 TE keep-alive', () => req('Connection: keep-alive\r\nTransfer-Encoding: chunked\r\n', `0\r\n\r\n${S}`, '1.0')],
    ['GET with CL body', () => `GET ${front} HTTP/1.1\r\n${h}Content-Length: ${S.length}\r\n\r\n${S}`],
    ['chunked body holding a request', () => req('Transfer-Encoding: chunked\r\n', chunkOf(S))],
    ['unsupported TE', () => req(`Transfer-Encoding: ${rng.pick(['gzip', 'identity', 'deflate, chunked, gzip', 'chunked, chunked'])}\r\n`, `0\r\n\r\n${S}`)],
    ['NUL in CL', () => req('Content-Length: 0\x00\r\n', S)],
    ['obs-fold CL', () => req('X-A: b\r\n Content-Length: 0\r\n', S)],
    ['CL in obs-fold value', () => req('Content-Length: 5\r\n 0\r\n', `0\r\n\r\n${S}`)],
  ];
  const [name, make] = rng.pick(shapes);
  return { name, bytes: Buffer.from(make(), 'latin1') };
}

/** Splits `bytes` into write steps, sometimes with pauses (past the header timeout now and then). */
function writeSteps(rng: Rng, bytes: Buffer, maxPieces = 6): HostileStep[] {
  if (rng.chance(0.6)) return [{ op: 'write', bytes }];
  const steps: HostileStep[] = [];
  for (const piece of splitRandom(rng, bytes, maxPieces)) {
    if (steps.length) steps.push({ op: 'wait', ms: rng.weighted<() => number>([[80, () => rng.int(0, 40)], [15, () => rng.int(40, 300)], [5, () => rng.int(500, 900)]])() });
    steps.push({ op: 'write', bytes: piece });
  }
  return steps;
}

/** How a hostile connection ends after its bytes: linger and read, FIN, or reset. */
function ending(rng: Rng): HostileStep[] {
  return rng.weighted<HostileStep[]>([[60, []], [20, [{ op: 'end' }]], [20, [{ op: 'wait', ms: rng.int(0, 300) }, { op: 'reset' }]]]);
}

export function hostilePlan(seed: number): HostilePlan {
  const rng = new Rng(mix32(seed, 0x4057));
  const linger = (): number => rng.weighted<() => number>([[70, () => rng.int(100, 1500)], [30, () => rng.int(0, 100)]])();
  const single = (label: string, description: string, steps: HostileStep[], extra: Partial<HostilePlan> = {}): HostilePlan => ({
    seed, label, description, connections: [{ steps, lingerMs: linger() }], ...extra,
  });
  const kind = rng.weighted<string>([
    [8, 'random'], [30, 'mutated'], [12, 'smuggle'], [5, 'huge-head'], [7, 'bad-chunked'], [10, 'junk-after-valid'], [5, 'slowloris'],
    [8, 'reset-mid-response'], [5, 'non-reader'], [4, 'half-close'], [4, 'incomplete'], [6, 'pass-body'], [2, 'flood'], [4, 'pipeline-burst'],
  ]);
  switch (kind) {
    case 'random': {
      const prefix = rng.pick(['', '', 'GET ', 'GET / HTTP/1.1\r\n', 'POST /evil/1 HTTP/1.1\r\nContent-Length: 100\r\n\r\n', 'HTTP/1.1 200 OK\r\n']);
      const bytes = Buffer.concat([Buffer.from(prefix, 'latin1'), rng.bytes(rng.logInt(1, 4096))]);
      return single(kind, `${bytes.length} random bytes after ${JSON.stringify(prefix)}`, [...writeSteps(rng, bytes), ...ending(rng)]);
    }
    case 'mutated': {
      const count = rng.int(1, 3);
      const requests = Array.from({ length: count }, () => buildRequest(rng, seed));
      const all = Buffer.concat(requests.map((r) => r.bytes));
      const { bytes, applied } = mutate(rng, all, rng.int(1, 8), requests[0].headLength);
      return single(kind, `${count} request(s) mutated (${applied.join(', ')})`, [...writeSteps(rng, bytes), ...ending(rng)]);
    }
    case 'smuggle': {
      const shape = smugglingShape(rng, seed);
      return single(kind, `smuggling shape "${shape.name}"`, [...writeSteps(rng, shape.bytes, 3), ...ending(rng)]);
    }
    case 'huge-head': {
      const size = rng.int(16 * 1024, 100 * 1024);
      const how = rng.pick(['one field', 'many fields', 'long target', 'no end']);
      let text: string;
      if (how === 'one field') text = `GET /evil/1 HTTP/1.1\r\nHost: x\r\nX-Big: ${'b'.repeat(size)}\r\n\r\n`;
      else if (how === 'many fields') text = `GET /evil/1 HTTP/1.1\r\nHost: x\r\n${Array.from({ length: Math.ceil(size / 10) }, (_, i) => `X${i}: v\r\n`).join('')}\r\n`;
      else if (how === 'long target') text = `GET /${'t'.repeat(size)} HTTP/1.1\r\nHost: x\r\n\r\n`;
      else text = `GET /evil/1 HTTP/1.1\r\n${'X-Endless: yes\r\n'.repeat(Math.ceil(size / 16))}`;
      return single(kind, `head of ~${size} bytes (${how})`, [...writeSteps(rng, Buffer.from(text, 'latin1'), 4), ...ending(rng)]);
    }
    case 'bad-chunked': {
      const target = hostileTarget(rng);
      const bad = rng.pick(['zz\r\n', '5\r\nab\r\n', '3\r\nabcde\r\n0\r\n\r\n', 'ffffffffffffffffffff\r\n', '-1\r\n', '1\r\na\n0\r\n\r\n', '2;ext\x00\r\nab\r\n0\r\n\r\n', '0\r\nTrailer: x\r\n', '0\r\n\x01bad: t\r\n\r\n', '10\r\nshort']);
      const text = `POST ${target} HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Fuzz-Case: ${hex32(seed)}\r\nTransfer-Encoding: chunked\r\n\r\n${rng.chance(0.5) ? '4\r\nokay\r\n' : ''}${bad}`;
      return single(kind, `chunked body with ${JSON.stringify(bad.slice(0, 30))}`, [...writeSteps(rng, Buffer.from(text, 'latin1'), 4), ...ending(rng)]);
    }
    case 'junk-after-valid': {
      const spec = goodSpecFor(rng.int(0, HOT_GOOD_URLS - 1));
      const version = rng.chance(0.8) ? '1.1' : '1.0';
      const valid = Buffer.from(`GET ${goodPath(spec)} HTTP/${version}\r\nHost: 127.0.0.1\r\nX-Fuzz-Case: ${hex32(seed)}\r\n${version === '1.0' ? 'Connection: keep-alive\r\n' : ''}\r\n`, 'latin1');
      const junk = rng.chance(0.5) ? rng.bytes(rng.logInt(1, 2048)) : mutate(rng, buildRequest(rng, seed).bytes, rng.int(1, 6)).bytes;
      // Valid request and junk in one write, or the junk a moment later: either way the response to
      // the valid request must come back intact, before the error for the junk.
      const steps: HostileStep[] = rng.chance(0.5) ? [{ op: 'write', bytes: Buffer.concat([valid, junk]) }] : [{ op: 'write', bytes: valid }, { op: 'wait', ms: rng.int(0, 50) }, { op: 'write', bytes: junk }];
      return { seed, label: kind, description: `GET ${goodPath(spec)} (HTTP/${version}) then ${junk.length} bytes of junk`, connections: [{ steps, lingerMs: 5000 }], firstResponse: { spec, version } };
    }
    case 'slowloris': {
      const bytes = buildRequest(rng, seed, { method: 'GET' }).bytes;
      const steps: HostileStep[] = [];
      const gap = rng.int(10, 200);
      for (let at = 0; at < bytes.length && steps.length < 120; ) {
        const n = rng.int(1, 10);
        steps.push({ op: 'write', bytes: bytes.subarray(at, at + n) }, { op: 'wait', ms: gap });
        at += n;
      }
      return single(kind, `a request dripped a few bytes every ${gap} ms`, [...steps, ...ending(rng)]);
    }
    case 'reset-mid-response': {
      const target = rng.chance(0.7) ? goodPath(goodSpecFor(rng.int(0, HOT_GOOD_URLS - 1))) : `/evil/${pickEvilSeed(rng)}`;
      const request = buildRequest(rng, seed, { method: rng.chance(0.8) ? 'GET' : 'HEAD', target, body: 'none' }).bytes;
      const wait = rng.int(0, 300);
      return single(kind, `GET ${target}, reset after ${wait} ms`, [{ op: 'write', bytes: request }, { op: 'wait', ms: wait }, { op: 'reset' }]);
    }
    case 'non-reader': {
      const spec = goodSpecFor(rng.int(0, HOT_GOOD_URLS - 1));
      const request = buildRequest(rng, seed, { method: 'GET', target: goodPath(spec), version: '1.1', body: 'none' }).bytes;
      const stall = rng.int(200, 3000);
      const then: HostileStep[] = rng.chance(0.5) ? [{ op: 'reset' }] : [{ op: 'resume' }];
      return {
        seed, label: kind, description: `GET ${goodPath(spec)}, reads nothing for ${stall} ms, then ${then[0].op}`,
        connections: [{ steps: [{ op: 'pause' }, { op: 'write', bytes: request }, { op: 'wait', ms: stall }, ...then], lingerMs: linger(), highWaterMark: 1024 }],
      };
    }
    case 'half-close': {
      const request = buildRequest(rng, seed).bytes;
      return single(kind, 'a request, then FIN', [...writeSteps(rng, request), { op: 'end' }]);
    }
    case 'incomplete': {
      const request = buildRequest(rng, seed).bytes;
      const cut = rng.int(1, Math.max(1, request.length - 1));
      return single(kind, `the first ${cut} bytes of a ${request.length}-byte request`, [{ op: 'write', bytes: request.subarray(0, cut) }, ...ending(rng)]);
    }
    case 'pass-body': {
      const framing = rng.pick(['length', 'chunked'] as const);
      const request = buildRequest(rng, seed, { method: rng.pick(['POST', 'PUT', 'PATCH', 'DELETE']), body: framing });
      const expect = rng.chance(0.3);
      let bytes = request.bytes;
      if (expect) {
        const head = bytes.subarray(0, request.headLength).toString('latin1').replace('\r\n\r\n', '\r\nExpect: 100-continue\r\n\r\n');
        bytes = Buffer.concat([Buffer.from(head, 'latin1'), bytes.subarray(request.headLength)]);
      }
      const cut = rng.chance(0.4) ? rng.int(request.headLength, bytes.length) : bytes.length;
      return single(kind, `request with a ${framing} body${expect ? ' and Expect: 100-continue' : ''}${cut < bytes.length ? `, cut at ${cut} of ${bytes.length}` : ''}`, [
        ...writeSteps(rng, bytes.subarray(0, cut), 4),
        ...ending(rng),
      ]);
    }
    case 'flood': {
      const n = rng.int(10, 60);
      const connections: HostileConnectionPlan[] = Array.from({ length: n }, () => {
        const request = buildRequest(rng, seed).bytes;
        return { steps: [{ op: 'write', bytes: request.subarray(0, rng.int(0, request.length)) }, ...ending(rng)], lingerMs: rng.int(0, 1200) };
      });
      return { seed, label: kind, description: `${n} connections at once, each with part of a request`, connections };
    }
    default: {
      const n = rng.int(10, 40);
      const requests = Array.from({ length: n }, () => buildRequest(rng, seed, { method: rng.chance(0.9) ? 'GET' : 'HEAD', target: rng.chance(0.7) ? goodPath(goodSpecFor(rng.int(0, HOT_GOOD_URLS - 1))) : `/evil/${pickEvilSeed(rng)}`, version: '1.1', body: 'none' }).bytes);
      const pause = rng.chance(0.5);
      const steps: HostileStep[] = [...(pause ? [{ op: 'pause' } as HostileStep] : []), { op: 'write', bytes: Buffer.concat(requests) }, { op: 'wait', ms: rng.int(0, 1000) }, ...ending(rng)];
      return { seed, label: 'pipeline-burst', description: `${n} pipelined GETs${pause ? ', not reading' : ''}`, connections: [{ steps, lingerMs: linger(), highWaterMark: pause ? 1024 : undefined }] };
    }
  }
}

/** A hostile connection never lasts longer than this, whatever it reads. */
const HOSTILE_MAX_MS = 30_000;

/** Plays one hostile connection; resolves when it is closed (by either side), never rejects. */
function runHostileConnection(port: number, plan: HostileConnectionPlan): Promise<HostileOutcome & { clean: boolean }> {
  const MAX_KEEP = 8 * 1024 * 1024;
  return new Promise((resolve) => {
    const socket = net.connect({ host: LOOPBACK, port, allowHalfOpen: true, ...(plan.highWaterMark ? { highWaterMark: plan.highWaterMark } : {}) });
    const cap = setTimeout(() => socket.destroy(), HOSTILE_MAX_MS);
    /** After the last step: read on until the proxy closes or `lingerMs` pass without a byte. */
    let lingering = false;
    let lingerTimer: NodeJS.Timeout | undefined;
    const linger = (): void => {
      clearTimeout(lingerTimer);
      lingerTimer = setTimeout(() => socket.destroy(), plan.lingerMs);
    };
    const kept: Buffer[] = [];
    let keptBytes = 0;
    let totalBytes = 0;
    /** No pause or reset: the response bytes are what a normal reader would have seen. */
    let clean = true;
    const timers = new TimerSet();
    const peer = watchPeerEnd(socket, () => socket.end());
    socket.on('data', (chunk: Buffer) => {
      totalBytes += chunk.length;
      if (keptBytes < MAX_KEEP) {
        kept.push(chunk);
        keptBytes += chunk.length;
      }
      if (lingering) linger();
    });
    socket.on('close', () => {
      timers.clear();
      clearTimeout(lingerTimer);
      clearTimeout(cap);
      resolve({ received: Buffer.concat(kept), totalBytes, closedByServer: peer.closedByServer, ...(peer.error ? { error: peer.error } : {}), clean });
    });
    const step = (i: number): void => {
      if (socket.destroyed) return;
      if (i >= plan.steps.length) {
        lingering = true;
        linger();
        return;
      }
      const s = plan.steps[i];
      switch (s.op) {
        case 'write':
          socket.write(s.bytes);
          return step(i + 1);
        case 'wait':
          return timers.later(s.ms, () => step(i + 1));
        case 'end':
          socket.end();
          return step(i + 1);
        case 'reset':
          clean = false;
          socket.resetAndDestroy();
          return;
        case 'pause':
          clean = false;
          socket.pause();
          return step(i + 1);
        case 'resume':
          socket.resume();
          return step(i + 1);
      }
    };
    socket.on('connect', () => step(0));
  });
}

/** Plays a hostile plan; returns what the client saw and any failure of the one check that applies. */
export async function runHostile(port: number, plan: HostilePlan): Promise<{ outcomes: HostileOutcome[]; failures: ClientFailure[]; checked: number }> {
  const results = await Promise.all(plan.connections.map((c) => runHostileConnection(port, c)));
  const failures: ClientFailure[] = [];
  let checked = 0;
  if (plan.firstResponse && results[0].clean) {
    const { spec, version } = plan.firstResponse;
    const out = results[0];
    try {
      const responses = parseResponses(out.received, ['GET'], { closedCleanly: out.closedByServer && !out.error, maxFinal: 1 }).filter((r) => !(r.headComplete && r.status >= 100 && r.status < 200));
      const first = responses[0];
      checked++;
      const problem = first ? checkGoodResponse(first, { spec, method: 'GET' }, version) : { rule: 'P4: no response', text: `GET ${goodPath(spec)} (HTTP/${version})` };
      if (problem) {
        failures.push({
          rule: `${problem.rule} (to a valid request followed by junk)`,
          detail: `${problem.text}\n    received: ${showBytes(out.received, 400)}`,
          stallExplains: stallExplaining(first, out.closedByServer) ?? (out.closedByServer ? undefined : 4_000),
        });
      }
    } catch (err) {
      failures.push({ rule: 'P4: a valid request followed by junk got a malformed response', detail: `${(err as Error).message}\n    received: ${showBytes(out.received, 400)}` });
    }
  }
  return { outcomes: results, failures, checked };
}

// ================================================================================================
// Well-behaved clients

export interface GoodRequest {
  spec: GoodSpec;
  method: 'GET' | 'HEAD';
}

export interface GoodClientPlan {
  version: '1.0' | '1.1';
  /** All requests written at once, or each after the previous response. */
  mode: 'pipelined' | 'sequential';
  /** 1.1: false puts Connection: close on the last request. 1.0: true sends Connection: keep-alive. */
  keepAlive: boolean;
  requests: GoodRequest[];
  startDelayMs: number;
  host: string;
  /** Reads in bursts: after every `everyBytes`, stops for `pauseMs`. */
  slowReader?: { pauseMs: number; everyBytes: number };
  /** Request bytes written in a few pieces, a few ms apart. */
  splitWrites: boolean;
}

export interface GoodGroupPlan {
  seed: number;
  description: string;
  clients: GoodClientPlan[];
}

export function goodGroupPlan(seed: number): GoodGroupPlan {
  const rng = new Rng(mix32(seed, 0x600d9));
  const main = pickGoodSpec(rng, 0.6);
  const n = rng.weighted<() => number>([[30, () => 1], [40, () => rng.int(2, 3)], [30, () => rng.int(4, 8)]])();
  const clients: GoodClientPlan[] = [];
  for (let i = 0; i < n; i++) {
    const version = rng.chance(0.25) ? '1.0' : '1.1';
    const keepAlive = version === '1.1' ? rng.chance(0.8) : rng.chance(0.4);
    const count = version === '1.0' && !keepAlive ? 1 : rng.weighted<() => number>([[50, () => 1], [35, () => rng.int(2, 4)], [15, () => rng.int(5, 16)]])();
    const requests: GoodRequest[] = Array.from({ length: count }, (_, j) => ({
      spec: (j === 0 ? rng.chance(0.8) : rng.chance(0.4)) ? main : pickGoodSpec(rng, 0.7),
      method: rng.chance(0.08) ? 'HEAD' : 'GET',
    }));
    // At most ~6 MiB of bodies per client: enough to fill the store, not enough to swamp the process.
    let total = 0;
    const cut = requests.findIndex((r) => (total += r.method === 'GET' ? r.spec.size : 0) > 6 * 1024 * 1024);
    if (cut > 0) requests.length = cut;
    clients.push({
      version,
      mode: count > 1 && rng.chance(0.4) ? 'sequential' : 'pipelined',
      keepAlive,
      requests,
      startDelayMs: rng.chance(0.5) ? 0 : rng.int(1, 300),
      host: rng.chance(0.85) ? '127.0.0.1' : 'Example.COM',
      ...(rng.chance(0.15) ? { slowReader: { pauseMs: rng.int(5, 60), everyBytes: rng.int(16 * 1024, 256 * 1024) } } : {}),
      splitWrites: rng.chance(0.15),
    });
  }
  return { seed, description: `${n} client(s), mostly on ${goodPath(main)}`, clients };
}

function goodRequestBytes(client: GoodClientPlan, index: number, seed: number): Buffer {
  const { spec, method } = client.requests[index];
  const last = index === client.requests.length - 1;
  let connection = '';
  if (client.version === '1.0' && client.keepAlive) connection = 'Connection: keep-alive\r\n';
  if (client.version === '1.1' && !client.keepAlive && last) connection = 'Connection: close\r\n';
  return Buffer.from(`${method} ${goodPath(spec)} HTTP/${client.version}\r\nHost: ${client.host}\r\nUser-Agent: fuzz-good\r\nX-Fuzz-Case: ${hex32(seed)}\r\n${connection}\r\n`, 'latin1');
}

/** Fields an origin sent that must never reach a client (F6, C2). */
const NEVER_FORWARDED = ['x-hop', 'keep-alive', 'surrogate-control', 'proxy-authenticate', 'trailer', 'upgrade'];

/** What is wrong with a response: the rule it breaks, and the particulars. */
export interface ResponseProblem {
  rule: string;
  text: string;
}

/**
 * Checks one response to a well-behaved request; returns what is wrong (the gravest problem, with
 * any others named after it), or null. Gravest first: a wrong body matters more than a wrong field.
 */
export function checkGoodResponse(res: ParsedResponse, request: GoodRequest, version: '1.0' | '1.1'): ResponseProblem | null {
  const path = goodPath(request.spec);
  const problems: ResponseProblem[] = [];
  const problem = (rule: string, text: string): void => void problems.push({ rule, text });
  const cache = `X-Cache ${res.header('x-cache')}`;
  if (!res.headComplete) problem('P4: response head cut short', `${res.rawHead.length} bytes of head`);
  else if (res.status !== 200) problem('P4: wrong status', `${res.status} ${res.reason}, body ${JSON.stringify(res.body.toString('latin1').slice(0, 200))}`);
  else if (res.header('x-path') !== path) problem('P4: the response of another URL', `X-Path is ${JSON.stringify(res.header('x-path'))}`);
  else {
    if (res.problems.length) problem('P1: ambiguous framing sent to a client', res.problems.join('; '));
    if (version === '1.0' && res.header('transfer-encoding') !== undefined) problem('F3: Transfer-Encoding sent to an HTTP/1.0 client', res.header('transfer-encoding')!);
    if (request.method === 'HEAD') {
      const cl = res.header('content-length');
      if (cl !== undefined && Number(cl) !== request.spec.size) problem('F4: HEAD with a wrong Content-Length', `${cl}, expected ${request.spec.size}`);
    } else if (res.framing === 'close') {
      problem('F1-F3: close-delimited body to a client', `a client of HTTP/${version} gets Content-Length${version === '1.1' ? ' or chunked' : ''}`);
    } else if (version === '1.0' && res.framing !== 'length') {
      problem('F3: no Content-Length for an HTTP/1.0 client', `framing ${res.framing}`);
    } else if (res.framing === 'length' && Number(res.header('content-length')) !== request.spec.size) {
      problem('F1: wrong Content-Length', `${res.header('content-length')}, expected ${request.spec.size}`);
    } else if (!res.complete) {
      problem('P4: body cut short', `${res.body.length} of ${request.spec.size} bytes${res.framing === 'chunked' ? ` (${res.chunkSizes.length} chunks, no terminating chunk)` : ''} (${cache})`);
    } else {
      const diff = firstDifference(res.body, goodBody(request.spec));
      if (diff >= 0) problem('P4: body corrupted (not the bytes the origin sent)', `differs at byte ${diff} (got ${res.body.length} bytes, expected ${request.spec.size}; ${cache})`);
    }
    // The origin sends "200 OK" and no Via: the proxy relays the reason and adds itself to Via once.
    if (res.reason !== 'OK') problem('F6/C3: wrong reason phrase', `${JSON.stringify(res.reason)} where the origin sent "OK" (${cache})`);
    const hops = (res.header('via') ?? '').split(',').filter((hop) => hop.trim() !== '');
    if (hops.length !== 1) problem('F6: Via does not list this proxy exactly once', `${hops.length} hops: ${JSON.stringify((res.header('via') ?? '').slice(0, 120))} (${cache})`);
    for (const name of NEVER_FORWARDED) {
      if (res.header(name) !== undefined) problem('F6/C2: a hop-by-hop or Surrogate-Control field reached the client', `${name}: ${res.header(name)} (${cache})`);
    }
  }
  if (problems.length === 0) return null;
  const [first, ...others] = problems;
  return { rule: first.rule, text: `${request.method} ${path} (HTTP/${version}): ${first.text}${others.length ? `; also ${others.map((o) => `${o.rule} (${o.text})`).join('; ')}` : ''}` };
}

export interface GoodGroupResult {
  checked: number;
  /** Sequential requests re-sent because the proxy had closed an idle keep-alive connection first (allowed by HTTP). */
  retries: number;
  failures: ClientFailure[];
}

const GOOD_TIMEOUT_MS = 30_000;

async function runPipelined(port: number, client: GoodClientPlan, seed: number, rng: Rng): Promise<GoodGroupResult> {
  const bytes = Buffer.concat(client.requests.map((_, i) => goodRequestBytes(client, i, seed)));
  const pieces = client.splitWrites ? splitRandom(rng, bytes, 4) : [bytes];
  const exchange: RawExchange = await sendRaw(port, pieces, {
    idleMs: 6_000,
    timeoutMs: GOOD_TIMEOUT_MS,
    writeGapMs: client.splitWrites ? rng.int(1, 20) : 0,
    ...(client.slowReader ? { slowReader: client.slowReader } : {}),
  });
  const failures: ClientFailure[] = [];
  const n = client.requests.length;
  let responses: ParsedResponse[];
  try {
    responses = parseResponses(exchange, client.requests.map((r) => r.method)).filter((r) => !(r.headComplete && r.status >= 100 && r.status < 200));
  } catch (err) {
    return { checked: n, retries: 0, failures: [{ rule: 'P1/P4: malformed HTTP to a well-behaved client', detail: `${(err as Error).message}\n    received: ${showBytes(exchange.bytes, 400)}` }] };
  }
  for (let i = 0; i < n; i++) {
    const res = responses[i];
    const problem = res
      ? checkGoodResponse(res, client.requests[i], client.version)
      : { rule: exchange.closedByServer ? 'P4: no response' : 'P4: no response (hang)', text: `${client.requests[i].method} ${goodPath(client.requests[i].spec)} (HTTP/${client.version}): got ${i} of ${n} responses` };
    if (problem) {
      failures.push({
        rule: problem.rule,
        detail: `${problem.text}\n    request ${i + 1} of ${n}, pipelined; ${exchange.bytes.length} bytes received, then ${exchange.closedByServer ? `the proxy closed the connection${exchange.error ? ` (${exchange.error})` : ''}` : '6 s of silence (a hang)'}`,
        stallExplains: exchange.closedByServer ? stallExplaining(res, true) : 4_000,
      });
      break;
    }
  }
  if (failures.length === 0) {
    const used = responses.slice(0, n).reduce((sum, r) => sum + r.wireLength, 0);
    if (responses.length > n || used !== exchange.bytes.length) {
      failures.push({
        rule: 'F5/P2: unsolicited bytes after the last response',
        detail: `${showBytes(exchange.bytes.subarray(used), 200)}\n    after ${n} response(s) to ${client.requests.map((r) => `${r.method} ${goodPath(r.spec)}`).join(', ')} (HTTP/${client.version}, pipelined)`,
        stallExplains: responses[n]?.status === 408 ? stallExplaining(responses[n], true) : undefined,
      });
    } else if (!exchange.closedByServer) {
      failures.push({ rule: 'P2/F5: the proxy kept an idle connection open', detail: `no close within 6 s after the last response (${exchange.error ?? 'no error'})`, stallExplains: 4_000 });
    }
  }
  return { checked: n, retries: 0, failures };
}

async function runSequential(port: number, client: GoodClientPlan, seed: number): Promise<GoodGroupResult> {
  const failures: ClientFailure[] = [];
  let retries = 0;
  let checked = 0;
  let conn = await openClient(port);
  let consumed = 0;
  try {
    for (let i = 0; i < client.requests.length; i++) {
      const request = client.requests[i];
      let res: ParsedResponse | undefined;
      for (let attempt = 0; attempt < 2 && !res; attempt++) {
        await conn.write(goodRequestBytes(client, i, seed));
        try {
          res = await conn.readResponse(request.method, GOOD_TIMEOUT_MS);
        } catch (err) {
          // The proxy may close an idle keep-alive connection just as we reuse it (its idle timeout
          // is short): if not one byte of this response came, send it again on a new connection.
          if (attempt === 0 && i > 0 && conn.closed && conn.received().length === consumed) {
            retries++;
            await conn.close();
            conn = await openClient(port);
            consumed = 0;
            continue;
          }
          failures.push({
            rule: conn.closed ? 'P4: no response' : 'P4: no response (hang)',
            detail: `${request.method} ${goodPath(request.spec)} (HTTP/${client.version}), request ${i + 1} of ${client.requests.length}, sequential: ${(err as Error).message}`,
            stallExplains: conn.closed ? stallExplaining(undefined, conn.closedByServer) : 4_000,
          });
          return { checked: checked + 1, retries, failures };
        }
      }
      checked++;
      consumed += res!.wireLength;
      const problem = checkGoodResponse(res!, request, client.version);
      if (problem) {
        failures.push({ rule: problem.rule, detail: `${problem.text}\n    request ${i + 1} of ${client.requests.length}, sequential`, stallExplains: stallExplaining(res, conn.closedByServer) });
        return { checked, retries, failures };
      }
    }
  } finally {
    await conn.close();
  }
  return { checked, retries, failures };
}

/** Plays a group: its clients run at once (each after its start delay); every response is checked. */
export async function runGoodGroup(port: number, plan: GoodGroupPlan): Promise<GoodGroupResult> {
  const rng = new Rng(mix32(plan.seed, 0x5e9));
  const results = await Promise.all(
    plan.clients.map(async (client) => {
      const clientRng = rng.fork();
      if (client.startDelayMs > 0) await new Promise((r) => setTimeout(r, client.startDelayMs));
      try {
        return await (client.mode === 'pipelined' ? runPipelined(port, client, plan.seed, clientRng) : runSequential(port, client, plan.seed));
      } catch (err) {
        return { checked: 0, retries: 0, failures: [{ rule: 'P4: a well-behaved client could not talk to the proxy', detail: (err as Error).message, stallExplains: 4_000 }] };
      }
    }),
  );
  return {
    checked: results.reduce((s, r) => s + r.checked, 0),
    retries: results.reduce((s, r) => s + r.retries, 0),
    failures: results.flatMap((r) => r.failures),
  };
}

// ================================================================================================
// Evil fetches: well-formed clients of the hostile origin's URLs

export interface EvilFetchPlan {
  seed: number;
  evilSeed: number;
  clients: { version: '1.0' | '1.1'; close: boolean; startDelayMs: number }[];
}

export function evilFetchPlan(seed: number): EvilFetchPlan {
  const rng = new Rng(mix32(seed, 0xe7f));
  const evilSeed = pickEvilSeed(rng);
  const n = rng.weighted<() => number>([[60, () => 1], [40, () => rng.int(2, 4)]])();
  return {
    seed,
    evilSeed,
    clients: Array.from({ length: n }, () => ({ version: rng.chance(0.25) ? '1.0' : '1.1', close: rng.chance(0.5), startDelayMs: rng.chance(0.5) ? 0 : rng.int(1, 200) })),
  };
}

/** Proxy-made statuses: an origin failure may legitimately turn any response into one of these. */
const PROXY_STATUSES = new Set([503]);

export async function runEvilFetch(port: number, plan: EvilFetchPlan): Promise<{ checked: number; failures: ClientFailure[]; exchanges: RawExchange[] }> {
  const expected = evilExpectation(evilPlan(plan.evilSeed));
  const failures: ClientFailure[] = [];
  const exchanges = await Promise.all(
    plan.clients.map(async (client) => {
      if (client.startDelayMs > 0) await new Promise((r) => setTimeout(r, client.startDelayMs));
      const head = `GET /evil/${plan.evilSeed} HTTP/${client.version}\r\nHost: 127.0.0.1\r\nX-Fuzz-Case: ${hex32(plan.seed)}\r\n${client.close && client.version === '1.1' ? 'Connection: close\r\n' : ''}\r\n`;
      const exchange = await sendRaw(port, head, { idleMs: 8_000, timeoutMs: 20_000 });
      const where = `GET /evil/${plan.evilSeed} (HTTP/${client.version})`;
      if (exchange.bytes.length === 0) {
        // A stall can make the proxy's idle timer fire before it reads the request: explained then.
        if (exchange.closedByServer) failures.push({ rule: 'O1: connection closed with no response (expected a 503)', detail: `${where}: ${exchange.error ?? 'clean close'} after ${Math.round(exchange.elapsedMs)} ms`, stallExplains: stallExplaining(undefined, true) });
        else failures.push({ rule: 'P4: a client never got an answer (hang)', detail: `${where}: not one byte in ${Math.round(exchange.elapsedMs)} ms (${exchange.error ?? 'connection still open'})`, stallExplains: 4_000 });
        return exchange;
      }
      let res: ParsedResponse | undefined;
      try {
        res = parseResponses(exchange, ['GET']).find((r) => !(r.headComplete && r.status >= 100 && r.status < 200));
      } catch (err) {
        failures.push({ rule: 'P1/P4: the proxy relayed malformed HTTP', detail: `${where}: ${(err as Error).message}\n    received: ${showBytes(exchange.bytes, 400)}` });
        return exchange;
      }
      if (!res) return exchange;
      if (!res.headComplete) {
        failures.push({ rule: 'P4: response head cut short', detail: `${where}: ${showBytes(exchange.bytes, 300)}` });
        return exchange;
      }
      if (res.framing === 'close') failures.push({ rule: 'F1-F3: close-delimited body to a client', detail: `${where}: ${showBytes(Buffer.from(res.rawHead, 'latin1'), 300)}` });
      else if (client.version === '1.0' && res.framing === 'chunked') failures.push({ rule: 'F3: chunked to an HTTP/1.0 client', detail: where });
      else if (res.problems.length) failures.push({ rule: 'P1: ambiguous framing sent to a client', detail: `${where}: ${res.problems.join('; ')}` });
      else if (res.complete && expected && !PROXY_STATUSES.has(res.status)) {
        if (res.status !== expected.status) failures.push({ rule: 'P4: the client got another status than the origin sent', detail: `${where}: got ${res.status}, origin sent ${expected.status}` });
        else {
          const diff = firstDifference(res.body, expected.body);
          if (diff >= 0) failures.push({ rule: 'P4: the client got another body than the origin sent', detail: `${where}: differs at byte ${diff} (got ${res.body.length} bytes, origin sent ${expected.body.length}; X-Cache ${res.header('x-cache')})` });
        }
      }
      return exchange;
    }),
  );
  return { checked: plan.clients.length, failures, exchanges };
}
