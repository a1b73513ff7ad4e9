// Another streamcache tier in front of us (a shield's edges, I2): its request's Via names us by
// the product's pseudonym, `streamcache`, or by this node's own Via name (a fleet that renames
// itself shares one name). Such a client gets Surrogate-Key and Surrogate-Control, so that every
// tier tags and times objects alike, and its misses never go to a shield again.
import type { RequestHead } from '../http1/message.js';
import { viaHasPseudonym } from '../http1/semantics.js';

export const TIER_PSEUDONYM = 'streamcache';

export function isFromTier(request: RequestHead, viaName: string): boolean {
  if (!request.headers.has('via')) return false;
  return viaHasPseudonym(request.headers, viaName.toLowerCase() === TIER_PSEUDONYM ? [TIER_PSEUDONYM] : [TIER_PSEUDONYM, viaName.toLowerCase()]);
}
