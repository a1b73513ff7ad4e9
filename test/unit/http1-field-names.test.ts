// src/http1/field-names.ts: the table of common field names answers exactly what toLowerCase
// would, without calling it; the parser's byte match finds a known spelling only when the bytes
// are exactly that spelling. And HeaderFields lookups give the same answers whatever the case of
// the name asked, on heads the parser built (names matched or not) and on heads built in code.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { COMMON_FIELD_NAMES, knownSpelling, lowerFieldName, spellingsOf, titleCase } from '../../src/http1/field-names.js';
import { HeaderFields, RequestParser, type RequestHead } from '../../src/http1/index.js';
import { fcOptions } from '../support/fc.js';

const latin1 = (s: string): Buffer => Buffer.from(s, 'latin1');
/** knownSpelling of `text[start..end]`, read through a DataView as the parser reads wasm memory. */
const match = (text: string, start = 0, end = text.length) => {
  const bytes = latin1(text);
  return knownSpelling(new DataView(bytes.buffer, bytes.byteOffset, bytes.length), start, end - start);
};

function parseOne(wire: string, cuts: number[] = []): RequestHead {
  const heads: RequestHead[] = [];
  const parser = new RequestParser({ onHead: (h) => heads.push(h), onBody: () => {}, onComplete: () => {} });
  const bytes = latin1(wire);
  let from = 0;
  for (const cut of [...cuts, bytes.length]) {
    expect(parser.feed(bytes.subarray(from, cut))).toBeNull();
    from = cut;
  }
  expect(heads).toHaveLength(1);
  return heads[0];
}

describe('field names table', () => {
  it('lists lower-case names only, each once', () => {
    for (const name of COMMON_FIELD_NAMES) expect(name).toBe(name.toLowerCase());
    expect(new Set(COMMON_FIELD_NAMES).size).toBe(COMMON_FIELD_NAMES.length);
  });

  it('knows the usual spellings: Title-Case, the conventional exceptions, lower case', () => {
    expect(titleCase('content-length')).toBe('Content-Length');
    expect(spellingsOf('host')).toEqual(['Host', 'host']);
    expect(spellingsOf('etag')).toEqual(['ETag', 'Etag', 'etag']);
    expect(spellingsOf('www-authenticate')).toEqual(['WWW-Authenticate', 'Www-Authenticate', 'www-authenticate']);
  });

  it('lowerFieldName is toLowerCase for every known spelling, in lower case, upper case and mixed case', () => {
    for (const lower of COMMON_FIELD_NAMES) {
      for (const spelling of [...spellingsOf(lower), lower.toUpperCase(), lower.replace(/^./, (c) => c.toUpperCase())]) {
        expect(lowerFieldName(spelling)).toBe(spelling.toLowerCase());
      }
    }
  });

  it('lowerFieldName is toLowerCase for any string, including non-ASCII case mappings', () => {
    for (const odd of ['\u212Aeep-Alive', 'HOST\u0130', '\xc0CCEPT', 'X-\xdf', '', 'Content-Length ', 'content-length\0']) {
      expect(lowerFieldName(odd)).toBe(odd.toLowerCase());
    }
    fc.assert(
      fc.property(fc.oneof(fc.string(), fc.constantFrom(...COMMON_FIELD_NAMES.flatMap(spellingsOf))), (name) => {
        expect(lowerFieldName(name)).toBe(name.toLowerCase());
      }),
      fcOptions(500),
    );
  });

  it('knownSpelling matches exactly the bytes of a known spelling, at any offset, and nothing else', () => {
    for (const lower of COMMON_FIELD_NAMES) {
      for (const spelling of spellingsOf(lower)) {
        for (const pad of ['', 'x', 'xx', 'xxx']) {
          const text = `${pad}${spelling}yy`;
          const at = pad.length;
          expect(match(text, at, at + spelling.length)).toEqual(expect.objectContaining({ raw: spelling, lower }));
          // One byte less, one byte more: not that spelling.
          expect(match(text, at, at + spelling.length - 1)?.raw).not.toBe(spelling);
          expect(match(text, at, at + spelling.length + 1)?.raw).not.toBe(spelling);
        }
        // Any one byte changed (a letter's case flipped, or another byte): not that spelling.
        for (let i = 0; i < spelling.length; i++) {
          const c = spelling[i];
          for (const other of [c === c.toLowerCase() ? c.toUpperCase() : c.toLowerCase(), '!', '\xe9']) {
            if (other === c) continue;
            const changed = spelling.slice(0, i) + other + spelling.slice(i + 1);
            const found = match(changed);
            if (found) expect(found.raw).toBe(changed); // another known spelling of the same name
          }
        }
      }
    }
    expect(match('Host', 0, 0)).toBeUndefined();
    expect(match('X'.repeat(40))).toBeUndefined();
    expect(match('Hosu')).toBeUndefined();
    expect(match('Iost')).toBeUndefined();
    expect(match('TF')).toBeUndefined();
    expect(match('TE')?.lower).toBe('te');
  });
});

describe('HeaderFields lookups with the table', () => {
  const wire =
    'GET / HTTP/1.1\r\nHost: a\r\nhost: b\r\nCONTENT-type: t\r\nX-Own: 1\r\nx-own: 2\r\nAccept-Encoding: gzip\r\nCookie: c\r\n' +
    'sec-ch-ua: "x"\r\nETag: e\r\n\r\n';

  it('a parsed head answers the same in any case of the name asked, and keeps the names as sent', () => {
    const head = parseOne(wire);
    expect([...head.headers].map(([n]) => n)).toEqual(['Host', 'host', 'CONTENT-type', 'X-Own', 'x-own', 'Accept-Encoding', 'Cookie', 'sec-ch-ua', 'ETag']);
    for (const ask of ['host', 'Host', 'HOST']) {
      expect(head.headers.get(ask)).toBe('a');
      expect(head.headers.getAll(ask)).toEqual(['a', 'b']);
      expect(head.headers.has(ask)).toBe(true);
    }
    for (const ask of ['content-type', 'Content-Type', 'CONTENT-type']) expect(head.headers.get(ask)).toBe('t');
    for (const ask of ['x-own', 'X-OWN']) expect(head.headers.getAll(ask)).toEqual(['1', '2']);
    expect(head.headers.get('etag')).toBe('e');
    expect(head.headers.get('SEC-CH-UA')).toBe('"x"');
    for (const ask of ['range', 'Range', 'x-ow', 'hos']) {
      expect(head.headers.get(ask)).toBeUndefined();
      expect(head.headers.has(ask)).toBe(false);
      expect(head.headers.getAll(ask)).toEqual([]);
    }
    expect(head.headers.toObject()).toEqual({
      host: 'a, b',
      'content-type': 't',
      'x-own': '1, 2',
      'accept-encoding': 'gzip',
      cookie: 'c',
      'sec-ch-ua': '"x"',
      etag: 'e',
    });
  });

  it('a head cut inside its names parses to the same fields and lookups as in one piece', () => {
    const whole = parseOne(wire);
    for (let cut = 1; cut < wire.length; cut++) {
      const split = parseOne(wire, [cut]);
      expect([...split.headers]).toEqual([...whole.headers]);
      expect(split.headers.toObject()).toEqual(whole.headers.toObject());
      expect(split.headers.getAll('HOST')).toEqual(['a', 'b']);
    }
  });

  it('a name that starts as a known spelling and goes on is not taken for it', () => {
    const head = parseOne('GET / HTTP/1.1\r\nHostname: a\r\nHost: b\r\n\r\n', [19]);
    expect([...head.headers]).toEqual([
      ['Hostname', 'a'],
      ['Host', 'b'],
    ]);
    expect(head.headers.get('host')).toBe('b');
    expect(head.headers.get('hostname')).toBe('a');
  });

  it('heads built in code (any case, then changed) answer as toLowerCase would', () => {
    const h = HeaderFields.from([
      ['X-\u212A', 'kelvin'],
      ['Content-Length', '1'],
    ]);
    expect(h.get('x-k')).toBe('kelvin');
    expect(h.get('X-\u212A')).toBe('kelvin');
    h.append('VARY', 'Accept-Encoding');
    expect(h.get('vary')).toBe('Accept-Encoding');
    expect(h.tokens('Vary')).toEqual(['accept-encoding']);
    h.set('content-LENGTH', '2');
    expect(h.getAll('content-length')).toEqual(['2']);
    h.delete('CONTENT-LENGTH');
    expect(h.has('content-length')).toBe(false);
  });
});

describe('known names while wasm memory grows', () => {
  it('a head after a callback that grew wasm memory (parsers made inside onHead) still matches its names', () => {
    const heads: RequestHead[] = [];
    const made: RequestParser[] = [];
    const parser = new RequestParser({
      onHead: (h) => {
        heads.push(h);
        // Each parser is an llhttp_alloc in wasm memory: thousands of them grow it, which
        // detaches every JS view of the old memory while llhttp is still inside execute.
        if (heads.length === 1) for (let i = 0; i < 20000; i++) made.push(new RequestParser({ onHead: () => {}, onBody: () => {}, onComplete: () => {} }));
      },
      onBody: () => {},
      onComplete: () => {},
    });
    const wire = 'GET /a HTTP/1.1\r\nHost: a\r\n\r\nGET /b HTTP/1.1\r\nHost: b\r\nUser-Agent: u\r\nX-Other: o\r\n\r\n';
    try {
      expect(parser.feed(latin1(wire))).toBeNull();
      expect(heads.map((h) => [...h.headers])).toEqual([
        [['Host', 'a']],
        [
          ['Host', 'b'],
          ['User-Agent', 'u'],
          ['X-Other', 'o'],
        ],
      ]);
      expect(heads[1].headers.get('user-agent')).toBe('u');
    } finally {
      for (const p of made) p.close();
      parser.close();
    }
  });
});
