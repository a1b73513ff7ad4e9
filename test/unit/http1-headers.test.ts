// src/http1/headers.ts: HeaderFields keeps the sender's case and order; lookups ignore case.
import { describe, expect, it } from 'vitest';
import { HeaderFields } from '../../src/http1/index.js';

const sample = (): HeaderFields =>
  HeaderFields.from([
    ['Host', 'a'],
    ['Accept', 'text/html'],
    ['X-Multi', 'one'],
    ['accept', 'text/plain'],
    ['x-multi', 'two, three'],
  ]);

describe('HeaderFields', () => {
  it('get returns the first value, ignoring case; getAll returns every value in order', () => {
    const h = sample();
    expect(h.size).toBe(5);
    expect(h.get('ACCEPT')).toBe('text/html');
    expect(h.getAll('Accept')).toEqual(['text/html', 'text/plain']);
    expect(h.get('missing')).toBeUndefined();
    expect(h.getAll('missing')).toEqual([]);
    expect(h.has('host')).toBe(true);
    expect(h.has('hos')).toBe(false);
  });

  it('tokens splits every value on commas, trims, lower-cases and drops empty elements', () => {
    const h = HeaderFields.from([
      ['Connection', ' Keep-Alive ,, TE'],
      ['connection', ','],
      ['Connection', 'Upgrade'],
    ]);
    expect(h.tokens('connection')).toEqual(['keep-alive', 'te', 'upgrade']);
    expect(sample().tokens('x-multi')).toEqual(['one', 'two', 'three']);
    expect(sample().tokens('nothing')).toEqual([]);
  });

  it('set replaces every value with one, at the first position; appends when absent', () => {
    const h = sample().set('X-MULTI', 'only');
    expect([...h]).toEqual([
      ['Host', 'a'],
      ['Accept', 'text/html'],
      ['X-Multi', 'only'],
      ['accept', 'text/plain'],
    ]);
    h.set('Age', '5');
    expect([...h].at(-1)).toEqual(['Age', '5']);
  });

  it('append adds at the end, keeping duplicates', () => {
    const h = new HeaderFields().append('Via', '1.1 a').append('via', '1.1 b');
    expect([...h]).toEqual([
      ['Via', '1.1 a'],
      ['via', '1.1 b'],
    ]);
  });

  it('delete and deleteAll remove every field of a name, in any case, keeping the order of the rest', () => {
    const h = sample().delete('ACCEPT');
    expect([...h]).toEqual([
      ['Host', 'a'],
      ['X-Multi', 'one'],
      ['x-multi', 'two, three'],
    ]);
    h.deleteAll(new Set(['host', 'x-multi']));
    expect(h.size).toBe(0);
  });

  it('lookups stay right through edits made after the first lookup (the lower-cased names are kept in step)', () => {
    const h = HeaderFields.from([['Host', 'a'], ['X-One', '1'], ['Connection', 'close'], ['x-one', '2'], ['Via', 'v']]);
    expect(h.get('x-one')).toBe('1'); // builds the lower-cased names
    h.deleteAll(new Set(['connection']));
    expect(h.get('via')).toBe('v');
    h.set('X-ONE', '3');
    expect(h.getAll('x-one')).toEqual(['3']);
    expect(h.get('via')).toBe('v');
    h.append('Age', '5');
    expect(h.get('age')).toBe('5');
    h.set('Vary', 'accept');
    const copy = h.clone();
    copy.deleteAll(new Set(['host']));
    expect(h.get('host')).toBe('a');
    expect(copy.get('host')).toBeUndefined();
    expect([...copy]).toEqual([['X-One', '3'], ['Via', 'v'], ['Age', '5'], ['Vary', 'accept']]);
    expect(h.toLines()).toBe('Host: a\r\nX-One: 3\r\nVia: v\r\nAge: 5\r\nVary: accept\r\n');
  });

  it('clone is independent of the original', () => {
    const a = sample();
    const b = a.clone();
    b.set('Host', 'b').append('New', '1');
    expect(a.get('host')).toBe('a');
    expect(a.size).toBe(5);
    expect(b.get('host')).toBe('b');
  });

  it('copyWithout leaves out the fields it is told to, in one copy independent of the original', () => {
    const a = HeaderFields.from([
      ['Host', 'a'],
      ['X-Drop', '1'],
      ['Accept', '*/*'],
      ['x-drop', '2'],
    ]);
    const b = a.copyWithout((name) => name === 'x-drop');
    expect([...b]).toEqual([
      ['Host', 'a'],
      ['Accept', '*/*'],
    ]);
    b.set('accept', 'text/html').append('X-Drop', '3');
    expect(b.get('Accept')).toBe('text/html');
    expect(b.getAll('x-drop')).toEqual(['3']);
    expect(a.getAll('X-Drop')).toEqual(['1', '2']);
    expect(a.get('accept')).toBe('*/*');
  });

  it('appendToList adds an item to a list field: appended when absent, else joined at the first place', () => {
    expect([...HeaderFields.from([['Host', 'a']]).appendToList('X-Forwarded-For', '10.0.0.1')]).toEqual([
      ['Host', 'a'],
      ['X-Forwarded-For', '10.0.0.1'],
    ]);
    const h = HeaderFields.from([
      ['x-forwarded-for', '1.1.1.1'],
      ['Host', 'a'],
      ['X-Forwarded-For', '2.2.2.2, 3.3.3.3'],
    ]);
    expect([...h.appendToList('X-Forwarded-For', '10.0.0.1')]).toEqual([
      ['x-forwarded-for', '1.1.1.1, 2.2.2.2, 3.3.3.3, 10.0.0.1'],
      ['Host', 'a'],
    ]);
  });

  it('delete of a name that is not there changes nothing', () => {
    const h = sample();
    const before = [...h];
    h.delete('X-Absent');
    expect([...h]).toEqual(before);
  });

  it('toLines writes "Name: value\\r\\n" per field, in order', () => {
    expect(sample().toLines()).toBe('Host: a\r\nAccept: text/html\r\nX-Multi: one\r\naccept: text/plain\r\nx-multi: two, three\r\n');
    expect(new HeaderFields().toLines()).toBe('');
  });

  it('toObject lower-cases names and joins repeated fields with ", "', () => {
    expect(sample().toObject()).toEqual({
      host: 'a',
      accept: 'text/html, text/plain',
      'x-multi': 'one, two, three',
    });
  });

  it('iterates as [name, value] pairs', () => {
    expect([...sample().entries()]).toEqual([...sample()]);
    expect([...sample()][0]).toEqual(['Host', 'a']);
  });
});

describe('HeaderFields.tokens trims optional whitespace only', () => {
  it('SP and HTAB are trimmed; the obs-text byte 0xA0 (NBSP in latin1) is part of the token', () => {
    const h = HeaderFields.from([['Connection', ' \tclose\xa0, \xa0keep-alive \t']]);
    expect(h.tokens('connection')).toEqual(['close\xa0', '\xa0keep-alive']);
  });
});
