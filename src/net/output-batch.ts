// The bytes a connection writes in one tick (a head, then its body, then maybe the last chunk),
// gathered and handed to the socket once that tick's work is done.
//
// Why not cork/uncork: a corked Writable turns N writes into one writev, but it pays for it in
// stream bookkeeping per piece and in building the iovec list, and most responses are small. A
// small batch is copied into one buffer and leaves as one plain write; a large one (where a copy
// would cost more than the writev) still goes as one writev of the pieces.
// The same holds on the raw path (src/net/raw-write.ts): a hit's head and 1 KiB body as one
// handle writev cost ~2,000 instructions more than the copy and one write (callgrind, stages.js).
import type { Socket } from 'node:net';
import { socketOutput, type OutgoingBytes, type SocketOutput, type WriteCallback } from './raw-write.js';

export type { OutgoingBytes, WriteCallback } from './raw-write.js';

/** Up to this many bytes, a batch of several pieces is joined into one buffer before writing. */
const JOIN_LIMIT = 16 * 1024;
const NOTHING = Buffer.alloc(0);

export class OutputBatch {
  private pieces: OutgoingBytes[] = [];
  private bytes = 0;
  private callbacks: WriteCallback[] = [];
  private scheduled = false;
  /** A flush microtask is queued (it may find the batch flushed already). */
  private microtaskQueued = false;
  /** Inside hold()/release(): the batch leaves at release(), no microtask needed. */
  private held = false;
  private readonly flushAtTickEnd = (): void => {
    this.microtaskQueued = false;
    this.flush();
  };

  /** The socket's Writable, or its handle directly (src/net/raw-write.ts). */
  private readonly output: SocketOutput;

  constructor(
    private readonly socket: Socket,
    /**
     * Called after a flush that left the socket with room. Whoever waited because this batch made
     * the socket look full hears it here: the socket emits 'drain' only after a write that could
     * not be finished at once, and a write the kernel takes whole is not one. On the raw path,
     * which has no 'drain', also each time a write that went async completes with room left.
     */
    private readonly onRoom: () => void,
    /** Write to the socket's handle, not its Writable, when the socket allows it. */
    raw = false,
  ) {
    this.output = socketOutput(socket, () => this.afterAsyncWrite(), raw);
  }

  /** True when the bytes go to the handle directly (so the socket's 'drain' never comes). */
  get raw(): boolean {
    return this.output.raw;
  }

  /** True while bytes are waiting for the end of the tick. */
  get pending(): boolean {
    return this.scheduled;
  }

  /** Bytes accepted and not yet handed to the kernel: ours, then the socket's. */
  get bufferedBytes(): number {
    return this.bytes + this.output.queuedBytes;
  }

  /** True when the socket is over its high-water mark, or will be once this batch is written. */
  get full(): boolean {
    return this.output.fullWith(this.bytes);
  }

  /** False once the socket is destroyed. */
  get open(): boolean {
    return this.output.open;
  }

  /**
   * Adds bytes to this tick's batch. `onWritten` runs once the kernel has them (after every byte
   * added before them). Returns false when the socket is full: wait for its 'drain'.
   */
  add(data: OutgoingBytes | readonly OutgoingBytes[], onWritten?: WriteCallback): boolean {
    if (!this.scheduled) {
      this.scheduled = true;
      // A microtask, not process.nextTick: Node builds each nextTick's record as an object literal
      // with symbol keys, which takes a runtime call (~1,000+ instructions per response, callgrind);
      // a microtask still runs before any I/O, once this turn's callbacks (and nextTicks) are done.
      if (!this.held && !this.microtaskQueued) {
        this.microtaskQueued = true;
        queueMicrotask(this.flushAtTickEnd);
      }
    }
    if (Array.isArray(data)) for (const piece of data as readonly OutgoingBytes[]) this.push(piece);
    else this.push(data as OutgoingBytes);
    if (onWritten) this.callbacks.push(onWritten);
    return !this.full;
  }

  /**
   * Until release(), what is added waits for release() instead of a microtask: a connection holds
   * its batch while it parses one read, so the responses that read answers at once (hits) leave
   * in one write at its end, with no microtask queued and run per response (~600 instructions).
   */
  hold(): void {
    this.held = true;
  }

  /** Ends hold(): the batch leaves now. */
  release(): void {
    this.held = false;
    this.flush();
  }

  /** Hands the batch to the socket now (before an end or a destroy, or at the end of the tick). */
  flush(): void {
    if (!this.scheduled) return;
    this.scheduled = false;
    const pieces = this.pieces;
    const callbacks = this.callbacks;
    const bytes = this.bytes;
    this.pieces = [];
    this.callbacks = [];
    this.bytes = 0;
    const done = joinCallbacks(callbacks);
    if (!this.output.open) return done?.(null);
    if (pieces.length <= 1) this.output.write(pieces[0] ?? NOTHING, done);
    else if (bytes <= JOIN_LIMIT) this.output.write(joinPieces(pieces, bytes), done);
    else this.output.writev(pieces, done);
    if (!this.full) this.onRoom();
  }

  /**
   * Writes one piece at once, when nothing of this tick is waiting (else it joins the batch):
   * a live chunk to one of many subscribers is one handle write. False when the socket is full.
   */
  writeNow(piece: OutgoingBytes): boolean {
    if (this.scheduled) return this.add(piece);
    if (!this.output.open) return false;
    if (piece.length > 0) this.output.write(piece);
    return !this.output.fullWith(0);
  }

  private afterAsyncWrite(): void {
    if (!this.full) this.onRoom();
  }

  private push(piece: OutgoingBytes): void {
    if (piece.length === 0) return;
    this.pieces.push(piece);
    this.bytes += piece.length;
  }
}

/** The pieces copied into one new buffer of `bytes` bytes. */
function joinPieces(pieces: readonly OutgoingBytes[], bytes: number): Buffer {
  const out = Buffer.allocUnsafe(bytes);
  let at = 0;
  for (const piece of pieces) {
    if (typeof piece === 'string') out.write(piece, at, 'latin1');
    else out.set(piece, at);
    at += piece.length;
  }
  return out;
}

function joinCallbacks(callbacks: WriteCallback[]): WriteCallback | undefined {
  if (callbacks.length <= 1) return callbacks[0];
  return (err) => {
    for (const callback of callbacks) callback(err);
  };
}
