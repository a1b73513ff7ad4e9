import { describe, expect, it } from 'vitest';
import { HeaderFields } from '../../src/http1/headers.js';
import { classifySegmentAnswer, sameFile, segmentCount, segmentKey, segmentWindow, segmentsFor, windowInSegment } from '../../src/cache/segments.js';
import { parseCliArgs } from '../../src/proxy/cli-options.js';
import { OptionError, resolveOptions } from '../../src/proxy/options.js';
import { applyRecvRules, compileRules, type RecvContext } from '../../src/proxy/hooks.js';

const HTTP11_GET = { method: 'GET', target: '/', version: { major: 1, minor: 1 }, headers: new HeaderFields() };

const fields = (...pairs: [string, string][]) => HeaderFields.from(pairs);

describe('segment arithmetic', () => {
  it('B4: segment i is bytes [i*size, (i+1)*size), the last cut at the total', () => {
    expect(segmentWindow(0, 100)).toEqual({ start: 0, end: 100 });
    expect(segmentWindow(3, 100)).toEqual({ start: 300, end: 400 });
    expect(segmentWindow(3, 100, 350)).toEqual({ start: 300, end: 350 });
    expect(segmentCount(350, 100)).toBe(4);
    expect(segmentCount(400, 100)).toBe(4);
    expect(segmentCount(0, 100)).toBe(0);
  });

  it('B4: a window needs exactly the segments that hold its bytes', () => {
    expect(segmentsFor({ start: 0, end: 100 }, 100)).toEqual({ first: 0, last: 0 });
    expect(segmentsFor({ start: 99, end: 101 }, 100)).toEqual({ first: 0, last: 1 });
    expect(segmentsFor({ start: 250, end: 251 }, 100)).toEqual({ first: 2, last: 2 });
    expect(segmentsFor({ start: 5, end: 5 }, 100)).toBeUndefined();
    expect(windowInSegment({ start: 150, end: 420 }, 1, 100)).toEqual({ start: 50, end: 100 });
    expect(windowInSegment({ start: 150, end: 420 }, 4, 100)).toEqual({ start: 0, end: 20 });
  });

  it('B4: a segment key never equals the key of a URL (a request-target has no space)', () => {
    expect(segmentKey('example.com/big.bin', 7, 1024)).toBe('example.com/big.bin segment:1024:7');
  });
});

describe('classifySegmentAnswer', () => {
  it('B4: a 206 for exactly the segment asked for is a segment, with the file identity', () => {
    const answer = classifySegmentAnswer(206, fields(['Content-Range', 'bytes 100-199/350'], ['ETag', '"e1"']), 1, 100);
    expect(answer).toEqual({ kind: 'ok', range: { start: 100, end: 200, total: 350 }, identity: { total: 350, validator: '"e1"' } });
    const last = classifySegmentAnswer(206, fields(['Content-Range', 'bytes 300-349/350'], ['Last-Modified', 'Tue, 01 Dec 2026 10:00:00 GMT']), 3, 100);
    expect(last).toMatchObject({ kind: 'ok', identity: { total: 350, validator: 'Tue, 01 Dec 2026 10:00:00 GMT' } });
  });

  it('B4: a weak ETag is no validator of bytes: Last-Modified (or nothing) identifies the file', () => {
    const answer = classifySegmentAnswer(206, fields(['Content-Range', 'bytes 0-99/350'], ['ETag', 'W/"e1"']), 0, 100);
    expect(answer).toMatchObject({ kind: 'ok', identity: { total: 350, validator: undefined } });
  });

  it('B4: a 200 is the whole file; other bytes or an unreadable Content-Range are a mismatch; a 416 is past the end; other statuses are other', () => {
    expect(classifySegmentAnswer(200, fields(), 1, 100)).toEqual({ kind: 'whole' });
    expect(classifySegmentAnswer(206, fields(['Content-Range', 'bytes 0-99/350']), 1, 100).kind).toBe('mismatch');
    expect(classifySegmentAnswer(206, fields(['Content-Range', 'bytes 100-149/350']), 1, 100).kind).toBe('mismatch');
    expect(classifySegmentAnswer(206, fields(), 0, 100).kind).toBe('mismatch');
    expect(classifySegmentAnswer(404, fields(), 0, 100)).toEqual({ kind: 'other' });
    expect(classifySegmentAnswer(416, fields(['Content-Range', 'bytes */350']), 4, 100)).toEqual({ kind: 'past-end' });
  });

  it('B4: segments agree when total and validator agree', () => {
    expect(sameFile({ total: 10, validator: '"a"' }, { total: 10, validator: '"a"' })).toBe(true);
    expect(sameFile({ total: 10, validator: '"a"' }, { total: 11, validator: '"a"' })).toBe(false);
    expect(sameFile({ total: 10, validator: '"a"' }, { total: 10, validator: '"b"' })).toBe(false);
    expect(sameFile({ total: 10, validator: undefined }, { total: 10, validator: undefined })).toBe(true);
  });
});

describe('--segment-size and the segmentSize rule field', () => {
  const ORIGIN = ['--origin', 'http://127.0.0.1:3000'];
  const options = (argv: string[]) => {
    const result = parseCliArgs(argv);
    if (!('options' in result)) throw new Error('no options');
    return resolveOptions(result.options);
  };

  it('B4: off by default; --segment-size takes a size', () => {
    expect(options(ORIGIN).segmentSize).toBe(0);
    expect(options([...ORIGIN, '--segment-size', '1m']).segmentSize).toBe(1024 * 1024);
    expect(() => parseCliArgs([...ORIGIN, '--segment-size', 'lots'])).toThrow(new OptionError('--segment-size: "lots" is not a size (examples: 65536, 512k, 512m, 2g)'));
  });

  it('B4: a rule sets the segment size for its paths (0 turns it off); a bad value is refused', () => {
    const rules = compileRules([{ path: '/video/*', segmentSize: 4096 }, { path: '/video/live/*', segmentSize: 0 }]);
    const recv = (path: string): RecvContext => ({ request: HTTP11_GET, path, key: path, pass: false, segmentSize: 1000 });
    const a = recv('/video/a.mp4');
    applyRecvRules(rules, a);
    expect(a.segmentSize).toBe(4096);
    const b = recv('/video/live/b.ts');
    applyRecvRules(rules, b);
    expect(b.segmentSize).toBe(0);
    const c = recv('/other');
    applyRecvRules(rules, c);
    expect(c.segmentSize).toBe(1000);
    expect(() => resolveOptions({ origin: 'http://o.test', rules: [{ path: '*', segmentSize: -1 }] })).toThrow('rules[0].segmentSize: must be a whole number of bytes, 0 (off) or more');
    expect(() => resolveOptions({ origin: 'http://o.test', rules: [{ path: '*', segmentSize: '1m' as unknown as number }] })).toThrow('rules[0].segmentSize: must be a number');
  });
});
