// Property (SPEC L5, DESIGN "The object store"): the RingStore behaves like a plain model of it.
//
// The model is a Map of owner -> the bytes it appended (as the store should still hold them), the
// owners' pins and dead flags, and the log of extents in the ring (tail first, a run of consecutive
// appends by one owner being one extent, as the store documents). Random sequences of appends (of
// sizes that straddle slab boundaries, end exactly on them, fill the ring, or exceed it), pins,
// unpins, owners going dead and reclaimTail() run against a real RingStore with small capacities,
// so that the ring wraps around constantly. After every command:
//   - every owner that was never evicted still reads back, through the views append() returned,
//     exactly the bytes it wrote (in particular a pinned owner's bytes are never overwritten);
//   - onEvicted() is never called on an owner while it is pinned;
//   - owners are evicted oldest first (the order of first evictions is the model's);
//   - 0 <= used <= capacity, and used / free / stats() agree with the model;
// and append() returns null exactly when the room could only come from pinned bytes (walking the
// extents from the tail in order) or the data is larger than the ring.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { RingStore, type StoreOwner } from '../../src/cache/store.js';
import { fcOptions } from '../support/fc.js';

// ---------------------------------------------------------------------------------------------
// Deterministic content: every append gets bytes of its own, so an overwrite is always visible.

function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return (t ^ (t >>> 14)) >>> 0;
  };
}

function contentFor(appendNo: number, length: number): Buffer {
  const next = mulberry32(appendNo * 7919 + 17);
  const out = Buffer.allocUnsafe(length);
  for (let i = 0; i < length; i++) out[i] = next() & 0xff;
  return out;
}

// ---------------------------------------------------------------------------------------------
// The real side.

class TestOwner implements StoreOwner {
  pins = 0;
  dead = false;
  /** Views returned by successful appends, in order. */
  readonly views: Buffer[] = [];
  constructor(
    readonly id: number,
    private readonly log: { evictions: number[]; violations: string[] },
  ) {}
  onEvicted(): void {
    this.log.evictions.push(this.id);
    if (this.pins > 0) this.log.violations.push(`onEvicted() on owner ${this.id} while it holds ${this.pins} pin(s)`);
  }
  bytes(): Buffer {
    return Buffer.concat(this.views);
  }
}

interface Real {
  store: RingStore;
  owners: TestOwner[];
  log: { evictions: number[]; violations: string[] };
}

// ---------------------------------------------------------------------------------------------
// The model.

interface ModelOwner {
  id: number;
  /** The bytes of its successful appends, in order. */
  chunks: Buffer[];
  pins: number;
  dead: boolean;
  /** The store took (some of) its bytes: its views are no longer its own. */
  evicted: boolean;
}

interface ModelExtent {
  owner: number;
  length: number;
}

class Model {
  readonly capacity: number;
  readonly slabSize: number;
  head = 0;
  tail = 0;
  /** Extents in the ring, tail first. */
  extents: ModelExtent[] = [];
  owners: ModelOwner[] = [];
  /** Owners in the order of their first eviction. */
  evictionOrder: number[] = [];
  evictedExtents = 0;
  appendedBytes = 0;
  blockedAppends = 0;
  appendCount = 0;

  constructor(capacity: number, slabSize: number) {
    // The store's documented geometry: equal slabs, never more than the capacity asked for (the
    // slab size shrinks to divide it; at most slabCount - 1 bytes are lost).
    const slabCount = Math.ceil(capacity / Math.min(slabSize, capacity));
    this.slabSize = Math.floor(capacity / slabCount);
    this.capacity = this.slabSize * slabCount;
  }

  get used(): number {
    return this.head - this.tail;
  }

  owner(id: number): ModelOwner {
    return this.owners[id];
  }

  /**
   * How many extents, from the tail, must go to make room for `length` bytes; 'blocked' when a pinned
   * extent is reached first or the data is larger than the ring.
   */
  plan(length: number): { blocked: false; evict: number } | { blocked: true; evictablePrefix: number } {
    if (length > this.capacity) return { blocked: true, evictablePrefix: 0 };
    let free = this.capacity - this.used;
    let i = 0;
    while (free < length) {
      const extent = this.extents[i];
      if (this.owner(extent.owner).pins > 0) return { blocked: true, evictablePrefix: i };
      free += extent.length;
      i++;
    }
    return { blocked: false, evict: i };
  }

  evictOldest(): void {
    const extent = this.extents.shift()!;
    this.tail += extent.length;
    this.evictedExtents++;
    const owner = this.owner(extent.owner);
    if (!owner.evicted) {
      owner.evicted = true;
      this.evictionOrder.push(owner.id);
    }
  }

  /** The views a successful append of `length` bytes at the head should come back as (one per slab touched). */
  expectedViewLengths(length: number): number[] {
    const lengths: number[] = [];
    let position = this.head % this.capacity;
    let remaining = length;
    while (remaining > 0) {
      const n = Math.min(remaining, this.slabSize - (position % this.slabSize));
      lengths.push(n);
      position = (position + n) % this.capacity;
      remaining -= n;
    }
    return lengths;
  }

  commitAppend(owner: ModelOwner, data: Buffer): void {
    const last = this.extents[this.extents.length - 1];
    if (last && last.owner === owner.id) last.length += data.length;
    else this.extents.push({ owner: owner.id, length: data.length });
    this.head += data.length;
    this.appendedBytes += data.length;
    owner.chunks.push(data);
  }
}

type System = { model: Model; real: Real };

// ---------------------------------------------------------------------------------------------
// Invariants, checked after every command.

// Plain comparisons on the hot path (vitest's expect is too slow to call thousands of times per run).
function same(actual: unknown, expected: unknown, what: string): void {
  if (actual !== expected) throw new Error(`${what}: expected ${String(expected)}, got ${String(actual)}`);
}

function checkInvariants(model: Model, real: Real): void {
  const { store, log } = real;
  if (log.violations.length > 0) throw new Error(log.violations.join('; '));
  // L5: memory is bounded.
  if (!(store.used >= 0 && store.used <= store.capacity)) throw new Error(`used ${store.used} outside [0, ${store.capacity}]`);
  same(store.used, model.used, 'used');
  same(store.free, store.capacity - store.used, 'free');
  // Oldest first: the owners the store gave up, in the order it gave them up, are the model's.
  const order = firstOccurrences(log.evictions);
  if (order.join() !== model.evictionOrder.join()) throw new Error(`eviction order: expected [${model.evictionOrder.join()}], got [${order.join()}]`);
  // Every owner the store never evicted still reads back exactly its bytes.
  for (const owner of model.owners) {
    const realOwner = real.owners[owner.id];
    same(realOwner.pins, owner.pins, `pins of owner ${owner.id}`);
    if (owner.evicted) continue;
    const expected = Buffer.concat(owner.chunks);
    const actual = realOwner.bytes();
    if (!actual.equals(expected)) {
      throw new Error(`owner ${owner.id} (pins ${owner.pins}, dead ${owner.dead}) lost its bytes: expected ${expected.length} bytes ${expected.subarray(0, 16).toString('hex')}…, got ${actual.length} bytes ${actual.subarray(0, 16).toString('hex')}…`);
    }
  }
  const stats = store.stats();
  same(stats.capacity, model.capacity, 'stats().capacity');
  same(stats.slabSize, model.slabSize, 'stats().slabSize');
  same(stats.used, model.used, 'stats().used');
  same(stats.appendedBytes, model.appendedBytes, 'stats().appendedBytes');
  same(stats.evictedExtents, model.evictedExtents, 'stats().evictedExtents');
  same(stats.blockedAppends, model.blockedAppends, 'stats().blockedAppends');
  if (stats.slabsAllocated > model.capacity / model.slabSize) throw new Error(`${stats.slabsAllocated} slabs allocated for a ring of ${model.capacity / model.slabSize}`);
}

function firstOccurrences(ids: number[]): number[] {
  const seen = new Set<number>();
  const out: number[] = [];
  for (const id of ids) {
    if (!seen.has(id)) {
      seen.add(id);
      out.push(id);
    }
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// Commands.

/** How big an append is, resolved against the store's geometry and head when it runs. */
type SizeSpec =
  | { kind: 'small'; n: number }
  | { kind: 'slabs'; permille: number }
  | { kind: 'toBoundary'; slabs: number; delta: number }
  | { kind: 'aroundCapacity'; delta: number }
  | { kind: 'fraction'; permille: number };

const sizeSpecArb: fc.Arbitrary<SizeSpec> = fc.oneof(
  { weight: 3, arbitrary: fc.record({ kind: fc.constant('small' as const), n: fc.integer({ min: 0, max: 40 }) }) },
  { weight: 4, arbitrary: fc.record({ kind: fc.constant('slabs' as const), permille: fc.integer({ min: 0, max: 2500 }) }) },
  { weight: 3, arbitrary: fc.record({ kind: fc.constant('toBoundary' as const), slabs: fc.integer({ min: 0, max: 2 }), delta: fc.integer({ min: -1, max: 1 }) }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('aroundCapacity' as const), delta: fc.integer({ min: -2, max: 2 }) }) },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant('fraction' as const), permille: fc.integer({ min: 0, max: 700 }) }) },
);

function resolveSize(spec: SizeSpec, model: Model): number {
  switch (spec.kind) {
    case 'small':
      return spec.n;
    case 'slabs': // up to two and a half slabs: straddles one or two boundaries
      return Math.floor((spec.permille * model.slabSize) / 1000);
    case 'toBoundary': // ends exactly on a slab boundary, one byte before, or one byte past it
      return Math.max(0, model.slabSize - (model.head % model.slabSize) + spec.slabs * model.slabSize + spec.delta);
    case 'aroundCapacity': // the whole ring, or just larger than it
      return Math.max(0, model.capacity + spec.delta);
    case 'fraction':
      return Math.floor((spec.permille * model.capacity) / 1000);
  }
}

function describeSize(spec: SizeSpec): string {
  switch (spec.kind) {
    case 'small':
      return `${spec.n}`;
    case 'slabs':
      return `${spec.permille / 1000} slabs`;
    case 'toBoundary':
      return `to boundary +${spec.slabs} slabs ${spec.delta >= 0 ? '+' : ''}${spec.delta}`;
    case 'aroundCapacity':
      return `capacity ${spec.delta >= 0 ? '+' : ''}${spec.delta}`;
    case 'fraction':
      return `${spec.permille / 10}% of capacity`;
  }
}

function pick<T>(items: T[], selector: number): T | undefined {
  return items.length === 0 ? undefined : items[selector % items.length];
}

const appendable = (model: Model) => model.owners.filter((o) => !o.evicted && !o.dead);
const pinnable = (model: Model) => model.owners.filter((o) => !o.evicted);
const pinned = (model: Model) => model.owners.filter((o) => o.pins > 0);
const killable = (model: Model) => model.owners.filter((o) => !o.evicted && !o.dead);

class AppendCommand implements fc.Command<Model, Real> {
  constructor(
    /** A new owner, or an existing live one (selected by index). */
    readonly target: { fresh: true } | { fresh: false; selector: number },
    readonly size: SizeSpec,
  ) {}

  check(model: Readonly<Model>): boolean {
    return this.target.fresh || appendable(model as Model).length > 0;
  }

  run(model: Model, real: Real): void {
    let owner: ModelOwner;
    if (this.target.fresh) {
      owner = { id: model.owners.length, chunks: [], pins: 0, dead: false, evicted: false };
      model.owners.push(owner);
      real.owners.push(new TestOwner(owner.id, real.log));
    } else {
      owner = pick(appendable(model), this.target.selector)!;
    }
    const realOwner = real.owners[owner.id];
    const length = resolveSize(this.size, model);
    const data = contentFor(++model.appendCount, length);
    const plan = model.plan(length);
    const expectedViews = plan.blocked ? [] : model.expectedViewLengths(length);
    const usedBefore = real.store.used;
    const evictionsBefore = real.log.evictions.length;

    const views = real.store.append(data, realOwner);

    const what = `append of ${length} bytes for owner ${owner.id} into ${model.capacity} (used ${model.used})`;
    if (length === 0) {
      if (!Array.isArray(views) || views.length !== 0) throw new Error(`${what}: expected [], got ${views === null ? 'null' : `${views.length} views`}`);
    } else if (plan.blocked) {
      // Null exactly when only pinned bytes (or nothing: data larger than the ring) could make room.
      if (views !== null) throw new Error(`${what} should be refused: only pinned bytes could make room, or it is larger than the ring`);
      model.blockedAppends++;
      // The store documents "returns null, having changed nothing". It currently evicts the unpinned
      // extents it walked before reaching the pinned one (see the BUG test in test/unit/store.test.ts).
      // Accept exactly those two outcomes here, so that this property keeps checking everything else.
      if (real.store.used !== usedBefore) {
        for (let i = 0; i < plan.evictablePrefix; i++) model.evictOldest();
      } else {
        same(real.log.evictions.length, evictionsBefore, `onEvicted() calls by a refused ${what} that changed nothing`);
      }
    } else {
      if (views === null) throw new Error(`${what} was refused, but unpinned extents could make room`);
      for (let i = 0; i < plan.evict; i++) model.evictOldest();
      // One view per slab touched: two (or more) when the bytes straddle slab boundaries.
      same(views.map((v) => v.length).join(), expectedViews.join(), `view lengths of ${what}`);
      model.commitAppend(owner, data);
      realOwner.views.push(...views!);
    }
    checkInvariants(model, real);
  }

  toString(): string {
    return `append(${this.target.fresh ? 'new owner' : `owner#${this.target.selector}`}, ${describeSize(this.size)})`;
  }
}

class PinCommand implements fc.Command<Model, Real> {
  constructor(readonly selector: number) {}
  check(model: Readonly<Model>): boolean {
    return pinnable(model as Model).length > 0;
  }
  run(model: Model, real: Real): void {
    const owner = pick(pinnable(model), this.selector)!;
    owner.pins++;
    real.owners[owner.id].pins++;
    checkInvariants(model, real);
  }
  toString(): string {
    return `pin(#${this.selector})`;
  }
}

class UnpinCommand implements fc.Command<Model, Real> {
  constructor(readonly selector: number) {}
  check(model: Readonly<Model>): boolean {
    return pinned(model as Model).length > 0;
  }
  run(model: Model, real: Real): void {
    const owner = pick(pinned(model), this.selector)!;
    owner.pins--;
    real.owners[owner.id].pins--;
    checkInvariants(model, real);
  }
  toString(): string {
    return `unpin(#${this.selector})`;
  }
}

class KillCommand implements fc.Command<Model, Real> {
  constructor(readonly selector: number) {}
  check(model: Readonly<Model>): boolean {
    return killable(model as Model).length > 0;
  }
  run(model: Model, real: Real): void {
    const owner = pick(killable(model), this.selector)!;
    owner.dead = true;
    real.owners[owner.id].dead = true;
    checkInvariants(model, real);
  }
  toString(): string {
    return `dead(#${this.selector})`;
  }
}

class ReclaimTailCommand implements fc.Command<Model, Real> {
  check(): boolean {
    return true;
  }
  run(model: Model, real: Real): void {
    // Dead, unpinned extents at the tail go; it stops at the first live or pinned one.
    while (model.extents.length > 0) {
      const owner = model.owner(model.extents[0].owner);
      if (owner.pins > 0 || !owner.dead) break;
      model.evictOldest();
    }
    real.store.reclaimTail();
    checkInvariants(model, real);
  }
  toString(): string {
    return 'reclaimTail()';
  }
}

class ReadBackCommand implements fc.Command<Model, Real> {
  constructor(readonly selector: number) {}
  check(model: Readonly<Model>): boolean {
    return model.owners.some((o) => !o.evicted);
  }
  run(model: Model, real: Real): void {
    // The invariants read every owner back; this one also reads its views one by one.
    const owner = pick(model.owners.filter((o) => !o.evicted), this.selector)!;
    const expected = Buffer.concat(owner.chunks);
    let offset = 0;
    for (const [i, view] of real.owners[owner.id].views.entries()) {
      if (!view.equals(expected.subarray(offset, offset + view.length))) throw new Error(`owner ${owner.id}: view ${i} (at byte ${offset}) was overwritten`);
      offset += view.length;
    }
    same(offset, expected.length, `bytes in the views of owner ${owner.id}`);
    checkInvariants(model, real);
  }
  toString(): string {
    return `read(#${this.selector})`;
  }
}

const selectorArb = fc.nat({ max: 1000 });

const commandArb: fc.Arbitrary<fc.Command<Model, Real>> = fc.oneof(
  { weight: 6, arbitrary: sizeSpecArb.map((size) => new AppendCommand({ fresh: true }, size)) },
  { weight: 3, arbitrary: fc.tuple(selectorArb, sizeSpecArb).map(([selector, size]) => new AppendCommand({ fresh: false, selector }, size)) },
  { weight: 3, arbitrary: selectorArb.map((s) => new PinCommand(s)) },
  { weight: 3, arbitrary: selectorArb.map((s) => new UnpinCommand(s)) },
  { weight: 2, arbitrary: selectorArb.map((s) => new KillCommand(s)) },
  { weight: 2, arbitrary: fc.constant(new ReclaimTailCommand()) },
  { weight: 1, arbitrary: selectorArb.map((s) => new ReadBackCommand(s)) },
);

const geometryArb = fc.record({
  capacity: fc.integer({ min: 64, max: 4096 }),
  slabSize: fc.integer({ min: 16, max: 1024 }),
});

function setup(geometry: { capacity: number; slabSize: number }): () => System {
  return () => {
    const log = { evictions: [] as number[], violations: [] as string[] };
    return {
      model: new Model(geometry.capacity, geometry.slabSize),
      real: { store: new RingStore(geometry.capacity, geometry.slabSize), owners: [], log },
    };
  };
}

describe('RingStore against a model (SPEC L5)', () => {
  it('L5: live owners keep exactly their bytes, pinned owners are never evicted or overwritten, used <= capacity, eviction is oldest first, null exactly when only pinned bytes could make room', () => {
    fc.assert(
      fc.property(geometryArb, fc.commands([commandArb], { maxCommands: 80, size: 'max' }), (geometry, commands) => {
        fc.modelRun(setup(geometry), commands);
      }),
      fcOptions(200),
    );
  });

  it('L5: with every owner pinned, a full ring refuses appends and evicts nothing, whatever the sizes', () => {
    fc.assert(
      fc.property(
        geometryArb,
        fc.array(fc.integer({ min: 1, max: 600 }), { minLength: 1, maxLength: 40 }),
        (geometry, sizes) => {
          const log = { evictions: [] as number[], violations: [] as string[] };
          const store = new RingStore(geometry.capacity, geometry.slabSize);
          const owners: TestOwner[] = [];
          const contents = sizes.map((size, i) => contentFor(i + 1, size));
          let used = 0;
          for (const [i, size] of sizes.entries()) {
            const owner = new TestOwner(i, log);
            owner.pins = 1;
            owners.push(owner);
            const views = store.append(contents[i], owner);
            if (used + size <= store.capacity) {
              if (views === null) throw new Error(`append #${i} of ${size} bytes refused with ${store.capacity - used} free`);
              owner.views.push(...views);
              used += size;
            } else if (views !== null) {
              throw new Error(`append #${i} of ${size} bytes accepted with ${store.capacity - used} free and every byte pinned`);
            }
            same(store.used, used, `used after append #${i}`);
          }
          expect(log.evictions).toEqual([]);
          for (const [i, owner] of owners.entries()) {
            if (owner.views.length > 0 && !owner.bytes().equals(contents[i])) throw new Error(`pinned owner ${i} was overwritten`);
          }
        },
      ),
      fcOptions(200),
    );
  });

  it('L5: with nothing pinned, every append that fits the ring succeeds, and what survives is the newest suffix of the appends', () => {
    fc.assert(
      fc.property(
        geometryArb,
        fc.array(fc.integer({ min: 0, max: 5000 }), { minLength: 1, maxLength: 60 }),
        (geometry, sizes) => {
          const log = { evictions: [] as number[], violations: [] as string[] };
          const store = new RingStore(geometry.capacity, geometry.slabSize);
          const owners: TestOwner[] = [];
          const contents = sizes.map((size, i) => contentFor(i + 1, size));
          for (const [i, size] of sizes.entries()) {
            const owner = new TestOwner(i, log);
            owners.push(owner);
            const views = store.append(contents[i], owner);
            if (size > store.capacity) {
              if (views !== null) throw new Error(`append #${i} of ${size} bytes, larger than the ring (${store.capacity}), was accepted`);
            } else {
              if (views === null) throw new Error(`append #${i} of ${size} bytes refused with nothing pinned`);
              owner.views.push(...views);
            }
            if (store.used > store.capacity) throw new Error(`used ${store.used} > capacity ${store.capacity}`);
            // Evictions so far are exactly the oldest owners with bytes in the ring, in order, and
            // every owner after them still has its bytes.
            const evicted = new Set(log.evictions);
            const withBytes = owners.filter((o) => o.views.length > 0);
            let firstSurvivor = withBytes.findIndex((o) => !evicted.has(o.id));
            if (firstSurvivor < 0) firstSurvivor = withBytes.length;
            same(log.evictions.join(), withBytes.slice(0, firstSurvivor).map((o) => o.id).join(), `evictions after append #${i}`);
            for (const o of withBytes.slice(firstSurvivor)) {
              if (!o.bytes().equals(contents[o.id])) throw new Error(`owner ${o.id} lost its bytes without being evicted`);
            }
          }
        },
      ),
      fcOptions(200),
    );
  });
});
