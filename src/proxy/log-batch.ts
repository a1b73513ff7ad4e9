// The proxy's log lines leave in batches: every line logged during one turn of the event loop is
// written with one write at the end of that turn (setImmediate), not one write per line. With the
// access log on, a write per response was a system call per hit (a loopback proxy's other costs
// are a read and a write per request). Lines still leave in the turn they were logged in, so
// nothing waits for more traffic, and whatever is pending is written synchronously at exit.
//
// The batch for stdout hands the kernel bytes it made itself: a string given to pino's destination
// is measured (UTF-8 length) three times and encoded once per write, which cost more than the
// access line itself (callgrind, issue 18). A line its writer knows to be ASCII (writeAscii, writeAsciiPieces: the
// access line, src/proxy/access-log.ts) is copied as latin1, which for ASCII is its UTF-8.
import { pino } from 'pino';

export interface LineSink {
  write(line: string): void;
}

/** A sink that takes the batch's bytes (a SonicBoom in buffer mode). */
export interface BytesSink {
  writeBytes(bytes: Buffer): void;
}

/** Batches lines for `out` (a synchronous writer: SonicBoom in sync mode copes with EAGAIN and partial writes). */
export class LogBatch implements LineSink {
  /** Lines, or pieces of lines (writeAsciiPieces), in order. */
  private lines: string[] = [];
  /** Every pending line is ASCII (it came through writeAscii or writeAsciiPieces). */
  private ascii = true;
  private scheduled = false;
  private readonly flushLater = (): void => this.flush();

  constructor(private readonly out: LineSink | BytesSink) {}

  write(line: string): void {
    this.ascii = false;
    this.add(line);
  }

  /** A line its writer knows holds only ASCII characters. */
  writeAscii(line: string): void {
    this.add(line);
  }

  /**
   * The first `count` of `pieces`, which make one line of ASCII characters, end included: kept as
   * pieces and joined with the turn's other lines at the flush (no string of its own per line).
   */
  writeAsciiPieces(pieces: readonly string[], count: number): void {
    for (let i = 0; i < count; i++) this.lines.push(pieces[i]!);
    this.schedule();
  }

  private add(line: string): void {
    this.lines.push(line);
    this.schedule();
  }

  private schedule(): void {
    if (this.scheduled) return;
    this.scheduled = true;
    setImmediate(this.flushLater);
  }

  /** Writes what is pending now (the end of a turn, or exit). */
  flush(): void {
    this.scheduled = false;
    const lines = this.lines;
    if (lines.length === 0) return;
    const { ascii } = this;
    this.lines = [];
    this.ascii = true;
    try {
      // One string for the turn (join copies every line once), then one copy into bytes: latin1 when every line is ASCII.
      if ('writeBytes' in this.out) this.out.writeBytes(Buffer.from(lines.length === 1 ? lines[0]! : lines.join(''), ascii ? 'latin1' : 'utf8'));
      else this.out.write(lines.length === 1 ? lines[0]! : lines.join(''));
    } catch {
      // stdout closed under us (EPIPE): the lines have nowhere to go, and logging must not crash the proxy.
    }
  }
}

let stdoutBatch: LogBatch | null = null;

/** The one batch for this process's stdout, shared by every logger so that lines keep their order. */
export function stdoutLines(): LogBatch {
  if (stdoutBatch) return stdoutBatch;
  const destination = pino.destination({ dest: 1, sync: true, contentMode: 'buffer' });
  const batch = new LogBatch({ writeBytes: (bytes) => void destination.write(bytes as unknown as string) });
  process.on('exit', () => batch.flush());
  stdoutBatch = batch;
  return batch;
}
