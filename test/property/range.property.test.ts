// B1, B4: the range arithmetic holds for any length, range and segment size.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { contentRange, parseContentRange, parseRange, resolveRange } from '../../src/http1/range.js';
import { segmentWindow, segmentsFor, windowInSegment } from '../../src/cache/segments.js';
import { fcOptions } from '../support/fc.js';

const length = fc.integer({ min: 0, max: 10_000_000 });
const position = fc.integer({ min: 0, max: 12_000_000 });
const rangeText = fc.oneof(
  fc.tuple(position, position).map(([a, b]) => `bytes=${Math.min(a, b)}-${Math.max(a, b)}`),
  position.map((a) => `bytes=${a}-`),
  position.map((n) => `bytes=-${n}`),
);

describe('range arithmetic (property)', () => {
  it('B1: any single range on any length resolves to a window within bounds, or 416 exactly when nothing of it exists', () => {
    fc.assert(
      fc.property(length, rangeText, (len, text) => {
        const request = parseRange([text]);
        expect(request.kind).toBe('bytes');
        const resolved = resolveRange(request, len);
        const spec = request.kind === 'bytes' ? request.ranges[0] : undefined;
        if (resolved.kind === 'partial') {
          expect(resolved.start).toBeGreaterThanOrEqual(0);
          expect(resolved.start).toBeLessThan(resolved.end);
          expect(resolved.end).toBeLessThanOrEqual(len);
          if (spec?.kind === 'int') {
            expect(resolved.start).toBe(spec.first);
            expect(resolved.end).toBe(Math.min(len, (spec.last ?? Infinity) + 1));
          } else if (spec?.kind === 'suffix') {
            expect(resolved.end - resolved.start).toBe(Math.min(len, spec.length));
          }
          // What we write in Content-Range reads back as the same window.
          expect(parseContentRange(contentRange(resolved.start, resolved.end, len))).toEqual({ start: resolved.start, end: resolved.end, total: len });
        } else if (resolved.kind === 'unsatisfiable') {
          expect(spec?.kind === 'int' ? spec.first >= len : spec?.kind === 'suffix' && spec.length === 0).toBe(true);
        } else {
          expect(len === 0 && spec?.kind === 'suffix').toBe(true);
        }
      }),
      fcOptions(500),
    );
  });

  it('B4: the segments a window needs cover exactly its bytes, each in order and once', () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 100_000 }), position, fc.integer({ min: 1, max: 40 }), fc.integer({ min: 0, max: 99_999 }), (size, start, segments, extra) => {
        // Up to 40 segments' worth of window, at any phase.
        const span = Math.max(1, (segments - 1) * size + (extra % size));
        const window = { start, end: start + span };
        const needed = segmentsFor(window, size)!;
        let covered = window.start;
        for (let i = needed.first; i <= needed.last; i++) {
          const part = windowInSegment(window, i, size);
          const absolute = segmentWindow(i, size).start + part.start;
          expect(absolute).toBe(covered);
          expect(part.end).toBeGreaterThan(part.start);
          expect(part.end).toBeLessThanOrEqual(size);
          covered = segmentWindow(i, size).start + part.end;
        }
        expect(covered).toBe(window.end);
      }),
      fcOptions(500),
    );
  });
});
