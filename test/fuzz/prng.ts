// A small seeded PRNG for the fuzz harness. Every input the harness produces (request bytes,
// origin responses, timings) is drawn from an Rng built from one 32-bit seed, so a failing case can
// be replayed from that seed alone. mulberry32: 32 bits of state, fast, good enough for fuzzing.

/** The next-number function of mulberry32 for `seed`: each call returns a uint32. */
export function mulberry32(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return (t ^ (t >>> 14)) >>> 0;
  };
}

/** Mixes several numbers into one well-spread uint32 (murmur3's finalizer over a running hash). */
export function mix32(...values: number[]): number {
  let h = 0x9e3779b9;
  for (const value of values) {
    h = Math.imul(h ^ (value >>> 0), 0x85ebca6b);
    h ^= h >>> 13;
    h = Math.imul(h, 0xc2b2ae35);
    h ^= h >>> 16;
  }
  return h >>> 0;
}

/** `0x1a2b3c4d`-style hex of a uint32, as seeds are printed. */
export function hex32(value: number): string {
  return `0x${(value >>> 0).toString(16).padStart(8, '0')}`;
}

/** Parses a seed given as decimal or 0x-hex. */
export function parseSeed(text: string): number {
  const value = /^0x[0-9a-f]+$/i.test(text) ? parseInt(text.slice(2), 16) : /^\d+$/.test(text) ? Number(text) : NaN;
  if (!Number.isSafeInteger(value) || value < 0 || value > 0xffffffff) throw new Error(`"${text}" is not a 32-bit seed (decimal or 0x-hex)`);
  return value;
}

export class Rng {
  private readonly next: () => number;

  constructor(readonly seed: number) {
    this.next = mulberry32(seed);
  }

  /** A uint32. */
  u32(): number {
    return this.next();
  }

  /** A float in [0, 1). */
  float(): number {
    return this.next() / 0x1_0000_0000;
  }

  /** An integer in [lo, hi] (both inclusive). */
  int(lo: number, hi: number): number {
    return lo + Math.floor(this.float() * (hi - lo + 1));
  }

  /** An integer in [lo, hi], most of them small: log-uniform, for sizes. */
  logInt(lo: number, hi: number): number {
    const a = Math.log(lo + 1);
    const b = Math.log(hi + 1);
    return Math.min(hi, Math.max(lo, Math.floor(Math.exp(a + this.float() * (b - a)) - 1)));
  }

  /** True with probability `p`. */
  chance(p: number): boolean {
    return this.float() < p;
  }

  pick<T>(items: readonly T[]): T {
    return items[Math.floor(this.float() * items.length)];
  }

  /** One of `entries`, chosen with the given relative weights. */
  weighted<T>(entries: readonly (readonly [number, T])[]): T {
    const total = entries.reduce((sum, [w]) => sum + w, 0);
    let x = this.float() * total;
    for (const [w, value] of entries) {
      if (x < w) return value;
      x -= w;
    }
    return entries[entries.length - 1][1];
  }

  /** `n` random bytes. */
  bytes(n: number): Buffer {
    const out = Buffer.allocUnsafe(n);
    for (let i = 0; i < n; i += 4) {
      const v = this.next();
      for (let j = 0; j < 4 && i + j < n; j++) out[i + j] = (v >>> (8 * j)) & 0xff;
    }
    return out;
  }

  /** An independent generator seeded from this one. */
  fork(): Rng {
    return new Rng(this.next());
  }
}
