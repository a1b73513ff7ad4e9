// The proxy's log lines leave in batches: every line logged during one turn of the event loop is
// written with one write at the end of that turn (setImmediate), not one write per line. With the
// access log on, a write per response was a system call per hit (a loopback proxy's other costs
// are a read and a write per request). Lines still leave in the turn they were logged in, so
// nothing waits for more traffic, and whatever is pending is written synchronously at exit.
//
// The batch is bytes from the start: every line is put into a slab as it is logged (pino's lines
// encoded as UTF-8, an ASCII line copied as latin1, which for ASCII is its UTF-8), and the access
// line's writer (src/proxy/access-line.ts) writes its bytes into the slab in place (lineRoom,
// lineWritten): no string per line, no join per turn, no copy per turn (callgrind, issue 18). A
// string given to pino's destination was measured (UTF-8 length) three times and encoded once per
// write, which cost more than the access line itself.
//
// A slab's bytes are never written twice: a turn's bytes are handed out as a view of the slab and
// the next turn's go after them; a full slab is left to its views and a new one taken. So a
// destination may keep a view as long as it likes (as SonicBoom keeps what it could not write yet).
// Stdout's batch writes its views itself, synchronously (writeAllSync).
// The module's own binding: the global `performance` is a lazy getter, looked up on every call.
import { performance } from 'node:perf_hooks';
import { writeSync } from 'node:fs';

export interface LineSink {
  write(line: string): void;
}

/** A sink that takes the batch's bytes (stdout's writeAllSync; a SonicBoom in buffer mode would do). */
export interface BytesSink {
  writeBytes(bytes: Buffer): void;
}

/** The size of a slab: many turns' lines (an access line is ~200 bytes). */
const SLAB_BYTES = 64 * 1024;

/** Batches lines for `out` (a synchronous writer that copes with EAGAIN and partial writes: writeAllSync). */
export class LogBatch implements LineSink {
  private slab: Buffer = Buffer.allocUnsafe(SLAB_BYTES);
  /** Where the pending lines start in the slab (the turn's first byte). */
  private start = 0;
  /** Where the pending lines end: the next line's first byte. */
  lineEnd = 0;
  private scheduled = false;
  /** Date.now() when the turn's first line came (see turnTime). */
  private timeOfTurn = 0;
  private readonly flushLater = (): void => this.flush();

  constructor(private readonly out: LineSink | BytesSink) {}

  /** A line (pino's JSON): its UTF-8. */
  write(line: string): void {
    const slab = this.lineRoom(line.length * 3);
    this.lineWritten(this.lineEnd + slab.write(line, this.lineEnd, 'utf8'));
  }

  /** A line its writer knows holds only ASCII characters: its latin1 bytes are its UTF-8. */
  writeAscii(line: string): void {
    const slab = this.lineRoom(line.length);
    this.lineWritten(this.lineEnd + slab.write(line, this.lineEnd, 'latin1'));
  }

  /**
   * The slab, with room for `bytes` more from lineEnd: a writer puts a line there and then calls
   * lineWritten with where the line ends. Until then the bytes past lineEnd are nobody's, so a
   * writer that gives up half-way leaves nothing behind.
   */
  lineRoom(bytes: number): Buffer {
    if (this.lineEnd + bytes <= this.slab.length) return this.slab;
    return this.newSlab(bytes);
  }

  /** The line put at lineEnd (lineRoom) ends at `end`: it leaves at the end of this turn. */
  lineWritten(end: number): void {
    this.lineEnd = end;
    if (this.scheduled) return;
    this.scheduled = true;
    setImmediate(this.flushLater);
  }

  /**
   * Date.now() as of this turn's first line (read then, and once per turn): the `time` of pino's
   * lines, which is ms since the epoch, for the lines this turn. A turn that logs takes well
   * under a millisecond but for an overloaded proxy, so a line's time is its own millisecond or
   * (rarely) the one before; a response's duration is never from this clock (performance.now()).
   */
  turnTime(): number {
    if (!this.scheduled) {
      // No line yet this turn (the flush has run): the clock now is this turn's clock.
      this.timeOfTurn = Date.now();
      this.scheduled = true;
      setImmediate(this.flushLater);
    }
    return this.timeOfTurn;
  }

  /** A new slab for lines of up to `bytes` (the pending lines come along: they are one write). */
  private newSlab(bytes: number): Buffer {
    const pending = this.lineEnd - this.start;
    const slab = Buffer.allocUnsafe(Math.max(SLAB_BYTES, pending + bytes));
    this.slab.copy(slab, 0, this.start, this.lineEnd);
    this.slab = slab;
    this.start = 0;
    this.lineEnd = pending;
    return slab;
  }

  /** Writes what is pending now (the end of a turn, or exit). */
  flush(): void {
    this.scheduled = false;
    const { start, lineEnd } = this;
    if (lineEnd === start) return;
    this.start = lineEnd;
    try {
      if ('writeBytes' in this.out) this.out.writeBytes(this.slab.subarray(start, lineEnd));
      else this.out.write(this.slab.toString('utf8', start, lineEnd));
    } catch {
      // stdout closed under us (EPIPE): the lines have nowhere to go, and logging must not crash the proxy.
    }
  }
}

let stdoutBatch: LogBatch | null = null;

/** The one batch for this process's stdout, shared by every logger so that lines keep their order. */
export function stdoutLines(): LogBatch {
  if (stdoutBatch) return stdoutBatch;
  // Our own synchronous write of the turn's bytes: SonicBoom (pino.destination in sync, buffer
  // mode) queued, merged and released each turn's one buffer, which cost a few thousand
  // instructions a turn (callgrind, issue 18) for what is one writeSync that may have to wait.
  const write = (bytes: Buffer, offset: number, length: number): number => writeSync(1, bytes, offset, length);
  const batch = new LogBatch({ writeBytes: (bytes) => writeAllSync(write, bytes) });
  process.on('exit', () => batch.flush());
  stdoutBatch = batch;
  return batch;
}

/** How long a write waits for a full pipe or terminal (EAGAIN) before it tries again. */
const BUSY_WAIT_MS = 1;
const BUSY_WAIT = new Int32Array(new SharedArrayBuffer(4));

/**
 * Every byte of `bytes` through `write` (a writeSync): a partial write goes on from where it
 * stopped; EAGAIN or EBUSY (stdout a non-blocking pipe whose reader is behind) waits a moment and
 * tries again, as SonicBoom does in sync mode; any other error (EPIPE) is the caller's.
 */
export function writeAllSync(write: (bytes: Buffer, offset: number, length: number) => number, bytes: Buffer): void {
  let offset = 0;
  while (offset < bytes.length) {
    try {
      offset += write(bytes, offset, bytes.length - offset);
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code;
      if (code !== 'EAGAIN' && code !== 'EBUSY') throw error;
      Atomics.wait(BUSY_WAIT, 0, 0, BUSY_WAIT_MS);
    }
  }
}
