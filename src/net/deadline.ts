// One connection's pending timeout, cheap to move. A connection re-arms its timeout on every
// request (client: idle, head, busy, idle; origin: first byte, between bytes, idle in the pool), and
// with setTimeout each move is a clearTimeout and a new Timeout: a few percent of a pass-through's
// CPU. Here moving the deadline later, or disarming it, only writes two fields; the Timeout that is
// already pending, when it fires before the deadline, sleeps again for what is left. Only a deadline
// earlier than the pending Timeout costs a new one.

/** A Timeout may fire up to this much (ms) before performance.now() says it is due: clocks differ. */
const EARLY_SLACK_MS = 1;

export class Deadline {
  private timer: NodeJS.Timeout | null = null;
  /** performance.now() at which the pending Timeout fires. */
  private timerAt = 0;
  /** performance.now() at which onExpiry is due; Infinity while disarmed. */
  private dueAt = Infinity;
  private onExpiry: (() => void) | null = null;
  private readonly fire = (): void => this.onTimer();

  /** True while an expiry is pending. */
  get armed(): boolean {
    return this.onExpiry !== null;
  }

  /** Calls `onExpiry` once, `ms` from now, unless re-armed or disarmed before. `ms` <= 0 disarms. */
  arm(ms: number, onExpiry: () => void): void {
    if (ms <= 0) return this.disarm();
    const now = performance.now();
    this.dueAt = now + ms;
    this.onExpiry = onExpiry;
    if (this.timer && this.timerAt <= this.dueAt) return;
    this.schedule(now, ms);
  }

  disarm(): void {
    this.dueAt = Infinity;
    this.onExpiry = null;
  }

  /** Disarms and drops the pending Timeout: the connection is gone. */
  stop(): void {
    this.disarm();
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
  }

  private schedule(now: number, ms: number): void {
    if (this.timer) clearTimeout(this.timer);
    this.timerAt = now + ms;
    // Unref'd: a connection's socket keeps the process alive, its timeout need not.
    this.timer = setTimeout(this.fire, ms).unref();
  }

  private onTimer(): void {
    this.timer = null;
    const onExpiry = this.onExpiry;
    if (onExpiry === null) return;
    const now = performance.now();
    if (now < this.dueAt - EARLY_SLACK_MS) return this.schedule(now, this.dueAt - now);
    this.disarm();
    onExpiry();
  }
}
