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
  let out = cacheItem(cacheName);
  if (status.hit) out += '; hit';
  if (status.fwd) out += `; fwd=${status.fwd}`;
  if (status.fwdStatus !== undefined) out += `; fwd-status=${status.fwdStatus}`;
  if (status.ttl !== undefined && Number.isFinite(status.ttl)) out += `; ttl=${Math.trunc(status.ttl)}`;
  if (status.stored) out += '; stored';
  if (status.collapsed) out += '; collapsed';
  if (status.detail) out += `; detail=${TOKEN.test(status.detail) ? status.detail : sfString(status.detail)}`;
  return out;
}

/**
 * A hit's entry, `streamcache; hit; ttl=3599`: formatCacheStatus({ hit: true, ttl }) without the
 * object it takes, since every plain hit asks for one (issue 18).
 */
export function hitCacheStatus(cacheName: string, ttl: number): string {
  return Number.isFinite(ttl) ? `${cacheItem(cacheName)}; hit; ttl=${Math.trunc(ttl)}` : `${cacheItem(cacheName)}; hit`;
}

/** The cache's name as the entry's item (a token, else an sf-string), kept for the name last asked for: one per proxy. */
let itemFor: { readonly name: string; readonly item: string } | null = null;

function cacheItem(cacheName: string): string {
  if (itemFor?.name !== cacheName) itemFor = { name: cacheName, item: TOKEN.test(cacheName) ? cacheName : sfString(cacheName) };
  return itemFor.item;
}

/** An sf-string: printable ASCII in quotes, `"` and `\` escaped; anything else becomes `?`. */
function sfString(text: string): string {
  return `"${text.replace(/[^\x20-\x7e]/g, '?').replace(/["\\]/g, '\\$&')}"`;
}

// ---- what each response path says (the writer asks when it finalizes a head) ----

/** The response's source and status, as the writer knows them when it finalizes the head. */
export interface HeadFacts {
  readonly source: 'object' | 'relay' | 'error';
  readonly status: number;
  /** The role of the reader that wrote the head (B4: the part whose head goes out). */
  readonly role?: 'HIT' | 'MISS' | 'COLLAPSED';
}

/** The facts of the object a reader serves that Cache-Status reports. */
export interface ObjectFacts {
  readonly head: { readonly status: number };
  readonly policy: { readonly ttl: number };
  readonly dead: boolean;
  age(now: number): number;
}

/** A typed failure or no-cache reason as a detail token: the origin failure's own kind when there is one. */
export function reasonDetail(reason: { readonly kind: string; readonly origin?: string } | undefined): string | undefined {
  if (!reason) return undefined;
  return reason.origin ?? reason.kind;
}

/**
 * A response from an object (hit, miss, collapsed). `fwd`: why this request's own lookup did not
 * give a fresh hit (undefined for a hit). X-Cache keeps Fastly's three values: a collapsed client
 * says MISS (its bytes come from a fetch, not from a stored object) and Cache-Status says `collapsed`.
 */
export function objectServedAs(
  cacheName: string,
  role: 'HIT' | 'MISS' | 'COLLAPSED',
  fwd: ForwardReason | undefined,
  head: HeadFacts,
  object: ObjectFacts | null,
  failure?: { readonly kind: string; readonly origin?: string },
  noCache?: { readonly kind: string },
  /** G2: the failed refresh this reader was served the stale object instead of (fetch.ts serveStaleInstead). */
  staleBecause?: { readonly kind: string; readonly origin?: string; readonly status?: number },
): ServedAsValue {
  const collapsed = role === 'COLLAPSED';
  if (head.source === 'error' || !object) {
    return { xCache: 'MISS', cacheStatus: formatCacheStatus({ fwd, collapsed, detail: reasonDetail(failure) ?? 'error' }, cacheName) };
  }
  const ttl = object.policy.ttl - object.age(Date.now());
  // C3: a reader that waited on a revalidation is served the stored object again (role HIT).
  // G2: the refresh failed and the stale object stands in: RFC 9211 fwd=stale, the origin's status if it sent one.
  if (staleBecause) return { xCache: 'HIT', cacheStatus: formatCacheStatus({ fwd: 'stale', fwdStatus: staleBecause.status, ttl, collapsed, detail: reasonDetail(staleBecause) }, cacheName) };
  if (role === 'HIT' && fwd === undefined) return { xCache: 'HIT', cacheStatus: hitCacheStatus(cacheName, ttl) };
  if (role === 'HIT') return { xCache: 'HIT', cacheStatus: formatCacheStatus({ fwd, fwdStatus: 304, ttl, stored: true }, cacheName) };
  const stored = !object.dead;
  return {
    xCache: 'MISS',
    cacheStatus: formatCacheStatus({ fwd, fwdStatus: object.head.status, ttl: stored ? ttl : undefined, stored, collapsed, detail: stored ? undefined : reasonDetail(noCache) }, cacheName),
  };
}

/** RFC 9211's fwd for each reason a request passes. */
const PASS_FORWARD: Record<string, ForwardReason | undefined> = {
  method: 'method',
  'request-body': 'request',
  authorization: 'bypass',
  recv: 'bypass',
  'hit-for-pass': 'bypass',
  unshareable: 'miss',
  'bad-request': undefined,
};

/** A pass (relayed for one client) or the proxy's own answer to a request it passes or refuses. */
export function passServedAs(cacheName: string, reason: { readonly kind: string }, head: HeadFacts, failure?: string): ServedAsValue {
  const fwd = PASS_FORWARD[reason.kind];
  const detail = head.source === 'error' ? (failure ?? reason.kind) : reason.kind === 'method' ? undefined : reason.kind;
  return { xCache: 'PASS', cacheStatus: formatCacheStatus({ fwd, fwdStatus: head.source === 'relay' ? head.status : undefined, detail }, cacheName) };
}

/** What the writer puts on the head (src/stream/response-writer.ts ServedAs has this shape). */
export interface ServedAsValue {
  readonly xCache: 'HIT' | 'MISS' | 'PASS';
  readonly cacheStatus: string;
}

/** The detail of each response the socket layer writes before a request is parsed (P1-P3). */
const PROTOCOL_ERRORS: Record<number, string> = { 400: 'bad-request', 408: 'request-timeout', 431: 'head-too-large', 503: 'too-many-connections' };

/** X-Cache and Cache-Status for a response the socket layer writes itself (never forwarded). */
export function protocolErrorFields(status: number, cacheName: string): Array<[string, string]> {
  return [
    ['X-Cache', 'PASS'],
    ['Cache-Status', formatCacheStatus({ detail: PROTOCOL_ERRORS[status] ?? 'protocol-error' }, cacheName)],
  ];
}

/**
 * B4: a response walked from segments. X-Cache is that of the segment whose reader writes the head
 * (HIT when it was stored); Cache-Status says `detail=segmented`, the segments being objects of their own.
 */
export function segmentedServedAs(cacheName: string, head: HeadFacts): ServedAsValue {
  const firstRole = head.role;
  if (head.source === 'error') return { xCache: 'MISS', cacheStatus: formatCacheStatus({ detail: 'segment-failed' }, cacheName) };
  if (firstRole === 'HIT') return { xCache: 'HIT', cacheStatus: formatCacheStatus({ hit: true, detail: 'segmented' }, cacheName) };
  return { xCache: 'MISS', cacheStatus: formatCacheStatus({ fwd: 'uri-miss', fwdStatus: head.status, collapsed: firstRole === 'COLLAPSED', detail: 'segmented' }, cacheName) };
}
