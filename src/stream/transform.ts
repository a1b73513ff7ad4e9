// T1, T2: what turns streaming off, on the object side.
//
// On-the-fly compression (T1). The fetch hook or a rule sets `compress` for a response the origin
// sent without a content coding. The body goes through node:zlib (off the event loop) on its way
// into the store, so the object holds only the compressed bytes, once; its head says
// `Content-Encoding`, `Vary: Accept-Encoding`, and a weakened ETag (the bytes are no longer the
// origin's). A client that accepts the coding gets the object as it is; one that does not gets it
// decoded, per response, from the stored bytes, with Content-Length. Streaming is off: what a
// client gets is not what the origin sends, and its length is known only once the body is whole.
//
// ESI (T2). The object is the template, stored as the origin sent it and marked; every delivery
// assembles the page from it (src/proxy/esi/), so no client gets a byte before the template and
// its fragments are complete.
//
// Both are delivered by TransformingReader: an ObjectReader that, for a marked object, waits for
// it to be complete, builds the client's body (decoded, or assembled) and serves that as a
// complete object of its own, with Content-Length, to HTTP/1.0 and 1.1 clients alike.
import { acceptsCoding } from '../http1/accept-encoding.js';
import { CacheObject, type ObjectHead, type ObjectTransform, type TransformMark } from '../cache/object.js';
import { isNotModified } from '../cache/conditional.js';
import { ObjectReader, type DeliverHook, type ReaderHooks, type ReaderRole } from './reader.js';
import type { ClientExchange } from '../net/client-exchange.js';
import type { Reason } from './reasons.js';
import { BodyEncoder, decodeBody, type EncoderSink } from './codecs.js';

export type { ObjectTransform } from '../cache/object.js';

/** The transform an object was made with, if any. */
export function transformOf(object: CacheObject): Readonly<TransformMark> | undefined {
  return object.transform ?? undefined;
}

/** T1: the stored head of a compressed object: Content-Encoding, Vary: Accept-Encoding, a weak ETag. */
export function transformedHead(head: ObjectHead, transform: ObjectTransform | undefined): ObjectHead {
  if (!transform?.coding) return head;
  const headers = head.headers.clone();
  headers.set('Content-Encoding', transform.coding);
  if (!headers.tokens('vary').includes('accept-encoding')) {
    const vary = headers.getAll('vary');
    headers.set('Vary', vary.length ? `${vary.join(', ')}, Accept-Encoding` : 'Accept-Encoding');
  }
  const etag = headers.get('etag');
  if (etag !== undefined && !etag.startsWith('W/')) headers.set('ETag', `W/${etag}`);
  return { ...head, headers };
}

/**
 * Marks a new object with its transform; for compression, returns the encoder its body must go
 * through (null for ESI, whose template is stored as it comes).
 */
export function transformObject(object: CacheObject, transform: ObjectTransform, limit: number, sink: EncoderSink): BodyEncoder | null {
  const mark: TransformMark = { ...transform };
  object.transform = mark;
  if (!transform.coding) return null;
  return new BodyEncoder(transform.coding, limit, {
    ...sink,
    end(identityBytes) {
      mark.identityLength = identityBytes;
      sink.end(identityBytes);
    },
  });
}

/** A page assembled for one delivery (T2), or why it could not be (the client gets 503). */
export type AssembledPage =
  /** `length`: the body's length when `body` is left empty because the client asked for a HEAD. */
  | { ok: true; head: ObjectHead; body: Buffer; length?: number }
  | { ok: false; reason: string };

/** Assembles an ESI template for one reader (src/proxy/esi/assemble.ts). The template stays pinned meanwhile. */
export type EsiAssembler = (template: CacheObject, reader: ObjectReader) => Promise<AssembledPage>;

/** An unstored complete object holding a body made for one delivery, with the source's head timing. */
export function derivedObject(source: CacheObject, head: ObjectHead, body: Buffer | null, length: number): CacheObject {
  const object = new CacheObject(source.key, source.originHead, head, source.policy, source.headReceivedAt, source.ageAtOrigin, undefined);
  object.fillWhole(body, length);
  object.forget();
  object.hits = source.hits;
  return object;
}

/** The stored body in one buffer (a copy: the store may reuse its bytes once we unpin). */
function bodyOf(object: CacheObject): Buffer | null {
  const chunks = object.chunks;
  for (const chunk of chunks) if (chunk === null) return null;
  return Buffer.concat(chunks as Buffer[], object.length);
}

/**
 * A client's reader that delivers what T1 and T2 make of an object: the object as it is when no
 * transform applies to this client (it accepts the coding; or no mark), else, once the object is
 * complete, a body built for this client alone (decoded; or assembled).
 */
export class TransformingReader extends ObjectReader {
  /** The marked object this reader waits for or works from (pinned), until it begins on the result. */
  private source: CacheObject | null = null;
  private work: 'decode' | 'esi' = 'decode';
  private started = false;

  constructor(
    exchange: ClientExchange,
    role: ReaderRole,
    hooks: ReaderHooks,
    deliver: DeliverHook | undefined,
    private readonly assembleEsi: EsiAssembler | undefined,
    /** Largest body built for one delivery (the non-streaming limit, L1). */
    private readonly maxBuiltBytes: number,
  ) {
    super(exchange, role, hooks, deliver);
    exchange.onClientGone(() => this.drop());
  }

  override begin(object: CacheObject, stream: boolean): void {
    const work = this.isDone ? null : this.workFor(object);
    if (!work) return super.begin(object, stream);
    this.work = work;
    this.source = object;
    object.pin();
    this.wake();
  }

  override wake(): void {
    const source = this.source;
    if (!source) return super.wake();
    if (this.started) return;
    if (this.isDone) return this.drop();
    if (source.state === 'failed') return this.fail('origin fetch failed');
    if (source.state !== 'complete') return;
    this.started = true;
    const built = this.work === 'esi' ? this.assembleEsi!(source, this) : this.decode(source);
    built.then(
      (page) => this.deliverBuilt(source, page),
      (err: unknown) => this.deliverBuilt(source, { ok: false, reason: err instanceof Error ? err.message : String(err) }),
    );
  }

  override fail(reason: string, why?: Reason): void {
    this.drop();
    super.fail(reason, why);
  }

  override release(): void {
    this.drop();
    super.release();
  }

  private workFor(object: CacheObject): 'decode' | 'esi' | null {
    const mark = object.transform;
    if (!mark) return null;
    if (mark.esi) return this.assembleEsi ? 'esi' : null;
    if (!mark.coding || acceptsCoding(this.exchange.request.headers, mark.coding)) return null;
    // A 304 carries no body (and no Content-Encoding): the stored object answers it as it is.
    if (object.head.status === 200 && isNotModified(this.exchange.request.headers, object.etag, object.lastModified)) return null;
    return 'decode';
  }

  /** T1: the stored bytes decoded for a client that does not accept their coding. */
  private async decode(source: CacheObject): Promise<AssembledPage> {
    const mark = source.transform!;
    const headers = source.head.headers.copyWithout((name) => name === 'content-encoding');
    const head: ObjectHead = { ...source.head, headers };
    if (this.exchange.request.method === 'HEAD' && mark.identityLength !== undefined) {
      // The length is known: no need to decode for a head.
      return { ok: true, head, body: Buffer.alloc(0), length: mark.identityLength };
    }
    const stored = bodyOf(source);
    if (!stored) return { ok: false, reason: 'compressed object no longer complete' };
    const body = await decodeBody(mark.coding!, stored, Math.min(this.maxBuiltBytes, mark.identityLength ?? this.maxBuiltBytes));
    return { ok: true, head, body };
  }

  private deliverBuilt(source: CacheObject, page: AssembledPage): void {
    // The build is over: the source's bytes are no longer read.
    this.source = null;
    source.unpin();
    if (this.isDone) return;
    if (!page.ok) return this.fail(page.reason);
    if (page.body.length > this.maxBuiltBytes) return this.fail(`response passed the maximum object size (${this.maxBuiltBytes} bytes)`);
    super.begin(derivedObject(source, page.head, page.body, page.length ?? page.body.length), true);
  }

  /**
   * Lets go of the source when the reader ended, failed or was released while waiting for it. A
   * build under way still reads the source's bytes: deliverBuilt lets go of it then.
   */
  private drop(): void {
    const source = this.source;
    if (!source || this.started) return;
    this.source = null;
    source.unpin();
  }
}
