// src/cache/store.ts: reads in place (issue 18). A fetch reserves the ring's next bytes for its
// object, the origin socket reads into them, and append() of those very bytes records them with no
// copy. The model-based property over random schedules is test/property/store-reserve.property.test.ts.
import { describe, expect, it } from 'vitest';
import { MAX_RESERVATION, RingStore, type StoreOwner } from '../../src/cache/store.js';

class Owner implements StoreOwner {
  pins = 1;
  dead = false;
  evictions = 0;
  onEvicted(): void {
    this.evictions++;
  }
}

/** What a socket read does: `bytes` into the start of `target`, then the view of them. */
function readInto(target: Buffer, bytes: Buffer): Buffer {
  bytes.copy(target, 0, 0, bytes.length);
  return target.subarray(0, bytes.length);
}

describe('RingStore.reserve and in-place appends', () => {
  it('bytes read into a reservation are appended without a copy, as views of the same memory', () => {
    const store = new RingStore(4096, 1024);
    const owner = new Owner();
    const target = store.reserve(owner, 600)!;
    expect(target.length).toBe(600);
    const views = store.append(readInto(target, Buffer.alloc(600, 7)), owner)!;
    expect(views).toHaveLength(1);
    expect(views[0].buffer).toBe(target.buffer);
    expect(views[0].byteOffset).toBe(target.byteOffset);
    expect(Buffer.concat(views)).toEqual(Buffer.alloc(600, 7));
    expect(store.bytesCopied).toBe(0);
    expect(store.stats().appendedBytes).toBe(600);
    expect(store.reservedFor(owner)).toBe(0);
  });

  it('a reservation ends at its slab: the next one starts the next slab', () => {
    const store = new RingStore(4096, 1024);
    const owner = new Owner();
    store.append(Buffer.alloc(1000, 1), owner); // a copy, 24 bytes left in slab 0
    expect(store.bytesCopied).toBe(1000);
    const tail = store.reserve(owner, 500)!;
    expect(tail.length).toBe(24);
    store.append(readInto(tail, Buffer.alloc(24, 2)), owner);
    const next = store.reserve(owner, 500)!;
    expect(next.length).toBe(500);
    expect(next.byteOffset).toBe(0); // the start of slab 1
    expect(store.bytesCopied).toBe(1000);
  });

  it('a partly filled reservation is read into again from where the last read stopped', () => {
    const store = new RingStore(1 << 20, 1 << 20);
    const owner = new Owner();
    const first = store.reserve(owner, 200_000)!;
    const a = store.append(readInto(first, Buffer.alloc(150_000, 3)), owner)!;
    const second = store.reserve(owner, 50_000)!;
    expect(second.byteOffset).toBe(first.byteOffset + 150_000);
    expect(second.length).toBe(50_000);
    const b = store.append(readInto(second, Buffer.alloc(50_000, 4)), owner)!;
    expect(Buffer.concat([...a, ...b])).toEqual(Buffer.concat([Buffer.alloc(150_000, 3), Buffer.alloc(50_000, 4)]));
    expect(store.used).toBe(200_000);
  });

  it('another owner appends after a reservation, never into it', () => {
    const store = new RingStore(1 << 20, 1 << 20);
    const fetch = new Owner();
    const other = new Owner();
    const target = store.reserve(fetch, 100_000)!;
    const otherViews = store.append(Buffer.alloc(5000, 9), other)!;
    expect(otherViews[0].byteOffset).toBe(target.byteOffset + 100_000);
    const mine = store.append(readInto(target, Buffer.alloc(100_000, 5)), fetch)!;
    expect(Buffer.concat(otherViews)).toEqual(Buffer.alloc(5000, 9));
    expect(Buffer.concat(mine)).toEqual(Buffer.alloc(100_000, 5));
  });

  it('bytes that are not at the reservation are copied (the body bytes that came with the head)', () => {
    const store = new RingStore(1 << 20, 1 << 20);
    const owner = new Owner();
    const target = store.reserve(owner, 1000)!;
    const elsewhere = Buffer.alloc(100, 6);
    const views = store.append(elsewhere, owner)!;
    expect(Buffer.concat(views)).toEqual(elsewhere);
    expect(store.bytesCopied).toBe(100);
    expect(views[0].byteOffset).toBe(target.byteOffset + 1000); // after the reservation
    expect(store.reservedFor(owner)).toBe(1000);
  });

  it('one reservation is at most MAX_RESERVATION; a short rest at the head grows', () => {
    const store = new RingStore(64 << 20, 64 << 20);
    const owner = new Owner();
    const big = store.reserve(owner, 10 << 20)!;
    expect(big.length).toBe(MAX_RESERVATION);
    store.append(readInto(big, Buffer.alloc(MAX_RESERVATION - 1000, 1)), owner);
    const grown = store.reserve(owner, 10 << 20)!;
    expect(grown.byteOffset).toBe(big.byteOffset + MAX_RESERVATION - 1000);
    expect(grown.length).toBe(MAX_RESERVATION);
  });

  it('release gives the unfilled rest back when it is at the head, and keeps it (unused) otherwise', () => {
    const store = new RingStore(1 << 20, 1 << 20);
    const a = new Owner();
    const target = store.reserve(a, 10_000)!;
    store.append(readInto(target, Buffer.alloc(4000, 1)), a);
    store.release(a);
    expect(store.used).toBe(4000);
    expect(store.reservedFor(a)).toBe(0);
    const b = new Owner();
    const c = new Owner();
    store.reserve(b, 10_000);
    store.append(Buffer.alloc(10, 2), c);
    store.release(b);
    expect(store.used).toBe(4000 + 10_000 + 10);
    // b's unused bytes are b's, reclaimed with it once it is unpinned and dead.
    b.pins = 0;
    b.dead = true;
    a.pins = 0;
    a.dead = true;
    store.reclaimTail();
    expect(store.used).toBe(10);
  });

  it('a reservation that only pinned bytes could make room for is refused: the caller copies instead', () => {
    const store = new RingStore(2048, 1024);
    const pinned = new Owner();
    store.append(Buffer.alloc(2048, 1), pinned);
    expect(store.reserve(new Owner(), 500)).toBeNull();
    expect(store.reserve(new Owner(), 0)).toBeNull();
  });

  it('an unpinned owner evicted with its reservation loses it (the bytes are reused)', () => {
    const store = new RingStore(2048, 1024);
    const owner = new Owner();
    owner.pins = 0;
    store.reserve(owner, 1024);
    store.append(Buffer.alloc(2048, 1), new Owner());
    expect(owner.evictions).toBe(1);
    expect(store.reservedFor(owner)).toBe(0);
  });
});

describe('RingStore.allocateSlabs (the warm-up allocates the whole ring before listening)', () => {
  it('allocates every slab once, keeps what is stored, and appends go on as before', () => {
    const store = new RingStore(4096, 1024);
    const owner = new Owner();
    const views = store.append(Buffer.alloc(100, 3), owner)!;
    expect(store.stats().slabsAllocated).toBe(1);
    expect(store.allocateSlabs()).toBe(4);
    expect(store.stats().slabsAllocated).toBe(4);
    expect(store.allocateSlabs()).toBe(4);
    expect(Buffer.concat(views)).toEqual(Buffer.alloc(100, 3));
    const more = store.append(Buffer.alloc(2000, 4), owner)!;
    expect(Buffer.concat(more)).toEqual(Buffer.alloc(2000, 4));
    expect(store.stats().slabsAllocated).toBe(4);
  });
});
