// src/proxy/esi/parser.ts: the ESI markup T2 understands — include (src, alt, onerror), remove,
// comment, <!--esi … --> — and what it leaves as text. Nodes are compared with adjacent text merged.
import { describe, expect, it } from 'vitest';
import { EsiParser, parseEsi } from '../../src/proxy/esi/parser.js';
import { plain, type Plain } from '../support/esi-nodes.js';

const parse = (source: string) => plain(parseEsi(Buffer.from(source, 'latin1')));
const inc = (src: string, extra: { alt?: string; continueOnError?: boolean } = {}): Plain => ({ include: src, ...(extra.alt !== undefined ? { alt: extra.alt } : {}), continueOnError: extra.continueOnError ?? false });

describe('T2 ESI parser: includes', () => {
  it('T2: a self-closing include between text', () => {
    expect(parse('<p>a</p><esi:include src="/frag"/><p>b</p>')).toEqual([{ text: '<p>a</p>' }, inc('/frag'), { text: '<p>b</p>' }]);
  });

  it('T2: alt and onerror="continue", single or double quotes, whitespace, attribute order', () => {
    expect(parse(`<esi:include  onerror="continue"\n alt='/b' src="/a" />`)).toEqual([inc('/a', { alt: '/b', continueOnError: true })]);
    expect(parse('<esi:include src="/a" onerror="abort"/>')).toEqual([inc('/a')]);
  });

  it('T2: an include written with an end tag; the end tag is dropped', () => {
    expect(parse('x<esi:include src="/a"></esi:include>y')).toEqual([{ text: 'x' }, inc('/a'), { text: 'y' }]);
  });

  it('T2: XML entities in attribute values are decoded; a quoted > does not end the tag', () => {
    expect(parse('<esi:include src="/q?a=1&amp;b=&#50;&#x33;" alt="/x>y"/>')).toEqual([inc('/q?a=1&b=23', { alt: '/x>y' })]);
  });

  it('T2: an include without src is an include of nothing (it fails unless onerror="continue")', () => {
    expect(parse('<esi:include onerror="continue"/>')).toEqual([inc('', { continueOnError: true })]);
  });

  it('T2: several includes, adjacent', () => {
    expect(parse('<esi:include src="/1"/><esi:include src="/2"/>')).toEqual([inc('/1'), inc('/2')]);
  });
});

describe('T2 ESI parser: remove, comment, <!--esi', () => {
  it('T2: <esi:remove> drops its content, ESI markup included', () => {
    expect(parse('a<esi:remove><a href="/x">x</a><esi:include src="/no"/></esi:remove>b')).toEqual([{ text: 'ab' }]);
  });

  it('T2: an <esi:remove> left open removes to the end; a stray </esi:remove> is dropped', () => {
    expect(parse('a<esi:remove>b c')).toEqual([{ text: 'a' }]);
    expect(parse('a</esi:remove>b')).toEqual([{ text: 'ab' }]);
  });

  it('T2: <esi:comment text="…"/> is dropped', () => {
    expect(parse('a<esi:comment text="for editors > only"/>b')).toEqual([{ text: 'ab' }]);
  });

  it('T2: <!--esi … --> loses its delimiters and its content is processed', () => {
    expect(parse('a<!--esi <p>b</p><esi:include src="/c"/> -->d')).toEqual([{ text: 'a <p>b</p>' }, inc('/c'), { text: ' d' }]);
  });

  it('T2: an ordinary HTML comment and a --> outside <!--esi are text', () => {
    expect(parse('<!-- x --> y -->')).toEqual([{ text: '<!-- x --> y -->' }]);
  });
});

describe('T2 ESI parser: what stays text', () => {
  it('T2: ordinary markup, lone < and >, and look-alikes', () => {
    const source = '<html><esix:include src="/a"/> a < b > c <es <esi <!-- <!--es </esi';
    expect(parse(source)).toEqual([{ text: source }]);
  });

  it('T2: unsupported esi: elements go out as they are', () => {
    expect(parse('<esi:vars>$(HTTP_HOST)</esi:vars>')).toEqual([{ text: '<esi:vars>$(HTTP_HOST)</esi:vars>' }]);
  });

  it('T2: an unterminated tag at the end, or one broken by another <, is text', () => {
    expect(parse('a<esi:include src="/x"')).toEqual([{ text: 'a<esi:include src="/x"' }]);
    expect(parse('<esi:include src="/x" <esi:include src="/y"/>')).toEqual([{ text: '<esi:include src="/x" ' }, inc('/y')]);
  });

  it('T2: a tag longer than 16 KiB is not a tag', () => {
    const long = `<esi:include src="/${'a'.repeat(17 * 1024)}"/>`;
    expect(parse(long)).toEqual([{ text: long }]);
  });

  it('T2: bytes outside markup go through untouched (latin1 and UTF-8 alike)', () => {
    const bytes = Buffer.concat([Buffer.from('é ü \u2603 ', 'utf8'), Buffer.from([0, 0xff, 0x80, 0x3c]), Buffer.from('<esi:include src="/ü"/>', 'utf8')]);
    const nodes = parseEsi(bytes);
    expect(nodes[0]).toMatchObject({ kind: 'text' });
    expect(Buffer.concat(nodes.filter((n) => n.kind === 'text').map((n) => (n as { data: Buffer }).data))).toEqual(bytes.subarray(0, bytes.length - Buffer.byteLength('<esi:include src="/ü"/>')));
    expect(nodes[nodes.length - 1]).toEqual({ kind: 'include', src: '/ü', continueOnError: false });
  });
});

describe('T2 ESI parser: incremental', () => {
  it('T2: fed one byte at a time, the result is the same as in one piece', () => {
    const source = 'a<!--esi b<esi:include src="/c" alt="/d"/>e -->f<esi:remove>g</esi:remove>h<esi:comment text="i"/>j<';
    const parser = new EsiParser();
    for (const byte of Buffer.from(source, 'latin1')) parser.write(Buffer.from([byte]));
    expect(plain(parser.end())).toEqual(parse(source));
  });

  it('T2: text nodes are views of the pieces fed (no copy) when no construct spans pieces', () => {
    const piece = Buffer.from('hello <b>world</b>', 'latin1');
    const parser = new EsiParser();
    parser.write(piece);
    const [node] = parser.end();
    expect(node.kind).toBe('text');
    expect((node as { data: Buffer }).data.buffer).toBe(piece.buffer);
  });

  it('T2: write after end is an error', () => {
    const parser = new EsiParser();
    parser.end();
    expect(() => parser.write(Buffer.from('x'))).toThrow(/after end/);
  });
});
