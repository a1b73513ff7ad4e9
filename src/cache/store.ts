// The object store: a ring of slabs. Bytes are appended at the head and reclaimed from the tail,
// oldest first; both are O(1) per extent. Reads are views of the slabs, handed straight to
// socket.write by every reader: one copy of the bytes in memory, however many clients.
//
// Positions are logical byte offsets that only grow (a JS number is exact up to 2^53: 9 PB
// written). Offset L lives in slab floor((L mod capacity) / slabSize). The ring holds the bytes in
// [tail, head); every appended run of bytes is logged as an extent with its owner, in order, so
// eviction knows whose bytes it takes.
//
// Pinning (SPEC L5): an owner that is pinned (an object being fetched, or one a reader is writing
// to a socket) is never evicted, and eviction stops at the oldest pinned extent. When an append
// needs room that only pinned bytes hold, append() returns null: the caller decides (see
// src/stream/fetch.ts and the README, "When the store is full").
//
// Reads in place (issue 18): a fetch of a Content-Length body may `reserve()` the next bytes of
// the ring for its object and have the origin socket read straight into them; its append() of
// those very bytes then records them without copying, so each body byte is written once, by the
// kernel. A reservation moves the head at once (its bytes are its owner's, pinned like the rest),
// so other owners' appends go after it, and nothing else is ever written into it.
//
// Slabs are allocated at their first use (or all at once by allocateSlabs(), as the proxy's warm-up
// does), and the OS commits their pages as they are first written.
// With `prefault`, every slab is allocated at once (shared memory) and a worker commits the pages in
// the background (src/cache/prefault.ts).
import { Prefault, type PrefaultState } from './prefault.js';

/** Something that owns bytes in the ring: an object body. */
export interface StoreOwner {
  /** Pins held (readers and an in-flight fetch); > 0 means its bytes must not be overwritten. */
  readonly pins: number;
  /** Already forgotten (purged, replaced, failed): its bytes can be reclaimed as soon as unpinned. */
  readonly dead: boolean;
  /** Its bytes are being reclaimed: it must stop being served to new readers. */
  onEvicted(): void;
}

interface Extent {
  start: number;
  length: number;
  owner: StoreOwner;
}

/** Reserved and not yet filled: logical [start, end), inside one slab, already counted in the head. */
interface Reservation {
  start: number;
  end: number;
}

export interface StoreStats {
  capacity: number;
  slabSize: number;
  slabsAllocated: number;
  /** Bytes between tail and head: live objects, and dead space not yet reclaimed. */
  used: number;
  appendedBytes: number;
  /** Of appendedBytes, those copied in (the rest were read in place by the kernel: reserve()). */
  copiedBytes: number;
  evictedExtents: number;
  /** Appends refused because only pinned bytes could have made room. */
  blockedAppends: number;
  /** Whether the store's memory is being, or was, committed ahead of use. */
  prefault: PrefaultState;
}

export interface RingStoreOptions {
  /** Allocate every slab now and commit its pages in a background worker (`--store-prefault`). */
  prefault?: boolean;
}

export const DEFAULT_SLAB_SIZE = 64 * 1024 * 1024;
/** The most one reservation takes (one origin read): as large as the read arena's reads. */
export const MAX_RESERVATION = 2 * 1024 * 1024;
/** A reservation left with less than this is grown (when still at the head) rather than read into. */
const MIN_RESERVATION = 64 * 1024;

/** What the warm-up commits of the first slab: a cold miss's first reads (up to 1 MB each). */
const FIRST_SLAB_WARM_BYTES = 1024 * 1024;

export class RingStore {
  readonly capacity: number;
  readonly slabSize: number;
  private readonly slabs: Buffer[] = [];
  private head = 0;
  private tail = 0;
  /** Extents in append order; extents[first] is the oldest still in the ring. */
  private extents: Extent[] = [];
  private first = 0;
  private appendedBytes = 0;
  private evictedExtents = 0;
  private blockedAppends = 0;
  /** Bytes appended by copying (append of bytes outside a reservation), for tests and benchmarks. */
  private copiedBytes = 0;
  private readonly reservations = new Map<StoreOwner, Reservation>();
  private readonly prefault: Prefault | null = null;

  constructor(capacity: number, slabSize = DEFAULT_SLAB_SIZE, options: RingStoreOptions = {}) {
    if (!Number.isSafeInteger(capacity) || capacity <= 0) throw new RangeError(`store capacity ${capacity} must be a positive integer`);
    if (!Number.isSafeInteger(slabSize) || slabSize <= 0) throw new RangeError(`slab size ${slabSize} must be a positive integer`);
    // Equal slabs, so an offset maps to its slab with one division, and never more than asked
    // for: the slab size shrinks to divide the capacity (losing at most slabCount - 1 bytes).
    const slabCount = Math.ceil(capacity / Math.min(slabSize, capacity));
    this.slabSize = Math.floor(capacity / slabCount);
    this.capacity = this.slabSize * slabCount;
    if (options.prefault) {
      const memory = Array.from({ length: slabCount }, () => new SharedArrayBuffer(this.slabSize));
      for (let i = 0; i < slabCount; i++) this.slabs[i] = Buffer.from(memory[i]);
      this.prefault = new Prefault(memory);
    }
  }

  /** Settles once the memory is committed (at once when prefault is off): benchmarks wait for it. */
  committed(): Promise<PrefaultState> {
    return this.prefault ? this.prefault.settled : Promise.resolve('off');
  }

  /** Stops a prefault still running; the store itself needs no closing. */
  async close(): Promise<void> {
    await this.prefault?.stop();
  }

  get used(): number {
    return this.head - this.tail;
  }

  get free(): number {
    return this.capacity - this.used;
  }

  stats(): StoreStats {
    return {
      capacity: this.capacity,
      slabSize: this.slabSize,
      slabsAllocated: this.slabs.filter(Boolean).length,
      used: this.used,
      appendedBytes: this.appendedBytes,
      copiedBytes: this.copiedBytes,
      evictedExtents: this.evictedExtents,
      blockedAppends: this.blockedAppends,
      prefault: this.prefault?.state ?? 'off',
    };
  }

  /**
   * Copies `data` into the ring for `owner` and returns the views where it now lives (two when it
   * straddles a slab boundary). Evicts unpinned extents from the tail to make room. Returns null,
   * having changed nothing, when the room is held by pinned owners or `data` is larger than the ring.
   */
  append(data: Uint8Array, owner: StoreOwner): Buffer[] | null {
    const length = data.length;
    if (length === 0) return [];
    const inPlace = this.takeReserved(data, owner);
    if (inPlace) return [inPlace];
    if (!this.makeRoom(length)) {
      this.blockedAppends++;
      return null;
    }
    const views: Buffer[] = [];
    let written = 0;
    while (written < length) {
      const physical = (this.head + written) % this.capacity;
      const slabIndex = Math.floor(physical / this.slabSize);
      const offset = physical - slabIndex * this.slabSize;
      const n = Math.min(length - written, this.slabSize - offset);
      const slab = this.slab(slabIndex);
      slab.set(data.subarray(written, written + n), offset);
      views.push(slab.subarray(offset, offset + n));
      written += n;
    }
    this.logExtent(this.head, length, owner);
    this.head += length;
    this.appendedBytes += length;
    this.copiedBytes += length;
    return views;
  }

  /** Bytes appended by copying them in; the rest of appendedBytes were read in place. */
  get bytesCopied(): number {
    return this.copiedBytes;
  }

  /**
   * The bytes where `owner`'s next `max` (or fewer) bytes may be written in place: a view of the
   * ring at its reservation, inside one slab. An append() by `owner` of bytes written at the
   * start of that view records them without copying. Null when the room is held by pinned owners
   * (the caller then reads into a buffer of its own and appends by copying, as before).
   */
  reserve(owner: StoreOwner, max: number): Buffer | null {
    if (!(max > 0)) return null;
    const current = this.reservations.get(owner);
    if (current && current.end - current.start < Math.min(max, MIN_RESERVATION)) this.grow(owner, current, max);
    const kept = this.reservations.get(owner);
    const reservation = kept && kept.start < kept.end ? kept : this.newReservation(owner, max);
    if (!reservation) return null;
    const { slab, offset } = this.locate(reservation.start);
    return slab.subarray(offset, offset + Math.min(max, reservation.end - reservation.start));
  }

  /** A fresh reservation at the head, up to the end of the head's slab. */
  private newReservation(owner: StoreOwner, max: number): Reservation | null {
    const length = Math.min(max, MAX_RESERVATION, this.slabSize - this.locate(this.head).offset);
    if (!this.makeRoom(length)) return null;
    this.reservations.delete(owner);
    const reservation = { start: this.head, end: this.head + length };
    this.logExtent(this.head, length, owner);
    this.head += length;
    this.reservations.set(owner, reservation);
    return reservation;
  }

  /** A short reservation still at the head grows within its slab (nothing was appended after it). */
  private grow(owner: StoreOwner, reservation: Reservation, max: number): void {
    if (reservation.end !== this.head) return;
    const slabEnd = reservation.start - this.locate(reservation.start).offset + this.slabSize;
    const more = Math.min(reservation.start + Math.min(max, MAX_RESERVATION), slabEnd) - reservation.end;
    if (more <= 0 || !this.makeRoom(more) || this.reservations.get(owner) !== reservation) return;
    this.logExtent(this.head, more, owner);
    this.head += more;
    reservation.end += more;
  }

  /** `data` was written at the start of `owner`'s reservation: it is recorded there, uncopied. */
  private takeReserved(data: Uint8Array, owner: StoreOwner): Buffer | null {
    const reservation = this.reservations.get(owner);
    if (!reservation || data.length > reservation.end - reservation.start) return null;
    const { slab, offset } = this.locate(reservation.start);
    if (data.buffer !== slab.buffer || data.byteOffset !== slab.byteOffset + offset) return null;
    reservation.start += data.length;
    this.appendedBytes += data.length;
    return slab.subarray(offset, offset + data.length);
  }

  /**
   * Ends `owner`'s reservation (its fetch ended): what is still unfilled goes back to the ring when
   * nothing was appended after it, else it stays, unused, among the owner's bytes until they are
   * reclaimed. The caller must be sure no read into it is still pending (close the socket first).
   */
  release(owner: StoreOwner): void {
    const reservation = this.reservations.get(owner);
    if (!reservation) return;
    this.reservations.delete(owner);
    const unused = reservation.end - reservation.start;
    if (unused === 0 || reservation.end !== this.head) return;
    const last = this.extents[this.extents.length - 1];
    last.length -= unused;
    this.head -= unused;
    if (last.length === 0) this.extents.pop();
  }

  /** Unfilled bytes reserved for `owner` (0 when none). */
  reservedFor(owner: StoreOwner): number {
    const reservation = this.reservations.get(owner);
    return reservation ? reservation.end - reservation.start : 0;
  }

  /** The slab and offset of logical position `position`. */
  private locate(position: number): { slab: Buffer; offset: number } {
    const physical = position % this.capacity;
    const slabIndex = Math.floor(physical / this.slabSize);
    return { slab: this.slab(slabIndex), offset: physical - slabIndex * this.slabSize };
  }

  /**
   * Reclaims from the tail until `length` bytes are free; false, having evicted nothing, when a
   * pinned extent stands in the way (a refused append must not cost cached objects).
   */
  private makeRoom(length: number): boolean {
    if (length > this.capacity) return false;
    let reclaimable = this.free;
    for (let i = this.first; reclaimable < length; i++) {
      const extent = this.extents[i];
      if (!extent || extent.owner.pins > 0) return false;
      reclaimable += extent.length;
    }
    while (this.free < length) this.evictOldest();
    return true;
  }

  private evictOldest(): void {
    const oldest = this.extents[this.first];
    this.extents[this.first] = undefined as unknown as Extent;
    this.first++;
    this.tail = oldest.start + oldest.length;
    this.evictedExtents++;
    // Only an unpinned owner is evicted, so none of its reads is pending: its reservation goes too.
    const reservation = this.reservations.get(oldest.owner);
    if (reservation && reservation.start < this.tail) this.reservations.delete(oldest.owner);
    oldest.owner.onEvicted();
    // Compact the log now and then, so its array does not grow without bound.
    if (this.first > 1024 && this.first * 2 > this.extents.length) {
      this.extents = this.extents.slice(this.first);
      this.first = 0;
    }
  }

  /** Consecutive appends of one owner extend its last extent instead of logging a new one. */
  private logExtent(start: number, length: number, owner: StoreOwner): void {
    const last = this.extents[this.extents.length - 1];
    if (last && this.extents.length > this.first && last.owner === owner && last.start + last.length === start) {
      last.length += length;
      return;
    }
    this.extents.push({ start, length, owner });
  }

  /**
   * Allocates the first slab and commits the pages of its first `bytes` (a write to each page),
   * so that the first object's first appends take no page fault; returns the bytes committed.
   * Part of the proxy's warm-up; with prefault the worker commits everything anyway.
   */
  warmFirstSlab(bytes = FIRST_SLAB_WARM_BYTES): number {
    if (this.prefault) return 0;
    const n = Math.min(bytes, this.slabSize);
    this.slab(0).fill(0, 0, n);
    return n;
  }

  /**
   * Allocates every slab not yet allocated, without committing a page of them (the OS commits a
   * page when it is first written, as before), and returns how many there are. Part of the
   * proxy's warm-up: V8 counts each slab as external memory, and every 64 MiB of it allocated
   * while serving set off a full garbage collection (measured: over half the instructions of a
   * cold 16 MiB miss went to marking); allocated up front, that happens once, before listening.
   */
  allocateSlabs(): number {
    const count = this.capacity / this.slabSize;
    for (let i = 0; i < count; i++) this.slab(i);
    return count;
  }

  private slab(index: number): Buffer {
    // Allocated on first use; allocUnsafeSlow: the OS commits pages only as they are written.
    return (this.slabs[index] ??= Buffer.allocUnsafeSlow(this.slabSize));
  }

  /**
   * Drops every extent of owners that are gone (purged or replaced objects) at the tail, so their
   * space is reused first. Called by the index when it forgets an object; cheap when nothing is due.
   */
  reclaimTail(): void {
    while (this.first < this.extents.length) {
      const oldest = this.extents[this.first];
      if (oldest.owner.pins > 0 || !oldest.owner.dead) return;
      this.evictOldest();
    }
  }
}
