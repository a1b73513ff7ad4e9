// Header fields as they travel: names keep the sender's case, lookups ignore it, order is kept.
// Values are trimmed of surrounding whitespace (llhttp keeps trailing whitespace, RFC 9112 §5 says
// it is not part of the value).
import { lowerFieldName } from './field-names.js';

/**
 * Removes SP and HTAB at both ends: the only optional whitespace (RFC 9110 §5.6.3).
 * String.prototype.trim would also strip 0xA0 (NBSP in latin1), an obs-text byte of the value.
 */
export function trimOws(value: string): string {
  let start = 0;
  let end = value.length;
  while (start < end && (value.charCodeAt(start) === 0x20 || value.charCodeAt(start) === 0x09)) start++;
  while (end > start && (value.charCodeAt(end - 1) === 0x20 || value.charCodeAt(end - 1) === 0x09)) end--;
  return start === 0 && end === value.length ? value : value.slice(start, end);
}

/**
 * The first index from `from` where `names` holds `name`, or -1. Lengths are compared first: a
 * length is a field load, a string comparison a builtin call, and most names differ in length.
 */
function indexIn(names: readonly string[], name: string, from: number): number {
  const length = name.length;
  for (let i = from; i < names.length; i++) {
    const candidate = names[i];
    if (candidate.length === length && candidate === name) return i;
  }
  return -1;
}

export class HeaderFields {
  /** Flat list: name0, value0, name1, value1, ... */
  private readonly raw: string[];
  /**
   * Lower-cased names, built at the first lookup (a request is looked up a dozen times), or given
   * by the parser, which lower-cases them anyway; then kept in step with raw.
   */
  private lower: string[] | null;

  /** `lower`, when given, must be the lower-cased names of `raw`, in order (the parser has them). */
  constructor(raw: string[] = [], lower: string[] | null = null) {
    this.raw = raw;
    this.lower = lower;
  }

  static from(pairs: Iterable<readonly [string, string]>): HeaderFields {
    const raw: string[] = [];
    for (const [n, v] of pairs) raw.push(n, v);
    return new HeaderFields(raw);
  }

  get size(): number {
    return this.raw.length / 2;
  }

  private lowerNames(): string[] {
    if (this.lower === null) {
      const lower: string[] = new Array(this.raw.length / 2);
      for (let i = 0; i < this.raw.length; i += 2) lower[i / 2] = lowerFieldName(this.raw[i]);
      this.lower = lower;
    }
    return this.lower;
  }

  /**
   * The index of the first field called `name` (in any case), or -1. A name already in lower case
   * (the proxy's own literals) is found as it is, without lower-casing it: the stored names are in
   * lower case, so only a lower-case name can equal one.
   */
  private indexOf(name: string): number {
    const names = this.lowerNames();
    const i = indexIn(names, name, 0);
    if (i >= 0) return i;
    const lower = lowerFieldName(name);
    return lower === name ? -1 : indexIn(names, lower, 0);
  }

  /** The first value of a field, or undefined. */
  get(name: string): string | undefined {
    const i = this.indexOf(name);
    return i < 0 ? undefined : this.raw[2 * i + 1];
  }

  /** The first field name (as received) for which `test` of its lower-cased form holds, or undefined. */
  findName(test: (lowerName: string) => boolean): string | undefined {
    const names = this.lowerNames();
    for (let i = 0; i < names.length; i++) if (test(names[i])) return this.raw[2 * i];
    return undefined;
  }

  /** Every value of a field, in order. */
  getAll(name: string): string[] {
    const first = this.indexOf(name);
    if (first < 0) return [];
    const names = this.lowerNames();
    const lower = names[first];
    const out: string[] = [this.raw[2 * first + 1]];
    for (let i = indexIn(names, lower, first + 1); i >= 0; i = indexIn(names, lower, i + 1)) out.push(this.raw[2 * i + 1]);
    return out;
  }

  /** All values of a list-valued field joined, split on commas, trimmed, lower-cased, non-empty. */
  tokens(name: string): string[] {
    const out: string[] = [];
    for (const value of this.getAll(name)) {
      // Most such values are one token (`keep-alive`): no split for them.
      for (const part of value.includes(',') ? value.split(',') : [value]) {
        // Connection and Vary list field names, which the name table knows; the result is the same.
        const token = lowerFieldName(trimOws(part));
        if (token) out.push(token);
      }
    }
    return out;
  }

  has(name: string): boolean {
    return this.indexOf(name) >= 0;
  }

  append(name: string, value: string): this {
    this.raw.push(name, value);
    this.lower?.push(lowerFieldName(name));
    return this;
  }

  /** Replaces every value of `name` with one value, kept at the first occurrence's position. */
  set(name: string, value: string): this {
    const lower = lowerFieldName(name);
    const names = this.lowerNames();
    let placed = false;
    for (let i = 0; i < names.length; ) {
      if (names[i] !== lower) {
        i++;
      } else if (!placed) {
        this.raw[2 * i + 1] = value;
        placed = true;
        i++;
      } else {
        this.raw.splice(2 * i, 2);
        names.splice(i, 1);
      }
    }
    if (!placed) this.append(name, value);
    return this;
  }

  /**
   * Adds `item` to a comma-separated list field (Via, X-Forwarded-For): the values it has, joined,
   * then `item`, as one field at the place of the first (or last, when there is none).
   */
  appendToList(name: string, item: string): this {
    const lower = lowerFieldName(name);
    const names = this.lowerNames();
    let joined = '';
    for (let i = 0; i < names.length; i++) {
      if (names[i] === lower) joined += `${this.raw[2 * i + 1]}, `;
    }
    return joined ? this.set(name, joined + item) : this.append(name, item);
  }

  /** Removes every field whose lower-cased name is in `names`. */
  deleteAll(names: ReadonlySet<string>): this {
    return this.removeWhere((lowerName) => names.has(lowerName));
  }

  delete(name: string): this {
    const lower = lowerFieldName(name);
    // Most deletes find nothing: they then cost one search, no rewrite.
    if (!this.lowerNames().includes(lower)) return this;
    return this.removeWhere((lowerName) => lowerName === lower);
  }

  private removeWhere(drop: (lowerName: string) => boolean): this {
    const lower = this.lowerNames();
    let w = 0;
    for (let r = 0; r < lower.length; r++) {
      if (drop(lower[r])) continue;
      lower[w] = lower[r];
      this.raw[2 * w] = this.raw[2 * r];
      this.raw[2 * w + 1] = this.raw[2 * r + 1];
      w++;
    }
    // Setting an array's length is a runtime call even when it does not change.
    if (w !== lower.length) {
      lower.length = w;
      this.raw.length = 2 * w;
    }
    return this;
  }

  clone(): HeaderFields {
    const copy = new HeaderFields(this.raw.slice());
    copy.lower = this.lower?.slice() ?? null;
    return copy;
  }

  /** A copy without the fields whose lower-cased name `drop` says to leave out: clone and delete in one pass. */
  copyWithout(drop: (lowerName: string) => boolean): HeaderFields {
    const names = this.lowerNames();
    const raw: string[] = [];
    const lower: string[] = [];
    for (let i = 0; i < names.length; i++) {
      if (drop(names[i])) continue;
      raw.push(this.raw[2 * i], this.raw[2 * i + 1]);
      lower.push(names[i]);
    }
    const copy = new HeaderFields(raw);
    copy.lower = lower;
    return copy;
  }

  *entries(): IterableIterator<[string, string]> {
    for (let i = 0; i < this.raw.length; i += 2) yield [this.raw[i], this.raw[i + 1]];
  }

  [Symbol.iterator](): IterableIterator<[string, string]> {
    return this.entries();
  }

  /** `Name: value\r\n` lines, latin1, in order. */
  toLines(): string {
    let out = '';
    for (let i = 0; i < this.raw.length; i += 2) out += `${this.raw[i]}: ${this.raw[i + 1]}\r\n`;
    return out;
  }

  toObject(): Record<string, string> {
    const out: Record<string, string> = {};
    for (let i = 0; i < this.raw.length; i += 2) {
      const k = lowerFieldName(this.raw[i]);
      out[k] = k in out ? `${out[k]}, ${this.raw[i + 1]}` : this.raw[i + 1];
    }
    return out;
  }
}
