// Byte ranges (RFC 9110 §14): the Range request field read, resolved against a representation's
// length, and the Content-Range field written. Pure: strings and numbers in, decisions out.
//
// What we serve (SPEC B1): one byte range gets 206; a range set none of whose ranges is
// satisfiable gets 416; several ranges, another unit, or a field we cannot read get the whole
// representation as 200 (a server may always ignore Range, §14.2), so a client never gets an
// error for a Range we chose not to honour.

/** One range-spec: `first-last`, `first-` (last undefined) or `-suffix`. */
export type ByteRangeSpec = { readonly kind: 'int'; readonly first: number; readonly last?: number } | { readonly kind: 'suffix'; readonly length: number };

/**
 * none      no Range field
 * ignored   a field we do not honour: another unit, bad syntax, several fields (whole, 200)
 * bytes     a byte range set, in the order the client gave it
 */
export type RangeRequest = { readonly kind: 'none' } | { readonly kind: 'ignored'; readonly reason: string } | { readonly kind: 'bytes'; readonly ranges: readonly ByteRangeSpec[] };

/**
 * whole          serve the whole representation (200)
 * partial        serve bytes [start, end) (206); end is exclusive and start < end <= length
 * unsatisfiable  416 with `Content-Range: bytes *\/length`
 */
export type ResolvedRange = { readonly kind: 'whole' } | { readonly kind: 'partial'; readonly start: number; readonly end: number } | { readonly kind: 'unsatisfiable' };

const NONE: RangeRequest = { kind: 'none' };
const WHOLE: ResolvedRange = { kind: 'whole' };
const UNSATISFIABLE: ResolvedRange = { kind: 'unsatisfiable' };
const DIGITS = /^\d+$/;

/** Reads the Range field's values (every occurrence; more than one is not a valid field). */
export function parseRange(values: readonly string[]): RangeRequest {
  if (values.length === 0) return NONE;
  if (values.length > 1) return { kind: 'ignored', reason: 'more than one Range field' };
  const value = values[0];
  const eq = value.indexOf('=');
  if (eq < 0) return { kind: 'ignored', reason: 'no range unit' };
  // The range unit is case-insensitive (§14.1); "bytes" is the only one we serve.
  if (value.slice(0, eq).trim().toLowerCase() !== 'bytes') return { kind: 'ignored', reason: `range unit "${value.slice(0, eq).trim()}"` };
  const ranges: ByteRangeSpec[] = [];
  for (const element of value.slice(eq + 1).split(',')) {
    const spec = element.trim();
    // A list may have empty elements (RFC 9110 §5.6.1), but not only empty ones.
    if (spec === '') continue;
    const parsed = parseSpec(spec);
    if (!parsed) return { kind: 'ignored', reason: `bad range "${spec}"` };
    ranges.push(parsed);
  }
  if (ranges.length === 0) return { kind: 'ignored', reason: 'empty range set' };
  return { kind: 'bytes', ranges };
}

function parseSpec(spec: string): ByteRangeSpec | undefined {
  const dash = spec.indexOf('-');
  if (dash < 0) return undefined;
  const first = spec.slice(0, dash).trim();
  const last = spec.slice(dash + 1).trim();
  if (first === '') return DIGITS.test(last) ? { kind: 'suffix', length: Number(last) } : undefined;
  if (!DIGITS.test(first)) return undefined;
  if (last === '') return { kind: 'int', first: Number(first) };
  if (!DIGITS.test(last)) return undefined;
  const range = { kind: 'int' as const, first: Number(first), last: Number(last) };
  // last < first makes the spec invalid (§14.1.1), and with it the whole field.
  return range.last < range.first ? undefined : range;
}

/**
 * What to serve for `request` from a representation of `length` bytes. Only a set of exactly one
 * range is honoured (SPEC B1: several ranges get the whole object).
 */
export function resolveRange(request: RangeRequest, length: number): ResolvedRange {
  if (request.kind !== 'bytes' || request.ranges.length !== 1) return WHOLE;
  const spec = request.ranges[0];
  if (spec.kind === 'suffix') {
    if (spec.length === 0) return UNSATISFIABLE;
    // A zero-length representation has no byte to name in a Content-Range: send it whole.
    if (length === 0) return WHOLE;
    return { kind: 'partial', start: Math.max(0, length - spec.length), end: length };
  }
  if (spec.first >= length) return UNSATISFIABLE;
  const end = spec.last === undefined ? length : Math.min(length, spec.last + 1);
  return { kind: 'partial', start: spec.first, end };
}

/** `bytes first-last/length` for a 206 (`end` exclusive, as ResolvedRange has it). */
export function contentRange(start: number, end: number, length: number | undefined): string {
  return `bytes ${start}-${end - 1}/${length ?? '*'}`;
}

/** `bytes *\/length` for a 416. */
export function unsatisfiedRange(length: number): string {
  return `bytes */${length}`;
}

/** A Content-Range field of a 206 as an origin sends it (RFC 9110 §14.4); `end` exclusive. */
export interface ParsedContentRange {
  readonly start: number;
  readonly end: number;
  /** The complete length, or undefined for `*`. */
  readonly total: number | undefined;
}

const CONTENT_RANGE = /^bytes[ \t]+(\d+)-(\d+)\/(\d+|\*)$/i;

/** Reads `bytes a-b/total` (or `/*`); undefined when it is not a valid satisfied range. */
export function parseContentRange(value: string | undefined): ParsedContentRange | undefined {
  const match = value === undefined ? null : CONTENT_RANGE.exec(value.trim());
  if (!match) return undefined;
  const start = Number(match[1]);
  const last = Number(match[2]);
  const total = match[3] === '*' ? undefined : Number(match[3]);
  if (!Number.isSafeInteger(start) || !Number.isSafeInteger(last) || last < start) return undefined;
  if (total !== undefined && (!Number.isSafeInteger(total) || last >= total)) return undefined;
  return { start, end: last + 1, total };
}

/** `Range: bytes=a-b` for the bytes [start, end). */
export function rangeFieldValue(start: number, end: number): string {
  return `bytes=${start}-${end - 1}`;
}
