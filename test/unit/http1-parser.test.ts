// src/http1/parser.ts: RequestParser and ResponseParser, byte for byte. Rule ids from SPEC.md.
import { describe, expect, it } from 'vitest';
import {
  DEFAULT_MAX_HEAD_SIZE,
  ParseError,
  RequestParser,
  ResponseParser,
  responseStatusHasNoBody,
  type RequestHead,
  type ResponseHead,
} from '../../src/http1/index.js';
import {
  bytewise,
  latin1,
  parseRequests,
  parseResponses,
  splitAt,
  summarize,
  type ParseRun,
} from '../property/http1-harness.js';

/** Asserts the run ended in a ParseError of `kind` and returns it. */
function expectError<H>(run: ParseRun<H>, kind: ParseError['kind']): ParseError {
  expect(run.error, `expected a ParseError of kind ${kind}`).toBeInstanceOf(ParseError);
  expect(run.error!.kind).toBe(kind);
  expect(run.eventsAfterError).toBe(0);
  return run.error!;
}

function expectClean<H>(run: ParseRun<H>): void {
  expect(run.error, run.error ? `unexpected ${run.error.kind}: ${run.error.message}` : '').toBeNull();
  expect(run.strayBodies).toBe(0);
}

const GET = 'GET / HTTP/1.1\r\nHost: a\r\n\r\n';

describe('RequestParser: request lines', () => {
  it('parses a GET: method, target, version, headers in order with their case kept', () => {
    const run = parseRequests(latin1('GET /index.html?q=1 HTTP/1.1\r\nHost: example.com\r\nX-Mixed-CASE: Yes\r\naccept: */*\r\n\r\n'));
    expectClean(run);
    expect(run.completed).toBe(1);
    const [m] = run.messages;
    expect(m.head.method).toBe('GET');
    expect(m.head.target).toBe('/index.html?q=1');
    expect(m.head.version).toEqual({ major: 1, minor: 1 });
    expect([...m.head.headers]).toEqual([
      ['Host', 'example.com'],
      ['X-Mixed-CASE', 'Yes'],
      ['accept', '*/*'],
    ]);
    expect(m.head.headers.get('x-mixed-case')).toBe('Yes');
    expect(m.framing).toEqual({ kind: 'none' });
    expect(m.body.length).toBe(0);
    expect(m.keepAlive).toBe(true);
  });

  it.each(['GET', 'HEAD', 'POST', 'PUT', 'DELETE', 'OPTIONS', 'PATCH', 'TRACE', 'PURGE'])('method %s is recognised', (method) => {
    const run = parseRequests(latin1(`${method} /x HTTP/1.1\r\nHost: a\r\nContent-Length: 0\r\n\r\n`));
    expectClean(run);
    expect(run.messages[0].head.method).toBe(method);
    expect(run.completed).toBe(1);
  });

  it.each([
    ['origin-form with query', '/a/b%20c?x=1&y=%2F'],
    ['origin-form with fragment bytes', '/a#frag'],
    ['absolute-form', 'http://example.com:8080/p?q'],
    ['asterisk-form', '*'],
  ])('request target kept exactly as sent: %s', (_label, target) => {
    const method = target === '*' ? 'OPTIONS' : 'GET';
    const run = parseRequests(latin1(`${method} ${target} HTTP/1.1\r\nHost: a\r\n\r\n`));
    expectClean(run);
    expect(run.messages[0].head.target).toBe(target);
  });

  it('authority-form CONNECT target is kept', () => {
    const run = parseRequests(latin1('CONNECT example.com:443 HTTP/1.1\r\nHost: example.com:443\r\n\r\n'));
    expectClean(run);
    expect(run.messages[0].head.method).toBe('CONNECT');
    expect(run.messages[0].head.target).toBe('example.com:443');
  });

  it('F5: HTTP/1.1 persists by default; Connection: close ends it', () => {
    const run = parseRequests(latin1('GET / HTTP/1.1\r\n\r\nGET /2 HTTP/1.1\r\nConnection: close\r\n\r\n'));
    expectClean(run);
    expect(run.messages.map((m) => m.keepAlive)).toEqual([true, false]);
  });

  it('F3: HTTP/1.0 closes by default; Connection: keep-alive keeps it', () => {
    const run = parseRequests(latin1('GET /a HTTP/1.0\r\nConnection: keep-alive\r\n\r\nGET /b HTTP/1.0\r\n\r\n'));
    expectClean(run);
    expect(run.messages.map((m) => [m.head.target, m.head.version.minor, m.keepAlive])).toEqual([
      ['/a', 0, true],
      ['/b', 0, false],
    ]);
  });

  it('F5: bytes after a request that closes the connection are an error, never another request', () => {
    for (const first of ['GET / HTTP/1.1\r\nConnection: close\r\n\r\n', 'GET / HTTP/1.0\r\n\r\n']) {
      const run = parseRequests(latin1(`${first}GET /smuggled HTTP/1.1\r\n\r\n`));
      expectError(run, 'invalid');
      expect(run.messages.map((m) => m.head.target)).toEqual(['/']);
    }
  });

  it('empty lines before a request line are ignored (RFC 9112 §2.2)', () => {
    const run = parseRequests(latin1(`\r\n\r\n${GET}`));
    expectClean(run);
    expect(run.completed).toBe(1);
  });
});

describe('RequestParser: header fields', () => {
  it('values are trimmed of surrounding spaces and tabs; inner whitespace is kept', () => {
    const run = parseRequests(latin1('GET / HTTP/1.1\r\nA:   x  y \t \r\nB:\tz\t\r\nC:v\r\n\r\n'));
    expectClean(run);
    expect([...run.messages[0].head.headers]).toEqual([
      ['A', 'x  y'],
      ['B', 'z'],
      ['C', 'v'],
    ]);
  });

  it('empty values are kept, and do not merge with the next field name', () => {
    const input = latin1('GET / HTTP/1.1\r\nA:\r\nB: \r\nC: 1\r\n\r\n');
    for (const parts of [[input], bytewise(input)]) {
      const run = parseRequests(parts);
      expectClean(run);
      expect([...run.messages[0].head.headers]).toEqual([
        ['A', ''],
        ['B', ''],
        ['C', '1'],
      ]);
    }
  });

  it('repeated fields are kept in order; lookups ignore case', () => {
    const run = parseRequests(latin1('GET / HTTP/1.1\r\nAccept: a\r\nX: 1\r\naccept: b\r\n\r\n'));
    expectClean(run);
    const h = run.messages[0].head.headers;
    expect(h.getAll('ACCEPT')).toEqual(['a', 'b']);
    expect(h.size).toBe(3);
  });

  it('obs-text (bytes 0x80-0xFF) inside a value is kept, byte for byte, as latin1', () => {
    const run = parseRequests(latin1('GET / HTTP/1.1\r\nX: caf\xe9 \x80\xff z\r\n\r\n'));
    expectClean(run);
    const value = run.messages[0].head.headers.get('x')!;
    expect(value).toBe('caf\xe9 \x80\xff z');
    expect(Buffer.from(value, 'latin1')).toEqual(Buffer.from([0x63, 0x61, 0x66, 0xe9, 0x20, 0x80, 0xff, 0x20, 0x7a]));
  });

  // BUG (src/http1/parser.ts onHeadersComplete): values are trimmed with String.prototype.trim(),
  // which also strips U+00A0, i.e. the obs-text byte 0xA0 once decoded as latin1. Only SP and HTAB
  // are optional whitespace (RFC 9112 §5.1): `X: \xA0a\xA0` must keep both 0xA0 bytes.
  it('obs-text byte 0xA0 at either end of a value is part of the value, not whitespace', () => {
    const run = parseRequests(latin1('GET / HTTP/1.1\r\nX: \xa0a\xa0\r\nY: \xa0\r\n\r\n'));
    expectClean(run);
    expect(run.messages[0].head.headers.get('x')).toBe('\xa0a\xa0');
    expect(run.messages[0].head.headers.get('y')).toBe('\xa0');
  });
});

describe('RequestParser: bodies', () => {
  it('F1: a Content-Length body is delivered as views of the caller\'s input, then the request completes', () => {
    const input = latin1('POST /p HTTP/1.1\r\nContent-Length: 11\r\n\r\nhello world');
    const run = parseRequests(input);
    expectClean(run);
    const [m] = run.messages;
    expect(m.framing).toEqual({ kind: 'length', length: 11 });
    expect(m.body.toString()).toBe('hello world');
    for (const view of m.bodyViews) expect(view.buffer).toBe(input.buffer);
    expect(run.completed).toBe(1);
  });

  it('F1: a Content-Length body that goes on in later feeds is delivered as views of those feeds, and the next request follows', () => {
    const head = latin1('POST /p HTTP/1.1\r\nContent-Length: 10\r\n\r\nab');
    const middle = latin1('cdefgh');
    const last = latin1(`ij${GET}`);
    const run = parseRequests([head, middle, last]);
    expectClean(run);
    expect(run.messages.map((m) => [m.head.target, m.body.toString(), m.keepAlive])).toEqual([
      ['/p', 'abcdefghij', true],
      ['/', '', true],
    ]);
    const views = run.messages[0].bodyViews;
    expect(views[1].buffer).toBe(middle.buffer);
    expect(views[2].buffer).toBe(last.buffer);
  });

  it('F5: a closing request whose body ends in a later feed still refuses the bytes after it', () => {
    for (const first of ['POST /p HTTP/1.1\r\nConnection: close\r\nContent-Length: 6\r\n\r\nab', 'POST /p HTTP/1.0\r\nContent-Length: 6\r\n\r\nab']) {
      const run = parseRequests([latin1(first), latin1(`cdef${GET}`)]);
      expectError(run, 'invalid');
      expect(run.messages.map((m) => [m.head.target, m.body.toString(), m.keepAlive])).toEqual([['/p', 'abcdef', false]]);
      // Ending exactly with the body is a clean end.
      const clean = parseRequests([latin1(first), latin1('cdef')]);
      expectClean(clean);
      expect(clean.completed).toBe(1);
    }
  });

  it('an Upgrade request with a body that ends in a later feed is relayed as plain HTTP too', () => {
    const run = parseRequests([latin1('POST /ws HTTP/1.1\r\nUpgrade: x\r\nConnection: Upgrade\r\nContent-Length: 4\r\n\r\nab'), latin1(`cd${GET}`)]);
    expectClean(run);
    expect(run.messages.map((m) => [m.head.target, m.body.toString()])).toEqual([['/ws', 'abcd'], ['/', '']]);
  });

  it('O2: the input ending inside a Content-Length body that spans feeds is truncated', () => {
    const run = parseRequests([latin1('POST /p HTTP/1.1\r\nContent-Length: 10\r\n\r\nab'), latin1('cd')], { finish: true });
    expectError(run, 'truncated');
  });

  it('Content-Length: 0 means no body: framing none and the request completes at once', () => {
    const run = parseRequests(latin1('POST / HTTP/1.1\r\nContent-Length: 0\r\n\r\n'));
    expectClean(run);
    expect(run.messages[0].framing).toEqual({ kind: 'none' });
    expect(run.completed).toBe(1);
  });

  it('Content-Length with leading zeros and trailing whitespace is read as its number', () => {
    const run = parseRequests(latin1('POST / HTTP/1.1\r\nContent-Length: 005 \r\n\r\nabcde'));
    expectClean(run);
    expect(run.messages[0].framing).toEqual({ kind: 'length', length: 5 });
    expect(run.messages[0].body.toString()).toBe('abcde');
  });

  it('a chunked body: chunk extensions ignored, sizes in any hex case, trailers not in the body', () => {
    const input = latin1(
      'POST /up HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n' +
        '5;name=value;flag\r\nhello\r\n' +
        '1;q="quoted; string"\r\n \r\n' +
        'A\r\n0123456789\r\n' +
        '00000b\r\nabcdefghijk\r\n' +
        '0\r\nX-Trailer: t\r\nX-Other: u\r\n\r\n',
    );
    for (const parts of [[input], bytewise(input)]) {
      const run = parseRequests(parts);
      expectClean(run);
      const [m] = run.messages;
      expect(m.framing).toEqual({ kind: 'chunked' });
      expect(m.body.toString()).toBe('hello 0123456789abcdefghijk');
      expect(m.head.headers.has('x-trailer')).toBe(false);
      expect(run.completed).toBe(1);
    }
  });

  it('HTTP/1.0 request with Transfer-Encoding is never kept alive (RFC 9112 §6.1)', () => {
    const run = parseRequests(latin1('POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n1\r\nx\r\n0\r\n\r\n'));
    expectClean(run);
    expect(run.messages[0].body.toString()).toBe('x');
    expect(run.messages[0].keepAlive).toBe(false);
  });

  // BUG (src/http1/parser.ts, and clientWantsKeepAlive in semantics.ts): RFC 9112 §6.1 says a
  // server receiving an HTTP/1.0 message with Transfer-Encoding "MUST treat the message as if the
  // framing is faulty ... and close the connection after processing the message". llhttp only
  // does so without `Connection: keep-alive`; with it, keepAlive is true and what follows the
  // chunked body is parsed as the next request. Bytes:
  // `POST / HTTP/1.0\r\nConnection: keep-alive\r\nTransfer-Encoding: chunked\r\n\r\n1\r\nx\r\n0\r\n\r\nGET /next HTTP/1.0\r\n\r\n`
  // Expected: keepAlive false, `/next` never parsed (or 'invalid'). Actual: keepAlive true, `/next` parsed.
  it('F5/P1: an HTTP/1.0 request with Transfer-Encoding closes the connection even with Connection: keep-alive', () => {
    const run = parseRequests(
      latin1('POST / HTTP/1.0\r\nConnection: keep-alive\r\nTransfer-Encoding: chunked\r\n\r\n1\r\nx\r\n0\r\n\r\nGET /next HTTP/1.0\r\n\r\n'),
    );
    expect(run.messages.map((m) => m.head.target)).not.toContain('/next');
    if (!run.error) expect(run.messages[0].keepAlive).toBe(false);
  });

  it('bodies larger than the 256 KiB llhttp scratch area arrive intact, in one feed', () => {
    const body = Buffer.alloc(600_000);
    for (let i = 0; i < body.length; i++) body[i] = (i * 7) % 256;
    const cl = Buffer.concat([latin1(`PUT / HTTP/1.1\r\nContent-Length: ${body.length}\r\n\r\n`), body]);
    const chunked = Buffer.concat([
      latin1('PUT / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n'),
      latin1('30000\r\n'), // 196608 bytes
      body.subarray(0, 0x30000),
      latin1(`\r\n${(body.length - 0x30000).toString(16)}\r\n`),
      body.subarray(0x30000),
      latin1('\r\n0\r\n\r\n'),
    ]);
    const run = parseRequests([cl, chunked]);
    expectClean(run);
    expect(run.completed).toBe(2);
    expect(run.messages[0].body.equals(body)).toBe(true);
    expect(run.messages[1].body.equals(body)).toBe(true);
  });

  it('a header value straddling the 256 KiB scratch boundary is reassembled', () => {
    const prefix = 'GET / HTTP/1.1\r\nX-Big: ';
    const value = 'v'.repeat(300_000);
    const run = parseRequests(latin1(`${prefix}${value}\r\nY: after\r\n\r\n`), { maxHeadSize: 1_000_000 });
    expectClean(run);
    expect(run.messages[0].head.headers.get('x-big')).toBe(value);
    expect(run.messages[0].head.headers.get('y')).toBe('after');
  });
});

describe('RequestParser: head text cut from windows of the input', () => {
  // Spans are cut from one latin1 string per window of 512 bytes: heads longer than a window,
  // fields across window edges, and several heads in one input must read as each alone.
  const fields = Array.from({ length: 40 }, (_, i) => `X-Field-${i}: ${String.fromCharCode(0x61 + (i % 26)).repeat(17 + i * 7)}\xe9`);
  const long = `GET /long/${'p'.repeat(700)} HTTP/1.1\r\nCookie: ${'c'.repeat(3000)}\r\n${fields.join('\r\n')}\r\n\r\n`;
  const stream = latin1(`${long}GET /short HTTP/1.1\r\nHost: a\r\n\r\n${long}`);

  it('long heads, pipelined, give every field whole, in order, whatever the cuts', () => {
    const whole = parseRequests(stream);
    expectClean(whole);
    expect(whole.messages.map((m) => m.head.target)).toEqual([`/long/${'p'.repeat(700)}`, '/short', `/long/${'p'.repeat(700)}`]);
    const head = whole.messages[2].head.headers;
    expect(head.get('cookie')).toBe('c'.repeat(3000));
    expect([...head].slice(1).map(([name, value]) => `${name}: ${value}`)).toEqual(fields);
    const expected = summarize(whole);
    for (let cut = 1; cut < stream.length; cut += 211) {
      expect(summarize(parseRequests(splitAt(stream, [cut, cut + 1000, cut + 1001])))).toEqual(expected);
    }
  });
});

describe('RequestParser: pipelining', () => {
  const stream = latin1(
    'GET /1 HTTP/1.1\r\nHost: a\r\n\r\n' +
      'POST /2 HTTP/1.1\r\nHost: a\r\nContent-Length: 4\r\n\r\nbody' +
      'PUT /3 HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nxy\r\n0\r\n\r\n' +
      'HEAD /4 HTTP/1.1\r\n\r\n',
  );

  it('F5: pipelined requests come out in order, each with its own body', () => {
    const run = parseRequests(stream);
    expectClean(run);
    expect(run.completed).toBe(4);
    expect(run.messages.map((m) => [m.head.method, m.head.target, m.body.toString(), m.keepAlive])).toEqual([
      ['GET', '/1', '', true],
      ['POST', '/2', 'body', true],
      ['PUT', '/3', 'xy', true],
      ['HEAD', '/4', '', true],
    ]);
  });

  it('F5: feeding one byte at a time, or cut anywhere, gives the same messages', () => {
    const whole = summarize(parseRequests(stream));
    expect(summarize(parseRequests(bytewise(stream)))).toEqual(whole);
    for (let cut = 1; cut < stream.length; cut += 7) {
      expect(summarize(parseRequests(splitAt(stream, [cut, cut + 3])))).toEqual(whole);
    }
  });

  it('an Upgrade request is relayed as plain HTTP: the next pipelined request still parses', () => {
    const run = parseRequests(latin1('GET /ws HTTP/1.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\nGET /next HTTP/1.1\r\n\r\n'));
    expectClean(run);
    expect(run.messages.map((m) => m.head.target)).toEqual(['/ws', '/next']);
  });

  it('inMessage / inHead follow the parser through a message', () => {
    const states: string[] = [];
    const parser: RequestParser = new RequestParser({
      onHead: () => states.push(`head:${parser.inMessage}:${parser.inHead}`),
      onBody: () => states.push(`body:${parser.inMessage}:${parser.inHead}`),
      onComplete: () => states.push(`complete:${parser.inMessage}`),
    });
    expect([parser.inMessage, parser.inHead]).toEqual([false, false]);
    expect(parser.feed(latin1('POST / HTTP/1.1\r\nContent-'))).toBeNull();
    expect([parser.inMessage, parser.inHead]).toEqual([true, true]);
    expect(parser.feed(latin1('Length: 2\r\n\r\na'))).toBeNull();
    expect([parser.inMessage, parser.inHead]).toEqual([true, false]);
    expect(parser.feed(latin1('b'))).toBeNull();
    expect([parser.inMessage, parser.inHead]).toEqual([false, false]);
    expect(states).toEqual(['head:true:false', 'body:true:false', 'body:true:false', 'complete:false']);
    parser.close();
  });

  it('abort() from an event handler stops parsing with that error', () => {
    const heads: string[] = [];
    const parser: RequestParser = new RequestParser({
      onHead: (head) => {
        heads.push(head.target);
        if (head.target === '/2') parser.abort('invalid', 'refused');
      },
      onBody: () => {},
      onComplete: () => {},
    });
    const err = parser.feed(latin1('GET /1 HTTP/1.1\r\n\r\nGET /2 HTTP/1.1\r\n\r\nGET /3 HTTP/1.1\r\n\r\n'));
    expect(err).toBeInstanceOf(ParseError);
    expect(err!.kind).toBe('invalid');
    expect(err!.message).toBe('refused');
    expect(heads).toEqual(['/1', '/2']);
    expect(parser.feed(latin1(GET))).toBe(err);
    parser.close();
  });
});

describe('RequestParser: end of input (O2)', () => {
  it('finish() between messages, or before any byte, is a clean end', () => {
    expect(parseRequests([], { finish: true }).error).toBeNull();
    const run = parseRequests(latin1(GET), { finish: true });
    expectClean(run);
    expect(run.completed).toBe(1);
  });

  it.each([
    ['inside the request line', 'GET /partial'],
    ['inside the headers', 'GET / HTTP/1.1\r\nHost: a\r\n'],
    ['inside a Content-Length body', 'POST / HTTP/1.1\r\nContent-Length: 10\r\n\r\n12345'],
    ['before a Content-Length body', 'POST / HTTP/1.1\r\nContent-Length: 10\r\n\r\n'],
    ['inside a chunk', 'POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nab'],
    ['before the last chunk', 'POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nabcde\r\n'],
    ['inside the trailers', 'POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n0\r\nX: 1\r\n'],
  ])('O2: input ending %s is truncated', (_label, text) => {
    const run = parseRequests(latin1(text), { finish: true });
    const err = expectError(run, 'truncated');
    expect(run.failedIn).toBe('finish');
    expect(run.completed).toBe(0);
    expect(err.message.length).toBeGreaterThan(0);
  });
});

describe('RequestParser: P1 ambiguous or invalid framing is rejected, never repaired', () => {
  const vectors: [string, string][] = [
    // Content-Length with Transfer-Encoding, in both orders
    ['Content-Length with Transfer-Encoding', 'POST / HTTP/1.1\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n'],
    ['Transfer-Encoding with Content-Length', 'POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\nContent-Length: 3\r\n\r\n0\r\n\r\n'],
    // differing or malformed Content-Lengths
    ['two differing Content-Lengths', 'POST / HTTP/1.1\r\nContent-Length: 3\r\nContent-Length: 5\r\n\r\nabcde'],
    ['two equal Content-Lengths', 'POST / HTTP/1.1\r\nContent-Length: 3\r\nContent-Length: 3\r\n\r\nabc'],
    ['a Content-Length list', 'POST / HTTP/1.1\r\nContent-Length: 3, 3\r\n\r\nabc'],
    ['Content-Length +5', 'POST / HTTP/1.1\r\nContent-Length: +5\r\n\r\nabcde'],
    ['Content-Length -5', 'POST / HTTP/1.1\r\nContent-Length: -5\r\n\r\nabcde'],
    ['Content-Length 0x5', 'POST / HTTP/1.1\r\nContent-Length: 0x5\r\n\r\nabcde'],
    ['Content-Length "5 5"', 'POST / HTTP/1.1\r\nContent-Length: 5 5\r\n\r\nabcde'],
    ['an empty Content-Length', 'POST / HTTP/1.1\r\nContent-Length:\r\n\r\n'],
    ['an overflowing Content-Length', 'POST / HTTP/1.1\r\nContent-Length: 99999999999999999999\r\n\r\n'],
    // Transfer-Encoding whose final coding is not chunked
    ['Transfer-Encoding: chunked, identity', 'POST / HTTP/1.1\r\nTransfer-Encoding: chunked, identity\r\n\r\n0\r\n\r\n'],
    ['Transfer-Encoding: xchunked', 'POST / HTTP/1.1\r\nTransfer-Encoding: xchunked\r\n\r\n0\r\n\r\n'],
    ['Transfer-Encoding: gzip', 'POST / HTTP/1.1\r\nTransfer-Encoding: gzip\r\n\r\n0\r\n\r\n'],
    ['Transfer-Encoding: chunked, chunked', 'POST / HTTP/1.1\r\nTransfer-Encoding: chunked, chunked\r\n\r\n0\r\n\r\n'],
    ['Transfer-Encoding chunked then gzip', 'POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: gzip\r\n\r\n0\r\n\r\n'],
    ['Transfer-Encoding: chunked;q=1', 'POST / HTTP/1.1\r\nTransfer-Encoding: chunked;q=1\r\n\r\n0\r\n\r\n'],
    ['Transfer-Encoding: chunked with a trailing comma', 'POST / HTTP/1.1\r\nTransfer-Encoding: chunked,\r\n\r\n0\r\n\r\n'],
    ['Transfer-Encoding: gzip, chunked (only chunked is relayed)', 'POST / HTTP/1.1\r\nTransfer-Encoding: gzip, chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n'],
    ['Transfer-Encoding gzip then chunked (only chunked is relayed)', 'POST / HTTP/1.1\r\nTransfer-Encoding: gzip\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n'],
    // invalid chunk sizes
    ['chunk size 0x5', 'POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n0x5\r\nabcde\r\n0\r\n\r\n'],
    ['chunk size -1', 'POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n-1\r\nabcde\r\n0\r\n\r\n'],
    ['an overlong hex chunk size', 'POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n10000000000000000\r\nabcde\r\n0\r\n\r\n'],
    ['a chunk size with a space before CRLF', 'POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n5 \r\nabcde\r\n0\r\n\r\n'],
    ['an empty chunk size line', 'POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n\r\n5\r\nabcde\r\n0\r\n\r\n'],
    ['a non-hex chunk size', 'POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\ng\r\nabcde\r\n0\r\n\r\n'],
    ['chunk data longer than its size', 'POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nabcdeX\r\n0\r\n\r\n'],
    ['NUL in a chunk extension', 'POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n5;a\x00\r\nabcde\r\n0\r\n\r\n'],
    // bare LF (or bare CR) where CRLF is required
    ['bare LF after the request line', 'GET / HTTP/1.1\nHost: a\r\n\r\n'],
    ['bare LF after a header', 'GET / HTTP/1.1\r\nHost: a\n\r\n'],
    ['bare LF ending the head', 'GET / HTTP/1.1\r\nHost: a\r\n\n'],
    ['bare LFs only', 'GET / HTTP/1.1\nHost: a\n\n'],
    ['bare LF after a chunk size', 'POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n5\nabcde\r\n0\r\n\r\n'],
    ['bare LF after chunk data', 'POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nabcde\n0\r\n\r\n'],
    ['bare LF in the trailers', 'POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n0\r\nT: 1\n\r\n'],
    ['bare CR inside a value', 'GET / HTTP/1.1\r\nHost: a\rb\r\n\r\n'],
    ['bare CR after the version', 'GET / HTTP/1.1\r\r\n\r\n'],
    // header syntax
    ['space before the colon', 'GET / HTTP/1.1\r\nHost : a\r\n\r\n'],
    ['tab before the colon', 'GET / HTTP/1.1\r\nHost\t: a\r\n\r\n'],
    ['whitespace before the first header line', 'GET / HTTP/1.1\r\n Host: a\r\n\r\n'],
    ['obs-fold with a space', 'GET / HTTP/1.1\r\nX: a\r\n b\r\n\r\n'],
    ['obs-fold with a tab', 'GET / HTTP/1.1\r\nX: a\r\n\tb\r\n\r\n'],
    ['obs-fold in the trailers', 'POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n0\r\nT: 1\r\n x\r\n\r\n'],
    // NUL and other CTL bytes in values
    ['NUL in a header value', 'GET / HTTP/1.1\r\nX: a\x00b\r\n\r\n'],
    ['SOH in a header value', 'GET / HTTP/1.1\r\nX: a\x01b\r\n\r\n'],
    ['VT in a header value', 'GET / HTTP/1.1\r\nX: a\x0bb\r\n\r\n'],
    ['FF in a header value', 'GET / HTTP/1.1\r\nX: a\x0cb\r\n\r\n'],
    ['DEL in a header value', 'GET / HTTP/1.1\r\nX: a\x7fb\r\n\r\n'],
    // invalid header name tokens
    ['an empty header name', 'GET / HTTP/1.1\r\n: a\r\n\r\n'],
    ['"(" in a header name', 'GET / HTTP/1.1\r\nX(: a\r\n\r\n'],
    ['"@" in a header name', 'GET / HTTP/1.1\r\nX@: a\r\n\r\n'],
    ['a space inside a header name', 'GET / HTTP/1.1\r\nX Y: a\r\n\r\n'],
    ['a non-ASCII header name', 'GET / HTTP/1.1\r\nH\xf6st: a\r\n\r\n'],
    ['0x80 in a header name', 'GET / HTTP/1.1\r\nX\x80: a\r\n\r\n'],
    // invalid versions and request lines
    ['HTTP/1.2', 'GET / HTTP/1.2\r\n\r\n'],
    ['HTTP/3.0', 'GET / HTTP/3.0\r\n\r\n'],
    ['HTTP/11', 'GET / HTTP/11\r\n\r\n'],
    ['HTTP/1', 'GET / HTTP/1\r\n\r\n'],
    ['HTTP/1.01', 'GET / HTTP/1.01\r\n\r\n'],
    ['a lower-case protocol name', 'GET / http/1.1\r\n\r\n'],
    ['a space after the version', 'GET / HTTP/1.1 \r\n\r\n'],
    ['a space inside the target', 'GET /a b HTTP/1.1\r\n\r\n'],
    ['DEL in the target', 'GET /\x7f HTTP/1.1\r\n\r\n'],
    ['0x80 in the target', 'GET /\x80 HTTP/1.1\r\n\r\n'],
    ['a tab after the method', 'GET\t/ HTTP/1.1\r\n\r\n'],
    ['an unknown method', 'FOO / HTTP/1.1\r\n\r\n'],
    ['a lower-case method', 'get / HTTP/1.1\r\n\r\n'],
    ['the HTTP/2 preface', 'PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n'],
  ];

  it.each(vectors)('P1: %s is rejected as invalid (400)', (_label, text) => {
    const input = latin1(text);
    for (const parts of [[input], bytewise(input)]) {
      const run = parseRequests(parts, { feedAfterError: true, finish: true });
      const err = expectError(run, 'invalid');
      expect(run.failedIn).toBe('feed');
      expect(run.completed).toBe(0);
      expect(run.nonStickyErrors).toBe(0);
      expect(err.message.length).toBeGreaterThan(0);
    }
  });

  it('P1: after an error the parser stays failed: more input and finish() return the same error', () => {
    const parser = new RequestParser({ onHead: () => {}, onBody: () => {}, onComplete: () => {} });
    const err = parser.feed(latin1('GET / HTTP/1.1\r\nX: a\x00\r\n\r\n'));
    expect(err?.kind).toBe('invalid');
    expect(parser.feed(latin1(GET))).toBe(err);
    expect(parser.finish()).toBe(err);
    parser.close();
  });

  // P1: a Transfer-Encoding we refuse is refused before anyone sees the head (rejectHead).
  it.each([
    ['xchunked', 'POST / HTTP/1.1\r\nTransfer-Encoding: xchunked\r\n\r\n0\r\n\r\n'],
    ['gzip', 'POST / HTTP/1.1\r\nTransfer-Encoding: gzip\r\n\r\n0\r\n\r\n'],
    ['gzip, chunked', 'POST / HTTP/1.1\r\nTransfer-Encoding: gzip, chunked\r\n\r\n0\r\n\r\n'],
    ['chunked;q=1', 'POST / HTTP/1.1\r\nTransfer-Encoding: chunked;q=1\r\n\r\n0\r\n\r\n'],
  ])('P1: Transfer-Encoding: %s is rejected before any head is delivered', (_label, text) => {
    const run = parseRequests(latin1(text));
    expectError(run, 'invalid');
    expect(run.messages).toHaveLength(0);
  });

  // BUG (src/http1/parser.ts rejectHead / RequestParser.framingOf): both read the Transfer-Encoding
  // values through HeaderFields.tokens() (split on commas, trimmed, empty elements dropped), and
  // framingOf says 'chunked' whenever the field exists, while llhttp reads the raw bytes. Where
  // they disagree, a head reaches onHead that llhttp then rejects, or worse, frames differently:
  //  - `Transfer-Encoding: chunked<TAB>` and `Transfer-Encoding: ,`: onHead(…, chunked), then
  //    'invalid' (llhttp's post-headers "Request has invalid Transfer-Encoding").
  //  - `Transfer-Encoding:` (empty): onHead announces {kind:'chunked'}, llhttp ignores the empty
  //    field, completes the request with no body, and parses the "body" as the next request:
  //    `POST / HTTP/1.1\r\nTransfer-Encoding: \r\n\r\nGET /admin HTTP/1.1\r\n\r\n` gives two requests.
  //  - `Transfer-Encoding:` (empty) then `Content-Length: 5`: accepted (P1 says 400 for CL with
  //    TE), announced 'chunked', body framed by Content-Length. (CL first, then empty TE: rejected.)
  // Expected for all: 'invalid' before any onHead.
  it.each([
    ['"chunked<TAB>"', 'POST / HTTP/1.1\r\nTransfer-Encoding: chunked\t\r\n\r\n0\r\n\r\n'],
    ['","', 'POST / HTTP/1.1\r\nTransfer-Encoding: ,\r\n\r\n0\r\n\r\n'],
    ['empty', 'POST / HTTP/1.1\r\nTransfer-Encoding: \r\n\r\nGET /admin HTTP/1.1\r\n\r\n'],
    ['empty, then Content-Length', 'POST / HTTP/1.1\r\nTransfer-Encoding: \r\nContent-Length: 5\r\n\r\nhello'],
  ])('P1: Transfer-Encoding %s is rejected before any head is delivered', (_label, text) => {
    const run = parseRequests(latin1(text));
    expectError(run, 'invalid');
    expect(run.messages).toHaveLength(0);
  });

  // BUG (src/http1/parser.ts): a CONNECT request "does not have content" (RFC 9110 §9.3.6) and
  // llhttp completes it at the end of its head, then parses what follows as the next request.
  // But framingOf announces the Content-Length, so the consumer expects a body that the parser
  // will instead parse as a second request: a smuggling vector. Bytes:
  // `CONNECT a:1 HTTP/1.1\r\nContent-Length: 23\r\n\r\nGET /admin HTTP/1.1\r\n\r\n`
  // Expected: 'invalid'. Actual: onHead(CONNECT, {kind:'length', length:23}), onComplete, then a
  // second request `GET /admin`.
  it.each([
    ['Content-Length', 'CONNECT a:1 HTTP/1.1\r\nContent-Length: 23\r\n\r\nGET /admin HTTP/1.1\r\n\r\n'],
    ['Transfer-Encoding', 'CONNECT a:1 HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\nGET /admin HTTP/1.1\r\n\r\n'],
  ])('P1: CONNECT with %s is rejected, its "body" is never parsed as another request', (_label, text) => {
    const run = parseRequests(latin1(text));
    expectError(run, 'invalid');
    expect(run.messages.map((m) => m.head.target)).not.toContain('/admin');
    expect(run.completed).toBe(0);
  });

  // BUG (src/http1/parser.ts): llhttp accepts request lines that are not HTTP/1.0 or HTTP/1.1 and
  // the parser passes them on with their version: an HTTP/0.9 request line without a version
  // (`GET /\r\n`, reported as 0.9), `HTTP/0.9`, `HTTP/2.0`, and the RTSP and ICE protocols (`GET / RTSP/1.0`
  // is reported as an HTTP/1.0 GET). Expected: 'invalid' (400; or 505 if a kind is added for it).
  it.each([
    ['HTTP/0.9 (no version)', 'GET /\r\n\r\n'],
    ['HTTP/0.9', 'GET / HTTP/0.9\r\n\r\n'],
    ['HTTP/2.0', 'GET / HTTP/2.0\r\nHost: a\r\n\r\n'],
    ['RTSP/1.0', 'GET / RTSP/1.0\r\n\r\n'],
    ['RTSP/1.0 with an RTSP method', 'DESCRIBE / RTSP/1.0\r\n\r\n'],
    ['ICE/1.0', 'SOURCE / ICE/1.0\r\n\r\n'],
  ])('P1: the request version %s is rejected as invalid', (_label, text) => {
    const run = parseRequests(latin1(text));
    expectError(run, 'invalid');
    expect(run.messages).toHaveLength(0);
  });
});

describe('RequestParser: P2 head-size limit', () => {
  it('the default limit is 16 KiB: a head under it parses, a head over it is head-too-large (431)', () => {
    expect(DEFAULT_MAX_HEAD_SIZE).toBe(16 * 1024);
    const ok = parseRequests(latin1(`GET / HTTP/1.1\r\nX: ${'a'.repeat(15_000)}\r\n\r\n`));
    expectClean(ok);
    const big = parseRequests(latin1(`GET / HTTP/1.1\r\nX: ${'a'.repeat(17_000)}\r\n\r\n`));
    expectError(big, 'head-too-large');
    expect(big.messages).toHaveLength(0);
  });

  it.each([
    ['a long target', (n: number) => `GET /${'p'.repeat(n)} HTTP/1.1\r\n\r\n`],
    ['a long value', (n: number) => `GET / HTTP/1.1\r\nX: ${'v'.repeat(n)}\r\n\r\n`],
    ['a long name', (n: number) => `GET / HTTP/1.1\r\n${'N'.repeat(n)}: v\r\n\r\n`],
    ['many small fields', (n: number) => `GET / HTTP/1.1\r\n${'A: b\r\n'.repeat(Math.ceil(n / 6))}\r\n`],
    ['many empty fields', (n: number) => `GET / HTTP/1.1\r\n${'A:\r\n'.repeat(Math.ceil(n / 4))}\r\n`],
  ])('P2: %s over a custom limit is head-too-large, under it parses', (_label, make) => {
    const limit = 1000;
    expectClean(parseRequests(latin1(make(limit / 2)), { maxHeadSize: limit }));
    const run = parseRequests(latin1(make(limit + 10)), { maxHeadSize: limit });
    expectError(run, 'head-too-large');
    expect(run.messages).toHaveLength(0);
  });

  it('P2: a head split over many feeds hits the limit exactly as it does in one piece', () => {
    const input = latin1(`GET /${'p'.repeat(300)} HTTP/1.1\r\n${'Name: value\r\n'.repeat(100)}\r\n`);
    const whole = parseRequests(input, { maxHeadSize: 1024 });
    expectError(whole, 'head-too-large');
    const pieces = parseRequests(bytewise(input), { maxHeadSize: 1024, feedAfterError: true });
    expectError(pieces, 'head-too-large');
    expect(pieces.nonStickyErrors).toBe(0);
    expect(pieces.messages).toHaveLength(0);
    // The limit is hit while the head is still arriving, long before its end.
    expect(pieces.failedAtPart).toBeLessThan(1100);
    expect(pieces.failedAtPart).toBeGreaterThan(1000);
    for (const cuts of [[17], [500, 501, 502], [1000, 1030]]) {
      expectError(parseRequests(splitAt(input, cuts), { maxHeadSize: 1024 }), 'head-too-large');
    }
  });

  it('P2: body bytes do not count towards the head limit', () => {
    const run = parseRequests(latin1(`POST / HTTP/1.1\r\nContent-Length: 5000\r\n\r\n${'b'.repeat(5000)}`), { maxHeadSize: 200 });
    expectClean(run);
    expect(run.messages[0].body.length).toBe(5000);
  });

  it('P2: the limit applies to each request of a pipeline on its own', () => {
    const one = `GET / HTTP/1.1\r\nX: ${'a'.repeat(400)}\r\n\r\n`;
    const run = parseRequests(latin1(one.repeat(10)), { maxHeadSize: 600 });
    expectClean(run);
    expect(run.completed).toBe(10);
  });

  // BUG (src/http1/parser.ts countHead): the head size is the sum of llhttp's spans, and the
  // optional whitespace before a header value (and between method and target) is in no span,
  // so it is never counted: a head of any size passes the limit if it is mostly whitespace.
  // Bytes: `GET / HTTP/1.1\r\nX:` + 20000 × SP + `v\r\n\r\n` (20 KiB) with the 16 KiB limit.
  // Expected: 'head-too-large'. Actual: parses, head {X: 'v'}.
  it('P2: whitespace counts towards the head limit (a 20 KiB head of padding is head-too-large)', () => {
    const padded = parseRequests(latin1(`GET / HTTP/1.1\r\nX:${' '.repeat(20_000)}v\r\n\r\n`));
    expectError(padded, 'head-too-large');
    const spaced = parseRequests(latin1(`GET${' '.repeat(20_000)}/ HTTP/1.1\r\n\r\n`));
    expectError(spaced, 'head-too-large');
  });
});

describe('ResponseParser', () => {
  it('F1: a Content-Length response: status, reason, version, headers, body, keep-alive', () => {
    const run = parseResponses(latin1('HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 5\r\n\r\nhello'));
    expectClean(run);
    const [m] = run.messages;
    expect(m.head.status).toBe(200);
    expect(m.head.reason).toBe('OK');
    expect(m.head.version).toEqual({ major: 1, minor: 1 });
    expect([...m.head.headers]).toEqual([
      ['Content-Type', 'text/plain'],
      ['Content-Length', '5'],
    ]);
    expect(m.framing).toEqual({ kind: 'length', length: 5 });
    expect(m.body.toString()).toBe('hello');
    expect(m.keepAlive).toBe(true);
  });

  it('reason phrases: multi-word, empty, and missing entirely', () => {
    const run = parseResponses(
      latin1(
        'HTTP/1.1 404 Not Found Here\r\nContent-Length: 0\r\n\r\n' +
          'HTTP/1.1 500 \r\nContent-Length: 0\r\n\r\n' +
          'HTTP/1.1 201\r\nContent-Length: 0\r\n\r\n',
      ),
    );
    expectClean(run);
    expect(run.messages.map((m) => [m.head.status, m.head.reason])).toEqual([
      [404, 'Not Found Here'],
      [500, ''],
      [201, ''],
    ]);
  });

  it('Content-Length: 0 means no body: framing none, complete at once', () => {
    const run = parseResponses(latin1('HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n'));
    expectClean(run);
    expect(run.messages[0].framing).toEqual({ kind: 'none' });
    expect(run.completed).toBe(1);
  });

  it('a chunked response: extensions ignored, trailers not in the body', () => {
    const run = parseResponses(latin1('HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3;x=y\r\nabc\r\n2\r\nde\r\n0\r\nEtag: "t"\r\n\r\n'));
    expectClean(run);
    expect(run.messages[0].framing).toEqual({ kind: 'chunked' });
    expect(run.messages[0].body.toString()).toBe('abcde');
    expect(run.completed).toBe(1);
  });

  it('O3: a close-delimited body is complete only when finish() reports the clean close', () => {
    const parts = [latin1('HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n\r\nfirst '), latin1('second')];
    const open = parseResponses(parts);
    expectClean(open);
    expect(open.messages[0].framing).toEqual({ kind: 'close' });
    expect(open.messages[0].body.toString()).toBe('first second');
    expect(open.completed).toBe(0);
    const closed = parseResponses(parts, { finish: true });
    expectClean(closed);
    expect(closed.completed).toBe(1);
    expect(closed.messages[0].completedByFinish).toBe(true);
    expect(closed.messages[0].keepAlive).toBe(false);
  });

  it('O3: an empty close-delimited body completes on finish()', () => {
    const run = parseResponses(latin1('HTTP/1.0 200 OK\r\n\r\n'), { finish: true });
    expectClean(run);
    expect(run.messages[0].framing).toEqual({ kind: 'close' });
    expect(run.messages[0].body.length).toBe(0);
    expect(run.completed).toBe(1);
  });

  it.each([
    ['gzip', 'gzip'],
    ['chunked, identity', 'chunked, identity'],
    ['xchunked', 'xchunked'],
    ['chunked;q=1', 'chunked;q=1'],
    ['gzip, chunked', 'gzip, chunked'],
    ['gzip then chunked in two fields', 'gzip\r\nTransfer-Encoding: chunked'],
    ['chunked twice', 'chunked, chunked'],
  ])('P1: a response with Transfer-Encoding %s is invalid (only chunked is relayed)', (_label, te) => {
    const run = parseResponses(latin1(`HTTP/1.1 200 OK\r\nTransfer-Encoding: ${te}\r\n\r\n3\r\nabc\r\n0\r\n\r\n`), { finish: true });
    expectError(run, 'invalid');
    expect(run.messages).toHaveLength(0);
  });

  // BUG (src/http1/parser.ts ResponseParser.framingOf / rejectHead): the framing is derived from
  // HeaderFields.tokens() (trimmed, empty elements dropped) while llhttp delimits the body by the
  // raw value, and they disagree on a trailing empty element or trailing whitespace. For
  // `HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked,\r\n\r\n3\r\nabc\r\n0\r\n\r\n`
  // onHead announces {kind:'chunked'}, but llhttp reads the body until close and onBody delivers
  // the raw chunk syntax `3\r\nabc\r\n0\r\n\r\n`, completing only on finish(): the proxy would
  // re-chunk or cache the chunk syntax as the body. Expected: the announced framing is the one
  // the body is parsed with (e.g. reject these as invalid, or ask llhttp_message_needs_eof).
  it.each([
    ['chunked,', 'chunked,'],
    ['chunked ,', 'chunked ,'],
    ['chunked, ', 'chunked, '],
    ['chunked<TAB>', 'chunked\t'],
    ['chunked then ","', 'chunked\r\nTransfer-Encoding: ,'],
  ])('F2/O3: Transfer-Encoding "%s": the framing announced is the framing the body is parsed with', (_label, te) => {
    const run = parseResponses(latin1(`HTTP/1.1 200 OK\r\nTransfer-Encoding: ${te}\r\n\r\n3\r\nabc\r\n0\r\n\r\n`), { finish: true });
    if (run.error) {
      expect(run.error.kind).toBe('invalid');
      return;
    }
    const [m] = run.messages;
    if (m.framing.kind === 'chunked') {
      expect(m.body.toString()).toBe('abc');
      expect(m.completedByFinish).toBe(false);
    } else {
      expect(m.framing).toEqual({ kind: 'close' });
      expect(m.body.toString()).toBe('3\r\nabc\r\n0\r\n\r\n');
    }
  });

  // BUG (same cause): an empty Transfer-Encoding beside a Content-Length is accepted, framed by
  // the Content-Length: `HTTP/1.1 200 OK\r\nTransfer-Encoding: \r\nContent-Length: 5\r\n\r\nhello`.
  // Expected: 'invalid' (P1: Content-Length with Transfer-Encoding). Actual: parsed, {kind:'length'}.
  it('P1: a response with an empty Transfer-Encoding beside Content-Length is invalid', () => {
    const run = parseResponses(latin1('HTTP/1.1 200 OK\r\nTransfer-Encoding: \r\nContent-Length: 5\r\n\r\nhello'), { finish: true });
    expectError(run, 'invalid');
    expect(run.messages).toHaveLength(0);
  });

  it('F4: HEAD responses (expectNoBody) have no body whatever their headers; the next response follows', () => {
    const input = latin1(
      'HTTP/1.1 200 OK\r\nContent-Length: 1234\r\n\r\n' +
        'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n' +
        'HTTP/1.1 200 OK\r\n\r\n' +
        'HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nhi',
    );
    const noBody = (i: number) => i < 3;
    for (const parts of [[input], bytewise(input)]) {
      const run = parseResponses(parts, { noBody });
      expectClean(run);
      expect(run.completed).toBe(4);
      expect(run.messages.map((m) => [m.framing.kind, m.body.toString(), m.keepAlive])).toEqual([
        ['none', '', true],
        ['none', '', true],
        ['none', '', true],
        ['length', 'hi', true],
      ]);
      expect(run.messages[0].head.headers.get('content-length')).toBe('1234');
    }
  });

  it('F4: 204 and 304 have no body even with Content-Length or chunked; 1xx precede the final response', () => {
    const run = parseResponses(
      latin1(
        'HTTP/1.1 204 No Content\r\nContent-Length: 5\r\n\r\n' +
          'HTTP/1.1 304 Not Modified\r\nTransfer-Encoding: chunked\r\n\r\n' +
          'HTTP/1.1 304 Not Modified\r\nContent-Length: 10\r\nETag: "x"\r\n\r\n' +
          'HTTP/1.1 100 Continue\r\n\r\n' +
          'HTTP/1.1 103 Early Hints\r\nLink: </s.css>\r\n\r\n' +
          'HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok',
      ),
    );
    expectClean(run);
    expect(run.messages.map((m) => [m.head.status, m.framing.kind, m.body.toString()])).toEqual([
      [204, 'none', ''],
      [304, 'none', ''],
      [304, 'none', ''],
      [100, 'none', ''],
      [103, 'none', ''],
      [200, 'length', 'ok'],
    ]);
  });

  it('responseStatusHasNoBody: 1xx, 204, 304 only', () => {
    for (const s of [100, 101, 103, 150, 199, 204, 304]) expect(responseStatusHasNoBody(s)).toBe(true);
    for (const s of [200, 201, 203, 205, 206, 300, 301, 302, 303, 305, 400, 404, 500, 503, 599]) expect(responseStatusHasNoBody(s)).toBe(false);
  });

  it('F5: HTTP/1.0 responses close unless they say keep-alive; bytes after a closing response are invalid', () => {
    const kept = parseResponses(latin1('HTTP/1.0 200 OK\r\nConnection: keep-alive\r\nContent-Length: 1\r\n\r\naHTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n'));
    expectClean(kept);
    expect(kept.messages.map((m) => m.keepAlive)).toEqual([true, true]);
    const closing = parseResponses(latin1('HTTP/1.0 200 OK\r\nContent-Length: 1\r\n\r\naHTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n'));
    expectError(closing, 'invalid');
    expect(closing.messages.map((m) => m.keepAlive)).toEqual([false]);
  });

  it.each([
    ['inside the status line', 'HTTP/1.1 200 O'],
    ['inside the headers', 'HTTP/1.1 200 OK\r\nContent-Length: 5\r\n'],
    ['inside a Content-Length body', 'HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nabc'],
    ['before a Content-Length body', 'HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\n'],
    ['inside a chunk', 'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nab'],
    ['before the last chunk', 'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n'],
    ['inside the last chunk', 'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n'],
  ])('O2: a response ending %s is truncated on finish()', (_label, text) => {
    const run = parseResponses(latin1(text), { finish: true });
    expectError(run, 'truncated');
    expect(run.failedIn).toBe('finish');
    expect(run.completed).toBe(0);
  });

  it('O2: a truncated body keeps the bytes that did arrive (delivered before the error)', () => {
    const run = parseResponses(latin1('HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\n12345'), { finish: true });
    expectError(run, 'truncated');
    expect(run.messages[0].body.toString()).toBe('12345');
  });

  it('finish() twice after a close-delimited response is still clean', () => {
    const parser = new ResponseParser({ onHead: () => {}, onBody: () => {}, onComplete: () => {} });
    expect(parser.feed(latin1('HTTP/1.1 200 OK\r\n\r\nxyz'))).toBeNull();
    expect(parser.finish()).toBeNull();
    expect(parser.inMessage).toBe(false);
    expect(parser.finish()).toBeNull();
    parser.close();
  });

  const invalidResponses: [string, string][] = [
    ['Content-Length with Transfer-Encoding', 'HTTP/1.1 200 OK\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n'],
    ['two differing Content-Lengths', 'HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Length: 3\r\n\r\nabc'],
    ['an invalid chunk size', 'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n0x3\r\nabc\r\n0\r\n\r\n'],
    ['bare LF after the status line', 'HTTP/1.1 200 OK\nContent-Length: 0\r\n\r\n'],
    ['bare LF after a header', 'HTTP/1.1 200 OK\r\nContent-Length: 0\n\r\n'],
    ['obs-fold', 'HTTP/1.1 200 OK\r\nX: a\r\n b\r\nContent-Length: 0\r\n\r\n'],
    ['NUL in a header value', 'HTTP/1.1 200 OK\r\nX: \x00\r\nContent-Length: 0\r\n\r\n'],
    ['space before the colon', 'HTTP/1.1 200 OK\r\nContent-Length : 0\r\n\r\n'],
    ['a two-digit status', 'HTTP/1.1 20 OK\r\n\r\n'],
    ['a four-digit status', 'HTTP/1.1 2000 OK\r\n\r\n'],
    ['a non-numeric status', 'HTTP/1.1 abc OK\r\n\r\n'],
    ['no space after the status', 'HTTP/1.1 200OK\r\n\r\n'],
    ['two spaces before the status', 'HTTP/1.1  200 OK\r\n\r\n'],
    ['HTTP/1.2', 'HTTP/1.2 200 OK\r\n\r\n'],
    ['a lower-case protocol name', 'http/1.1 200 OK\r\n\r\n'],
    ['a bare CR in the reason', 'HTTP/1.1 200 O\rK\r\n\r\n'],
  ];

  it.each(invalidResponses)('P1: a response with %s is invalid', (_label, text) => {
    const input = latin1(text);
    for (const parts of [[input], bytewise(input)]) {
      const run = parseResponses(parts, { finish: true });
      expectError(run, 'invalid');
      expect(run.completed).toBe(0);
    }
  });

  // BUG (src/http1/parser.ts): as for requests, llhttp accepts response versions other than 1.0
  // and 1.1 (and the RTSP/ICE protocol names, reported as 1.0), and CTL bytes, NUL included, in
  // the reason phrase (RFC 9112 §4: reason-phrase = *( HTAB / SP / VCHAR / obs-text )), which the
  // proxy may then write to clients in its own status line.
  // Bytes: `HTTP/1.1 200 O\x00K\r\nContent-Length: 0\r\n\r\n`. Expected: 'invalid'. Actual: parsed.
  it.each([
    ['HTTP/2.0', 'HTTP/2.0 200 OK\r\nContent-Length: 0\r\n\r\n'],
    ['HTTP/0.9', 'HTTP/0.9 200 OK\r\nContent-Length: 0\r\n\r\n'],
    ['RTSP/1.0', 'RTSP/1.0 200 OK\r\nContent-Length: 0\r\n\r\n'],
    ['ICE/1.0', 'ICE/1.0 200 OK\r\nContent-Length: 0\r\n\r\n'],
    ['NUL in the reason', 'HTTP/1.1 200 O\x00K\r\nContent-Length: 0\r\n\r\n'],
    ['SOH in the reason', 'HTTP/1.1 200 O\x01K\r\nContent-Length: 0\r\n\r\n'],
    ['DEL in the reason', 'HTTP/1.1 200 O\x7fK\r\nContent-Length: 0\r\n\r\n'],
  ])('P1: a response with %s is invalid', (_label, text) => {
    const run = parseResponses(latin1(text), { finish: true });
    expectError(run, 'invalid');
    expect(run.messages).toHaveLength(0);
  });

  it('P2: a response head over the limit is head-too-large, also when split', () => {
    const input = latin1(`HTTP/1.1 200 OK\r\n${'X-Filler: 0123456789\r\n'.repeat(100)}Content-Length: 0\r\n\r\n`);
    expectError(parseResponses(input, { maxHeadSize: 1024 }), 'head-too-large');
    expectError(parseResponses(bytewise(input), { maxHeadSize: 1024 }), 'head-too-large');
    expectClean(parseResponses(input, { maxHeadSize: 4096 }));
  });

  it('a response body larger than the scratch area, close-delimited, arrives whole', () => {
    const body = Buffer.alloc(1_000_000, 0x61);
    body[0] = 0x30;
    body[body.length - 1] = 0x39;
    const run = parseResponses([latin1('HTTP/1.1 200 OK\r\n\r\n'), body], { finish: true });
    expectClean(run);
    expect(run.messages[0].body.equals(body)).toBe(true);
    expect(run.completed).toBe(1);
  });
});

describe('parsers are independent', () => {
  it('interleaved feeds of several parsers do not disturb each other', () => {
    const reqText = latin1('POST /x HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n4\r\nwxyz\r\n0\r\n\r\n');
    const resText = latin1('HTTP/1.1 200 OK\r\nContent-Length: 6\r\n\r\nabcdef');
    const reqHeads: RequestHead[] = [];
    const resHeads: ResponseHead[] = [];
    const reqBody: Buffer[] = [];
    const resBody: Buffer[] = [];
    const a = new RequestParser({ onHead: (h) => reqHeads.push(h), onBody: (b) => reqBody.push(Buffer.from(b)), onComplete: () => {} });
    const b = new ResponseParser({ onHead: (h) => resHeads.push(h), onBody: (x) => resBody.push(Buffer.from(x)), onComplete: () => {} });
    const c = new RequestParser({ onHead: () => {}, onBody: () => {}, onComplete: () => {} });
    const n = Math.max(reqText.length, resText.length);
    for (let i = 0; i < n; i++) {
      if (i < reqText.length) expect(a.feed(reqText.subarray(i, i + 1))).toBeNull();
      if (i < resText.length) expect(b.feed(resText.subarray(i, i + 1))).toBeNull();
      expect(c.feed(latin1('\x00'))?.kind).toBe('invalid');
    }
    expect(reqHeads.map((h) => h.target)).toEqual(['/x']);
    expect(Buffer.concat(reqBody).toString()).toBe('wxyz');
    expect(resHeads.map((h) => h.status)).toEqual([200]);
    expect(Buffer.concat(resBody).toString()).toBe('abcdef');
    a.close();
    b.close();
    c.close();
  });
});

// Added with the fixes of the BUG cases above: the decisions they made, pinned.
describe('RequestParser: decisions behind the fixes', () => {
  it('F5: a CONNECT without framing is delivered (the proxy answers it), closes the connection, and nothing after it is parsed', () => {
    const text = 'CONNECT a:443 HTTP/1.1\r\nHost: a:443\r\n\r\nGET /admin HTTP/1.1\r\n\r\n';
    for (const parts of [[latin1(text)], bytewise(latin1(text))]) {
      const run = parseRequests(parts);
      expectError(run, 'invalid');
      expect(run.messages.map((m) => [m.head.method, m.framing.kind, m.keepAlive])).toEqual([['CONNECT', 'none', false]]);
    }
  });

  it('P1: versions and protocols are checked however the request line is split', () => {
    for (const text of ['GET / RTSP/1.0\r\n\r\n', 'SOURCE / ICE/1.0\r\n\r\n', 'GET / HTTP/2.0\r\n\r\n', 'GET /\r\n\r\n']) {
      expectError(parseRequests(bytewise(latin1(text))), 'invalid');
    }
    for (const text of ['RTSP/1.0 200 OK\r\nContent-Length: 0\r\n\r\n', 'ICE/1.0 200 OK\r\nContent-Length: 0\r\n\r\n']) {
      expectError(parseResponses(bytewise(latin1(text))), 'invalid');
    }
  });

  it('P1: a Content-Length above 2^53 - 1 is invalid (it would not be read exactly)', () => {
    expectError(parseRequests(latin1('POST / HTTP/1.1\r\nContent-Length: 9007199254740992\r\n\r\n')), 'invalid');
    const max = parseRequests(latin1('POST / HTTP/1.1\r\nContent-Length: 9007199254740991\r\n\r\n'));
    expect(max.error).toBeNull();
    expect(max.messages[0].framing).toEqual({ kind: 'length', length: Number.MAX_SAFE_INTEGER });
  });

  it('P1: Transfer-Encoding "chunked" with trailing spaces (still chunked to llhttp) is accepted', () => {
    const run = parseRequests(latin1('POST / HTTP/1.1\r\nTransfer-Encoding: \tChunked  \r\n\r\n1\r\nx\r\n0\r\n\r\n'));
    expectClean(run);
    expect(run.messages[0].framing).toEqual({ kind: 'chunked' });
    expect(run.messages[0].body.toString()).toBe('x');
  });

  it('P2: trailers count as a head of their own: a long body before them never does', () => {
    const body = 'b'.repeat(5000);
    const ok = parseRequests(latin1(`POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n1388\r\n${body}\r\n0\r\nT: 1\r\n\r\nGET /n HTTP/1.1\r\n\r\n`), { maxHeadSize: 200 });
    expectClean(ok);
    expect(ok.messages.map((m) => m.head.target)).toEqual(['/', '/n']);
    for (const trailer of [`T: ${'t'.repeat(300)}`, `T:${' '.repeat(300)}t`]) {
      const text = `POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n1\r\nx\r\n0\r\n${trailer}\r\n\r\n`;
      expectError(parseRequests(latin1(text), { maxHeadSize: 200 }), 'head-too-large');
      expectError(parseRequests(bytewise(latin1(text)), { maxHeadSize: 200 }), 'head-too-large');
    }
  });

  it('P2: whitespace trickling in one byte at a time hits the limit before the head ends', () => {
    const run = parseRequests(bytewise(latin1(`GET / HTTP/1.1\r\nX:${' '.repeat(2000)}`)), { maxHeadSize: 1000 });
    expectError(run, 'head-too-large');
    expect(run.failedAtPart).toBe(1000);
  });
});
