// C3: answering a client's conditional request from a stored object (RFC 9110 §13.1.1, §13.1.3),
// and the validators we send when we revalidate an object with the origin (RFC 9111 §4.3.1).
import type { HeaderFields } from '../http1/headers.js';
import { parseHttpDate } from './freshness.js';

/** entity-tags in an If-None-Match list: `W/"a,b"` stays whole (etagc may include commas). */
const ENTITY_TAG = /(?:W\/)?"[^"]*"/g;

function opaqueTag(tag: string): string {
  return tag.trim().replace(/^W\//, '');
}

/** True when a GET/HEAD with these request fields may be answered 304 for an object with these validators. */
export function isNotModified(request: HeaderFields, etag: string | undefined, lastModified: string | undefined): boolean {
  const ifNoneMatch = request.getAll('if-none-match');
  if (ifNoneMatch.length > 0) {
    if (etag === undefined) return false;
    const list = ifNoneMatch.join(',');
    if (list.trim() === '*') return true;
    // Weak comparison: W/"x" matches "x".
    return (list.match(ENTITY_TAG) ?? []).some((t) => opaqueTag(t) === opaqueTag(etag));
  }
  const since = request.get('if-modified-since');
  if (since === undefined || lastModified === undefined) return false;
  const sinceMs = parseHttpDate(since);
  const modifiedMs = parseHttpDate(lastModified);
  return !Number.isNaN(sinceMs) && !Number.isNaN(modifiedMs) && modifiedMs <= sinceMs;
}

/** Fields a 304 carries from the object (RFC 9110 §15.4.5). */
export const NOT_MODIFIED_FIELDS = ['cache-control', 'content-location', 'date', 'etag', 'expires', 'vary', 'last-modified'];

/** The request fields that make a fetch conditional on the stored object still being current. */
export function revalidationFields(etag: string | undefined, lastModified: string | undefined): [string, string][] {
  const fields: [string, string][] = [];
  if (etag !== undefined) fields.push(['If-None-Match', etag]);
  if (lastModified !== undefined) fields.push(['If-Modified-Since', lastModified]);
  return fields;
}

/** Fields a 304 from the origin must not change in the stored head (they describe the stored body). */
const KEEP_ON_UPDATE = new Set(['content-length', 'content-encoding', 'transfer-encoding', 'content-range']);

/** C3: the stored fields updated with those of a 304 (RFC 9111 §3.2): same names replaced, new ones added. */
export function updateStoredFields(stored: HeaderFields, fromNotModified: HeaderFields): HeaderFields {
  const updated = stored.clone();
  const replaced = new Set<string>();
  for (const [name, value] of fromNotModified) {
    const lower = name.toLowerCase();
    if (KEEP_ON_UPDATE.has(lower)) continue;
    if (!replaced.has(lower)) {
      updated.delete(lower);
      replaced.add(lower);
    }
    updated.append(name, value);
  }
  return updated;
}

/**
 * B1: does `If-Range` let a Range apply (RFC 9110 §13.1.5)? An entity-tag must match the object's
 * by strong comparison (neither weak); an HTTP-date must equal Last-Modified exactly, and only
 * when Last-Modified is a strong validator: for a cache that is when the stored response's Date
 * is at least one second after it (§8.8.2.2). Anything else (no validator, a weak tag, a date we
 * cannot read) means the client gets the whole representation. Without If-Range: true.
 */
export function ifRangeHolds(ifRange: string | undefined, object: { etag?: string; lastModified?: string; date?: string }): boolean {
  if (ifRange === undefined) return true;
  const value = ifRange.trim();
  if (value.startsWith('"') || value.startsWith('W/')) {
    const etag = object.etag?.trim();
    return etag !== undefined && !value.startsWith('W/') && !etag.startsWith('W/') && value === etag;
  }
  const since = parseHttpDate(value);
  const modified = parseHttpDate(object.lastModified);
  const date = parseHttpDate(object.date);
  if (Number.isNaN(since) || Number.isNaN(modified) || Number.isNaN(date)) return false;
  return since === modified && date - modified >= 1000;
}
