// Lower-casing field names without String.prototype.toLowerCase for the names that matter.
//
// Every lookup lower-cases its name argument, and every parsed head lower-cases each name it
// received: on a 1 KiB hit that was ~19 calls and the costliest builtin of the whole hit (issue
// 18). Nearly all of those names are few and known: the literals the proxy looks up, and what
// browsers, curl and origins send, in lower case (as code and HTTP/2 spell them) or in the usual
// Title-Case. Lookups find their (literal) name in a Map of those spellings; the parser matches a
// received name's bytes against them. Either way the lower-case string is an interned literal, so
// later comparisons with the proxy's own literals are pointer checks, and the received name is one
// shared string instead of a fresh one per request. Anything else falls back to toLowerCase: the
// lower-case name is always exactly `name.toLowerCase()`.

/** Field names in lower case: what the proxy looks up, and what clients and origins commonly send. */
export const COMMON_FIELD_NAMES: readonly string[] = [
  // Requests
  'host',
  'connection',
  'keep-alive',
  'user-agent',
  'accept',
  'accept-encoding',
  'accept-language',
  'accept-charset',
  'cookie',
  'referer',
  'origin',
  'authorization',
  'proxy-authorization',
  'cache-control',
  'pragma',
  'range',
  'if-range',
  'if-match',
  'if-none-match',
  'if-modified-since',
  'if-unmodified-since',
  'expect',
  'upgrade',
  'upgrade-insecure-requests',
  'dnt',
  'te',
  'priority',
  'x-requested-with',
  'x-forwarded-for',
  'x-forwarded-host',
  'x-forwarded-proto',
  'x-real-ip',
  'forwarded',
  'via',
  'x-purge-token',
  'sec-ch-ua',
  'sec-ch-ua-mobile',
  'sec-ch-ua-platform',
  'sec-fetch-site',
  'sec-fetch-mode',
  'sec-fetch-user',
  'sec-fetch-dest',
  'sec-websocket-key',
  'sec-websocket-version',
  // Both
  'content-length',
  'content-type',
  'content-encoding',
  'content-language',
  'content-location',
  'transfer-encoding',
  'trailer',
  'date',
  // Responses
  'server',
  'age',
  'etag',
  'last-modified',
  'expires',
  'vary',
  'location',
  'set-cookie',
  'accept-ranges',
  'content-range',
  'content-disposition',
  'content-security-policy',
  'strict-transport-security',
  'access-control-allow-origin',
  'x-content-type-options',
  'x-frame-options',
  'x-xss-protection',
  'x-cache',
  'x-powered-by',
  'surrogate-control',
  'surrogate-key',
  'cdn-cache-control',
  'proxy-authenticate',
  'www-authenticate',
  'alt-svc',
  'link',
  'retry-after',
  'timing-allow-origin',
];

/** The usual HTTP/1.1 spelling of a name: Title-Case, or its conventional exception. */
const CONVENTIONAL = new Map<string, string>([
  ['etag', 'ETag'],
  ['dnt', 'DNT'],
  ['te', 'TE'],
  ['www-authenticate', 'WWW-Authenticate'],
  ['x-xss-protection', 'X-XSS-Protection'],
  ['cdn-cache-control', 'CDN-Cache-Control'],
  ['sec-websocket-key', 'Sec-WebSocket-Key'],
  ['sec-websocket-version', 'Sec-WebSocket-Version'],
]);

/** `content-length` -> `Content-Length`. */
export function titleCase(lower: string): string {
  return lower.replace(/(^|-)([a-z])/g, (_m, dash: string, c: string) => dash + c.toUpperCase());
}

/** How a known name is usually spelled on the wire, in HTTP/1.1 and in lower case. */
export function spellingsOf(lower: string): string[] {
  const usual = CONVENTIONAL.get(lower) ?? titleCase(lower);
  const title = titleCase(lower);
  return [...new Set([usual, title, lower])];
}

/** Every known spelling -> the lower-case literal. */
const BY_SPELLING = new Map<string, string>();
for (const lower of COMMON_FIELD_NAMES) for (const spelling of spellingsOf(lower)) BY_SPELLING.set(spelling, lower);

/**
 * Exactly `name.toLowerCase()`. A known spelling is answered with one probe of a Map (a literal's
 * hash is computed once, so for the proxy's own lookups that is cheap) and gives the interned
 * literal; anything else is lower-cased.
 */
export function lowerFieldName(name: string): string {
  return BY_SPELLING.get(name) ?? name.toLowerCase();
}

/** A field name as it arrived, matched byte for byte: one shared string for it, and its lower-case literal. */
export interface KnownSpelling {
  readonly raw: string;
  readonly lower: string;
  /**
   * The spelling's bytes as little-endian 32-bit words: bytes 0-3, 4-7, ..., then the last four
   * (which may overlap the one before); for a spelling shorter than four, its bytes one by one.
   */
  readonly words: Int32Array;
}

/** Names up to this long are matched; longer ones are cut and lower-cased. */
const MAX_MATCHED = 32;

/** Bucket of a name: its length and the low 6 bits of its first byte (which keep the case apart). */
function bucketOf(length: number, firstByte: number): number {
  return (length << 6) | (firstByte & 0x3f);
}

function wordsOf(raw: string): Int32Array {
  const bytes = Buffer.from(raw, 'latin1');
  if (bytes.length < 4) return Int32Array.from(bytes);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.length);
  const n = bytes.length >> 2;
  const words = new Int32Array(n + 1);
  for (let k = 0; k < n; k++) words[k] = view.getInt32(4 * k, true);
  words[n] = view.getInt32(bytes.length - 4, true);
  return words;
}

/**
 * The known spellings by length and first byte, in the list's order (commonest first): buckets of
 * one to four. The parser matches a name's bytes against them four at a time, which costs less
 * than cutting a string and lower-casing it (two allocations and a native call); byte by byte,
 * in JS, it cost more.
 */
const SPELLINGS: KnownSpelling[][] = Array.from({ length: MAX_MATCHED << 6 }, () => []);
for (const [raw, lower] of BY_SPELLING) {
  if (raw.length < MAX_MATCHED) SPELLINGS[bucketOf(raw.length, raw.charCodeAt(0))].push({ raw, lower, words: wordsOf(raw) });
}

/** The known spelling whose bytes are exactly the `length` bytes of `view` at `at`, or undefined. */
export function knownSpelling(view: DataView, at: number, length: number): KnownSpelling | undefined {
  if (length >= MAX_MATCHED || length === 0) return undefined;
  const candidates = SPELLINGS[bucketOf(length, view.getUint8(at))];
  for (let k = 0; k < candidates.length; k++) {
    const words = candidates[k].words;
    if (length < 4 ? sameBytes(view, at, words) : sameWords(view, at, length, words)) return candidates[k];
  }
  return undefined;
}

function sameWords(view: DataView, at: number, length: number, words: Int32Array): boolean {
  const n = length >> 2;
  for (let k = 0; k < n; k++) if (view.getInt32(at + 4 * k, true) !== words[k]) return false;
  return view.getInt32(at + length - 4, true) === words[n];
}

function sameBytes(view: DataView, at: number, bytes: Int32Array): boolean {
  for (let k = 0; k < bytes.length; k++) if (view.getUint8(at + k) !== bytes[k]) return false;
  return true;
}
