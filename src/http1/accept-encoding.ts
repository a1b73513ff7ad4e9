// Accept-Encoding (RFC 9110 §12.5.3): which content codings a client takes, q-values respected,
// and the normalisation Fastly applies to it so that `Vary: Accept-Encoding` makes few variants:
// `br`, `gzip` or none, the best coding we can produce that the client accepts (T1, C1).
import { trimOws, type HeaderFields } from './headers.js';

/** The content codings the proxy produces on the fly (T1). */
export type ContentCoding = 'gzip' | 'br';

/** qvalue = ( "0" [ "." 0*3DIGIT ] ) / ( "1" [ "." 0*3("0") ] ) */
const QVALUE = /^(?:0(?:\.\d{0,3})?|1(?:\.0{0,3})?)$/;

/**
 * Coding (lower-case; `x-gzip` read as `gzip`) → q, for every well-formed member of the request's
 * Accept-Encoding; undefined when the request has none. A member whose q is malformed is skipped;
 * a coding listed twice keeps its first q.
 */
export function acceptedCodings(headers: HeaderFields): Map<string, number> | undefined {
  const values = headers.getAll('accept-encoding');
  if (values.length === 0) return undefined;
  const codings = new Map<string, number>();
  for (const member of values.join(',').split(',')) {
    const [name, ...params] = member.split(';');
    let coding = trimOws(name).toLowerCase();
    if (!coding) continue;
    if (coding === 'x-gzip') coding = 'gzip';
    let q = 1;
    let valid = true;
    for (const param of params) {
      const eq = param.indexOf('=');
      if (eq < 0 || trimOws(param.slice(0, eq)).toLowerCase() !== 'q') continue;
      const value = trimOws(param.slice(eq + 1));
      if (QVALUE.test(value)) q = Number(value);
      else valid = false;
    }
    if (valid && !codings.has(coding)) codings.set(coding, q);
  }
  return codings;
}

/** The q the request gives `coding` (a listed `*` covers codings not listed); 0 when not accepted. */
function qualityOf(codings: Map<string, number> | undefined, coding: string): number {
  if (!codings) return 0;
  return codings.get(coding) ?? codings.get('*') ?? 0;
}

/**
 * Does the request accept `coding`? Without Accept-Encoding, no: RFC 9110 would allow any coding,
 * but a client that sends none expects identity, and every CDN serves it identity.
 */
export function acceptsCoding(headers: HeaderFields, coding: ContentCoding): boolean {
  return qualityOf(acceptedCodings(headers), coding) > 0;
}

/**
 * Fastly's normalisation: `br` or `gzip`, whichever the client accepts with the higher q (`br` on
 * a tie), or '' when it accepts neither. Every Accept-Encoding a client can send maps to one of
 * these three, so an object that varies on it has at most three variants.
 */
export function normalizedAcceptEncoding(headers: HeaderFields): ContentCoding | '' {
  const codings = acceptedCodings(headers);
  const br = qualityOf(codings, 'br');
  const gzip = qualityOf(codings, 'gzip');
  if (br > 0 && br >= gzip) return 'br';
  return gzip > 0 ? 'gzip' : '';
}
