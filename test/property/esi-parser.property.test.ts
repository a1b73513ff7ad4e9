// Properties of the ESI parser (T2, src/proxy/esi/parser.ts):
// 1. however a document is cut into pieces (as the store and the origin's reads cut a template),
//    it parses to the same nodes as in one piece — for any bytes, ESI-like or hostile;
// 2. a well-formed document built from known parts parses to exactly those parts.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { fcOptions } from '../support/fc.js';
import { EsiParser, parseEsi, type EsiNode } from '../../src/proxy/esi/parser.js';
import { plain, type Plain } from '../support/esi-nodes.js';

function parsePieces(source: Buffer, cuts: number[]): Plain[] {
  const points = [...new Set(cuts.map((c) => c % (source.length + 1)))].sort((a, b) => a - b);
  const parser = new EsiParser();
  let from = 0;
  for (const point of [...points, source.length]) {
    parser.write(source.subarray(from, point));
    from = point;
  }
  return plain(parser.end());
}

/** Pieces of ESI and near-ESI markup, to be glued in any order (so most documents are malformed). */
const MARKUP = [
  '<esi:include src="/a"/>',
  '<esi:include src="/b" alt="/c" onerror="continue"/>',
  "<esi:include src='/q?x=1&amp;y=2'>",
  '</esi:include>',
  '<esi:include src="/open"',
  '<esi:remove>',
  '</esi:remove>',
  '<esi:comment text="c > d"/>',
  '<esi:vars>',
  '<!--esi',
  '-->',
  '<!--',
  '<esi:',
  '</esi',
  '<',
  '>',
  '"',
  '--',
];

const rawPiece = fc.oneof(
  fc.constantFrom(...MARKUP),
  fc.string({ unit: fc.constantFrom('a', ' ', '\n', '<', '>', '-', '!', 'e', 's', 'i', ':', '/', '"', "'", '=', '\u00e9'), maxLength: 12 }),
  // A tag right at the 16 KiB limit, on either side of it.
  fc.integer({ min: 16 * 1024 - 30, max: 16 * 1024 + 5 }).map((n) => `<esi:include src="/${'x'.repeat(n)}"/>`),
);

const cutsArb = fc.array(fc.nat(), { maxLength: 40 });

describe('T2 ESI parser: any split parses the same', () => {
  it('T2: any document (ESI, near-ESI, malformed) cut anywhere parses to the same nodes as in one piece', () => {
    fc.assert(
      fc.property(fc.array(rawPiece, { maxLength: 30 }), cutsArb, (pieces, cuts) => {
        const source = Buffer.from(pieces.join(''), 'latin1');
        expect(parsePieces(source, cuts)).toEqual(plain(parseEsi(source)));
      }),
      fcOptions(300),
    );
  });

  it('T2: any bytes at all, cut anywhere, parse the same as in one piece', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 400 }), cutsArb, (bytes, cuts) => {
        const source = Buffer.from(bytes);
        expect(parsePieces(source, cuts)).toEqual(plain(parseEsi(source)));
      }),
      fcOptions(200),
    );
  });
});

// ---- well-formed documents: what they must parse to ----

type Part =
  | { kind: 'text'; text: string }
  | { kind: 'include'; src: string; alt?: string; continueOnError: boolean }
  | { kind: 'remove'; inner: string }
  | { kind: 'comment'; text: string }
  | { kind: 'esi-comment'; inner: Part[] };

// Plain text: no '<' (it could open markup) and no '-' (it could close an <!--esi).
const textArb = fc.string({ unit: fc.constantFrom('a', 'b', ' ', '\n', '>', '!', '=', '"', '\u00e9', '/', 'e', 's', 'i', ':'), minLength: 1, maxLength: 10 });
const urlArb = fc.string({ unit: fc.constantFrom('a', 'b', '/', '?', '=', '&', '1', '>', '<', '"'), maxLength: 8 }).map((s) => `/${s}`);
const xmlEscape = (s: string) => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/"/g, '&quot;');

const includeArb = fc.record({ src: urlArb, alt: fc.option(urlArb, { nil: undefined }), continueOnError: fc.boolean() }).map(
  ({ src, alt, continueOnError }): Part => ({ kind: 'include', src, ...(alt !== undefined ? { alt } : {}), continueOnError }),
);
const leafArb: fc.Arbitrary<Part> = fc.oneof(
  textArb.map((text): Part => ({ kind: 'text', text })),
  includeArb,
  fc.string({ maxLength: 20 }).map((inner): Part => ({ kind: 'remove', inner: inner.replace(/<\/esi:remove>/g, '') })),
  textArb.map((text): Part => ({ kind: 'comment', text })),
);
const partArb: fc.Arbitrary<Part> = fc.oneof(
  { weight: 4, arbitrary: leafArb },
  { weight: 1, arbitrary: fc.array(fc.oneof(textArb.map((text): Part => ({ kind: 'text', text })), includeArb), { maxLength: 4 }).map((inner): Part => ({ kind: 'esi-comment', inner })) },
);

function render(part: Part): string {
  switch (part.kind) {
    case 'text':
      return part.text;
    case 'include': {
      const alt = part.alt !== undefined ? ` alt="${xmlEscape(part.alt)}"` : '';
      return `<esi:include src="${xmlEscape(part.src)}"${alt}${part.continueOnError ? ' onerror="continue"' : ''}/>`;
    }
    case 'remove':
      return `<esi:remove>${part.inner}</esi:remove>`;
    case 'comment':
      return `<esi:comment text="${xmlEscape(part.text)}"/>`;
    case 'esi-comment':
      return `<!--esi ${part.inner.map(render).join('')}-->`;
  }
}

function expected(parts: Part[]): Plain[] {
  const nodes: EsiNode[] = [];
  const walk = (part: Part): void => {
    if (part.kind === 'text') nodes.push({ kind: 'text', data: Buffer.from(part.text, 'latin1') });
    else if (part.kind === 'include') nodes.push({ kind: 'include', src: part.src, ...(part.alt !== undefined ? { alt: part.alt } : {}), continueOnError: part.continueOnError });
    else if (part.kind === 'esi-comment') {
      nodes.push({ kind: 'text', data: Buffer.from(' ', 'latin1') });
      part.inner.forEach(walk);
    }
  };
  parts.forEach(walk);
  return plain(nodes);
}

describe('T2 ESI parser: well-formed documents', () => {
  it('T2: a document of text, includes (src, alt, onerror), removes, comments and <!--esi blocks parses to exactly those parts, however it is cut', () => {
    fc.assert(
      fc.property(fc.array(partArb, { maxLength: 12 }), cutsArb, (parts, cuts) => {
        // latin1: é is one byte in text (attribute values here are ASCII, which UTF-8 reads the same).
        const source = Buffer.from(parts.map(render).join(''), 'latin1');
        const want = expected(parts);
        expect(parsePieces(source, cuts)).toEqual(want);
      }),
      fcOptions(300),
    );
  });
});
