// B4: one client's response from a segmented file. The walker visits the segments the client
// needs, in order; each is an object of its own (a hit, a fetch in flight, or a new fetch, which
// the proxy collapses per segment key, R2), read by one part reader at a time. The first segment
// that arrives tells the file's total length and validators: the walker then writes the head (200
// with Content-Length, 206 or 416, as a complete object would get, B1) and from then on writes
// only bytes. Memory is bounded by segments: the walker holds one segment at a time.
//
// States, changed only in `enter()`:
//   first    no segment seen: nothing written, the response can still take another path
//   walking  the head is out; parts follow each other
//   done     ended, aborted, handed back to the proxy, or the client went away
import type { ClientExchange } from '../net/client-exchange.js';
import type { CacheObject } from '../cache/object.js';
import { isNotModified } from '../cache/conditional.js';
import { classifySegmentAnswer, sameFile, segmentsFor, windowInSegment, type SegmentIdentity } from '../cache/segments.js';
import { parseRange, resolveRange } from '../http1/range.js';
import { planRange, type BodyWindow } from './partial.js';
import type { ObjectReader, PartPlan, ReaderPart, ReaderRole } from './reader.js';
import type { ResponseWriter } from './response-writer.js';

export type WalkerState = 'first' | 'walking' | 'done';

/** Where the walker's segments come from (src/proxy/segment-flow.ts). */
export interface SegmentSource {
  /** The file's total length, when a segment of it was seen before. */
  knownTotal(): number | undefined;
  /**
   * A reader for segment `index`, attached to a hit, a fetch in flight or a new fetch. `finished`
   * is called when it is done.
   */
  open(index: number, part: ReaderPart, finished: (reader: ObjectReader, error?: string) => void): ObjectReader;
  /** The file's segments disagree: drop them (B4), so that the next request fetches them anew. */
  drop(): void;
}

export interface WalkerHooks {
  /** The origin does not serve this file as segments: nothing was written, serve it another way. */
  unsegmented(reason: string): void;
  /** The response ended (cleanly, or with `error`), for the access log. */
  finished(outcome: { status: number; role: ReaderRole; firstByteAt: number | undefined; error?: string }): void;
}

export class SegmentWalker {
  private walkerState: WalkerState = 'first';
  private current: ObjectReader | null = null;
  private identity: SegmentIdentity | undefined;
  /** The client's bytes of the file, once its total is known. */
  private window: BodyWindow = { start: 0, end: 0 };
  private lastIndex = -1;
  private nextIndex = 0;
  private role: ReaderRole = 'HIT';
  /** Inside source.open(): a part that finishes at once opens the next one on a later turn, not deeper in the stack. */
  private opening = false;

  constructor(
    private readonly exchange: ClientExchange,
    /** The response's one writer, shared by every part (the first writes the head). */
    private readonly writer: ResponseWriter,
    private readonly size: number,
    private readonly source: SegmentSource,
    private readonly hooks: WalkerHooks,
  ) {
    exchange.onClientGone(() => {
      if (this.walkerState === 'done') return;
      const reader = this.current;
      this.end('client closed the connection');
      reader?.fail('client closed the connection');
    });
  }

  get state(): WalkerState {
    return this.walkerState;
  }

  private enter(next: WalkerState): void {
    if (this.walkerState === 'done') throw new Error(`segment walker: no way from done to ${next}`);
    if (next === 'first') throw new Error('segment walker: cannot go back to first');
    this.walkerState = next;
  }

  /** Opens the first segment the request needs: the one its range starts in, when that can be known now. */
  start(): void {
    this.open(this.firstIndexGuess());
  }

  private firstIndexGuess(): number {
    const range = parseRange(this.exchange.request.headers.getAll('range'));
    if (range.kind !== 'bytes' || range.ranges.length !== 1 || this.exchange.request.method !== 'GET') return 0;
    const total = this.source.knownTotal();
    const spec = range.ranges[0];
    // Unknown total: the range's first segment (if the file ends before it, a 416 says so); a
    // suffix range needs the total, which segment 0 tells.
    if (total === undefined) return spec.kind === 'int' ? Math.floor(spec.first / this.size) : 0;
    const resolved = resolveRange(range, total);
    return resolved.kind === 'partial' ? Math.floor(resolved.start / this.size) : 0;
  }

  private open(index: number): void {
    this.nextIndex = index + 1;
    let reader: ObjectReader | null = null;
    const part: ReaderPart = {
      writer: this.writer,
      plan: (object) => this.planPart(index, object),
      refused: (reason, pastEnd) => {
        // A range that starts past the end of a file seen for the first time: segment 0 tells its length (416).
        if (pastEnd && index > 0 && this.walkerState === 'first' && (this.current === null || this.current === reader)) return this.open(0);
        this.refused(reader, reason);
      },
    };
    // A hit may begin, and even finish, inside open(): until it returns, any reader is the current one.
    this.current = null;
    this.opening = true;
    reader = this.source.open(index, part, (r, error) => this.partFinished(r, error));
    this.opening = false;
    if (this.walkerState !== 'done' && !reader.isDone) this.current = reader;
  }

  /** What segment `index` contributes; on the first one, the response head too. */
  private planPart(index: number, object: CacheObject): PartPlan | 'not-modified' | null {
    if (this.walkerState === 'done') return null;
    const answer = classifySegmentAnswer(object.originHead.status, object.originHead.headers, index, this.size);
    if (answer.kind !== 'ok' || answer.identity.total === undefined) return null;
    if (this.walkerState === 'first') return this.planFirst(index, object, answer.identity, answer.identity.total);
    if (!sameFile(answer.identity, this.identity!)) {
      this.source.drop();
      return null;
    }
    return this.partOf(index, undefined);
  }

  private planFirst(index: number, object: CacheObject, identity: SegmentIdentity, total: number): PartPlan | 'not-modified' {
    const { request } = this.exchange;
    this.identity = identity;
    if (isNotModified(request.headers, object.etag, object.lastModified)) {
      this.enter('done');
      return 'not-modified';
    }
    this.enter('walking');
    const plan = planRange(request, { status: 200, length: total, etag: object.etag, lastModified: object.lastModified, date: object.head.headers.get('date') });
    const status = plan.kind === 'partial' ? 206 : plan.kind === 'unsatisfiable' ? 416 : 200;
    const length = plan.kind === 'partial' ? plan.window.end - plan.window.start : plan.kind === 'unsatisfiable' ? 0 : total;
    const head = { status, length, fields: plan.kind === 'partial' || plan.kind === 'unsatisfiable' ? [['Content-Range', plan.contentRange] as const] : [] };
    // HEAD and 416 carry no body (F4); otherwise the window is the range, or the whole file.
    const bodiless = request.method === 'HEAD' || plan.kind === 'unsatisfiable';
    this.window = bodiless ? { start: 0, end: 0 } : plan.kind === 'partial' ? plan.window : { start: 0, end: total };
    const needed = segmentsFor(this.window, this.size);
    if (!needed) return { window: { start: 0, end: 0 }, head, last: true };
    this.lastIndex = needed.last;
    // The segment opened first may not be the window's first: a suffix range of a file seen for the
    // first time (segment 0 told the length), or a range that If-Range turned into the whole file.
    if (index !== needed.first) {
      this.nextIndex = needed.first;
      return { window: { start: 0, end: 0 }, head, last: false };
    }
    return this.partOf(index, head);
  }

  private partOf(index: number, head: PartPlan['head']): PartPlan {
    return { window: windowInSegment(this.window, index, this.size), head, last: index === this.lastIndex };
  }

  private partFinished(reader: ObjectReader, error?: string): void {
    if (this.current !== null && reader !== this.current) return;
    if (reader.role !== 'HIT') this.role = 'MISS';
    if (this.walkerState === 'done') {
      // A 304: the reader answered and ended the exchange itself; it is logged here.
      if (reader.status === 304) this.hooks.finished({ status: 304, role: this.role, firstByteAt: reader.firstByteAt });
      return;
    }
    if (error !== undefined) {
      // Nothing written yet and the segment could not serve: the response takes another path.
      if (!this.writer.headSent && !this.writer.done) return this.refused(reader, error);
      // The writer answered 503 while no head was out, or cut the response after (O2).
      this.writer.fail(error);
      return this.end(error);
    }
    if (this.nextIndex > this.lastIndex) return this.end();
    const next = this.nextIndex;
    if (!this.opening) return this.open(next);
    setImmediate(() => {
      if (this.walkerState !== 'done') this.open(next);
    });
  }

  /** The segment cannot serve this response (the origin did not answer with it, or it disagrees). */
  private refused(reader: ObjectReader | null, reason: string): void {
    if (this.walkerState === 'done' || (this.current !== null && reader !== this.current)) return;
    if (!this.writer.headSent) {
      this.walkerState = 'done';
      this.current = null;
      return this.hooks.unsegmented(reason);
    }
    // Bytes of the file are out already: the client can only tell by an abrupt end (O2).
    this.writer.fail(reason);
    this.end(reason);
  }

  private end(error?: string): void {
    if (this.walkerState === 'done') return;
    this.enter('done');
    this.current = null;
    this.hooks.finished({ status: this.writer.status, role: this.role, firstByteAt: this.writer.firstByteAt, error });
  }
}
