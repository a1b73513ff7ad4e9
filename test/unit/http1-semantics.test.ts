// src/http1/semantics.ts: the version- and header-dependent rules (F1-F6), as pure functions.
import { describe, expect, it } from 'vitest';
import {
  HOP_BY_HOP,
  HeaderFields,
  appendVia,
  chooseClientFraming,
  clientWantsKeepAlive,
  connectionField,
  isHttp10,
  isSafeMethod,
  responseHasNoBody,
  underscoreAliasedField,
  withoutHopByHop,
  versionString,
  type HttpVersion,
  type RequestHead,
} from '../../src/http1/index.js';

const V10: HttpVersion = { major: 1, minor: 0 };
const V11: HttpVersion = { major: 1, minor: 1 };

function request(version: HttpVersion, headers: [string, string][] = []): RequestHead {
  return { method: 'GET', target: '/', version, headers: HeaderFields.from(headers) };
}

describe('clientWantsKeepAlive (F5, F3)', () => {
  const cases: [string, HttpVersion, [string, string][], boolean][] = [
    ['1.1 without Connection', V11, [], true],
    ['1.1 Connection: close', V11, [['Connection', 'close']], false],
    ['1.1 Connection: CLOSE (any case)', V11, [['connection', 'CLOSE']], false],
    ['1.1 Connection: keep-alive', V11, [['Connection', 'keep-alive']], true],
    ['1.1 close among other tokens', V11, [['Connection', 'te, Close , upgrade']], false],
    ['1.1 close in a second Connection field', V11, [['Connection', 'te'], ['Connection', 'close']], false],
    ['1.1 keep-alive and close: close wins', V11, [['Connection', 'keep-alive, close']], false],
    ['1.1 a token that only contains "close"', V11, [['Connection', 'closed, x-close']], true],
    ['1.0 without Connection', V10, [], false],
    ['1.0 Connection: keep-alive', V10, [['Connection', 'keep-alive']], true],
    ['1.0 Connection: Keep-Alive (any case, among others)', V10, [['Connection', 'x, Keep-Alive']], true],
    ['1.0 keep-alive and close: close wins', V10, [['Connection', 'keep-alive'], ['Connection', 'close']], false],
    ['1.0 Keep-Alive header alone (no Connection token)', V10, [['Keep-Alive', 'timeout=5']], false],
    ['1.0 Proxy-Connection: keep-alive is not Connection', V10, [['Proxy-Connection', 'keep-alive']], false],
  ];
  it.each(cases)('F5/F3: %s → %s', (_label, version, headers, expected) => {
    expect(clientWantsKeepAlive(request(version, headers))).toBe(expected);
  });
});

describe('withoutHopByHop (F6)', () => {
  it('F6: the fixed set is exactly RFC 9110 §7.6.1 plus Proxy-Connection', () => {
    expect([...HOP_BY_HOP].sort()).toEqual(
      [
        'connection',
        'keep-alive',
        'proxy-authenticate',
        'proxy-authorization',
        'proxy-connection',
        'te',
        'trailer',
        'transfer-encoding',
        'upgrade',
      ].sort(),
    );
  });

  it('F6: removes every field of the fixed set, in any case, keeping the rest in order', () => {
    const h = HeaderFields.from([
      ['Host', 'a'],
      ['Connection', 'keep-alive'],
      ['KEEP-ALIVE', 'timeout=5'],
      ['TE', 'trailers'],
      ['Trailer', 'X'],
      ['Transfer-Encoding', 'chunked'],
      ['Upgrade', 'h2c'],
      ['Proxy-Authenticate', 'Basic'],
      ['proxy-authorization', 'Basic xyz'],
      ['Proxy-Connection', 'keep-alive'],
      ['Content-Type', 'text/plain'],
      ['Cache-Control', 'max-age=1'],
    ]);
    const before = [...h];
    const out = withoutHopByHop(h);
    expect(out).not.toBe(h); // a copy: the message's own fields are left as they came
    expect([...h]).toEqual(before);
    expect([...out]).toEqual([
      ['Host', 'a'],
      ['Content-Type', 'text/plain'],
      ['Cache-Control', 'max-age=1'],
    ]);
    // The copy keeps answering lookups by lower-cased name after edits.
    out.set('content-type', 'text/html');
    expect(out.get('Content-Type')).toBe('text/html');
    expect(out.has('connection')).toBe(false);
  });

  it('F6: also leaves out the fields it is told to, by lower-cased name, in any case', () => {
    const h = HeaderFields.from([
      ['Expect', '100-continue'],
      ['Host', 'a'],
      ['CONTENT-LENGTH', '5'],
      ['Connection', 'x-foo'],
      ['X-Foo', '1'],
    ]);
    expect([...withoutHopByHop(h, new Set(['expect', 'content-length']))]).toEqual([['Host', 'a']]);
  });

  it('F6: removes every field that Connection names, over several Connection fields, any case', () => {
    const h = HeaderFields.from([
      ['Connection', 'X-Foo, x-bar'],
      ['X-Foo', '1'],
      ['connection', ' X-Baz '],
      ['x-bar', '2'],
      ['X-BAZ', '3'],
      ['X-Foo', '4'],
      ['X-Kept', '5'],
      ['Date', 'now'],
    ]);
    expect([...withoutHopByHop(h)]).toEqual([
      ['X-Kept', '5'],
      ['Date', 'now'],
    ]);
  });

  it('F6: a Connection field with only standard tokens removes nothing else', () => {
    const h = HeaderFields.from([
      ['Connection', 'close'],
      ['Close', 'not-a-real-field-but-named'],
      ['Content-Length', '5'],
    ]);
    // Every token Connection names is hop-by-hop, "close" included (RFC 9110 §7.6.1).
    expect([...withoutHopByHop(h)]).toEqual([['Content-Length', '5']]);
  });

  it('F6: nothing to strip leaves the fields untouched', () => {
    const pairs: [string, string][] = [
      ['Host', 'a'],
      ['Accept', '*/*'],
      ['Via', '1.1 other'],
    ];
    expect([...withoutHopByHop(HeaderFields.from(pairs))]).toEqual(pairs);
    expect([...withoutHopByHop(new HeaderFields())]).toEqual([]);
  });
});

describe('appendVia (RFC 9110 §7.6.3)', () => {
  it('adds "1.1 name" when there is no Via', () => {
    const h = appendVia(HeaderFields.from([['Host', 'a']]), V11, 'streamcache');
    expect([...h]).toEqual([
      ['Host', 'a'],
      ['Via', '1.1 streamcache'],
    ]);
  });

  it('names the version the message was received with (1.0)', () => {
    expect(appendVia(new HeaderFields(), V10, 'streamcache').get('via')).toBe('1.0 streamcache');
  });

  it('appends to an existing Via, joining several Via fields into one at the first position', () => {
    const h = HeaderFields.from([
      ['via', '1.1 edge-a'],
      ['Host', 'a'],
      ['Via', '1.0 edge-b, 1.1 edge-c'],
    ]);
    appendVia(h, V11, 'shield');
    expect([...h]).toEqual([
      ['via', '1.1 edge-a, 1.0 edge-b, 1.1 edge-c, 1.1 shield'],
      ['Host', 'a'],
    ]);
  });

  it('tiers accumulate: streamcache in front of streamcache', () => {
    const h = new HeaderFields();
    appendVia(h, V11, 'edge');
    appendVia(h, V11, 'shield');
    expect(h.getAll('Via')).toEqual(['1.1 edge, 1.1 shield']);
  });
});

describe('responseHasNoBody (F4)', () => {
  it.each([
    ['HEAD', 200, true],
    ['HEAD', 404, true],
    ['GET', 204, true],
    ['GET', 304, true],
    ['GET', 100, true],
    ['GET', 103, true],
    ['POST', 204, true],
    ['GET', 200, false],
    ['GET', 206, false],
    ['GET', 404, false],
    ['POST', 500, false],
    ['GET', 205, false],
  ])('F4: %s → %i has no body: %s', (method, status, expected) => {
    expect(responseHasNoBody(method, status)).toBe(expected);
  });
});

describe('chooseClientFraming (F1-F4)', () => {
  const cases: [string, HttpVersion, string, number, number | undefined, string][] = [
    ['F1: known length, 1.1', V11, 'GET', 200, 1234, 'length'],
    ['F1: known length, 1.0', V10, 'GET', 200, 1234, 'length'],
    ['F1: known length 0', V11, 'GET', 200, 0, 'length'],
    ['F2: unknown length, 1.1 → chunked', V11, 'GET', 200, undefined, 'chunked'],
    ['F2: unknown length, 1.1, error status → chunked', V11, 'GET', 500, undefined, 'chunked'],
    ['F3: unknown length, 1.0 → buffered, never chunked', V10, 'GET', 200, undefined, 'buffered'],
    ['F3: unknown length, 1.0 POST → buffered', V10, 'POST', 201, undefined, 'buffered'],
    ['F4: HEAD, known length', V11, 'HEAD', 200, 10, 'none'],
    ['F4: HEAD, unknown length', V11, 'HEAD', 200, undefined, 'none'],
    ['F4: HEAD, 1.0', V10, 'HEAD', 200, undefined, 'none'],
    ['F4: 204', V11, 'GET', 204, undefined, 'none'],
    ['F4: 304 with a length', V11, 'GET', 304, 100, 'none'],
    ['F4: 304, 1.0', V10, 'GET', 304, undefined, 'none'],
    ['F4: 1xx', V11, 'GET', 103, undefined, 'none'],
  ];
  it.each(cases)('%s', (_label, client, method, status, length, expected) => {
    expect(chooseClientFraming(client, method, status, length)).toBe(expected);
  });
});

describe('isSafeMethod (C1, C4)', () => {
  it('only GET and HEAD may be served from or collapsed onto a shared response', () => {
    expect(isSafeMethod('GET')).toBe(true);
    expect(isSafeMethod('HEAD')).toBe(true);
    for (const m of ['POST', 'PUT', 'DELETE', 'PATCH', 'OPTIONS', 'TRACE', 'CONNECT', 'PURGE', 'get', 'head']) {
      expect(isSafeMethod(m)).toBe(false);
    }
  });
});

describe('message helpers', () => {
  it('versionString and isHttp10', () => {
    expect(versionString(V11)).toBe('HTTP/1.1');
    expect(versionString(V10)).toBe('HTTP/1.0');
    expect(isHttp10(V10)).toBe(true);
    expect(isHttp10(V11)).toBe(false);
    expect(isHttp10({ major: 0, minor: 9 })).toBe(false);
  });
});

describe('clientWantsKeepAlive: messages after which the RequestParser parses nothing', () => {
  it('F5: an HTTP/1.0 request with Transfer-Encoding closes, even with Connection: keep-alive (RFC 9112 §6.1)', () => {
    const head = request(V10, [['Connection', 'keep-alive'], ['Transfer-Encoding', 'chunked']]);
    expect(clientWantsKeepAlive(head)).toBe(false);
    expect(clientWantsKeepAlive(request(V11, [['Transfer-Encoding', 'chunked']]))).toBe(true);
  });

  it('F5: a CONNECT closes: what follows it would be tunnel bytes, which a reverse proxy never parses', () => {
    expect(clientWantsKeepAlive({ ...request(V11), method: 'CONNECT', target: 'a:443' })).toBe(false);
  });
});

describe('connectionField (F3, F5)', () => {
  it('F5: close when the connection ends after the response, whatever the version', () => {
    expect(connectionField(false, { major: 1, minor: 1 })).toBe('close');
    expect(connectionField(false, { major: 1, minor: 0 })).toBe('close');
  });
  it('F3: keep-alive spelled out for a persistent HTTP/1.0 client, nothing for HTTP/1.1', () => {
    expect(connectionField(true, { major: 1, minor: 0 })).toBe('keep-alive');
    expect(connectionField(true, { major: 1, minor: 1 })).toBeUndefined();
  });
});

describe('underscoreAliasedField (P5)', () => {
  const fields = (...names: string[]) => HeaderFields.from(names.map((name) => [name, 'x'] as [string, string]));

  it('P5: Transfer_Encoding and Content_Length, in any case, are found and named as received', () => {
    expect(underscoreAliasedField(fields('Host', 'Transfer_Encoding'))).toBe('Transfer_Encoding');
    expect(underscoreAliasedField(fields('CONTENT_LENGTH'))).toBe('CONTENT_LENGTH');
    expect(underscoreAliasedField(fields('transfer_encoding'))).toBe('transfer_encoding');
    expect(underscoreAliasedField(fields('Content_Length', 'Transfer_Encoding'))).toBe('Content_Length');
  });

  it('P5: Host and Connection cannot hold an underscore; names that only start like the four are not flagged', () => {
    // Host and Connection have no dash: the only names that fold to them are themselves.
    expect(underscoreAliasedField(fields('Host_', '_Host', 'Connection_'))).toBeUndefined();
    expect(underscoreAliasedField(fields('Transfer-Encoding_', 'Content_Length_x'))).toBeUndefined();
    expect(underscoreAliasedField(fields('Transfer_encoding'))).toBe('Transfer_encoding');
  });

  it('P5: other fields with underscores, and the four names spelled with dashes, are not flagged', () => {
    expect(underscoreAliasedField(fields('X_Request_Id', 'Accept_Encoding', 'Content_Type', 'Keep_Alive', 'Upgrade_Insecure'))).toBeUndefined();
    expect(underscoreAliasedField(fields('Host', 'Connection', 'Content-Length', 'Transfer-Encoding'))).toBeUndefined();
    expect(underscoreAliasedField(fields())).toBeUndefined();
  });
});

describe('interim responses (RFC 9110 §15.2)', () => {
  it('1xx: 102 and 103 are relayed to HTTP/1.1 clients only; 100 and 101 never', async () => {
    const { relaysInterim } = await import('../../src/http1/semantics.js');
    expect(relaysInterim({ major: 1, minor: 1 }, 103)).toBe(true);
    expect(relaysInterim({ major: 1, minor: 1 }, 102)).toBe(true);
    expect(relaysInterim({ major: 1, minor: 0 }, 103)).toBe(false);
    expect(relaysInterim({ major: 1, minor: 1 }, 100)).toBe(false);
    expect(relaysInterim({ major: 1, minor: 1 }, 101)).toBe(false);
    expect(relaysInterim({ major: 1, minor: 1 }, 200)).toBe(false);
  });

  it('1xx: the relayed head keeps its fields but not the hop-by-hop ones', async () => {
    const { interimHeadString } = await import('../../src/http1/semantics.js');
    const { HeaderFields } = await import('../../src/http1/headers.js');
    const fields = HeaderFields.from([['Link', '</a.css>; rel=preload'], ['Connection', 'x-hop'], ['X-Hop', '1']]);
    expect(interimHeadString(103, '', fields)).toBe('HTTP/1.1 103 Early Hints\r\nLink: </a.css>; rel=preload\r\n\r\n');
    expect(interimHeadString(104, 'Upload Resumption Supported', HeaderFields.from([]))).toBe('HTTP/1.1 104 Upload Resumption Supported\r\n\r\n');
  });
});
