// A cache object: the response head as clients get it, and the body as a list of views of the
// store (or, past the store's room, of buffers of its own: see `overflowed`). While its fetch runs
// the object grows; readers follow it with their own cursors. It knows nothing of sockets.
import type { HeaderFields } from '../http1/headers.js';
import type { ContentCoding } from '../http1/accept-encoding.js';
import type { ResponseHead } from '../http1/message.js';
import type { RingStore, StoreOwner } from './store.js';
import type { EdgePolicy } from './freshness.js';
import { currentAge, isFresh } from './freshness.js';
import { NO_STALE, withinIfError, withinWhileRevalidate, type StaleWindows } from './stale.js';

/**
 * filling    the body is arriving
 * complete   the whole body arrived intact
 * failed     the fetch failed or the body passed a limit: never served as whole
 *
 * New states (stale, purged) go here, into TRANSITIONS, and get a method beside markComplete().
 */
export type ObjectState = 'filling' | 'complete' | 'failed';

/** The states each state may move to; anything else is a coding error (enter() throws). */
const TRANSITIONS: Readonly<Record<ObjectState, readonly ObjectState[]>> = {
  filling: ['complete', 'failed'],
  complete: [],
  failed: [],
};

/** What a fetch does to its object beyond storing it (T1, T2). */
export interface ObjectTransform {
  /** T1: the body is compressed with this coding on its way into the store. */
  readonly coding?: ContentCoding;
  /** T2: the object is an ESI template, assembled per delivery. */
  readonly esi?: boolean;
}

/** What a transformed object carries for its deliveries. */
export interface TransformMark extends ObjectTransform {
  /** T1: the body's length before compression, known once the object is complete. */
  identityLength?: number;
}

export interface ObjectHead {
  status: number;
  reason: string;
  /** Fields as clients get them: hop-by-hop, framing, Age and Surrogate-Control removed, Via added. */
  headers: HeaderFields;
}

export class CacheObject implements StoreOwner {
  private objectState: ObjectState = 'filling';
  /** Body views in order. Entries of an overflowed object are dropped once every reader passed them. */
  readonly chunks: (Buffer | null)[] = [];
  private bodyLength = 0;
  pins = 0;
  private forgotten = false;
  /** The store had no room: the rest of the body lives outside it and the object is never cached (L5). */
  overflowed = false;
  /** Index of the first chunk held outside the store (valid once overflowed). */
  private overflowFrom = 0;
  /** Bytes held outside the store (overflow), for the memory bound. */
  overflowBytes = 0;
  hits = 0;
  /** Vary: the request field names (lower-case) and the values they had for this variant. */
  varyNames: string[] = [];
  varyValues: string[] = [];
  /** T1, T2: compressed on its way in, or an ESI template (src/stream/transform.ts); null for neither. */
  transform: TransformMark | null = null;
  /**
   * The newest small live chunk, framed once for every caught-up client (src/stream/http1-writer.ts):
   * an SSE event to thousands of subscribers is one allocation.
   */
  liveFrame: { index: number; bytes: Buffer } | null = null;
  /**
   * The head of this object's plain hits up to the hit count, for the Age and Cache-Status it was
   * made with (src/stream/plain-hit.ts): those change once a second, the hit count every hit.
   */
  plainHitHead: { readonly block: string; readonly age: number; readonly cacheName: string; readonly ttl: number; readonly text: string } | null = null;
  /** Lazily built head lines shared by every response from this object (see headBlock()). */
  private cachedHeadBlock: string | null = null;
  /** headBlock() and the Content-Length line of the complete body (see headBlockWithLength()). */
  private cachedHeadWithLength: string | null = null;
  /** The head's validators, read once per head version: every hit asks for them (C3, B1). */
  private cachedValidators: { readonly etag: string | undefined; readonly lastModified: string | undefined } | null = null;
  private cachedSurrogateFields: [string, string][] | null = null;
  private evictedListener: ((object: CacheObject) => void) | null = null;
  /** F6: RFC 9111 §4.2.3 response_delay of the fetch that brought its head, seconds: in Age, not in its TTL (R6). */
  responseDelay = 0;
  /** G1, G2: how long past its TTL this object may be served stale (set with its policy). */
  staleWindows: StaleWindows = NO_STALE;

  constructor(
    readonly key: string,
    /** The head as the origin sent it: what a 304 updates (C3) before the client head is rebuilt. */
    public originHead: ResponseHead,
    public head: ObjectHead,
    public policy: EdgePolicy,
    /** ms since epoch when the origin's head arrived (Age and TTL count from here). */
    public headReceivedAt: number,
    /** The origin's Age header, seconds. */
    public ageAtOrigin: number,
    /** The origin's Content-Length, when it sent one. */
    readonly declaredLength: number | undefined,
  ) {}

  get state(): ObjectState {
    return this.objectState;
  }

  /** Body bytes so far. */
  get length(): number {
    return this.bodyLength;
  }

  /**
   * Forgotten by the index (purged, replaced, evicted) or never to be stored: its bytes may be
   * reclaimed once unpinned, and nobody new is served from it.
   */
  get dead(): boolean {
    return this.forgotten;
  }

  /** The whole body arrived intact (R5): from filling only. */
  markComplete(): void {
    this.enter('complete');
  }

  /** The fetch failed or the body passed a limit (O1, O2, L2-L4): never served as whole, never stored. */
  markFailed(): void {
    this.enter('failed');
    this.forget();
  }

  /** Never (again) to be found in the index: it may still serve the readers it has. Forgetting twice is fine. */
  forget(): void {
    this.forgotten = true;
  }

  /** A whole body at once (an object built for one delivery, T1/T2): filling to complete. */
  fillWhole(body: Buffer | null, length: number): void {
    if (this.objectState !== 'filling' || this.chunks.length > 0) throw new Error(`CacheObject ${this.key}: fillWhole on a ${this.objectState} object with ${this.chunks.length} chunks`);
    if (body && body.length > 0) this.chunks.push(body);
    this.bodyLength = length;
    this.enter('complete');
  }

  private enter(next: ObjectState): void {
    if (!TRANSITIONS[this.objectState].includes(next)) throw new Error(`CacheObject ${this.key}: no transition from ${this.objectState} to ${next}`);
    this.objectState = next;
  }

  get etag(): string | undefined {
    return this.validators().etag;
  }

  get lastModified(): string | undefined {
    return this.validators().lastModified;
  }

  private validators(): { readonly etag: string | undefined; readonly lastModified: string | undefined } {
    this.cachedValidators ??= { etag: this.head.headers.get('etag'), lastModified: this.head.headers.get('last-modified') };
    return this.cachedValidators;
  }

  get hasValidators(): boolean {
    return this.etag !== undefined || this.lastModified !== undefined;
  }

  get complete(): boolean {
    return this.state === 'complete';
  }

  /** Fresh (R6, C2): its TTL exceeds its current age, and it need not be revalidated before use. */
  isFresh(now: number): boolean {
    return !this.policy.mustRevalidate && isFresh(this.policy.ttl, this.headReceivedAt, this.ageAtOrigin, now);
  }

  /**
   * I3, soft purge: stale from now on (its TTL cut to its current age less a millisecond, so that
   * no rounding leaves it fresh). Its validators stay, for a conditional refetch (C3), and the stale
   * windows of G1 and G2 count from here.
   */
  expire(now: number): void {
    const ageMs = this.ageAtOrigin * 1000 + Math.max(0, now - this.headReceivedAt);
    const ttl = Math.max(0, ageMs - 1) / 1000;
    if (this.policy.ttl > ttl) this.policy = { ...this.policy, ttl, source: 'soft purge' };
  }

  // ---- serving stale (G1-G4) ----

  /** Exact seconds (fractional) since the origin generated it: what its TTL and windows are measured against. */
  exactAge(now: number): number {
    return this.ageAtOrigin + Math.max(0, now - this.headReceivedAt) / 1000;
  }

  /**
   * G4: a stream that ended is not revived. A body the origin sent without Content-Length (chunked
   * or close-delimited) and without a validator is the shape of a push stream: once it is stale it
   * is never served stale, only fetched anew. Every other complete object may be.
   */
  get mayServeStale(): boolean {
    return this.state === 'complete' && (this.originHead.headers.has('content-length') || this.hasValidators);
  }

  /** G1: served at once while one background fetch revalidates it. */
  withinWhileRevalidate(now: number): boolean {
    return this.mayServeStale && withinWhileRevalidate(this.staleWindows, this.freshnessLifetime, this.exactAge(now));
  }

  /** G2: served instead of the error when the fetch that would refresh it fails. */
  withinIfError(now: number): boolean {
    return this.mayServeStale && withinIfError(this.staleWindows, this.freshnessLifetime, this.exactAge(now));
  }

  /** The TTL its windows count from: 0 for an object that must be revalidated before every reuse. */
  private get freshnessLifetime(): number {
    return this.policy.mustRevalidate ? 0 : this.policy.ttl;
  }

  /** F6: seconds since the head arrived plus the origin's Age. */
  age(now: number): number {
    return currentAge(this.headReceivedAt, this.ageAtOrigin + this.responseDelay, now);
  }

  /** Appends body bytes: into the store while it has room, else into a buffer of our own (L5). */
  append(data: Buffer, store: RingStore): void {
    if (this.objectState !== 'filling') throw new Error(`CacheObject ${this.key}: append to a ${this.objectState} object`);
    // An empty chunk would frame as the last chunk for a chunked client: never keep one.
    if (data.length === 0) return;
    const views = this.overflowed ? null : store.append(data, this);
    if (views) {
      for (const view of views) this.chunks.push(view);
    } else {
      if (!this.overflowed) this.overflowFrom = this.chunks.length;
      this.overflowed = true;
      this.chunks.push(Buffer.from(data));
      this.overflowBytes += data.length;
    }
    this.bodyLength += data.length;
  }

  /** Releases overflow buffers before chunk index `upTo` (every reader is past them). */
  releaseOverflowBefore(upTo: number): void {
    if (!this.overflowed) return;
    for (let i = this.overflowFrom; i < upTo; i++) {
      const chunk = this.chunks[i];
      if (chunk) {
        this.overflowBytes -= chunk.length;
        this.chunks[i] = null;
      }
    }
    this.overflowFrom = Math.max(this.overflowFrom, upTo);
  }

  pin(): void {
    this.pins++;
  }

  unpin(): void {
    this.pins--;
  }

  /**
   * unpin() as a write callback: one function per object, so that a hit written in one piece
   * (src/stream/plain-hit.ts) lets go of its pin without a closure of its own.
   */
  readonly unpinAfterWrite = (): void => this.unpin();

  /** The index wants to hear when the store takes this object's bytes. */
  onEvict(listener: (object: CacheObject) => void): void {
    this.evictedListener = listener;
  }

  onEvicted(): void {
    if (this.forgotten) return;
    this.forgotten = true;
    this.evictedListener?.(this);
  }

  /** The head changed (revalidation, C3): rebuild the shared head lines. */
  replaceHead(originHead: ResponseHead, head: ObjectHead, policy: EdgePolicy, receivedAt: number, ageAtOrigin: number): void {
    this.originHead = originHead;
    this.head = head;
    this.policy = policy;
    this.headReceivedAt = receivedAt;
    this.ageAtOrigin = ageAtOrigin;
    this.cachedHeadBlock = null;
    this.cachedHeadWithLength = null;
    this.cachedValidators = null;
    this.cachedSurrogateFields = null;
  }

  /**
   * I2: the origin's Surrogate-Key and Surrogate-Control fields, for a client that is a tier of ours
   * (every other client never sees them). Read from the origin's head, kept whole.
   */
  surrogateFields(): readonly [string, string][] {
    if (this.cachedSurrogateFields === null) {
      const fields: [string, string][] = [];
      for (const name of ['Surrogate-Key', 'Surrogate-Control']) for (const value of this.originHead.headers.getAll(name)) fields.push([name, value]);
      this.cachedSurrogateFields = fields;
    }
    return this.cachedSurrogateFields;
  }

  /** `HTTP/1.1 200 OK\r\n` and the stored fields: built once, shared by every response. */
  headBlock(): string {
    if (this.cachedHeadBlock === null) {
      this.cachedHeadBlock = flattened(`HTTP/1.1 ${this.head.status} ${this.head.reason}\r\n${this.head.headers.toLines()}`);
    }
    return this.cachedHeadBlock;
  }

  /**
   * headBlock() and `Content-Length` of the complete body (F1; F4: what a HEAD is told too): the
   * head every plain hit of this version shares, up to the fields of its own response.
   */
  headBlockWithLength(): string {
    if (this.objectState !== 'complete') throw new Error(`CacheObject ${this.key}: headBlockWithLength of a ${this.objectState} object`);
    this.cachedHeadWithLength ??= flattened(`${this.headBlock()}Content-Length: ${this.bodyLength}\r\n`);
    return this.cachedHeadWithLength;
  }
}

/**
 * `text` made one flat string in place: a string built by concatenation is a tree of its pieces,
 * which every copy of it (each response's write) walks again; converting it to a number makes V8
 * flatten it once (the trick of pino's flatstr).
 */
function flattened(text: string): string {
  void Number(text);
  return text;
}
