// Deterministic body bytes for tests that move large bodies: byte i of a pattern body is i % 251.
// 251 is prime, so a dropped, duplicated or reordered span of any power-of-two size shows up as a
// mismatch. A 1 GiB body never has to exist in memory: the origin writes it piece by piece
// (`patternBody`) and the client checks it as it streams by (`PatternChecker`).

const PERIOD = 251;
// A whole number of periods, about 128 KiB: any slice of up to CYCLE.length - PERIOD bytes at any
// phase is one subarray of it.
const CYCLE = Buffer.alloc(PERIOD * 523);
for (let i = 0; i < CYCLE.length; i++) CYCLE[i] = i % PERIOD;

/** The `length` pattern bytes starting at body offset `offset` (a fresh Buffer). */
export function patternBytes(offset: number, length: number): Buffer {
  const out = Buffer.allocUnsafe(length);
  let written = 0;
  while (written < length) {
    const phase = (offset + written) % PERIOD;
    const n = Math.min(length - written, CYCLE.length - PERIOD);
    CYCLE.copy(out, written, phase, phase + n);
    written += n;
  }
  return out;
}

/**
 * Anything with a length whose bytes can be taken in slices: a Buffer is one, and so is a
 * `patternBody`, which makes its slices on demand.
 */
export interface BodySource {
  readonly length: number;
  subarray(start: number, end: number): Buffer;
}

/**
 * A body of `length` pattern bytes, sliced on demand (never allocated whole). Slices of up to about
 * 128 KiB are read-only views of one shared buffer (no allocation): do not write into them.
 */
export function patternBody(length: number): BodySource {
  return {
    length,
    subarray(start: number, end: number): Buffer {
      const s = Math.max(0, Math.min(start, length));
      const e = Math.max(s, Math.min(end, length));
      return patternView(s, e - s) ?? patternBytes(s, e - s);
    },
  };
}

/** A view of the shared cycle holding pattern bytes [offset, offset + length), if short enough. */
function patternView(offset: number, length: number): Buffer | undefined {
  if (length > CYCLE.length - PERIOD) return undefined;
  const phase = offset % PERIOD;
  return CYCLE.subarray(phase, phase + length);
}

/** Checks, chunk by chunk, that a stream of bytes is the pattern from offset 0. */
export class PatternChecker {
  /** Bytes checked so far. */
  offset = 0;
  /** Body offset of the first wrong byte, if any. */
  firstMismatch: number | undefined;

  push(chunk: Buffer): void {
    const step = CYCLE.length - PERIOD;
    for (let at = 0; at < chunk.length && this.firstMismatch === undefined; at += step) {
      const part = chunk.subarray(at, at + step);
      const expected = patternView(this.offset + at, part.length) as Buffer;
      if (!expected.equals(part)) {
        let i = 0;
        while (expected[i] === part[i]) i++;
        this.firstMismatch = this.offset + at + i;
      }
    }
    this.offset += chunk.length;
  }

  /** True when every byte so far matched and exactly `length` bytes were seen (if given). */
  ok(length?: number): boolean {
    return this.firstMismatch === undefined && (length === undefined || this.offset === length);
  }
}
