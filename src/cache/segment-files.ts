// B4: what the cache knows of each segmented file besides its segments: the identity its
// segments share (total length and validator), so that a segment that disagrees drops the others;
// and the URLs whose origin does not serve segments (it answered a segment request with a 200, an
// error, or a 206 we could not use), which take the ordinary path for a while.
import type { CacheIndex } from './index.js';
import { sameFile, segmentCount, segmentKey, type SegmentIdentity } from './segments.js';
import { ExpiringKeyMarks } from './key-marks.js';

interface FileRecord {
  readonly size: number;
  readonly identity: SegmentIdentity;
}

/** Files remembered at most; past it the oldest record goes (its segments stay until evicted). */
const MAX_FILES = 100_000;

export class SegmentFiles {
  private readonly files = new Map<string, FileRecord>();
  private readonly unsegmented = new ExpiringKeyMarks();

  /** The identity the segments of `key` (cut at `size`) agree on, if any is known. */
  identity(key: string, size: number): SegmentIdentity | undefined {
    const record = this.files.get(key);
    return record?.size === size ? record.identity : undefined;
  }

  /**
   * A segment of `key` arrived with `identity`. When it disagrees with the file's segments so far,
   * those are dropped from the index (B4: the file changed at the origin, or its segments were
   * never one file), and the new identity is the file's from now on. Returns whether it agreed.
   */
  agree(key: string, size: number, identity: SegmentIdentity, index: CacheIndex): boolean {
    const record = this.files.get(key);
    if (record && record.size === size && sameFile(record.identity, identity)) return true;
    if (record) this.dropSegments(key, record, index);
    this.files.delete(key);
    this.files.set(key, { size, identity });
    if (this.files.size > MAX_FILES) this.files.delete(this.files.keys().next().value as string);
    return record === undefined || record.size !== size;
  }

  /** Forgets the file and purges its segments (C4, a disagreement). Returns how many objects went. */
  forget(key: string, index: CacheIndex): number {
    const record = this.files.get(key);
    if (!record) return 0;
    this.files.delete(key);
    return this.dropSegments(key, record, index);
  }

  /** The origin does not serve segments of `key`: the ordinary path until `until` (ms since epoch). */
  markUnsegmented(key: string, until: number): void {
    this.unsegmented.mark(key, until);
  }

  isUnsegmented(key: string, now: number): boolean {
    return this.unsegmented.has(key, now);
  }

  /** I1, I3: the keys of the segments of `key` the cache may hold (none when the file is not known as segmented). */
  segmentKeys(key: string): string[] {
    const record = this.files.get(key);
    if (!record || record.identity.total === undefined) return [];
    return Array.from({ length: segmentCount(record.identity.total, record.size) }, (_, i) => segmentKey(key, i, record.size));
  }

  private dropSegments(key: string, record: FileRecord, index: CacheIndex): number {
    // Without a total we cannot know how many there were; a segmented file always has one (B4).
    const count = record.identity.total === undefined ? 0 : segmentCount(record.identity.total, record.size);
    let purged = 0;
    for (let i = 0; i < count; i++) purged += index.purge(segmentKey(key, i, record.size));
    return purged;
  }
}
