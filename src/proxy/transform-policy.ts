// T1, T2, the policy's half: whether a response is compressed on its way into the store, or
// marked an ESI template (src/stream/transform.ts does what is decided here).
import type { ResponseHead } from '../http1/message.js';
import type { ContentCoding } from '../http1/accept-encoding.js';
import { responseStatusHasNoBody } from '../http1/parser.js';
import type { ObjectTransform } from '../cache/object.js';
import { contentCodingOf } from '../stream/codecs.js';

/**
 * The policy's half of T1/T2: what the hook and rules asked for, on this response. Compression
 * applies to a response with a body, no content coding and no `Cache-Control: no-transform`
 * (RFC 9110 §7.7); ESI to any response, and wins over compression (the assembled page is built
 * per delivery; compressing it would cost every delivery a compression).
 */
export function planTransform(compress: ContentCoding | undefined, esi: boolean | undefined, head: ResponseHead): ObjectTransform | undefined {
  if (esi === true) return { esi: true };
  if (compress !== 'gzip' && compress !== 'br') return undefined;
  if (responseStatusHasNoBody(head.status) || contentCodingOf(head.headers) !== '') return undefined;
  if (head.headers.tokens('cache-control').includes('no-transform')) return undefined;
  return { coding: compress };
}
