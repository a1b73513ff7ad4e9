// Micro benchmarks of the protocol engine (src/http1), socket-free: parse and serialize in a loop.
//   npm run bench:micro        (env BENCH_TIME = ms per task, default 1000)
import { createRequire } from 'node:module';
import {
  HeaderFields,
  RequestParser,
  ResponseParser,
  frameChunk,
  responseHeadString,
  type BodyFraming,
  type MessageEvents,
} from '../src/http1/index.js';
import { pino } from 'pino';
import { accessLine, recordResponse, type AccessRecord } from '../src/proxy/access-log.js';
import { ProxyCounters } from '../src/proxy/stats.js';
import type { ClientExchange } from '../src/net/client-exchange.js';
import { runMicroSuite } from './micro-suite.js';


// ---------------------------------------------------------------------------------------------
// Inputs

/** A browser-like GET of ~455 bytes with 8 header fields; `n` varies the target so inputs differ. */
function getRequest(n: number): string {
  const id = String(n).padStart(6, '0');
  return (
    `GET /assets/js/app.3f9a1c2e.js?v=${id} HTTP/1.1\r\n` +
    'Host: www.example.com\r\n' +
    'User-Agent: Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0 Safari/537.36\r\n' +
    'Accept: text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8\r\n' +
    'Accept-Encoding: gzip, deflate, br\r\n' +
    'Accept-Language: en-US,en;q=0.9\r\n' +
    `Cookie: session=${id}a1b2c3d4e5f6a7b8c9d0; theme=dark\r\n` +
    'Referer: https://www.example.com/index.html\r\n' +
    'Connection: keep-alive\r\n' +
    '\r\n'
  );
}

function responseHead(contentLength: number | 'chunked', n: number): string {
  const framing = contentLength === 'chunked' ? 'Transfer-Encoding: chunked\r\n' : `Content-Length: ${contentLength}\r\n`;
  return (
    'HTTP/1.1 200 OK\r\n' +
    'Content-Type: application/octet-stream\r\n' +
    framing +
    'Date: Mon, 01 Jan 2024 00:00:00 GMT\r\n' +
    'Cache-Control: public, max-age=3600\r\n' +
    `ETag: "${String(n).padStart(8, '0')}"\r\n` +
    'Last-Modified: Sun, 31 Dec 2023 00:00:00 GMT\r\n' +
    '\r\n'
  );
}

/** `count` separately allocated buffers, so every iteration parses input it has not just parsed. */
function pool(count: number, make: (n: number) => Buffer): Buffer[] {
  const out: Buffer[] = [];
  for (let i = 0; i < count; i++) out.push(make(i));
  return out;
}

const GET_POOL = pool(1024, (n) => Buffer.from(getRequest(n), 'latin1'));
const BODY_1K = Buffer.alloc(1024, 'x');
const RESP_1K_POOL = pool(1024, (n) => Buffer.concat([Buffer.from(responseHead(1024, n), 'latin1'), BODY_1K]));

const CHUNK_DATA = 16 * 1024;
const CHUNKED_BODY_BYTES = 1024 * 1024;
function chunkedResponse(n: number): Buffer {
  const parts: Buffer[] = [Buffer.from(responseHead('chunked', n), 'latin1')];
  const data = Buffer.alloc(CHUNK_DATA, 0x61 + (n % 26));
  for (let sent = 0; sent < CHUNKED_BODY_BYTES; sent += CHUNK_DATA) {
    parts.push(Buffer.from(`${CHUNK_DATA.toString(16)}\r\n`, 'latin1'), data, Buffer.from('\r\n', 'latin1'));
  }
  parts.push(Buffer.from('0\r\n\r\n', 'latin1'));
  return Buffer.concat(parts);
}
const CHUNKED_POOL = pool(4, chunkedResponse);

const HEAD_FIELDS = HeaderFields.from([
  ['Content-Type', 'application/javascript; charset=utf-8'],
  ['Content-Length', '104857'],
  ['Date', 'Mon, 01 Jan 2024 00:00:00 GMT'],
  ['Cache-Control', 'public, max-age=3600'],
  ['ETag', '"3f9a1c2e-19999"'],
  ['Last-Modified', 'Sun, 31 Dec 2023 00:00:00 GMT'],
  ['Vary', 'Accept-Encoding'],
  ['Via', '1.1 streamcache'],
]);
const HTTP11 = { major: 1, minor: 1 };
const FRAME_DATA = Buffer.alloc(16 * 1024, 'y');

// ---------------------------------------------------------------------------------------------
// Consumers: count what the parser reports, so a broken parse cannot pass for a fast one.

class Counter<H> implements MessageEvents<H> {
  heads = 0;
  bodyBytes = 0;
  completes = 0;
  onHead(_head: H, _framing: BodyFraming): void {
    this.heads++;
  }
  onBody(chunk: Buffer): void {
    this.bodyBytes += chunk.length;
  }
  onComplete(_keepAlive: boolean): void {
    this.completes++;
  }
}

function mustFeed(parser: { feed(b: Buffer): Error | null }, input: Buffer): void {
  const err = parser.feed(input);
  if (err) throw err;
}

// ---------------------------------------------------------------------------------------------
// Tasks. Each runs `batch` operations per sample so timer overhead stays negligible.

interface Spec {
  /** Display order: rows are sorted by group, stably. */
  group: number;
  name: string;
  batch: number;
  /** Bytes of input (or payload) per operation, for MB/s; 0 = not meaningful. */
  bytesPerOp: number;
  fn: () => void;
  check?: () => string | null;
}

let sink: unknown;
const specs: Spec[] = [];

{
  const counter = new Counter();
  const parser = new RequestParser(counter);
  let i = 0;
  let fed = 0;
  specs.push({
    group: 1,
    name: `parse GET ${GET_POOL[0].length} B, 8 headers`,
    batch: 32,
    bytesPerOp: GET_POOL[0].length,
    fn: () => {
      mustFeed(parser, GET_POOL[i++ & 1023]);
      fed++;
    },
    check: () => (counter.completes === fed ? null : `${counter.completes} requests completed of ${fed} fed`),
  });
}

{
  const counter = new Counter();
  const parser = new ResponseParser(counter);
  let i = 0;
  let fed = 0;
  specs.push({
    group: 2,
    name: `parse response, 1 KiB CL body (${RESP_1K_POOL[0].length} B)`,
    batch: 32,
    bytesPerOp: RESP_1K_POOL[0].length,
    fn: () => {
      mustFeed(parser, RESP_1K_POOL[i++ & 1023]);
      fed++;
    },
    check: () =>
      counter.completes === fed && counter.bodyBytes === fed * 1024 ? null : `${counter.completes}/${fed} responses, ${counter.bodyBytes} body bytes`,
  });
}

{
  const counter = new Counter();
  const parser = new ResponseParser(counter);
  let i = 0;
  let fed = 0;
  specs.push({
    group: 3,
    name: 'parse 1 MiB chunked body (16 KiB chunks), one feed',
    batch: 1,
    bytesPerOp: CHUNKED_BODY_BYTES,
    fn: () => {
      mustFeed(parser, CHUNKED_POOL[i++ & 3]);
      fed++;
    },
    check: () => (counter.completes === fed && counter.bodyBytes === fed * CHUNKED_BODY_BYTES ? null : `${counter.completes}/${fed} bodies`),
  });
}

{
  const counter = new Counter();
  const parser = new ResponseParser(counter);
  const READ = 64 * 1024;
  let i = 0;
  let fed = 0;
  specs.push({
    group: 4,
    name: 'parse 1 MiB chunked body, fed as 64 KiB reads',
    batch: 1,
    bytesPerOp: CHUNKED_BODY_BYTES,
    fn: () => {
      const input = CHUNKED_POOL[i++ & 3];
      for (let off = 0; off < input.length; off += READ) mustFeed(parser, input.subarray(off, off + READ));
      fed++;
    },
    check: () => (counter.completes === fed && counter.bodyBytes === fed * CHUNKED_BODY_BYTES ? null : `${counter.completes}/${fed} bodies`),
  });
}

{
  // What a head costs on its way out: the string built, then copied latin1 into the tick's output buffer.
  const out = Buffer.allocUnsafe(4096);
  const sample = responseHeadString(HTTP11, 200, 'OK', HEAD_FIELDS);
  specs.push({
    group: 5,
    name: `responseHeadString into a buffer, 8 headers (${sample.length} B)`,
    batch: 64,
    bytesPerOp: 0,
    fn: () => {
      sink = out.write(responseHeadString(HTTP11, 200, 'OK', HEAD_FIELDS), 0, 'latin1');
    },
  });
}

{
  // Issue 18, the access log: one line per hit, through pino's serializer (an embedder's logger)
  // against accessLine (what our own logger writes), into a sink that keeps nothing.
  const exchange = {
    request: { method: 'GET', target: '/assets/app.js?v=3', version: { major: 1, minor: 1 } },
    startedAt: 0,
    bytesSent: 1301,
    clientAddress: '127.0.0.1',
    state: 'ended',
  } as unknown as ClientExchange;
  const record: AccessRecord = { exchange, status: 200, cache: 'HIT', firstByteAt: 0.05 };
  const logger = pino({ name: 'streamcache', base: undefined }, { write: (line: string) => void (sink = line) });
  const ctx = { logger, stats: new ProxyCounters() };
  specs.push({
    group: 5.5,
    name: 'access line via pino logger.info (object serialized)',
    batch: 64,
    bytesPerOp: 0,
    fn: () => recordResponse(ctx, record),
  });
  specs.push({
    group: 5.6,
    name: 'access line via accessLine (one string)',
    batch: 64,
    bytesPerOp: 0,
    fn: () => {
      sink = accessLine(record, 0.1, 1_796_000_000_000);
    },
  });
}

specs.push({
  group: 6,
    name: 'frameChunk 16 KiB (no copy of the data)',
  batch: 256,
  bytesPerOp: FRAME_DATA.length,
  fn: () => {
    sink = frameChunk(FRAME_DATA);
  },
});

// Reference rows: Node's own llhttp binding (what node:http uses), same inputs, same machine. It is
// deprecated (DEP0199) and not used by streamcache; it is here only to calibrate the numbers above.
interface NodeHttpParser {
  initialize(type: number, resource: object): void;
  execute(data: Buffer): number | Error;
  [key: number]: unknown;
}
interface NodeHttpParserClass {
  new (): NodeHttpParser;
  REQUEST: number;
  RESPONSE: number;
  kOnHeadersComplete: number;
  kOnBody: number;
  kOnMessageComplete: number;
}
function nodeParser(type: 'REQUEST' | 'RESPONSE'): { parser: NodeHttpParser; counter: { completes: number; bodyBytes: number } } | null {
  try {
    const require = createRequire(import.meta.url);
    const { HTTPParser } = require('_http_common') as { HTTPParser: NodeHttpParserClass };
    const parser = new HTTPParser();
    parser.initialize(HTTPParser[type], {});
    const counter = { completes: 0, bodyBytes: 0 };
    parser[HTTPParser.kOnHeadersComplete] = () => 0;
    parser[HTTPParser.kOnBody] = (b: Buffer) => {
      counter.bodyBytes += b.length; // Node 20 hands the body as a copied Buffer
    };
    parser[HTTPParser.kOnMessageComplete] = () => {
      counter.completes++;
    };
    return { parser, counter };
  } catch {
    return null;
  }
}
{
  const ref = nodeParser('REQUEST');
  if (ref) {
    let i = 0;
    let fed = 0;
    specs.push({
      group: 1,
    name: `  reference: node:http's parser, same GET`,
      batch: 32,
      bytesPerOp: GET_POOL[0].length,
      fn: () => {
        const r = ref.parser.execute(GET_POOL[i++ & 1023]);
        if (r instanceof Error) throw r;
        fed++;
      },
      check: () => (ref.counter.completes === fed ? null : `${ref.counter.completes}/${fed} requests`),
    });
  }
}
{
  const ref = nodeParser('RESPONSE');
  if (ref) {
    let i = 0;
    let fed = 0;
    specs.push({
      group: 2,
    name: `  reference: node:http's parser, same 1 KiB response`,
      batch: 32,
      bytesPerOp: RESP_1K_POOL[0].length,
      fn: () => {
        const r = ref.parser.execute(RESP_1K_POOL[i++ & 1023]);
        if (r instanceof Error) throw r;
        fed++;
      },
      check: () => (ref.counter.completes === fed ? null : `${ref.counter.completes}/${fed} responses`),
    });
  }
}

// ---------------------------------------------------------------------------------------------

await runMicroSuite(
  'streamcache micro benchmarks (src/http1)',
  [...specs].sort((a, b) => a.group - b.group).map((s) => ({ ...s, bytesPerOp: s.bytesPerOp || undefined })),
  { footer: ['MB/s = bytes of input (for the chunked rows: body payload) per second, 1 MB = 10^6 bytes.'] },
);
void sink;
