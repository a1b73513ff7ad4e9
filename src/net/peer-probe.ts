// Finds out whether a client that sent its FIN is still there.
//
// A FIN is ambiguous: the client may have half-closed (it still reads, and must get its answer) or
// closed outright. Node stops reading at the FIN, so the reset that a closed client's kernel sends
// back for our next bytes goes unnoticed until the write after those: for a quiet event stream,
// that can be many seconds in which a departed subscriber keeps its socket and its place in the
// fan-out (R8). So after each write to such a client we probe: a write of zero bytes, which the
// kernel fails (EPIPE) once that reset is in, and which changes nothing for a client that reads.
import type { Socket } from 'node:net';
import { Deadline } from './deadline.js';

/** When to probe, in ms after the last write: soon for a nearby client, later for a distant one. */
const PROBE_DELAYS_MS = [100, 1000] as const;
const NOTHING = Buffer.alloc(0);

export class PeerProbe {
  private readonly deadline = new Deadline();
  private active = false;
  /** Index in PROBE_DELAYS_MS of the next probe. */
  private next = 0;

  constructor(private readonly socket: Socket) {}

  /** The client sent its FIN while a response is owed: probe from now on (bytes may be in flight already). */
  start(): void {
    this.active = true;
    this.afterWrite();
  }

  /** Bytes were written to the client: probe behind them. */
  afterWrite(): void {
    if (!this.active) return;
    this.next = 0;
    this.deadline.arm(PROBE_DELAYS_MS[0], this.probe);
  }

  stop(): void {
    this.active = false;
    this.deadline.stop();
  }

  private readonly probe = (): void => {
    if (!this.active || this.socket.destroyed) return;
    // A failure comes back as the socket's 'error', then 'close': the connection's own handlers.
    this.socket.write(NOTHING);
    const waited = PROBE_DELAYS_MS[this.next];
    this.next++;
    if (this.next < PROBE_DELAYS_MS.length) this.deadline.arm(PROBE_DELAYS_MS[this.next] - waited, this.probe);
  };
}
