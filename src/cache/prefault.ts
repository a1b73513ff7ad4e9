// Committing the store's memory before it is used (`--store-prefault`). The kernel gives a fresh
// slab a page at the first write to it, one page fault per 4 KiB. Measured on this project's 2-core
// VM, that was 460 ms of CPU per GiB, paid by the cold misses that first fill the store: a 1 GiB
// cold miss ran at 600 MB/s on a fresh store and at 860 MB/s on a committed one. With prefault on,
// a worker thread takes those faults at startup instead, while the proxy already serves.
//
// The worker never changes a byte. It does a compare-and-swap of 0 for 0 on one word per page: that
// is a write access, so the page is faulted in. Either the word is 0 and stays 0, or the proxy
// already wrote there and the swap fails. The operation is atomic, so no concurrent store is lost.
import { Worker } from 'node:worker_threads';

/** Int32 words per 4 KiB page. Larger pages are faulted in just the same, at their first word. */
const PAGE_WORDS = 1024;

const WORKER_SOURCE = `
const { parentPort, workerData } = require('node:worker_threads');
for (const slab of workerData.slabs) {
  const words = new Int32Array(slab);
  for (let i = 0; i < words.length; i += ${PAGE_WORDS}) Atomics.compareExchange(words, i, 0, 0);
}
parentPort.postMessage('committed');
`;

/**
 * off        the store's pages are committed as they are first written (the default)
 * running    the worker is faulting the pages in
 * done       every page is committed
 * failed     the worker could not finish: the rest is committed as it is first written
 */
export type PrefaultState = 'off' | 'running' | 'done' | 'failed';

export class Prefault {
  private current: PrefaultState = 'running';
  private readonly worker: Worker;
  /** Settles when the worker is done (or has failed: the store works either way). */
  readonly settled: Promise<PrefaultState>;

  constructor(slabs: readonly SharedArrayBuffer[]) {
    this.worker = new Worker(WORKER_SOURCE, { eval: true, workerData: { slabs } });
    // The proxy's sockets keep the process alive; committing memory alone must not.
    this.worker.unref();
    this.settled = new Promise((resolve) => {
      const settle = (state: PrefaultState): void => {
        if (this.current === 'running') this.current = state;
        resolve(this.current);
      };
      this.worker.once('message', () => settle('done'));
      this.worker.once('error', () => settle('failed'));
      this.worker.once('exit', () => settle('failed'));
    });
  }

  get state(): PrefaultState {
    return this.current;
  }

  /** Stops the worker if it is still running (the store is being dropped). */
  async stop(): Promise<void> {
    if (this.current === 'running') await this.worker.terminate();
  }
}
