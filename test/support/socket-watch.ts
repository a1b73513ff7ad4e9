// Two pieces every hand-made test socket needs: timers that die with their connection, and what a
// client can tell of how the other side ended it. Shared by the raw client, the fuzz clients and the
// fuzz origin, so that they all read a reset or a FIN the same way.
import type { Socket } from 'node:net';

/** setTimeout calls that can all be cancelled at once, when their connection closes. */
export class TimerSet {
  private readonly timers = new Set<NodeJS.Timeout>();

  later(ms: number, fn: () => void): void {
    const t = setTimeout(() => {
      this.timers.delete(t);
      fn();
    }, ms);
    this.timers.add(t);
  }

  clear(): void {
    for (const t of this.timers) clearTimeout(t);
    this.timers.clear();
  }
}

/** How the connection ended, as far as its client can tell. */
export interface PeerEnd {
  /** The server sent a FIN, or reset the connection (ECONNRESET, EPIPE). */
  closedByServer: boolean;
  /** Code of the first socket error; callers may also set it (e.g. 'TIMEOUT'). */
  error: string | undefined;
}

/** Watches `socket` for the server's FIN, reset or broken pipe; `onFin` answers a FIN (destroy, or end our side). */
export function watchPeerEnd(socket: Socket, onFin: () => void): PeerEnd {
  const end: PeerEnd = { closedByServer: false, error: undefined };
  socket.on('end', () => {
    end.closedByServer = true;
    onFin();
  });
  socket.on('error', (err: NodeJS.ErrnoException) => {
    end.error ??= err.code ?? err.message;
    if (err.code === 'ECONNRESET' || err.code === 'EPIPE') end.closedByServer = true;
  });
  return end;
}
