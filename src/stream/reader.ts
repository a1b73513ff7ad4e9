// One client following one object: its own cursor, at its own client's pace (R3, R7). It writes
// the head when the object's head is known, then every body view as it arrives (replay first,
// then live), framed for this client (F1-F3); or, for a client that must wait (F3, V1, V2), the
// whole body at once with Content-Length. Views are written as they are: no per-client copy.
import type { ClientExchange } from '../net/client-exchange.js';
import { HeaderFields } from '../http1/headers.js';
import type { CacheObject } from '../cache/object.js';
import { isNotModified, NOT_MODIFIED_FIELDS } from '../cache/conditional.js';
import { reasonPhrase } from '../http1/serializer.js';
import type { DeliverHook, OutgoingHead, ResponseSource, ResponseWriter, ServedAs } from './response-writer.js';
import { writerFor } from './client-writer.js';
import type { Reason } from './reasons.js';
import { planRange, windowView, withStatusLine, type BodyWindow, type RangePlan } from './partial.js';

export type { DeliverHook } from './response-writer.js';

/**
 * waiting-head   attached to a fetch whose response head has not arrived
 * waiting-body   the head is known, but this client gets nothing until the body is complete
 * writing        head written; body views go out as they come
 * done           ended, aborted, or the client went away
 */
export type ReaderState = 'waiting-head' | 'waiting-body' | 'writing' | 'done';

/** How the response reached this client, for X-Cache and the access log. */
export type ReaderRole = 'HIT' | 'MISS' | 'COLLAPSED';

export interface ReaderHooks {
  /** The reader moved its cursor (an overflowed object may release what every reader has passed). */
  progressed?(reader: ObjectReader): void;
  /** The reader is finished; `error` says why when it did not end cleanly. */
  finished(reader: ObjectReader, error?: string): void;
  /** K2: X-Cache and Cache-Status of this reader's head (`object`: what it serves, if it got one). */
  servedAs?(reader: ObjectReader, head: { readonly source: ResponseSource; readonly status: number }, object: CacheObject | null): ServedAs;
}

/**
 * B4: a reader that writes one part of a response made of several objects (a segment of a file),
 * through the writer the parts share. The walker that owns the response says, once the object's
 * head is known, what to write from it.
 */
export interface ReaderPart {
  /** The response's one writer: the first part writes the head into it, the others only bytes. */
  readonly writer: ResponseWriter;
  /** The window to write (null: nothing, this object cannot serve; 'not-modified': answer 304). */
  plan(object: CacheObject): PartPlan | 'not-modified' | null;
  /**
   * The fetch this reader waited for cannot serve it (the origin did not answer with the segment);
   * `pastEnd`: the file ends before this segment.
   */
  refused(reason: string, pastEnd?: boolean): void;
}

export interface PartPlan {
  /** Bytes of this object to write. */
  readonly window: BodyWindow;
  /** The first part writes the response head: status, body length, fields of its own (Content-Range). */
  readonly head?: { readonly status: number; readonly length: number; readonly fields: readonly (readonly [string, string])[] };
  /** The last part ends the response. */
  readonly last: boolean;
}

const WHOLE: RangePlan = { kind: 'whole' };

/** What planRange needs of an object: the length is known once complete or declared. */
function rangeTargetOf(object: CacheObject) {
  return {
    status: object.head.status,
    length: object.complete ? object.length : object.declaredLength,
    etag: object.etag,
    lastModified: object.lastModified,
    date: object.head.headers.get('date'),
  };
}

export class ObjectReader {
  private readerState: ReaderState = 'waiting-head';
  private object: CacheObject | null = null;
  /** Index of the next chunk of object.chunks to write. */
  cursor = 0;
  private waitingDrain = false;
  private pinned = false;
  /** Why this reader's response failed, when the fetch said (typed, for the access log and stats). */
  failure: Reason | undefined = undefined;
  /** Turns this reader's views into what its client's protocol needs (framing, errors, write-ahead). */
  protected readonly writer: ResponseWriter;
  /** G2: served the stale object because the fetch that would refresh it failed (typed, for the access log). */
  staleBecause: Reason | undefined = undefined;
  /** B1-B3: the 200, 206 or 416 this client gets. */
  private plan: RangePlan = WHOLE;
  /** B1-B4: only these bytes of the object are written; `position` is the offset of chunks[cursor]. */
  private window: BodyWindow | null = null;
  private position = 0;
  private partPlan: PartPlan | null = null;
  /** I2: the client is a tier of ours: it gets the object's Surrogate-Key and Surrogate-Control. */
  forwardSurrogate = false;

  constructor(
    readonly exchange: ClientExchange,
    private readerRole: ReaderRole,
    private readonly hooks: ReaderHooks,
    deliver?: DeliverHook,
    /** B4: this reader writes one part of a walker's response; the walker watches the client. */
    readonly part?: ReaderPart,
  ) {
    const servedAs = (head: { readonly source: ResponseSource; readonly status: number }): ServedAs =>
      hooks.servedAs?.(this, head, this.object) ?? { xCache: this.readerRole === 'HIT' && head.source !== 'error' ? 'HIT' : 'MISS' };
    this.writer = part?.writer ?? writerFor(exchange, { deliver, servedAs });
    if (!part) exchange.onClientGone(() => this.finish('client closed the connection'));
  }

  get state(): ReaderState {
    return this.readerState;
  }

  get role(): ReaderRole {
    return this.readerRole;
  }

  get isDone(): boolean {
    return this.readerState === 'done';
  }

  get headSent(): boolean {
    return this.writer.headSent;
  }

  /** The status the client got (or is getting), for the access log. */
  get status(): number {
    return this.writer.status;
  }

  get firstByteAt(): number | undefined {
    return this.writer.firstByteAt;
  }

  /** C3: the fetch this reader waited on revalidated the stored object: it is served as a hit. */
  servedFromStore(): void {
    this.readerRole = 'HIT';
  }

  /**
   * The object's head is known. `stream`: send the head and bytes as they come; otherwise wait for
   * the complete body (also forced for an HTTP/1.0 client when the length is unknown, F3).
   */
  begin(object: CacheObject, stream: boolean): void {
    if (this.readerState === 'done') return;
    // G2: a client waiting on a fetch that failed may begin again on the stale object instead.
    if (this.pinned) this.object?.unpin();
    this.object = object;
    object.pin();
    this.pinned = true;
    const { request } = this.exchange;
    if (this.part) return this.beginPart(object, stream);
    if (isNotModified(request.headers, object.etag, object.lastModified) && object.head.status === 200) {
      return this.sendNotModified(object);
    }
    // B2: a range on an object whose length is not known yet waits for the complete object.
    this.plan = planRange(request, rangeTargetOf(object));
    if (this.plan.kind === 'wait') {
      this.readerState = 'waiting-body';
      return this.wake();
    }
    const framing = this.writer.framingFor(object.head.status, this.knownLength(object));
    const canStream = stream && framing !== 'buffered';
    if (canStream || object.complete) return this.startWriting();
    this.readerState = 'waiting-body';
    this.wake();
  }

  /**
   * The fetch lets this client go (R4, or a Vary mismatch) to be dispatched afresh: no response was
   * written and nothing is logged for this reader.
   */
  release(): void {
    if (this.readerState === 'done') return;
    this.readerState = 'done';
    this.unpin();
  }

  /** New bytes, or the object completed or failed. */
  wake(): void {
    const object = this.object;
    if (!object) return;
    if (this.readerState === 'waiting-body') {
      if (object.state === 'failed') return this.fail('origin fetch failed');
      if (object.state === 'complete') this.startWriting();
      return;
    }
    if (this.readerState === 'writing' && !this.waitingDrain) this.pump();
  }

  /** The fetch failed: 503 while nothing was sent (O1, V2, L2, L3), an abrupt close after (O2, L4). */
  fail(reason: string, why?: Reason): void {
    if (this.readerState === 'done') return;
    this.failure = why;
    this.writer.fail(reason);
    this.finish(reason);
  }

  private knownLength(object: CacheObject): number | undefined {
    return object.complete ? object.length : object.declaredLength;
  }

  private startWriting(): void {
    const object = this.object!;
    if (this.partPlan) return this.startPart(object);
    const plan = this.plan.kind === 'wait' ? planRange(this.exchange.request, rangeTargetOf(object)) : this.plan;
    this.plan = plan;
    if (plan.kind === 'partial' || plan.kind === 'unsatisfiable') return this.startPartial(object, plan);
    const length = this.knownLength(object);
    const framing = this.writer.framingFor(object.head.status, length);
    // HEAD (and a bodiless status) tells what a GET would get (F4).
    const advertise = length !== undefined ? 'length' : this.exchange.request.version.minor >= 1 ? 'chunked' : undefined;
    this.readerState = 'writing';
    this.writer.head({
      source: 'object',
      status: object.head.status,
      reason: object.head.reason,
      headers: object.head.headers,
      http1Block: object.headBlock(),
      fields: this.perResponseFields(object),
      lateFields: this.lateFields(object), role: this.readerRole,
      framing,
      length,
      advertise,
    });
    if (framing === 'none') return this.end();
    this.pump(true);
  }

  /** B1: a 206 with the window's bytes, or a 416 with none. */
  private startPartial(object: CacheObject, plan: Extract<RangePlan, { kind: 'partial' | 'unsatisfiable' }>): void {
    this.window = plan.kind === 'partial' ? plan.window : { start: 0, end: 0 };
    this.readerState = 'writing';
    const length = this.window.end - this.window.start;
    this.writer.head(this.windowHead(object, plan.kind === 'partial' ? 206 : 416, length, [['Content-Range', plan.contentRange]]));
    this.pump(true);
  }

  /** The head of a response that is a window of the object (or of a file of segments): 200, 206 or 416 with Content-Length. */
  private windowHead(object: CacheObject, status: number, length: number, fields: readonly (readonly [string, string])[]): OutgoingHead {
    const reason = status === object.head.status ? object.head.reason : reasonPhrase(status);
    const block = object.headBlock();
    const http1Block = status === object.head.status ? block : withStatusLine(block, `HTTP/1.1 ${status} ${reason}\r\n`);
    const framing = this.writer.framingFor(status, length);
    return { source: 'object', status, reason, headers: object.head.headers, http1Block, fields: [...fields, ...this.perResponseFields(object)], lateFields: this.lateFields(object), role: this.readerRole, framing, length, advertise: 'length' };
  }

  /** B4: the walker says what this part writes; a part that continues a response has its head out already. */
  private beginPart(object: CacheObject, stream: boolean): void {
    const plan = this.part!.plan(object);
    if (plan === null) return this.finish('not a part of this response');
    if (plan === 'not-modified') return this.sendNotModified(object);
    this.partPlan = plan;
    this.window = plan.window;
    if (stream || object.complete) return this.startPart(object);
    this.readerState = 'waiting-body';
    this.wake();
  }

  private startPart(object: CacheObject): void {
    const plan = this.partPlan!;
    this.readerState = 'writing';
    if (plan.head) this.writer.head(this.windowHead(object, plan.head.status, plan.head.length, plan.head.fields));
    this.pump(plan.head !== undefined);
  }

  private sendNotModified(object: CacheObject): void {
    const headers = new HeaderFields();
    for (const name of NOT_MODIFIED_FIELDS) {
      for (const value of object.head.headers.getAll(name)) headers.append(name.replace(/(^|-)\w/g, (c) => c.toUpperCase()), value);
    }
    this.readerState = 'writing';
    const http1Block = `HTTP/1.1 304 Not Modified\r\n${headers.toLines()}`;
    this.writer.head({ source: 'object', status: 304, reason: 'Not Modified', headers, http1Block, fields: this.perResponseFields(object), lateFields: this.lateFields(object), role: this.readerRole, framing: 'none' });
    this.end();
  }

  /** F6 Age (X-Cache and Cache-Status follow it, from hooks.servedAs; then lateFields). */
  private perResponseFields(object: CacheObject): [string, string][] {
    return [['Age', String(object.age(Date.now()))]];
  }

  /** X-Cache-Hits; for a tier of ours (I2), the origin's Surrogate fields. */
  private lateFields(object: CacheObject): [string, string][] {
    const fields: [string, string][] = [['X-Cache-Hits', String(object.hits)]];
    if (this.forwardSurrogate) fields.push(...object.surrogateFields());
    return fields;
  }

  /**
   * Writes every chunk available (after the head, in one write at the end of the tick), up to
   * the writer's room. When that reaches the end of a complete object, the same write ends the
   * body: a hit is one write of head, body and (chunked) the last chunk.
   */
  private pump(first = false): void {
    if (this.window) return this.pumpWindow(first);
    const object = this.object!;
    const chunks = object.chunks;
    const start = this.cursor;
    const writer = this.writer;
    const caughtUp = !first && chunks.length === start + 1 && object.state !== 'complete';
    if (caughtUp && writer.room > 0) {
      this.cursor++;
      writer.live(chunks[start]!, start, object);
    } else {
      let budget = writer.room;
      while (this.cursor < chunks.length && budget > 0) {
        const chunk = chunks[this.cursor++]!;
        writer.body(chunk);
        budget -= chunk.length;
      }
      const atEnd = this.cursor === chunks.length && object.state === 'complete';
      if (atEnd) return this.end();
      writer.flush(first && this.cursor === start);
    }
    if (this.cursor !== start) this.hooks.progressed?.(this);
    if (this.cursor < chunks.length) return this.waitForDrain();
    if (object.state === 'failed') this.fail('origin fetch failed mid-body');
  }

  /**
   * B1-B4: as pump, for the bytes of the window only: chunks before it are passed over, a chunk
   * across its edge is written as a view of its inside, and the response ends at the window's end,
   * whether or not the object is complete yet.
   */
  private pumpWindow(first: boolean): void {
    const object = this.object!;
    const window = this.window!;
    const chunks = object.chunks;
    const start = this.cursor;
    const writer = this.writer;
    let budget = writer.room;
    while (this.cursor < chunks.length && this.position < window.end && budget > 0) {
      const chunk = chunks[this.cursor++]!;
      const view = windowView(chunk, this.position, window);
      this.position += chunk.length;
      if (view) {
        writer.body(view);
        budget -= view.length;
      }
    }
    if (this.position >= window.end) return this.end();
    writer.flush(first && this.cursor === start);
    if (this.cursor !== start) this.hooks.progressed?.(this);
    if (this.cursor < chunks.length) return this.waitForDrain();
    if (object.state === 'failed') this.fail('origin fetch failed mid-body');
  }

  private waitForDrain(): void {
    this.waitingDrain = true;
    this.writer.onDrain(() => {
      this.waitingDrain = false;
      if (this.readerState === 'writing') this.pump();
    });
  }

  /** Writes the last bytes of the response (and the last chunk), then lets the connection go on. */
  private end(): void {
    // Our pin on the store lasts until the kernel has every byte that points into it.
    // B4: a part other than the last leaves the response open for the next one.
    if (this.partPlan && !this.partPlan.last) this.writer.flush(false, () => this.unpin());
    else this.writer.end(() => this.unpin());
    this.hooks.progressed?.(this);
    this.finish();
  }

  private unpin(): void {
    if (!this.pinned) return;
    this.pinned = false;
    this.object?.unpin();
  }

  private finish(error?: string): void {
    if (this.readerState === 'done') return;
    const endedCleanly = error === undefined;
    this.readerState = 'done';
    // A clean end unpins from its last write's callback; anything else has nothing left to write.
    if (!endedCleanly) this.unpin();
    this.hooks.finished(this, error);
  }
}
