// Byte-level mutations shared by the hostile clients and the hostile origin: flip, insert, delete,
// duplicate and splice bytes, weighted towards the bytes and tokens that HTTP/1 framing hinges on.
import type { Rng } from './prng.js';

/** Text that matters to HTTP/1 framing, spliced in by `mutate`. */
export const FRAMING_TOKENS: readonly string[] = [
  '\r\n', '\n', '\r', '\r\n\r\n', '\x00', ' ', '\t', ':', ';', ',', '"', '0', '1', 'f', '-', '+', '\x7f', '\x80', '\xff',
  'chunked', 'Transfer-Encoding: chunked\r\n', 'Content-Length: 0\r\n', 'Content-Length: 5\r\n',
  'Content-Length: 99999999999999\r\n', 'Connection: close\r\n', 'Connection: keep-alive\r\n', 'Host: x\r\n',
  ' x\r\n', '\r\n x', '0\r\n\r\n', 'ffffffff\r\n', 'HTTP/1.1 ', 'HTTP/1.0 200 OK\r\n', 'GET / HTTP/1.1\r\n',
  'Expect: 100-continue\r\n', 'Upgrade: websocket\r\n', 'Vary: *\r\n', 'Cache-Control: max-age=60\r\n',
];

/** Bytes worth flipping to, one at a time. */
const INTERESTING_BYTES = [0x0d, 0x0a, 0x00, 0x20, 0x09, 0x2c, 0x3a, 0x3b, 0x30, 0x31, 0x35, 0x66, 0x78, 0x2d, 0x2b, 0x22, 0x7f, 0x80, 0xa0, 0xff];

/** The names of the mutations applied, for transcripts. */
export type MutationName = 'flip-bit' | 'set-byte' | 'insert-byte' | 'insert-token' | 'delete' | 'duplicate' | 'truncate' | 'swap';

/**
 * Applies `count` random mutations to `input` (which is not modified). Positions are drawn with a
 * bias towards the first `hotLength` bytes (the head), where most parsing decisions are made.
 */
export function mutate(rng: Rng, input: Buffer, count: number, hotLength = input.length): { bytes: Buffer; applied: MutationName[] } {
  let bytes = Buffer.from(input);
  const applied: MutationName[] = [];
  for (let i = 0; i < count; i++) {
    const at = (): number => {
      if (bytes.length === 0) return 0;
      const limit = rng.chance(0.75) ? Math.min(hotLength, bytes.length) : bytes.length;
      return rng.int(0, Math.max(0, limit - 1));
    };
    const op = rng.weighted<MutationName>([
      [3, 'flip-bit'], [3, 'set-byte'], [3, 'insert-byte'], [5, 'insert-token'], [3, 'delete'], [2, 'duplicate'], [1, 'truncate'], [1, 'swap'],
    ]);
    applied.push(op);
    switch (op) {
      case 'flip-bit': {
        if (bytes.length === 0) break;
        const p = at();
        bytes[p] ^= 1 << rng.int(0, 7);
        break;
      }
      case 'set-byte': {
        if (bytes.length === 0) break;
        bytes[at()] = rng.chance(0.7) ? rng.pick(INTERESTING_BYTES) : rng.int(0, 255);
        break;
      }
      case 'insert-byte': {
        const p = at();
        const b = rng.chance(0.7) ? rng.pick(INTERESTING_BYTES) : rng.int(0, 255);
        bytes = Buffer.concat([bytes.subarray(0, p), Buffer.of(b), bytes.subarray(p)]);
        break;
      }
      case 'insert-token': {
        const p = at();
        bytes = Buffer.concat([bytes.subarray(0, p), Buffer.from(rng.pick(FRAMING_TOKENS), 'latin1'), bytes.subarray(p)]);
        break;
      }
      case 'delete': {
        if (bytes.length === 0) break;
        const p = at();
        const n = rng.logInt(1, Math.min(64, bytes.length - p));
        bytes = Buffer.concat([bytes.subarray(0, p), bytes.subarray(p + n)]);
        break;
      }
      case 'duplicate': {
        if (bytes.length === 0) break;
        const p = at();
        const n = rng.logInt(1, Math.min(256, bytes.length - p));
        const copies = rng.chance(0.9) ? 1 : rng.int(2, 50);
        const piece = bytes.subarray(p, p + n);
        bytes = Buffer.concat([bytes.subarray(0, p + n), ...Array<Buffer>(copies).fill(piece), bytes.subarray(p + n)]);
        break;
      }
      case 'truncate': {
        bytes = bytes.subarray(0, at());
        break;
      }
      case 'swap': {
        if (bytes.length < 2) break;
        const p = at();
        const q = at();
        const t = bytes[p];
        bytes[p] = bytes[q];
        bytes[q] = t;
        break;
      }
    }
  }
  return { bytes, applied };
}

/** Cuts `bytes` into at most `maxPieces` non-empty pieces at random places. */
export function splitRandom(rng: Rng, bytes: Buffer, maxPieces: number): Buffer[] {
  if (bytes.length <= 1 || maxPieces <= 1) return [bytes];
  const n = Math.min(rng.int(2, maxPieces), bytes.length);
  const cuts = new Set<number>();
  while (cuts.size < n - 1) cuts.add(rng.int(1, bytes.length - 1));
  const sorted = [...cuts].sort((a, b) => a - b);
  const pieces: Buffer[] = [];
  let from = 0;
  for (const cut of [...sorted, bytes.length]) {
    pieces.push(bytes.subarray(from, cut));
    from = cut;
  }
  return pieces;
}

/**
 * Chunked framing of `body` in pieces of the given sizes (the last size repeats), with the last
 * chunk. At most ~64 chunks: tiny chunks over a big body cost more CPU than they are worth here.
 */
export function chunked(body: Buffer, sizes: number[], options: { extensions?: boolean; trailers?: string[]; rng?: Rng } = {}): Buffer {
  const out: Buffer[] = [];
  const minSize = Math.max(1, Math.ceil(body.length / 64));
  let at = 0;
  let i = 0;
  while (at < body.length) {
    const size = Math.max(minSize, Math.min(sizes[Math.min(i, sizes.length - 1)], body.length - at));
    const ext = options.extensions && options.rng?.chance(0.3) ? ';ext=1' : '';
    out.push(Buffer.from(`${size.toString(16)}${ext}\r\n`, 'latin1'), body.subarray(at, at + size), Buffer.from('\r\n', 'latin1'));
    at += size;
    i++;
  }
  out.push(Buffer.from(`0\r\n${(options.trailers ?? []).map((t) => `${t}\r\n`).join('')}\r\n`, 'latin1'));
  return Buffer.concat(out);
}

/** A short printable rendering of bytes for transcripts: escapes, and elides the middle of long input. */
export function showBytes(bytes: Buffer, max = 600): string {
  const render = (b: Buffer): string => JSON.stringify(b.toString('latin1')).slice(1, -1);
  if (bytes.length <= max) return render(bytes);
  const half = Math.floor(max / 2);
  return `${render(bytes.subarray(0, half))} …[${bytes.length - 2 * half} bytes]… ${render(bytes.subarray(bytes.length - half))}`;
}
