// Tells an HTTP/2 client with prior knowledge (h2c, RFC 9113 §3.3) from an HTTP/1.x client by the
// first bytes of a connection: HTTP/2 starts with a fixed 24-byte preface that no HTTP/1.x
// request can begin with.
export const H2_PREFACE = Buffer.from('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n', 'latin1');

export type PrefaceVerdict = 'h2' | 'http1' | 'undecided';

/** 'undecided' while the bytes so far are a proper prefix of the preface. */
export function classifyPreface(bytes: Buffer): PrefaceVerdict {
  const n = Math.min(bytes.length, H2_PREFACE.length);
  if (bytes.compare(H2_PREFACE, 0, n, 0, n) !== 0) return 'http1';
  return n === H2_PREFACE.length ? 'h2' : 'undecided';
}
