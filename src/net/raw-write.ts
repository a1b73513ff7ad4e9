// How a client connection's bytes reach its socket: through the socket's Writable (the portable
// path), or straight to its libuv handle (the raw path, for plain TCP sockets).
//
// Why the raw path: every socket.write() of a write the kernel takes at once still pays for the
// Writable's bookkeeping and a process.nextTick record for its callback, which, for a 1 KiB hit,
// is a large share of what the whole write costs. Node's own Socket._write does no more than what
// RawOutput does here: a WriteWrap request, one handle.write* call, and, only when the kernel did
// not take everything, a completion callback later.
//
// What it relies on (Node internals, checked once at load and per socket, with socket.write as the
// fallback when anything is missing): process.binding('stream_wrap') gives WriteWrap and
// streamBaseState (kBytesWritten, kLastWriteWasAsync, set by every handle write); a TCP socket's
// `_handle` has writeBuffer / writeLatin1String / writev (StreamBase) and writeQueueSize (libuv's
// count of bytes accepted and not yet in the kernel); the handle calls `oncomplete(status)` on the
// request of a write that did not finish at once. Everything else stays with the socket: end()
// still shuts the socket down after the queued writes (libuv's shutdown waits for them), destroy()
// closes the handle (queued writes complete as cancelled).
import type { Socket } from 'node:net';
import { TLSSocket } from 'node:tls';
import { getSystemErrorName } from 'node:util';

export type WriteCallback = (err?: Error | null) => void;

/**
 * Bytes to write: a Buffer, or a string of latin1 text (one byte per code unit, so its length is
 * its size in bytes). Heads are written as the strings they are built as: the handle converts a
 * string in native code, without a Buffer made for it first.
 */
export type OutgoingBytes = Buffer | string;

/** Where an OutputBatch writes: one of the two paths below. */
export interface SocketOutput {
  readonly raw: boolean;
  /** Writes one piece; `done` runs once the kernel has it (never before write() returns). */
  write(piece: OutgoingBytes, done?: WriteCallback): void;
  /** Writes several pieces in order, as one request. */
  writev(pieces: readonly OutgoingBytes[], done?: WriteCallback): void;
  /** Bytes accepted and not yet handed to the kernel. */
  readonly queuedBytes: number;
  /** True when whoever writes must wait for room, counting `pendingBytes` not yet written. */
  fullWith(pendingBytes: number): boolean;
  /** False once the socket is destroyed: writes are dropped. */
  readonly open: boolean;
}

/** The portable path: the socket's Writable, its buffer, its 'drain'. */
export class StreamOutput implements SocketOutput {
  readonly raw = false;

  constructor(private readonly socket: Socket) {}

  write(piece: OutgoingBytes, done?: WriteCallback): void {
    if (typeof piece === 'string') this.socket.write(piece, 'latin1', done);
    else this.socket.write(piece, done);
  }

  writev(pieces: readonly OutgoingBytes[], done?: WriteCallback): void {
    this.socket.cork();
    const last = pieces.length - 1;
    for (let i = 0; i < last; i++) this.write(pieces[i]!);
    this.write(pieces[last]!, done);
    this.socket.uncork();
  }

  get queuedBytes(): number {
    return this.socket.writableLength;
  }

  fullWith(pendingBytes: number): boolean {
    return this.socket.writableNeedDrain || this.socket.writableLength + pendingBytes >= this.socket.writableHighWaterMark;
  }

  get open(): boolean {
    return !this.socket.destroyed;
  }
}

// ---- the raw path ----

interface StreamWrapBinding {
  WriteWrap: new () => object;
  streamBaseState: Int32Array;
  kBytesWritten: number;
  kLastWriteWasAsync: number;
}

/** The StreamBase methods of a TCP handle that the raw path calls (src/stream_base.cc). */
interface StreamHandle {
  writeBuffer(req: object, data: Buffer): number;
  writeLatin1String(req: object, data: string): number;
  writev(req: object, chunks: unknown[], allBuffers: boolean): number;
  readonly writeQueueSize: number;
}

/** A WriteWrap as the raw path uses it: what the handle calls back, and what must stay alive. */
interface RawWriteReq {
  handle: StreamHandle;
  oncomplete: (this: RawWriteReq, status: number) => void;
  output: RawOutput | null;
  done: WriteCallback | null;
  /** The Buffer or chunk list of an async write, referenced until it completes (native code holds only a pointer). */
  retained: unknown;
}

function loadBinding(): StreamWrapBinding | null {
  try {
    const binding = (process as unknown as { binding(name: string): Partial<StreamWrapBinding> }).binding('stream_wrap');
    const { WriteWrap, streamBaseState, kBytesWritten, kLastWriteWasAsync } = binding;
    if (typeof WriteWrap !== 'function' || !(streamBaseState instanceof Int32Array)) return null;
    if (!Number.isInteger(kBytesWritten) || !Number.isInteger(kLastWriteWasAsync)) return null;
    return binding as StreamWrapBinding;
  } catch {
    return null; // process.binding refused (a permission model, a future Node): the portable path
  }
}

const binding = loadBinding();
// Read once: per write, the binding object is a slow (dictionary) lookup.
const writeState = binding?.streamBaseState ?? new Int32Array(0);
const LAST_WRITE_WAS_ASYNC = binding?.kLastWriteWasAsync ?? 0;

/** The handle of a plain (non-TLS) connected socket, if it has every method the raw path calls. */
function streamHandleOf(socket: Socket): StreamHandle | null {
  if (socket instanceof TLSSocket || socket.connecting || socket.destroyed) return null;
  const handle = (socket as unknown as { _handle?: Partial<StreamHandle> | null })._handle;
  if (!handle || typeof handle.writeBuffer !== 'function' || typeof handle.writeLatin1String !== 'function') return null;
  if (typeof handle.writev !== 'function' || typeof handle.writeQueueSize !== 'number') return null;
  return handle as StreamHandle;
}

/** True when writes to `socket` can take the raw path. */
export function canWriteRaw(socket: Socket): boolean {
  return binding !== null && streamHandleOf(socket) !== null;
}

function onRawWriteComplete(this: RawWriteReq, status: number): void {
  const output = this.output;
  this.output = null;
  this.retained = null;
  output?.completed(this, status);
}

function errnoError(status: number): Error {
  const code = getSystemErrorName(status);
  return Object.assign(new Error(`write ${code}`), { code, errno: status, syscall: 'write' });
}

/**
 * The raw path. Backpressure is libuv's own count (writeQueueSize): exact, where the Writable
 * counts a whole write until its callback. Room is reported each time a write that went async
 * completes: that is when the queue shrinks.
 *
 * Per write it reads nothing of the Socket: its getters (`_handle`, destroyed, writableLength, the
 * high-water mark) read symbol-keyed fields through a megamorphic load, ~190 instructions each
 * (callgrind, Node 20): for one small write to each of many subscribers, that was a third of the
 * write. Whether the socket is still open is a flag set at its 'close' (and at a failed write);
 * a write between a destroy() and its 'close' reaches a closed handle, which refuses it with an
 * error code (EBADF, EINVAL): handled like any failed write, minus the destroy.
 */
export class RawOutput implements SocketOutput {
  readonly raw = true;
  private readonly highWaterMark: number;
  /** A request the handle never took (its write finished at once): the next write reuses it. */
  private spare: RawWriteReq | null = null;
  /** Writes the handle holds (went async, not completed): while 0, nothing is queued. */
  private inFlight = 0;
  private closed = false;

  constructor(
    private readonly socket: Socket,
    private readonly handle: StreamHandle,
    private readonly state: StreamWrapBinding,
    /** An async write completed: the queue shrank. */
    private readonly onComplete: () => void,
  ) {
    this.highWaterMark = socket.writableHighWaterMark;
    socket.once('close', () => (this.closed = true));
  }

  write(piece: OutgoingBytes, done?: WriteCallback): void {
    const req = this.request(done);
    if (!req) return;
    const err = typeof piece === 'string' ? this.handle.writeLatin1String(req, piece) : this.handle.writeBuffer(req, piece);
    this.dispatched(req, err, piece);
  }

  writev(pieces: readonly OutgoingBytes[], done?: WriteCallback): void {
    const req = this.request(done);
    if (!req) return;
    let allBuffers = true;
    for (const piece of pieces) if (typeof piece === 'string') allBuffers = false;
    let chunks: unknown[];
    if (allBuffers) {
      chunks = pieces.slice();
    } else {
      // The handle's form for mixed chunks: chunk, encoding, chunk, encoding...
      chunks = new Array<unknown>(pieces.length * 2);
      for (let i = 0; i < pieces.length; i++) {
        chunks[i * 2] = pieces[i];
        chunks[i * 2 + 1] = 'latin1';
      }
    }
    this.dispatched(req, this.handle.writev(req, chunks, allBuffers), chunks);
  }

  get queuedBytes(): number {
    // writeQueueSize is a call into native code: skipped while no write is outstanding.
    return this.inFlight > 0 && !this.closed ? this.handle.writeQueueSize : 0;
  }

  fullWith(pendingBytes: number): boolean {
    return this.queuedBytes + pendingBytes >= this.highWaterMark;
  }

  get open(): boolean {
    return !this.closed;
  }

  /** @internal Called by the handle (through onRawWriteComplete) when an async write is done. */
  completed(req: RawWriteReq, status: number): void {
    this.inFlight--;
    const done = req.done;
    req.done = null;
    if (this.socket.destroyed) return done?.(null);
    if (status < 0) {
      const error = errnoError(status);
      this.socket.destroy(error);
      return done?.(error);
    }
    done?.(null);
    this.onComplete();
  }

  private request(done: WriteCallback | undefined): RawWriteReq | null {
    if (this.closed) {
      if (done) queueMicrotask(() => done(null));
      return null;
    }
    let req = this.spare;
    this.spare = null;
    if (req === null) {
      req = new this.state.WriteWrap() as RawWriteReq;
      req.handle = this.handle;
      req.oncomplete = onRawWriteComplete;
    }
    req.output = this;
    req.done = done ?? null;
    req.retained = null;
    return req;
  }

  private dispatched(req: RawWriteReq, err: number, retain: unknown): void {
    if (err !== 0) {
      // As the Writable does with a write error: the socket is destroyed ('error', then 'close').
      // Already destroyed (the handle closed before its 'close'): the write is just dropped.
      const gone = this.socket.destroyed;
      const error = gone ? null : errnoError(err);
      const done = req.done;
      req.output = null;
      req.done = null;
      this.closed = true;
      if (error) this.socket.destroy(error);
      if (done) queueMicrotask(() => done(error));
      return;
    }
    if (writeState[LAST_WRITE_WAS_ASYNC] !== 0) {
      // The handle holds the request until oncomplete; the bytes must stay alive until then.
      req.retained = retain;
      this.inFlight++;
      return;
    }
    // The kernel took it all: the handle never saw the request, so it can carry the next write.
    const done = req.done;
    req.output = null;
    req.done = null;
    this.spare = req;
    // Like socket.write's callback, never from inside write(): the caller may not expect re-entry.
    if (done) queueMicrotask(() => done(null));
  }
}

/** The raw path for `socket` when it can take it, else the socket's Writable. */
export function socketOutput(socket: Socket, onRawComplete: () => void, preferRaw: boolean): SocketOutput {
  const handle = preferRaw && binding ? streamHandleOf(socket) : null;
  if (handle && binding) return new RawOutput(socket, handle, binding, onRawComplete);
  return new StreamOutput(socket);
}
