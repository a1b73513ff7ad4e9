// T2: the ESI parser. Incremental: feed it the template's body in whatever pieces it is stored in
// (the store's views); it emits the text between ESI markup as views of those pieces (no copy)
// and the includes as nodes. The result does not depend on how the body is split: every decision
// is taken on the same bytes whatever the split, holding back at most one unfinished construct
// (a tag of at most MAX_TAG bytes, or a few bytes that might open or close one).
//
// What is understood (ESI 1.0 as Fastly supports it):
//   <esi:include src="…" [alt="…"] [onerror="continue"]/>   (or with a separate </esi:include>)
//   <esi:remove>…</esi:remove>      the content is dropped, ESI markup in it included
//   <esi:comment text="…"/>          dropped
//   <!--esi … -->                    the delimiters are dropped; what is between is processed
// Names are case-sensitive (ESI is XML). Attribute values are quoted with " or ', and may use the
// XML entities &amp; &lt; &gt; &quot; &apos; and &#…;. Other `esi:` elements (try, choose, vars…)
// are not supported and go out as text, as does markup that is not a well-formed tag within
// MAX_TAG bytes; an <esi:remove> left open removes to the end of the document.
const MAX_TAG = 16 * 1024;

export type EsiNode =
  | { kind: 'text'; data: Buffer }
  | {
      kind: 'include';
      /** '' when the tag has no src (the include then fails). */
      src: string;
      alt?: string;
      /** onerror="continue": a failed include becomes nothing instead of failing the page. */
      continueOnError: boolean;
    };

type State = 'text' | 'markup' | 'tag' | 'remove';

const LT = 0x3c;
const GT = 0x3e;
const OPENERS = ['<esi:', '</esi:', '<!--esi'].map((s) => Buffer.from(s, 'latin1'));
const COMMENT_END = Buffer.from('-->', 'latin1');
const REMOVE_END = Buffer.from('</esi:remove>', 'latin1');
const EMPTY = Buffer.alloc(0);

const TAG = /^<(\/?)esi:([A-Za-z][\w.-]*)((?:\s[^]*?)?)\s*(\/?)>$/;
const ATTRIBUTE = /([A-Za-z_:][\w:.-]*)\s*=\s*(?:"([^"]*)"|'([^']*)')/g;
const ENTITY = /&(amp|lt|gt|quot|apos|#[0-9]+|#x[0-9A-Fa-f]+);/g;
const NAMED: Record<string, string> = { amp: '&', lt: '<', gt: '>', quot: '"', apos: "'" };

function decodeEntities(value: string): string {
  return value.replace(ENTITY, (whole, name: string) => {
    if (name[0] !== '#') return NAMED[name];
    const code = name[1] === 'x' ? parseInt(name.slice(2), 16) : parseInt(name.slice(1), 10);
    return code <= 0x10ffff ? String.fromCodePoint(code) : whole;
  });
}

/** The length of the longest suffix of buf[from..] that is a proper prefix of `pattern`. */
function partialSuffix(buf: Buffer, from: number, pattern: Buffer): number {
  const max = Math.min(pattern.length - 1, buf.length - from);
  for (let n = max; n > 0; n--) {
    if (buf.compare(pattern, 0, n, buf.length - n, buf.length) === 0) return n;
  }
  return 0;
}

export class EsiParser {
  private state: State = 'text';
  /** Inside `<!--esi … -->`: a `-->` ends it. */
  private inEsiComment = false;
  /** Bytes held back from the previous write (an unfinished construct). */
  private pending: Buffer = EMPTY;
  private readonly out: EsiNode[] = [];
  private ended = false;

  /** Feeds the next piece of the document. Text nodes may be views of `piece`: keep it meanwhile. */
  write(piece: Buffer): void {
    if (this.ended) throw new Error('EsiParser: write after end');
    if (piece.length === 0) return;
    const buf = this.pending.length > 0 ? Buffer.concat([this.pending, piece]) : piece;
    this.pending = EMPTY;
    this.scan(buf, false);
  }

  /** The document ended: returns every node, in order. */
  end(): EsiNode[] {
    if (!this.ended) {
      this.ended = true;
      const buf = this.pending;
      this.pending = EMPTY;
      this.scan(buf, true);
    }
    return this.out;
  }

  private text(data: Buffer): void {
    if (data.length > 0) this.out.push({ kind: 'text', data });
  }

  /** Runs the state machine over `buf`; what cannot be decided yet (not `final`) is held in `pending`. */
  private scan(buf: Buffer, final: boolean): void {
    let pos = 0;
    while (pos < buf.length || (final && this.state === 'markup')) {
      switch (this.state) {
        case 'text': {
          const lt = buf.indexOf(LT, pos);
          const close = this.inEsiComment ? buf.indexOf(COMMENT_END, pos) : -1;
          if (close >= 0 && (lt < 0 || close < lt)) {
            this.text(buf.subarray(pos, close));
            pos = close + COMMENT_END.length;
            this.inEsiComment = false;
            break;
          }
          if (lt >= 0) {
            this.text(buf.subarray(pos, lt));
            pos = lt;
            this.state = 'markup';
            break;
          }
          // No construct starts here; keep back what could be the start of a `-->`.
          const hold = this.inEsiComment && !final ? partialSuffix(buf, pos, COMMENT_END) : 0;
          this.text(buf.subarray(pos, buf.length - hold));
          return this.hold(buf, buf.length - hold);
        }
        case 'markup': {
          // At a '<': does an ESI construct open here?
          const rest = buf.length - pos;
          let undecided = false;
          let opened = -1;
          for (let i = 0; i < OPENERS.length; i++) {
            const opener = OPENERS[i];
            const n = Math.min(rest, opener.length);
            if (buf.compare(opener, 0, n, pos, pos + n) !== 0) continue;
            if (n === opener.length) opened = i;
            else undecided = true;
          }
          if (opened === 2) {
            pos += OPENERS[2].length;
            this.inEsiComment = true;
            this.state = 'text';
          } else if (opened >= 0) {
            this.state = 'tag';
          } else if (undecided && !final) {
            return this.hold(buf, pos);
          } else {
            // A '<' that opens nothing of ours (or the document ends inside a possible opener).
            this.text(buf.subarray(pos, pos + 1));
            pos += 1;
            this.state = 'text';
            if (rest === 0) return;
          }
          break;
        }
        case 'tag': {
          const end = this.tagEnd(buf, pos);
          if (end < 0) {
            // -1: no '>' yet; below: another '<' came first. Either way, once decided, not a tag.
            const decided = end < -1 || final || buf.length - pos >= MAX_TAG;
            if (!decided) return this.hold(buf, pos);
            // Not a tag after all: its '<' is text, and scanning goes on after it.
            this.text(buf.subarray(pos, pos + 1));
            pos += 1;
            this.state = 'text';
            break;
          }
          this.tag(buf.subarray(pos, end + 1));
          pos = end + 1;
          break;
        }
        case 'remove': {
          const close = buf.indexOf(REMOVE_END, pos);
          if (close >= 0) {
            pos = close + REMOVE_END.length;
            this.state = 'text';
            break;
          }
          // Dropped; only what could be the start of `</esi:remove>` is kept back.
          const hold = final ? 0 : partialSuffix(buf, pos, REMOVE_END);
          return this.hold(buf, buf.length - hold);
        }
      }
    }
  }

  private hold(buf: Buffer, from: number): void {
    this.pending = from < buf.length ? buf.subarray(from) : EMPTY;
  }

  /** The index of the '>' that ends the tag opening at `start` (quotes respected), within MAX_TAG; -1 if none. */
  private tagEnd(buf: Buffer, start: number): number {
    const limit = Math.min(buf.length, start + MAX_TAG);
    let quote = 0;
    for (let i = start + 1; i < limit; i++) {
      const c = buf[i];
      if (quote !== 0) {
        if (c === quote) quote = 0;
      } else if (c === 0x22 || c === 0x27) {
        quote = c;
      } else if (c === GT) {
        return i;
      } else if (c === LT) {
        return -2 - i; // another '<' before the end: not a tag (see tag())
      }
    }
    return -1;
  }

  /** A complete `<esi:…>` or `</esi:…>`. */
  private tag(bytes: Buffer): void {
    this.state = 'text';
    const match = TAG.exec(bytes.toString('utf8'));
    if (!match) return this.text(bytes);
    const [, closing, name, attributes, selfClosing] = match;
    switch (name) {
      case 'include': {
        if (closing) return; // the end of <esi:include …></esi:include>
        const attrs = new Map<string, string>();
        for (const [, attr, double, single] of attributes.matchAll(ATTRIBUTE)) {
          if (!attrs.has(attr)) attrs.set(attr, decodeEntities(double ?? single ?? ''));
        }
        const alt = attrs.get('alt');
        this.out.push({ kind: 'include', src: attrs.get('src') ?? '', ...(alt !== undefined ? { alt } : {}), continueOnError: attrs.get('onerror') === 'continue' });
        return;
      }
      case 'comment':
        return;
      case 'remove':
        if (!closing && !selfClosing) this.state = 'remove';
        return; // a stray </esi:remove> is dropped too
      default:
        return this.text(bytes);
    }
  }
}

/** Parses a whole document given as one buffer or as its pieces. */
export function parseEsi(document: Buffer | readonly Buffer[]): EsiNode[] {
  const parser = new EsiParser();
  for (const piece of Buffer.isBuffer(document) ? [document] : document) parser.write(piece);
  return parser.end();
}
