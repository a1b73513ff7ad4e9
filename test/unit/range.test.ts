import { describe, expect, it } from 'vitest';
import { contentRange, parseContentRange, parseRange, rangeFieldValue, resolveRange, unsatisfiedRange } from '../../src/http1/range.js';
import { ifRangeHolds } from '../../src/cache/conditional.js';

const resolve = (value: string | string[], length: number) => resolveRange(parseRange(typeof value === 'string' ? [value] : value), length);

describe('parseRange and resolveRange', () => {
  it('B1: a-b, a- and -n resolve to the window they name (end exclusive)', () => {
    expect(resolve('bytes=0-9', 1000)).toEqual({ kind: 'partial', start: 0, end: 10 });
    expect(resolve('bytes=990-', 1000)).toEqual({ kind: 'partial', start: 990, end: 1000 });
    expect(resolve('bytes=-10', 1000)).toEqual({ kind: 'partial', start: 990, end: 1000 });
    expect(resolve('bytes=500-500', 1000)).toEqual({ kind: 'partial', start: 500, end: 501 });
  });

  it('B1: a last position past the end is cut at the end; a suffix longer than the object is all of it', () => {
    expect(resolve('bytes=10-99999', 100)).toEqual({ kind: 'partial', start: 10, end: 100 });
    expect(resolve('bytes=-5000', 100)).toEqual({ kind: 'partial', start: 0, end: 100 });
    expect(resolve('bytes=0-99999999999999999999999', 100)).toEqual({ kind: 'partial', start: 0, end: 100 });
  });

  it('B1: a first position at or past the end, or a zero suffix, is unsatisfiable (416)', () => {
    expect(resolve('bytes=1000-', 1000)).toEqual({ kind: 'unsatisfiable' });
    expect(resolve('bytes=1000-2000', 1000)).toEqual({ kind: 'unsatisfiable' });
    expect(resolve('bytes=-0', 1000)).toEqual({ kind: 'unsatisfiable' });
    expect(resolve('bytes=0-', 0)).toEqual({ kind: 'unsatisfiable' });
    expect(resolve('bytes=99999999999999999999-', 10)).toEqual({ kind: 'unsatisfiable' });
  });

  it('B1: several ranges get the whole object, even when one of them is unsatisfiable', () => {
    expect(parseRange(['bytes=0-1,5-6'])).toEqual({ kind: 'bytes', ranges: [{ kind: 'int', first: 0, last: 1 }, { kind: 'int', first: 5, last: 6 }] });
    expect(resolve('bytes=0-1,5-6', 100)).toEqual({ kind: 'whole' });
    expect(resolve('bytes=0-1, 500-600', 100)).toEqual({ kind: 'whole' });
  });

  it('B1: another unit, bad syntax or two Range fields are ignored: the whole object', () => {
    for (const value of ['items=0-5', 'bytes 0-5', 'bytes=5-1', 'bytes=a-b', 'bytes=', 'bytes=,', 'bytes=--5', 'bytes=0-5-', 'bytes=1.5-2', '0-5']) {
      expect(parseRange([value]).kind, value).toBe('ignored');
      expect(resolve(value, 100), value).toEqual({ kind: 'whole' });
    }
    expect(parseRange(['bytes=0-1', 'bytes=2-3'])).toEqual({ kind: 'ignored', reason: 'more than one Range field' });
    expect(parseRange([])).toEqual({ kind: 'none' });
  });

  it('B1: the unit is case-insensitive, whitespace and empty list elements are allowed', () => {
    expect(resolve('Bytes=0-4', 100)).toEqual({ kind: 'partial', start: 0, end: 5 });
    expect(resolve('BYTES = 2 - 4', 100)).toEqual({ kind: 'partial', start: 2, end: 5 });
    expect(resolve('bytes=, 3-4 ,', 100)).toEqual({ kind: 'partial', start: 3, end: 5 });
  });

  it('B1: a suffix of an empty object is the whole (empty) object: no byte to name', () => {
    expect(resolve('bytes=-5', 0)).toEqual({ kind: 'whole' });
  });
});

describe('Content-Range', () => {
  it('B1: formats a satisfied range and an unsatisfied one', () => {
    expect(contentRange(0, 10, 1000)).toBe('bytes 0-9/1000');
    expect(contentRange(5, 6, undefined)).toBe('bytes 5-5/*');
    expect(unsatisfiedRange(1000)).toBe('bytes */1000');
    expect(rangeFieldValue(1024, 2048)).toBe('bytes=1024-2047');
  });

  it('B4: parses an origin 206 Content-Range; rejects what is not one satisfied range', () => {
    expect(parseContentRange('bytes 0-9/1000')).toEqual({ start: 0, end: 10, total: 1000 });
    expect(parseContentRange('bytes 10-19/*')).toEqual({ start: 10, end: 20, total: undefined });
    expect(parseContentRange(' Bytes 0-0/1 ')).toEqual({ start: 0, end: 1, total: 1 });
    for (const bad of ['bytes */1000', 'bytes 9-0/1000', 'bytes 0-1000/1000', 'items 0-1/2', 'bytes 0-1', 'bytes=0-1/2', '']) {
      expect(parseContentRange(bad), bad).toBeUndefined();
    }
    expect(parseContentRange(undefined)).toBeUndefined();
  });
});

describe('If-Range', () => {
  const lastModified = 'Tue, 01 Dec 2026 10:00:00 GMT';
  const date = 'Tue, 01 Dec 2026 10:00:05 GMT';

  it('B1: no If-Range lets the range apply', () => {
    expect(ifRangeHolds(undefined, {})).toBe(true);
  });

  it('B1: an entity-tag applies the range only on a strong match', () => {
    expect(ifRangeHolds('"v1"', { etag: '"v1"' })).toBe(true);
    expect(ifRangeHolds('"v2"', { etag: '"v1"' })).toBe(false);
    expect(ifRangeHolds('W/"v1"', { etag: 'W/"v1"' })).toBe(false);
    expect(ifRangeHolds('"v1"', { etag: 'W/"v1"' })).toBe(false);
    expect(ifRangeHolds('"v1"', {})).toBe(false);
  });

  it('B1: a date applies the range when it equals a strong Last-Modified (Date a second or more later)', () => {
    expect(ifRangeHolds(lastModified, { lastModified, date })).toBe(true);
    expect(ifRangeHolds('Tue, 01 Dec 2026 10:00:01 GMT', { lastModified, date })).toBe(false);
    // Date equal to Last-Modified: the object may have changed within that second (weak).
    expect(ifRangeHolds(lastModified, { lastModified, date: lastModified })).toBe(false);
    expect(ifRangeHolds(lastModified, { lastModified })).toBe(false);
    expect(ifRangeHolds('yesterday', { lastModified, date })).toBe(false);
    expect(ifRangeHolds(lastModified, { etag: '"v1"', date })).toBe(false);
  });
});
