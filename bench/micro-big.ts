// Micro benchmarks of the big-body stages changed for issue 18 (helper "big"), socket-free:
//   npm run build && node dist/bench/micro-big.js      (env BENCH_TIME = ms per task, default 1000)
//
// A body byte from the origin used to be read by the kernel into a read buffer of ours and then
// copied into the store (RingStore.append); it is now read by the kernel straight into bytes the
// store reserved (RingStore.reserve), and append() of those bytes only records them. The kernel's
// copy is the same in both (a socket read into some memory), so these rows measure what differs:
// the copy by append() against the bookkeeping of an in-place append. The ring is committed first
// (one lap around it), as it is in a running proxy; its owner is unpinned and dead, so it wraps.
import { RingStore, type StoreOwner } from '../src/cache/store.js';
import { runMicroSuite } from './micro-suite.js';

const RING = 64 * 1024 * 1024;
const SLAB = 16 * 1024 * 1024;

class Gone implements StoreOwner {
  readonly pins = 0;
  readonly dead = true;
  onEvicted(): void {}
}

interface Spec {
  name: string;
  bytesPerOp: number;
  fn: () => void;
  check: () => string | null;
}

/** The copy path: a reused read buffer (the read arena's), appended by copying. */
function copyAppend(size: number): Spec {
  const store = new RingStore(RING, SLAB);
  const owner = new Gone();
  const readBuffer = Buffer.alloc(size, 0x61);
  for (let i = 0; i < RING / size; i++) store.append(readBuffer, owner); // commit the ring
  const copiedBefore = store.bytesCopied;
  let ops = 0;
  return {
    name: `store append ${size / 1024} KiB, copied from a read buffer (before)`,
    bytesPerOp: size,
    fn: () => {
      store.append(readBuffer, owner);
      ops++;
    },
    check: () => (store.bytesCopied - copiedBefore === ops * size ? null : 'bytes were not copied'),
  };
}

/** The in-place path: reserve, (the kernel reads into the reservation), append of the reserved bytes. */
function inPlaceAppend(size: number): Spec {
  const store = new RingStore(RING, SLAB);
  const owner = new Gone();
  for (let i = 0; i < RING / size; i++) store.append(Buffer.alloc(size), owner); // commit the ring
  const copiedBefore = store.bytesCopied;
  return {
    name: `store reserve + append ${size / 1024} KiB in place (after)`,
    bytesPerOp: size,
    fn: () => {
      const target = store.reserve(owner, size)!;
      store.append(target, owner);
    },
    check: () => (store.bytesCopied === copiedBefore ? null : `${store.bytesCopied - copiedBefore} bytes copied`),
  };
}

await runMicroSuite(
  'streamcache micro benchmarks (big bodies: the origin body into the store)',
  [copyAppend(64 * 1024), inPlaceAppend(64 * 1024), copyAppend(1024 * 1024), inPlaceAppend(1024 * 1024)],
  { footer: ["MB/s = body bytes appended per second, 1 MB = 10^6 bytes. The kernel's read (the same in both paths) is not in these rows."] },
);
