// Per-key marks that hold until a time: hit-for-pass (R4), "the origin does not serve segments"
// (B4). A mark is forgotten when it is found expired, so a lookup is also the clean-up.
export class ExpiringKeyMarks {
  private readonly until = new Map<string, number>();

  get size(): number {
    return this.until.size;
  }

  /** Marks `key` until `until` (ms since epoch). */
  mark(key: string, until: number): void {
    this.until.set(key, until);
  }

  clear(key: string): void {
    this.until.delete(key);
  }

  has(key: string, now: number): boolean {
    const until = this.until.get(key);
    if (until === undefined) return false;
    if (until > now) return true;
    this.until.delete(key);
    return false;
  }
}
