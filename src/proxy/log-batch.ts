// The proxy's log lines leave in batches: every line logged during one turn of the event loop is
// written with one write at the end of that turn (setImmediate), not one write per line. With the
// access log on, a write per response was a system call per hit (a loopback proxy's other costs
// are a read and a write per request). Lines still leave in the turn they were logged in, so
// nothing waits for more traffic, and whatever is pending is written synchronously at exit.
import { pino } from 'pino';

export interface LineSink {
  write(line: string): void;
}

/** Batches lines for `out` (a synchronous writer: SonicBoom in sync mode copes with EAGAIN and partial writes). */
export class LogBatch implements LineSink {
  private lines: string[] = [];
  private scheduled = false;
  private readonly flushLater = (): void => this.flush();

  constructor(private readonly out: LineSink) {}

  write(line: string): void {
    this.lines.push(line);
    if (this.scheduled) return;
    this.scheduled = true;
    setImmediate(this.flushLater);
  }

  /** Writes what is pending now (the end of a turn, or exit). */
  flush(): void {
    this.scheduled = false;
    if (this.lines.length === 0) return;
    const text = this.lines.length === 1 ? this.lines[0]! : this.lines.join('');
    this.lines = [];
    try {
      this.out.write(text);
    } catch {
      // stdout closed under us (EPIPE): the lines have nowhere to go, and logging must not crash the proxy.
    }
  }
}

let stdoutBatch: LogBatch | null = null;

/** The one batch for this process's stdout, shared by every logger so that lines keep their order. */
export function stdoutLines(): LogBatch {
  if (stdoutBatch) return stdoutBatch;
  const batch = new LogBatch(pino.destination({ dest: 1, sync: true }));
  process.on('exit', () => batch.flush());
  stdoutBatch = batch;
  return batch;
}
