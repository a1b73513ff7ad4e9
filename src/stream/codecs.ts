// T1 body codings: what a response's Content-Encoding says, decoding a stored or fetched body, and
// compressing a body on its way into the store (node:zlib, off the event loop).
import zlib from 'node:zlib';
import { promisify } from 'node:util';
import type { ContentCoding } from '../http1/accept-encoding.js';
import { tooLarge, type FetchFailure } from './reasons.js';

/** Codings we can decode, for bodies that arrive encoded (ESI templates and fragments). */
const DECODERS: Record<string, (body: Buffer, options: zlib.ZlibOptions) => Promise<Buffer>> = {
  gzip: promisify(zlib.gunzip),
  'x-gzip': promisify(zlib.gunzip),
  br: promisify(zlib.brotliDecompress),
  deflate: promisify(zlib.inflate),
};

/** The response's content coding ('' for none or identity). */
export function contentCodingOf(headers: { getAll(name: string): string[] }): string {
  const codings = headers
    .getAll('content-encoding')
    .join(',')
    .split(',')
    .map((c) => c.trim().toLowerCase())
    .filter((c) => c && c !== 'identity');
  return codings.join(', ');
}

/** Decodes a body in `coding` (one of gzip, x-gzip, br, deflate), at most `maxBytes` out. */
export async function decodeBody(coding: string, body: Buffer, maxBytes: number): Promise<Buffer> {
  const decode = DECODERS[coding];
  if (!decode) throw new Error(`cannot decode Content-Encoding "${coding}"`);
  return decode(body, { maxOutputLength: Math.max(1, Math.min(maxBytes, 2 ** 32 - 1)) });
}

/** How the fetch hears from an encoder (src/stream/fetch.ts). */
export interface EncoderSink {
  /** Compressed bytes, in order: append them to the object. */
  data(bytes: Buffer): void;
  /** Every compressed byte was handed to data(): the object is complete; `identityBytes` went in. */
  end(identityBytes: number): void;
  /** The body passed the size limit, or zlib failed: the fetch fails (503 to every client, L3). */
  error(failure: FetchFailure): void;
  /** zlib is behind: pause the origin read until resume(). */
  pause(): void;
  resume(): void;
}

/** Brotli quality for on-the-fly compression: 11 (the default) is far too slow for a proxy. */
const BROTLI_QUALITY = 5;

/** T1: compresses a body as it arrives (zlib's thread pool), holding the origin when behind. */
export class BodyEncoder {
  private readonly stream: zlib.Gzip | zlib.BrotliCompress;
  private identityBytes = 0;
  private stopped = false;
  private paused = false;

  constructor(
    coding: ContentCoding,
    /** The non-streaming size limit, on the body as the origin sends it (L1, L3). */
    private readonly limit: number,
    private readonly sink: EncoderSink,
  ) {
    this.stream =
      coding === 'gzip'
        ? zlib.createGzip()
        : zlib.createBrotliCompress({ params: { [zlib.constants.BROTLI_PARAM_QUALITY]: BROTLI_QUALITY } });
    this.stream.on('data', (bytes: Buffer) => {
      if (!this.stopped) sink.data(bytes);
    });
    this.stream.on('end', () => {
      if (this.stopped) return;
      this.stopped = true;
      sink.end(this.identityBytes);
    });
    this.stream.on('error', (err: Error) => this.fail({ kind: 'transform', message: `compression failed: ${err.message}` }));
    this.stream.on('drain', () => {
      if (!this.paused) return;
      this.paused = false;
      if (!this.stopped) sink.resume();
    });
  }

  write(chunk: Buffer): void {
    if (this.stopped || chunk.length === 0) return;
    this.identityBytes += chunk.length;
    if (this.identityBytes > this.limit) return this.fail(tooLarge(this.limit));
    // The view belongs to the origin connection's read buffer, and zlib reads it later: copy.
    if (!this.stream.write(Buffer.from(chunk)) && !this.paused) {
      this.paused = true;
      this.sink.pause();
    }
  }

  end(): void {
    if (!this.stopped) this.stream.end();
  }

  /** The fetch failed or was abandoned: nothing more comes out. */
  destroy(): void {
    this.stopped = true;
    this.stream.destroy();
  }

  private fail(failure: FetchFailure): void {
    if (this.stopped) return;
    this.destroy();
    this.sink.error(failure);
  }
}
