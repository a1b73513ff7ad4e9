// One origin fetch feeding one object and any number of readers: the streaming miss with request
// collapsing. Each body byte is appended once into the store and every reader is woken to write
// it from there (R1, R3, R7). The object enters the index only when complete and intact (R5).
//
// States, changed only in `enter()`:
//   awaiting-head  the request is out; clients that ask for the key wait here (R2)
//   receiving      the head arrived and the object is filling; readers follow it
//   handed-off     the response cannot be shared (R4): its one client was given a pass relay
//   complete       the body arrived intact (and was committed when storable)
//   failed         the fetch failed or passed a size limit (O1, O2, L2-L4): nothing is cached
import type { Logger } from 'pino';
import type { BodyFraming, RequestHead, ResponseHead } from '../http1/message.js';
import type { OriginError, OriginResponseHandler } from '../net/origin-connection.js';
import type { OriginRequest } from '../net/origin-pool.js';
import { CacheObject, type ObjectHead } from '../cache/object.js';
import type { CacheIndex } from '../cache/index.js';
import { varyNamesOf, varyValues, variantMatches } from '../cache/index.js';
import type { RingStore } from '../cache/store.js';
import type { EdgePolicy } from '../cache/freshness.js';
import { freshnessAge, originAge, responseDelay, type AgeInput } from '../cache/freshness.js';
import { NO_STALE, type StaleWindows } from '../cache/stale.js';
import { relayInterim } from './interim.js';
import { updateStoredFields } from '../cache/conditional.js';
import type { ObjectReader } from './reader.js';
import { tooLarge, type FetchFailure, type NoCacheReason } from './reasons.js';
import { transformObject, transformOf, transformedHead, type ObjectTransform } from './transform.js';
import type { BodyEncoder } from './codecs.js';

export type FetchState = 'awaiting-head' | 'receiving' | 'handed-off' | 'complete' | 'failed';

/** What the proxy decides when the origin's head arrives (policy, hooks, config rules). */
export interface HeadDecision {
  policy: EdgePolicy;
  /** G1, G2: how long past its TTL the object may be served stale (src/cache/stale.ts); none when absent. */
  stale?: StaleWindows;
  /** Other clients may attach (R2): storable and fresh for a while. */
  share: boolean;
  /** Commit the object to the index when complete (R5). */
  store: boolean;
  /** doStream, after V1. */
  stream: boolean;
  /** Mark the key hit-for-pass (R4). */
  hitForPass: boolean;
  /** The object's head as clients get it (before a transform: see transformedHead). */
  clientHead: ObjectHead;
  /** T1, T2: compress the body on its way in, or mark the object an ESI template (src/stream/transform.ts). */
  transform?: ObjectTransform;
  /** Why the response is not stored or not shared, when it is not. */
  noCache?: NoCacheReason;
}

/** What a fetch needs from the proxy around it. */
export interface FetchEnvironment {
  readonly store: RingStore;
  readonly index: CacheIndex;
  readonly logger: Logger;
  readonly maxObjectSize: number;
  readonly maxObjectSizeBuffered: number;
  readonly hitForPassMs: number;
  /** Bytes an overflowed object may hold beyond its slowest reader before the origin is paused (L5). */
  readonly overflowWindow: number;
  /** An in-flight object buffering more than this is worth one warning (late joiners replay it all). */
  readonly backlogWarningBytes: number;
  /** Called once per fetch when its object passes backlogWarningBytes. */
  backlogPassed(fetch: InflightFetch, bytes: number): void;
  decide(request: RequestHead, head: ResponseHead, now: number, framing: BodyFraming): HeadDecision;
  /** Sends a released client through the pipeline again (R4, or a Vary mismatch). */
  redispatch(reader: ObjectReader): void;
  /** Gives the fetch's own client a pass relay for an unshareable response (R4). */
  handOff(reader: ObjectReader, origin: OriginRequest, stream: boolean): OriginResponseHandler;
  /** The fetch left the in-flight registry. */
  settled(fetch: InflightFetch): void;
  /** G1, G2: a fetch refreshing a stale object failed; the stale object stays, and `servedStale` waiting clients got it. */
  refreshFailed?(fetch: InflightFetch, failure: FetchFailure, servedStale: number): void;
}

export class InflightFetch implements OriginResponseHandler {
  private fetchState: FetchState = 'awaiting-head';
  object: CacheObject | null = null;
  private decision: HeadDecision | null = null;
  readonly readers = new Set<ObjectReader>();
  private origin: OriginRequest | null = null;
  private relay: OriginResponseHandler | null = null;
  private pausedForOverflow = false;
  private fetchPinned = false;
  private backlogWarned = false;
  /** An unsafe request succeeded for this URL while we fetched (C4): never commit, take no one new. */
  private invalidated = false;
  /** RFC 9111 §4.2.3 request_time: the response delay counts into the object's age. */
  private readonly requestedAt = Date.now();
  /** This fetch's head took the stale object it refreshes out of the index (C3). */
  private replacedStale = false;
  /** T1: the body goes through this compressor; its output is what the object holds. */
  private encoder: BodyEncoder | null = null;
  /** Readers are woken once per turn of the event loop for the bytes appended in it (scheduleWake). */
  private pendingWake: NodeJS.Immediate | null = null;

  constructor(
    private readonly env: FetchEnvironment,
    readonly key: string,
    /** The request that caused the fetch: its version decides V1, its headers the Vary variant. */
    readonly request: RequestHead,
    /**
     * A stale stored object this fetch refreshes, if any: revalidated when it has validators (C3),
     * served instead of a failure inside its stale-if-error window (G2).
     */
    readonly revalidating: CacheObject | null,
    /**
     * G1: a background revalidation, started by a request served the stale object at once. It has
     * no reader of its own; the stale object stays in the index until the new one replaces it.
     */
    readonly background = false,
  ) {
    // Its bytes must survive until the origin says whether they are still good.
    revalidating?.pin();
  }

  /** ms since epoch when the request went out: a purge since then may concern its response (I4). */
  private readonly startedAt = Date.now();

  get state(): FetchState {
    return this.fetchState;
  }

  start(origin: OriginRequest): void {
    this.origin = origin;
  }

  private enter(next: FetchState): void {
    this.fetchState = next;
    if (next === 'complete' || next === 'failed' || next === 'handed-off') {
      this.releaseReservation();
      this.env.settled(this);
      if (this.fetchPinned && this.object) {
        this.fetchPinned = false;
        this.object.unpin();
      }
      // Readers of a revalidated object hold pins of their own by now.
      this.revalidating?.unpin();
    }
  }

  /**
   * The store's bytes reserved for this object and not filled go back. A read into them may still
   * be pending only on a body cut short (a complete body filled them all): its connection is closed
   * first, so no byte lands there once they may be someone else's.
   */
  private releaseReservation(): void {
    const object = this.object;
    if (!object || this.env.store.reservedFor(object) === 0) return;
    if (this.fetchState !== 'complete') this.origin?.abort();
    this.env.store.release(object);
  }

  /** R2, R6: may a request with these headers attach now? */
  canAttach(requestHeaders: RequestHead['headers'], now: number): boolean {
    if (this.invalidated) return false;
    if (this.fetchState === 'awaiting-head') return true;
    if (this.fetchState !== 'receiving' || !this.decision?.share) return false;
    const object = this.object!;
    return !object.overflowed && object.isFresh(now) && variantMatches(object, requestHeaders);
  }

  /**
   * C4, I4: an unsafe request for this URL succeeded, or a purge named it: what we are fetching may
   * be out of date. `abrupt` (a hard purge) also ends the fetch and its clients, never cleanly (O2).
   */
  invalidate(abrupt = false): void {
    this.invalidated = true;
    if (!abrupt) return;
    this.origin?.abort();
    this.fail({ kind: 'purged', message: 'purged' });
  }

  attach(reader: ObjectReader): void {
    this.readers.add(reader);
    if (this.object) reader.begin(this.object, this.streamsTo(reader));
  }

  /** V1, V2: who gets bytes as they arrive. A 1.0 client that joins a streaming miss waits. */
  private streamsTo(reader: ObjectReader): boolean {
    if (!this.decision?.stream) return false;
    return reader.exchange.request.version.minor >= 1 || reader.role === 'MISS';
  }

  // ---- the origin's response ----

  onHead(head: ResponseHead, framing: BodyFraming): void {
    if (this.relay) return this.relay.onHead(head, framing);
    const now = Date.now();
    // I4: a purge by one of its surrogate keys (or of everything) since the request went out: the
    // response may be what was purged (a 304 speaks for the stored object's keys).
    const tagged = this.revalidating && head.status === 304 ? this.revalidating.originHead.headers : head.headers;
    if (this.env.index.purgedSince(tagged.getAll('surrogate-key'), this.startedAt)) this.invalidated = true;
    if (this.revalidating && head.status === 304) return this.revalidated(head, now);
    // G2: a 5xx to a refresh is a failure where the stale object may stand in for it: no byte of it
    // reaches a client. So it is for a background revalidation nobody waits on (G1): the stale object stays.
    if (head.status >= 500 && (this.staleFallback(now) || (this.background && this.readers.size === 0))) {
      this.origin?.abort();
      return this.fail({ kind: 'origin-status', status: head.status, message: `origin answered ${head.status}` }, true);
    }
    const decision = this.env.decide(this.request, head, now, framing);
    this.decision = decision;
    const declared = framing.kind === 'length' ? framing.length : framing.kind === 'none' ? 0 : undefined;
    const limit = decision.stream ? this.env.maxObjectSize : this.env.maxObjectSizeBuffered;
    if (declared !== undefined && declared > limit) {
      // L2: we know at once it cannot be served whole.
      this.origin?.abort();
      return this.fail({ kind: 'too-large', limit, message: `Content-Length ${declared} is above the maximum object size (${limit} bytes)` });
    }
    // Unshareable (R4): its own client gets it as a pass would, unless it must be transformed first (T1, T2).
    if (!decision.share && !decision.store && !decision.transform) return this.handOffOrAbort(head, framing, now);

    // T1: a compressed object's head says so (Content-Encoding, Vary); its length is known only at its end.
    const clientHead = transformedHead(decision.clientHead, decision.transform);
    const age = this.ageOf(head, now);
    const object = new CacheObject(this.key, head, clientHead, decision.policy, now, freshnessAge(age), decision.transform?.coding ? undefined : declared);
    object.responseDelay = responseDelay(age);
    object.staleWindows = decision.stale ?? NO_STALE;
    object.varyNames = varyNamesOf(clientHead.headers);
    object.varyValues = varyValues(object.varyNames, this.request.headers);
    if (!decision.store) object.forget();
    object.pin();
    this.fetchPinned = true;
    this.object = object;
    if (decision.transform) {
      this.encoder = transformObject(object, decision.transform, limit, {
        data: (bytes) => this.appendBody(bytes),
        end: () => {
          this.encoder = null;
          this.onEnd();
        },
        error: (failure) => {
          this.origin?.abort();
          this.fail(failure);
        },
        pause: () => this.origin?.pause(),
        resume: () => this.origin?.resume(),
      });
    }
    this.enter('receiving');
    for (const reader of [...this.readers]) {
      const own = reader.role === 'MISS';
      if (!own && (!decision.share || !variantMatches(object, reader.exchange.request.headers))) this.release(reader);
      else reader.begin(object, this.streamsTo(reader));
    }
    // A new response replaces the stale object we were revalidating (C3): it must not be served
    // again. A background revalidation leaves it to be served stale until the new object is
    // complete and takes its place in the index (G1), or fails (L5, O2) and leaves it there.
    if (this.revalidating && !this.background) {
      this.env.index.remove(this.revalidating);
      this.replacedStale = true;
    }
  }

  /** 103 Early Hints, 102: to every client still waiting for the head (HTTP/1.1 ones); never stored. */
  onInterim(head: ResponseHead): void {
    if (this.relay) return this.relay.onInterim?.(head);
    if (this.fetchState !== 'awaiting-head') return;
    for (const reader of this.readers) if (reader.state === 'waiting-head') relayInterim(reader.exchange, head, reader.headSent);
  }

  onBody(chunk: Buffer): void {
    if (this.relay) return this.relay.onBody(chunk);
    if (this.encoder) return this.encoder.write(chunk);
    this.appendBody(chunk);
  }

  /**
   * Where the origin connection may read the next body bytes: the store's next bytes, reserved
   * for this object, so that the kernel writes them in place and appendBody() copies nothing.
   * Only for a plain fill (no transform, no relay, not overflowed) within the size limit.
   */
  bodyTarget(max: number): Buffer | null {
    const object = this.object;
    if (this.relay || this.encoder || !object || object.overflowed || this.fetchState !== 'receiving') return null;
    const limit = this.decision!.stream ? this.env.maxObjectSize : this.env.maxObjectSizeBuffered;
    if (object.length + max > limit) return null;
    return this.env.store.reserve(object, max);
  }

  private appendBody(chunk: Buffer): void {
    const object = this.object;
    if (!object || this.fetchState !== 'receiving') return;
    const limit = this.decision!.stream ? this.env.maxObjectSize : this.env.maxObjectSizeBuffered;
    if (object.length + chunk.length > limit) {
      // L3, L4: streaming clients are cut, waiting ones get 503; nothing is cached.
      this.origin?.abort();
      return this.fail(tooLarge(limit));
    }
    object.append(chunk, this.env.store);
    if (this.decision!.stream && object.length > this.env.maxObjectSizeBuffered) this.failWaitingReaders();
    this.scheduleWake();
    // The backlog matters for streams of unknown length (push messaging); a file has a known end.
    if (!this.backlogWarned && object.declaredLength === undefined && object.length > this.env.backlogWarningBytes) {
      this.backlogWarned = true;
      this.env.backlogPassed(this, object.length);
    }
    if (object.overflowed) this.boundOverflow();
  }

  /**
   * One wake per turn of the event loop, however many chunks arrived in it (one origin read may hold
   * several SSE events, and a busy loop reads more at a time): each client then gets them in one
   * write. It runs right after the poll phase that read them, so nothing waits for a timer.
   */
  private scheduleWake(): void {
    this.pendingWake ??= setImmediate(this.wakeReaders);
  }

  private readonly wakeReaders = (): void => {
    if (this.pendingWake) clearImmediate(this.pendingWake);
    this.pendingWake = null;
    for (const reader of [...this.readers]) reader.wake();
  };

  /** Before the fetch ends or fails, readers get what was appended since their last wake. */
  private flushWake(): void {
    if (this.pendingWake) this.wakeReaders();
  }

  /** L1, L3: a client waiting for a whole body is held to the buffered limit, even on a streaming fetch. */
  private failWaitingReaders(): void {
    const limit = this.env.maxObjectSizeBuffered;
    const failure: FetchFailure = { kind: 'too-large-to-wait', limit, message: `body passed the maximum object size for a client that waits for the whole body (${limit} bytes)` };
    for (const reader of [...this.readers]) {
      if (reader.state === 'waiting-body') reader.fail(failure.message, failure);
    }
  }

  onEnd(): void {
    if (this.relay) return this.relay.onEnd();
    if (this.encoder) return this.encoder.end();
    const object = this.object;
    // After a 304 (C3) the fetch is already complete: the stale object was refreshed, not filled.
    if (!object || this.fetchState !== 'receiving') return;
    object.markComplete();
    if (this.decision?.store && !object.overflowed && !object.dead && !this.invalidated) this.env.index.insert(object);
    else object.forget();
    this.enter('complete');
    this.wakeReaders();
  }

  onError(error: OriginError): void {
    if (this.relay) return this.relay.onError(error);
    this.env.logger.warn({ err: error.message, kind: error.kind, phase: error.phase, key: this.key }, 'origin fetch failed');
    this.fail({ kind: 'origin', origin: error.kind, message: error.message }, true);
  }

  /** O1, O2, L2-L4: no object; clients get 503 before their head, an abrupt close after. */
  private fail(failure: FetchFailure, originFailed = false): void {
    if (this.fetchState === 'failed' || this.fetchState === 'complete') return;
    this.flushWake();
    this.encoder?.destroy();
    this.object?.markFailed();
    // G2 covers the origin failing (connect, timeouts, resets, 5xx), not our own limits (L2-L4).
    const served = originFailed ? this.serveStaleInstead(failure) : 0;
    this.enter('failed');
    for (const reader of [...this.readers]) reader.fail(failure.message, failure);
    if (this.revalidating) this.env.refreshFailed?.(this, failure, served);
  }

  /** F6: what the response's age on arrival is made of (RFC 9111 §4.2.3). */
  private ageOf(head: ResponseHead, now: number): AgeInput {
    return { ageValue: originAge(head.headers), requestTime: this.requestedAt, responseTime: now };
  }

  // ---- G2: stale-if-error ----

  /** The stale object, when it may be served instead of this fetch's failure now. */
  private staleFallback(now: number): CacheObject | null {
    const stale = this.revalidating;
    // Forgotten by the index for any reason but our own new head (a purge, an eviction): not servable.
    if (!stale || (stale.dead && !this.replacedStale)) return null;
    return stale.withinIfError(now) ? stale : null;
  }

  /** Every client that got no byte of this fetch gets the stale object instead (G2). Returns how many. */
  private serveStaleInstead(failure: FetchFailure): number {
    const stale = this.staleFallback(Date.now());
    if (!stale) return 0;
    let served = 0;
    for (const reader of [...this.readers]) {
      if (reader.isDone || reader.headSent) continue;
      this.readers.delete(reader);
      reader.servedFromStore();
      reader.staleBecause = failure;
      stale.hits++;
      reader.begin(stale, true);
      served++;
    }
    return served;
  }

  // ---- R4: the response cannot be shared ----

  private handOffOrAbort(head: ResponseHead, framing: BodyFraming, now: number): void {
    if (this.decision!.hitForPass) this.env.index.markHitForPass(this.key, now + this.env.hitForPassMs);
    const own = [...this.readers].find((r) => r.role === 'MISS' && !r.isDone);
    const released = [...this.readers].filter((r) => r !== own);
    this.readers.clear();
    if (own && this.origin) {
      this.relay = this.env.handOff(own, this.origin, this.decision!.stream);
      this.enter('handed-off');
      this.relay.onHead(head, framing);
    } else {
      // R8: an unshareable fetch with no client left is aborted.
      this.origin?.abort();
      this.enter('handed-off');
    }
    // Only now, out of the registry, can the released clients not find this fetch again.
    for (const reader of released) if (!reader.isDone) this.env.redispatch(reader);
  }

  private release(reader: ObjectReader): void {
    this.readers.delete(reader);
    if (!reader.isDone) this.env.redispatch(reader);
  }

  // ---- C3: revalidation ----

  private revalidated(head: ResponseHead, now: number): void {
    const stale = this.revalidating!;
    if (stale.state !== 'complete') return this.fail({ kind: 'revalidation', message: 'revalidated object is no longer complete' });
    // The stored response as the origin sent it, updated with the 304's fields (RFC 9111 §4.3.4).
    const updated: ResponseHead = { ...stale.originHead, headers: updateStoredFields(stale.originHead.headers, head.headers) };
    const decision = this.env.decide(this.request, updated, now, { kind: 'none' });
    // T1: the stored bytes keep their coding, whatever the hook says this time. A purge since the
    // request went out (I3, I4) keeps the object as the purge left it: this 304 may predate it.
    const age = this.ageOf(head, now);
    if (!this.invalidated) {
      stale.replaceHead(updated, transformedHead(decision.clientHead, transformOf(stale)), decision.policy, now, freshnessAge(age));
      stale.responseDelay = responseDelay(age);
      stale.staleWindows = decision.stale ?? NO_STALE;
    }
    this.object = stale;
    this.decision = { ...decision, stream: true };
    if (!decision.store) {
      stale.forget();
      this.env.index.remove(stale);
    }
    this.enter('complete');
    for (const reader of [...this.readers]) {
      reader.servedFromStore();
      stale.hits++;
      reader.begin(stale, true);
    }
  }

  // ---- readers ----

  /** A reader moved: an overflowed object may release what every reader has passed. */
  readerProgressed(): void {
    if (this.object?.overflowed) this.boundOverflow();
  }

  /**
   * L5: bytes held outside the store are released once every streaming reader has passed them,
   * and the origin waits while more than the overflow window is held. A client that waits for the
   * whole body (F3, V1, V2, streaming off) needs every byte: while one does, nothing is released
   * or paused, and the buffered size limit bounds the object instead (L3).
   */
  private boundOverflow(): void {
    const object = this.object!;
    let slowest = object.chunks.length;
    let someoneWaits = false;
    for (const reader of this.readers) {
      if (reader.isDone) continue;
      if (reader.state === 'writing') slowest = Math.min(slowest, reader.cursor);
      else someoneWaits = true;
    }
    if (!someoneWaits) object.releaseOverflowBefore(slowest);
    const tooMuchHeld = !someoneWaits && object.overflowBytes > this.env.overflowWindow;
    if (tooMuchHeld && !this.pausedForOverflow) {
      this.pausedForOverflow = true;
      this.origin?.pause();
    } else if (this.pausedForOverflow && (someoneWaits || object.overflowBytes <= this.env.overflowWindow / 2)) {
      this.pausedForOverflow = false;
      this.origin?.resume();
    }
  }

  /** R8: a reader finished. An unstored fetch with nobody left is aborted; a stored one goes on to the cache. */
  readerFinished(reader: ObjectReader): void {
    this.readers.delete(reader);
    this.readerProgressed();
    const goesToCache = this.decision?.store === true && this.object?.overflowed === false;
    if (this.fetchState === 'receiving' && this.readers.size === 0 && !goesToCache) {
      this.origin?.abort();
      this.fail({ kind: 'abandoned', message: 'no client left for an unstored response' });
    }
  }

  /** Why this fetch's response is not cached (or not shared), once its head arrived. */
  get noCacheReason(): NoCacheReason | undefined {
    return this.decision?.noCache;
  }

  /** Bytes this fetch holds outside the store (L5), for stats. */
  get overflowBytes(): number {
    return this.object?.overflowBytes ?? 0;
  }
}
