// K2: the Cache-Status field (RFC 9211) of one response, from what the proxy decided for it. Pure:
// the writer puts the value on the head, the pipeline says what happened. One entry per response,
// ours, appended after any entries an upstream cache (a shield tier) left on the object.

/** RFC 9211 §2.2 `fwd`: why the request went forward. */
export type ForwardReason = 'bypass' | 'method' | 'uri-miss' | 'vary-miss' | 'miss' | 'request' | 'stale';

export interface CacheStatus {
  /** Served from a stored object without going forward. */
  hit?: boolean;
  fwd?: ForwardReason;
  /** The status the origin answered the forwarded request with. */
  fwdStatus?: number;
  /** Freshness left, seconds (negative once stale). */
  ttl?: number;
  /** The response forwarded for this request was (or is being) stored. */
  stored?: boolean;
  /** This request was collapsed onto a fetch another request started (R2). */
  collapsed?: boolean;
  /** Our own reason, e.g. `overflow`, `hit-for-pass`, `origin-connect-failed`. */
  detail?: string;
}

/** RFC 8941 sf-token: a name a client can read without quotes. */
const TOKEN = /^[A-Za-z*][!#$%&'*+\-.^_`|~0-9A-Za-z:/]*$/;

/** `streamcache; fwd=miss; fwd-status=200; ttl=30; stored` (RFC 9211 §2, RFC 8941 parameters). */
export function formatCacheStatus(status: CacheStatus, cacheName = 'streamcache'): string {
  let out = TOKEN.test(cacheName) ? cacheName : sfString(cacheName);
  if (status.hit) out += '; hit';
  if (status.fwd) out += `; fwd=${status.fwd}`;
  if (status.fwdStatus !== undefined) out += `; fwd-status=${status.fwdStatus}`;
  if (status.ttl !== undefined && Number.isFinite(status.ttl)) out += `; ttl=${Math.trunc(status.ttl)}`;
  if (status.stored) out += '; stored';
  if (status.collapsed) out += '; collapsed';
  if (status.detail) out += `; detail=${TOKEN.test(status.detail) ? status.detail : sfString(status.detail)}`;
  return out;
}

/** An sf-string: printable ASCII in quotes, `"` and `\` escaped; anything else becomes `?`. */
function sfString(text: string): string {
  return `"${text.replace(/[^\x20-\x7e]/g, '?').replace(/["\\]/g, '\\$&')}"`;
}
