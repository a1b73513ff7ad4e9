// src/http1/serializer.ts: bytes out, byte for byte, and parsed back by our own parser.
import { describe, expect, it } from 'vitest';
import {
  CRLF,
  HeaderFields,
  LAST_CHUNK,
  chunkHeader,
  frameChunk,
  reasonPhrase,
  responseHeadString,
  requestHeadString,
  simpleResponse,
} from '../../src/http1/index.js';
import { latin1, parseRequests, parseResponses } from '../property/http1-harness.js';

const V11 = { major: 1, minor: 1 };
const V10 = { major: 1, minor: 0 };

describe('response heads', () => {
  it('serializes status line, headers in order with their case, and the blank line', () => {
    const headers = HeaderFields.from([
      ['Content-Type', 'text/html; charset=utf-8'],
      ['content-length', '12'],
      ['X-Dup', 'a'],
      ['X-Dup', 'b'],
    ]);
    const bytes = latin1(responseHeadString(V11, 200, 'OK', headers));
    expect(bytes.toString('latin1')).toBe(
      'HTTP/1.1 200 OK\r\nContent-Type: text/html; charset=utf-8\r\ncontent-length: 12\r\nX-Dup: a\r\nX-Dup: b\r\n\r\n',
    );
  });

  it('uses the standard reason phrase when the reason is empty, and "Unknown" for unknown codes', () => {
    expect(responseHeadString(V11, 404, '', new HeaderFields())).toBe('HTTP/1.1 404 Not Found\r\n\r\n');
    expect(responseHeadString(V11, 431, '', new HeaderFields())).toBe('HTTP/1.1 431 Request Header Fields Too Large\r\n\r\n');
    expect(responseHeadString(V11, 299, '', new HeaderFields())).toBe('HTTP/1.1 299 Unknown\r\n\r\n');
    expect(responseHeadString(V11, 200, 'Fine Thanks', new HeaderFields())).toBe('HTTP/1.1 200 Fine Thanks\r\n\r\n');
  });

  it.each([
    [200, 'OK'],
    [204, 'No Content'],
    [206, 'Partial Content'],
    [304, 'Not Modified'],
    [400, 'Bad Request'],
    [408, 'Request Timeout'],
    [413, 'Content Too Large'],
    [431, 'Request Header Fields Too Large'],
    [502, 'Bad Gateway'],
    [503, 'Service Unavailable'],
    [504, 'Gateway Timeout'],
    [505, 'HTTP Version Not Supported'],
  ])('reasonPhrase(%i) is "%s"', (status, reason) => {
    expect(reasonPhrase(status)).toBe(reason);
  });

  it('writes the version it is given (F3: 1.0 clients get 1.0 status lines if asked)', () => {
    expect(responseHeadString(V10, 200, 'OK', new HeaderFields())).toBe('HTTP/1.0 200 OK\r\n\r\n');
  });

  it('extra lines (Age, Date, X-Cache) go after the stored headers, before the blank line', () => {
    const headers = HeaderFields.from([['Content-Length', '0']]);
    expect(responseHeadString(V11, 200, 'OK', headers, 'Age: 3\r\nX-Cache: HIT\r\n')).toBe(
      'HTTP/1.1 200 OK\r\nContent-Length: 0\r\nAge: 3\r\nX-Cache: HIT\r\n\r\n',
    );
  });

  it('is latin1: obs-text bytes go out as the single bytes they came in as', () => {
    const bytes = latin1(responseHeadString(V11, 200, 'OK', HeaderFields.from([['X', 'caf\xe9\xff']])));
    expect([...bytes.subarray(bytes.indexOf('X: ') + 3, bytes.indexOf('\r\n\r\n'))]).toEqual([0x63, 0x61, 0x66, 0xe9, 0xff]);
  });

  it('a serialized head parses back to the same status, reason, version and headers', () => {
    const pairs: [string, string][] = [
      ['Content-Length', '3'],
      ['Cache-Control', 'max-age=60, s-maxage=30'],
      ['Set-Cookie', 'a=1'],
      ['Set-Cookie', 'b=2'],
      ['X-Latin', 'r\xe9sum\xe9'],
    ];
    const bytes = Buffer.concat([latin1(responseHeadString(V11, 203, 'Non-Authoritative Information', HeaderFields.from(pairs))), latin1('abc')]);
    const run = parseResponses(bytes);
    expect(run.error).toBeNull();
    const [m] = run.messages;
    expect([m.head.status, m.head.reason, m.head.version]).toEqual([203, 'Non-Authoritative Information', V11]);
    expect([...m.head.headers]).toEqual(pairs);
    expect(m.body.toString()).toBe('abc');
  });
});

describe('request heads (V4)', () => {
  it('V4: always HTTP/1.1 towards the origin, headers in order', () => {
    const bytes = latin1(requestHeadString('GET', '/a?b=c', HeaderFields.from([['Host', 'origin.example'], ['Accept', '*/*']])));
    expect(bytes.toString('latin1')).toBe('GET /a?b=c HTTP/1.1\r\nHost: origin.example\r\nAccept: */*\r\n\r\n');
  });

  it('a serialized request parses back to the same method, target and headers', () => {
    const pairs: [string, string][] = [
      ['Host', 'h'],
      ['Content-Length', '4'],
      ['X-Forwarded-For', '10.0.0.1'],
    ];
    const bytes = Buffer.concat([latin1(requestHeadString('PUT', 'http://h/x', HeaderFields.from(pairs))), latin1('data')]);
    const run = parseRequests(bytes);
    expect(run.error).toBeNull();
    const [m] = run.messages;
    expect([m.head.method, m.head.target, m.head.version]).toEqual(['PUT', 'http://h/x', V11]);
    expect([...m.head.headers]).toEqual(pairs);
    expect(m.body.toString()).toBe('data');
  });
});

describe('chunk framing (F2)', () => {
  it('chunkHeader is the size in lower-case hex, then CRLF', () => {
    expect(chunkHeader(1).toString('latin1')).toBe('1\r\n');
    expect(chunkHeader(10).toString('latin1')).toBe('a\r\n');
    expect(chunkHeader(255).toString('latin1')).toBe('ff\r\n');
    expect(chunkHeader(0x10000).toString('latin1')).toBe('10000\r\n');
    expect(chunkHeader(2 ** 32 + 11).toString('latin1')).toBe('10000000b\r\n');
  });

  it('CRLF and LAST_CHUNK are the exact bytes', () => {
    expect(CRLF.toString('latin1')).toBe('\r\n');
    expect(LAST_CHUNK.toString('latin1')).toBe('0\r\n\r\n');
  });

  it('frameChunk is header, the data itself (not a copy), CRLF', () => {
    const data = Buffer.from('hello, world');
    const parts = frameChunk(data);
    expect(parts).toHaveLength(3);
    expect(parts[0].toString('latin1')).toBe('c\r\n');
    expect(parts[1]).toBe(data);
    expect(parts[2].toString('latin1')).toBe('\r\n');
  });

  it('frames parse back: several chunks and LAST_CHUNK make one chunked body', () => {
    const pieces = ['a', 'bc', 'x'.repeat(300), '\r\n0\r\n\r\n'].map((s) => Buffer.from(s, 'latin1'));
    const wire = Buffer.concat([
      latin1('HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n'),
      ...pieces.flatMap((p) => frameChunk(p)),
      LAST_CHUNK,
    ]);
    const run = parseResponses(wire);
    expect(run.error).toBeNull();
    expect(run.completed).toBe(1);
    expect(run.messages[0].body.toString('latin1')).toBe(pieces.map((p) => p.toString('latin1')).join(''));
  });

  // BUG (src/http1/serializer.ts frameChunk): framing an empty buffer yields `0\r\n` + `` + `\r\n`,
  // which is byte for byte LAST_CHUNK: a relay that frames every span it reads (an empty view at
  // a slab boundary, an empty read) would end the client's chunked body early, and the client
  // would take a truncated body for a complete one (the opposite of O2). Expected: no bytes
  // (e.g. `[]`). Actual: `0\r\n\r\n`.
  it('F2: framing an empty buffer writes no bytes (an empty chunk would be the last chunk)', () => {
    const bytes = Buffer.concat(frameChunk(Buffer.alloc(0)));
    expect(bytes.equals(LAST_CHUNK)).toBe(false);
    expect(bytes.length).toBe(0);
  });
});

describe('simpleResponse', () => {
  it('a complete response with text/plain, Content-Length in bytes, and the body', () => {
    const bytes = simpleResponse(503, 'Service Unavailable\n', { close: false });
    expect(bytes.toString('latin1')).toBe(
      'HTTP/1.1 503 Service Unavailable\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Length: 20\r\n\r\nService Unavailable\n',
    );
  });

  it('P1/P2: with close it says Connection: close (400 and 431 close the connection)', () => {
    expect(simpleResponse(400, 'bad', { close: true }).toString('latin1')).toBe(
      'HTTP/1.1 400 Bad Request\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Length: 3\r\nConnection: close\r\n\r\nbad',
    );
    expect(simpleResponse(431, '', { close: true }).toString('latin1')).toBe(
      'HTTP/1.1 431 Request Header Fields Too Large\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Length: 0\r\nConnection: close\r\n\r\n',
    );
  });

  it('Content-Length counts UTF-8 bytes, not characters', () => {
    const bytes = simpleResponse(200, 'héllo ✓', { close: false });
    const body = Buffer.from('héllo ✓', 'utf8');
    expect(bytes.toString('latin1')).toContain(`Content-Length: ${body.length}\r\n`);
    expect(bytes.subarray(bytes.length - body.length).equals(body)).toBe(true);
  });

  it('extra headers go before Connection: close, and the version can be 1.0', () => {
    const bytes = simpleResponse(408, 'timeout', { close: true, version: V10, headers: [['Retry-After', '1'], ['X-Cache', 'MISS']] });
    expect(bytes.toString('latin1')).toBe(
      'HTTP/1.0 408 Request Timeout\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Length: 7\r\nRetry-After: 1\r\nX-Cache: MISS\r\nConnection: close\r\n\r\ntimeout',
    );
  });

  it('F4: head: true gives the head a GET would get (same Content-Length), without the body', () => {
    const full = simpleResponse(404, 'not here', { close: false });
    const head = simpleResponse(404, 'not here', { close: false, head: true });
    expect(head.toString('latin1')).toBe(full.subarray(0, full.length - 8).toString('latin1'));
    expect(head.toString('latin1')).toContain('Content-Length: 8\r\n');
    expect(head.toString('latin1').endsWith('\r\n\r\n')).toBe(true);
  });

  it('parses back as one complete response (with HEAD: expectNoBody)', () => {
    const run = parseResponses(Buffer.concat([simpleResponse(502, 'origin down', { close: false }), simpleResponse(200, 'x', { close: true, head: true })]), {
      noBody: (i) => i === 1,
    });
    expect(run.error).toBeNull();
    expect(run.messages.map((m) => [m.head.status, m.body.toString(), m.keepAlive])).toEqual([
      [502, 'origin down', true],
      [200, '', false],
    ]);
  });
});
