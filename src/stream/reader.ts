// One client following one object: its own cursor, at its own client's pace (R3, R7). It writes
// the head when the object's head is known, then every body view as it arrives (replay first,
// then live), framed for this client (F1-F3); or, for a client that must wait (F3, V1, V2), the
// whole body at once with Content-Length. Views are written as they are: no per-client copy.
import type { ClientExchange, OutgoingBytes } from '../net/client-exchange.js';
import { HeaderFields } from '../http1/headers.js';
import { connectionField } from '../http1/semantics.js';
import { CRLF, LAST_CHUNK, chunkHeader, frameChunk, framedChunk, reasonPhrase, simpleResponse } from '../http1/serializer.js';
import type { CacheObject } from '../cache/object.js';
import { isNotModified, NOT_MODIFIED_FIELDS } from '../cache/conditional.js';

/**
 * waiting-head   attached to a fetch whose response head has not arrived
 * waiting-body   the head is known, but this client gets nothing until the body is complete
 * writing        head written; body views go out as they come
 * done           ended, aborted, or the client went away
 */
export type ReaderState = 'waiting-head' | 'waiting-body' | 'writing' | 'done';

/** How the response reached this client, for X-Cache and the access log. */
export type ReaderRole = 'HIT' | 'MISS' | 'COLLAPSED';

/** Lets an embedder edit one client's head (src/proxy/hooks.ts DeliverContext has this shape). */
export type DeliverHook = (ctx: { readonly request: ClientExchange['request']; status: number; readonly headers: HeaderFields }) => void;

export interface ReaderHooks {
  /** The reader moved its cursor (an overflowed object may release what every reader has passed). */
  progressed?(reader: ObjectReader): void;
  /** The reader is finished; `error` says why when it did not end cleanly. */
  finished(reader: ObjectReader, error?: string): void;
}

/** How far ahead of the client's socket a reader writes before waiting for it to drain. */
const WRITE_AHEAD = 1024 * 1024;
const EMPTY = Buffer.alloc(0);
/** A live chunk up to this size is framed once per object (a copy) and shared by its chunked readers. */
const SHARED_FRAME_MAX = 16 * 1024;

/**
 * The newest small chunk of each object, framed: every caught-up chunked reader writes this same
 * buffer (an SSE event to thousands of subscribers is one allocation and one write call each).
 */
const liveFrames = new WeakMap<CacheObject, { index: number; bytes: Buffer }>();

function sharedFrame(object: CacheObject, index: number, chunk: Buffer): Buffer {
  const memo = liveFrames.get(object);
  if (memo?.index === index) return memo.bytes;
  const bytes = framedChunk(chunk);
  liveFrames.set(object, { index, bytes });
  return bytes;
}

export class ObjectReader {
  private readerState: ReaderState = 'waiting-head';
  private object: CacheObject | null = null;
  /** Index of the next chunk of object.chunks to write. */
  cursor = 0;
  private framing: 'length' | 'chunked' | 'none' = 'none';
  private waitingDrain = false;
  private pinned = false;
  status = 0;
  firstByteAt: number | undefined;
  /** G2: served the stale object because the fetch that would refresh it failed, for this reason. */
  staleReason: string | undefined;

  constructor(
    readonly exchange: ClientExchange,
    public role: ReaderRole,
    private readonly hooks: ReaderHooks,
    private readonly deliver?: DeliverHook,
  ) {
    exchange.onClientGone(() => this.finish('client closed the connection'));
  }

  get state(): ReaderState {
    return this.readerState;
  }

  get isDone(): boolean {
    return this.readerState === 'done';
  }

  get headSent(): boolean {
    return this.firstByteAt !== undefined;
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
    if (isNotModified(request.headers, object.etag, object.lastModified) && object.head.status === 200) {
      return this.sendNotModified(object);
    }
    const lengthKnown = object.complete || object.declaredLength !== undefined;
    const canStream = stream && (lengthKnown || request.version.minor >= 1 || request.method === 'HEAD');
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
      if (object.state === 'failed') return this.failBeforeHead('origin fetch failed');
      if (object.state === 'complete') this.startWriting();
      return;
    }
    if (this.readerState === 'writing' && !this.waitingDrain) this.pump();
  }

  /** The fetch failed: 503 while nothing was sent (O1, V2, L2, L3), an abrupt close after (O2, L4). */
  fail(reason: string): void {
    if (this.readerState === 'done') return;
    if (this.headSent) {
      this.exchange.abort(reason);
      return this.finish(reason);
    }
    this.failBeforeHead(reason);
  }

  private failBeforeHead(reason: string): void {
    this.status = 503;
    this.firstByteAt = performance.now();
    const close = !this.exchange.persistent;
    this.exchange.write(simpleResponse(503, `${reason}\n`, { close, head: this.exchange.request.method === 'HEAD', headers: [['X-Cache', 'MISS']] }));
    this.exchange.end();
    this.finish(reason);
  }

  private startWriting(): void {
    const object = this.object!;
    const { request } = this.exchange;
    const headOnly = request.method === 'HEAD' || object.head.status === 204 || object.head.status === 304;
    let framingLine: string;
    if (object.complete || object.declaredLength !== undefined) {
      this.framing = headOnly ? 'none' : 'length';
      framingLine = object.head.status === 204 ? '' : `Content-Length: ${object.complete ? object.length : object.declaredLength}\r\n`;
    } else if (request.version.minor >= 1) {
      this.framing = headOnly ? 'none' : 'chunked';
      framingLine = 'Transfer-Encoding: chunked\r\n';
    } else {
      this.framing = 'none';
      framingLine = '';
    }
    this.readerState = 'writing';
    this.status = object.head.status;
    this.firstByteAt = performance.now();
    const head = this.headText(object, object.headBlock(), framingLine, object.head.status);
    if (this.framing === 'none') {
      this.exchange.write(head);
      return this.end();
    }
    this.pump(head);
  }

  private sendNotModified(object: CacheObject): void {
    let block = 'HTTP/1.1 304 Not Modified\r\n';
    for (const name of NOT_MODIFIED_FIELDS) {
      for (const value of object.head.headers.getAll(name)) block += `${name.replace(/(^|-)\w/g, (c) => c.toUpperCase())}: ${value}\r\n`;
    }
    this.readerState = 'writing';
    this.status = 304;
    this.firstByteAt = performance.now();
    this.exchange.write(this.headText(object, block, '', 304));
    this.end();
  }

  /** The head for this client, as latin1 text. */
  private headText(object: CacheObject, block: string, framingLine: string, status: number): string {
    const now = Date.now();
    let perResponse = `${framingLine}Age: ${object.age(now)}\r\nX-Cache: ${this.role === 'HIT' ? 'HIT' : 'MISS'}\r\nX-Cache-Hits: ${object.hits}\r\n`;
    const connection = connectionField(this.exchange.persistent, this.exchange.request.version);
    if (connection) perResponse += `Connection: ${connection}\r\n`;
    if (this.deliver) return this.deliveredHead(block, perResponse, status);
    return `${block}${perResponse}\r\n`;
  }

  /** The slow path, only with a deliver hook: the head as fields the embedder may edit. */
  private deliveredHead(block: string, perResponse: string, status: number): string {
    const lines = `${block}${perResponse}`.split('\r\n');
    lines.shift(); // the status line: rebuilt from ctx.status
    const headers = new HeaderFields();
    for (const line of lines) {
      if (!line) continue;
      const colon = line.indexOf(':');
      headers.append(line.slice(0, colon), line.slice(colon + 1).trim());
    }
    const ctx = { request: this.exchange.request, status, headers };
    this.deliver!(ctx);
    this.status = ctx.status;
    return `HTTP/1.1 ${ctx.status} ${reasonPhrase(ctx.status)}\r\n${headers.toLines()}\r\n`;
  }

  /**
   * Writes every chunk available (after `head`, in one write at the end of the tick), up to
   * WRITE_AHEAD beyond the socket. When that reaches the end of a complete object, the same write
   * ends the body: a hit is one write of head, body and (chunked) the last chunk.
   */
  private pump(head?: string): void {
    const object = this.object!;
    const chunks = object.chunks;
    const start = this.cursor;
    const caughtUp = !head && chunks.length === start + 1 && object.state !== 'complete';
    if (caughtUp && this.exchange.bufferedBytes < WRITE_AHEAD) {
      this.cursor++;
      this.writeLive(object, start, chunks[start]!);
    } else {
      const batch: OutgoingBytes[] = head ? [head] : [];
      let budget = WRITE_AHEAD - this.exchange.bufferedBytes;
      while (this.cursor < chunks.length && budget > 0) {
        const chunk = chunks[this.cursor++]!;
        if (this.framing === 'chunked') batch.push(chunkHeader(chunk.length), chunk, CRLF);
        else batch.push(chunk);
        budget -= chunk.length;
      }
      const atEnd = this.cursor === chunks.length && object.state === 'complete';
      if (atEnd) return this.end(batch);
      // A head with no body yet (a miss) leaves at once: the origin's first body bytes, read in the
      // same tick, are appended to the store first, and that can take a new slab (and the garbage
      // collection its size may set off) before a head batched to the end of the tick would have left.
      if (head && batch.length === 1) this.exchange.writeNow(head);
      else if (batch.length > 0) this.exchange.write(batch);
    }
    if (this.cursor !== start) this.hooks.progressed?.(this);
    if (this.cursor < chunks.length) return this.waitForDrain();
    if (object.state === 'failed') this.fail('origin fetch failed mid-body');
  }

  /** The common case of a caught-up reader: one new chunk, one buffer, written at once. */
  private writeLive(object: CacheObject, index: number, chunk: Buffer): void {
    if (this.framing !== 'chunked') this.exchange.writeNow(chunk);
    else if (chunk.length <= SHARED_FRAME_MAX) this.exchange.writeNow(sharedFrame(object, index, chunk));
    else this.exchange.write(frameChunk(chunk));
  }

  private waitForDrain(): void {
    this.waitingDrain = true;
    this.exchange.onDrain(() => {
      this.waitingDrain = false;
      if (this.readerState === 'writing') this.pump();
    });
  }

  /** Writes the last bytes of the response (and the last chunk), then lets the connection go on. */
  private end(batch: OutgoingBytes[] = []): void {
    if (this.framing === 'chunked') batch.push(LAST_CHUNK);
    // Our pin on the store lasts until the kernel has every byte that points into it.
    this.exchange.write(batch.length > 0 ? batch : EMPTY, () => this.unpin());
    this.exchange.end();
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
