// src/cache/conditional.ts: SPEC C3, answering If-None-Match / If-Modified-Since from a stored
// object (RFC 9110 §13.1.1, §13.1.3, §13.2.2), and updating a stored head from a 304 (RFC 9111 §3.2,
// §4.3.4).
import { describe, expect, it } from 'vitest';
import { HeaderFields } from '../../src/http1/headers.js';
import { NOT_MODIFIED_FIELDS, isNotModified, revalidationFields, updateStoredFields } from '../../src/cache/conditional.js';

const fields = (...pairs: [string, string][]) => HeaderFields.from(pairs);

const LM = 'Wed, 01 May 2024 10:00:00 GMT';
const BEFORE = 'Wed, 01 May 2024 09:59:59 GMT';
const AFTER = 'Wed, 01 May 2024 10:00:01 GMT';

describe('C3: If-None-Match', () => {
  it('C3 If-None-Match: the same strong tag matches, another does not', () => {
    expect(isNotModified(fields(['If-None-Match', '"v1"']), '"v1"', undefined)).toBe(true);
    expect(isNotModified(fields(['If-None-Match', '"v2"']), '"v1"', undefined)).toBe(false);
    expect(isNotModified(fields(['If-None-Match', '"V1"']), '"v1"', undefined)).toBe(false); // opaque tags are case-sensitive
  });

  it('C3 If-None-Match uses the weak comparison: W/ on either side still matches', () => {
    expect(isNotModified(fields(['If-None-Match', 'W/"v1"']), '"v1"', undefined)).toBe(true);
    expect(isNotModified(fields(['If-None-Match', '"v1"']), 'W/"v1"', undefined)).toBe(true);
    expect(isNotModified(fields(['If-None-Match', 'W/"v1"']), 'W/"v1"', undefined)).toBe(true);
    expect(isNotModified(fields(['If-None-Match', 'W/"v2"']), 'W/"v1"', undefined)).toBe(false);
  });

  it('C3 If-None-Match: * matches any stored object that has an ETag', () => {
    expect(isNotModified(fields(['If-None-Match', '*']), '"anything"', undefined)).toBe(true);
    expect(isNotModified(fields(['If-None-Match', ' * ']), 'W/"x"', undefined)).toBe(true);
  });

  it('C3 If-None-Match: a list, or several fields, match when any member does', () => {
    expect(isNotModified(fields(['If-None-Match', '"a", "b",W/"v1" , "c"']), '"v1"', undefined)).toBe(true);
    expect(isNotModified(fields(['If-None-Match', '"a"'], ['If-None-Match', '"v1"']), '"v1"', undefined)).toBe(true);
    expect(isNotModified(fields(['If-None-Match', '"a", "b"'], ['If-None-Match', '"c"']), '"v1"', undefined)).toBe(false);
  });

  it('C3 If-None-Match against an object without an ETag never matches (not even *)', () => {
    expect(isNotModified(fields(['If-None-Match', '"v1"']), undefined, LM)).toBe(false);
    expect(isNotModified(fields(['If-None-Match', '*']), undefined, LM)).toBe(false);
  });

  // Regression (fixed): an entity-tag may contain commas (RFC 9110 §8.8.3: etagc = %x21 / %x23-7E / obs-text, and
  // "," is %x2C). isNotModified splits the If-None-Match list on every comma, so such a tag never
  // matches itself: the client gets the full 200 instead of a 304.
  //   input:    If-None-Match: "a,b"   stored ETag "a,b"
  //   expected: true (304)
  //   actual:   false (the list is read as `"a` and `b"`)
  it('C3: If-None-Match: an entity-tag containing a comma matches itself', () => {
    expect(isNotModified(fields(['If-None-Match', '"a,b"']), '"a,b"', undefined)).toBe(true);
  });
});

describe('C3: If-Modified-Since', () => {
  it('C3 If-Modified-Since: not modified when Last-Modified is at or before the date', () => {
    expect(isNotModified(fields(['If-Modified-Since', LM]), undefined, LM)).toBe(true);
    expect(isNotModified(fields(['If-Modified-Since', AFTER]), undefined, LM)).toBe(true);
    expect(isNotModified(fields(['If-Modified-Since', BEFORE]), undefined, LM)).toBe(false);
  });

  it('C3 If-Modified-Since: no answer from an invalid date or without Last-Modified', () => {
    expect(isNotModified(fields(['If-Modified-Since', 'yesterday']), undefined, LM)).toBe(false);
    expect(isNotModified(fields(['If-Modified-Since', AFTER]), undefined, 'garbage')).toBe(false);
    expect(isNotModified(fields(['If-Modified-Since', AFTER]), '"v1"', undefined)).toBe(false);
  });

  it('C3 a request without conditionals is never answered 304', () => {
    expect(isNotModified(fields(), '"v1"', LM)).toBe(false);
  });
});

describe('C3: If-None-Match takes precedence over If-Modified-Since (RFC 9110 §13.2.2)', () => {
  it('C3 a matching If-None-Match answers 304 even when If-Modified-Since would not', () => {
    expect(isNotModified(fields(['If-None-Match', '"v1"'], ['If-Modified-Since', BEFORE]), '"v1"', LM)).toBe(true);
  });

  it('C3 a failing If-None-Match answers 200 even when If-Modified-Since would say 304', () => {
    expect(isNotModified(fields(['If-Modified-Since', AFTER], ['If-None-Match', '"v2"']), '"v1"', LM)).toBe(false);
  });

  it('C3 If-None-Match against an object without ETag: If-Modified-Since is still ignored', () => {
    expect(isNotModified(fields(['If-None-Match', '"v1"'], ['If-Modified-Since', AFTER]), undefined, LM)).toBe(false);
  });
});

describe('C3: revalidating a stale object with the origin', () => {
  it('C3 revalidationFields: the stored validators as If-None-Match / If-Modified-Since', () => {
    expect(revalidationFields('"v1"', LM)).toEqual([
      ['If-None-Match', '"v1"'],
      ['If-Modified-Since', LM],
    ]);
    expect(revalidationFields(undefined, LM)).toEqual([['If-Modified-Since', LM]]);
    expect(revalidationFields('W/"v1"', undefined)).toEqual([['If-None-Match', 'W/"v1"']]);
    expect(revalidationFields(undefined, undefined)).toEqual([]);
  });

  it('C3 NOT_MODIFIED_FIELDS: what a 304 carries from the object (RFC 9110 §15.4.5)', () => {
    expect([...NOT_MODIFIED_FIELDS].sort()).toEqual(['cache-control', 'content-location', 'date', 'etag', 'expires', 'last-modified', 'vary']);
  });

  it('C3 updateStoredFields: fields of the 304 replace the stored ones of the same name, in any case, and new ones are added', () => {
    const stored = fields(['Content-Type', 'text/plain'], ['ETag', '"v1"'], ['Cache-Control', 'max-age=60'], ['Date', 'Wed, 01 May 2024 10:00:00 GMT'], ['X-Kept', 'yes']);
    const notModified = fields(['etag', '"v2"'], ['CACHE-CONTROL', 'max-age=600'], ['Date', 'Wed, 01 May 2024 11:00:00 GMT'], ['X-New', '1']);
    const updated = updateStoredFields(stored, notModified);
    expect(updated.toObject()).toEqual({
      'content-type': 'text/plain',
      etag: '"v2"',
      'cache-control': 'max-age=600',
      date: 'Wed, 01 May 2024 11:00:00 GMT',
      'x-kept': 'yes',
      'x-new': '1',
    });
    expect(updated.getAll('etag')).toEqual(['"v2"']);
  });

  it('C3 updateStoredFields: Content-Length, Content-Encoding, Transfer-Encoding, Content-Range describe the stored body and are kept', () => {
    const stored = fields(['Content-Length', '1000'], ['Content-Encoding', 'gzip'], ['Content-Range', 'bytes 0-999/1000']);
    const notModified = fields(['Content-Length', '0'], ['content-encoding', 'br'], ['Transfer-Encoding', 'chunked'], ['Content-Range', 'bytes */1000']);
    const updated = updateStoredFields(stored, notModified);
    expect(updated.toObject()).toEqual({ 'content-length': '1000', 'content-encoding': 'gzip', 'content-range': 'bytes 0-999/1000' });
  });

  it('C3 updateStoredFields: several fields of one name in the 304 are all kept, replacing every stored one', () => {
    const stored = fields(['Link', '</a>; rel=preload'], ['Link', '</b>; rel=preload'], ['X', '1']);
    const updated = updateStoredFields(stored, fields(['Link', '</c>; rel=preload'], ['link', '</d>; rel=preload']));
    expect(updated.getAll('link')).toEqual(['</c>; rel=preload', '</d>; rel=preload']);
    expect(updated.get('x')).toBe('1');
  });

  it('C3 updateStoredFields leaves the stored fields untouched (it works on a copy)', () => {
    const stored = fields(['ETag', '"v1"']);
    const updated = updateStoredFields(stored, fields(['ETag', '"v2"']));
    expect(stored.get('etag')).toBe('"v1"');
    expect(updated.get('etag')).toBe('"v2"');
    expect(updateStoredFields(stored, fields()).toObject()).toEqual({ etag: '"v1"' });
  });
});
