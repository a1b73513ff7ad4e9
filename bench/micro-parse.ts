// Micro benchmarks of the request parse stage (issue 18): a hit's request head, parsed and looked up.
//   npm run build && node dist/bench/micro-parse.js        (env BENCH_TIME = ms per task, default 1000)
// Rows: wrk's two-line GET and a browser's 14-field GET through RequestParser.feed; the lookups a
// hit makes on such a head (lower-case literals, present and absent); the field-name table beside
// what it replaces (toLowerCase; a cut string lower-cased). Time on a shared machine is noise: for
// before/after comparisons use instruction counts (bench/stages.ts), these rows are for quiet runs.
import { knownSpelling, lowerFieldName } from '../src/http1/field-names.js';
import { RequestParser, type BodyFraming, type MessageEvents, type RequestHead } from '../src/http1/index.js';
import { runMicroSuite, type MicroTask } from './micro-suite.js';


/** What wrk sends (bench/hit.ts): the port varies so inputs differ. */
const wrkRequest = (n: number): string => `GET /hit HTTP/1.1\r\nHost: 127.0.0.1:${40000 + (n % 1000)}\r\n\r\n`;

/** A Chromium GET for a script over HTTP/1.1: 14 fields, in its order and case. */
const browserRequest = (n: number): string =>
  `GET /assets/app.js?v=${n} HTTP/1.1\r\n` +
  'Host: www.example.com\r\n' +
  'Connection: keep-alive\r\n' +
  'sec-ch-ua: "Chromium";v="120", "Not?A_Brand";v="8"\r\n' +
  'sec-ch-ua-mobile: ?0\r\n' +
  'User-Agent: Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0 Safari/537.36\r\n' +
  'sec-ch-ua-platform: "Linux"\r\n' +
  'Accept: */*\r\n' +
  'Sec-Fetch-Site: same-origin\r\n' +
  'Sec-Fetch-Mode: no-cors\r\n' +
  'Sec-Fetch-Dest: script\r\n' +
  'Referer: https://www.example.com/\r\n' +
  'Accept-Encoding: gzip, deflate, br\r\n' +
  'Accept-Language: en-US,en;q=0.9\r\n' +
  `Cookie: session=${n}a1b2c3d4e5f6; theme=dark\r\n` +
  '\r\n';

/** 1024 separately allocated inputs, so no iteration re-parses a buffer it just parsed. */
const pool = (make: (n: number) => string): Buffer[] => Array.from({ length: 1024 }, (_, n) => Buffer.from(make(n), 'latin1'));
const WRK = pool(wrkRequest);
const BROWSER = pool(browserRequest);

class Keep implements MessageEvents<RequestHead> {
  heads: RequestHead[] = [];
  completes = 0;
  onHead(head: RequestHead, _framing: BodyFraming): void {
    if (this.heads.length < 1) this.heads.push(head);
  }
  onBody(): void {}
  onComplete(): void {
    this.completes++;
  }
}

function parseOne(input: Buffer): RequestHead {
  const keep = new Keep();
  const parser = new RequestParser(keep);
  if (parser.feed(input)) throw new Error('parse failed');
  return keep.heads[0];
}

/** The lookups a hit makes on its request (client connection, validation, key, recv, the cache flow). */
function hitLookups(head: RequestHead): number {
  const h = head.headers;
  let n = h.tokens('connection').length + h.getAll('host').length + (h.get('host')?.length ?? 0);
  if (h.has('authorization')) n++;
  if (h.has('content-length') || h.has('transfer-encoding')) n++;
  if (h.get('range') !== undefined) n++;
  if (h.get('if-none-match') !== undefined) n++;
  if (h.get('if-modified-since') !== undefined) n++;
  if (h.get('cache-control') !== undefined) n++;
  if (h.get('accept-encoding') !== undefined) n++;
  return n;
}

/** Every task here loops a synchronous fn `batch` times per sample. */
type Spec = MicroTask & { batch: number };

let sink: unknown;
const specs: Spec[] = [];

for (const [label, inputs] of [
  [`wrk GET (${WRK[0].length} B, 1 field)`, WRK],
  [`browser GET (${BROWSER[0].length} B, 14 fields)`, BROWSER],
] as const) {
  const keep = new Keep();
  const parser = new RequestParser(keep);
  let i = 0;
  let fed = 0;
  specs.push({
    name: `parse ${label}`,
    batch: 32,
    fn: () => {
      if (parser.feed(inputs[i++ & 1023])) throw new Error('parse failed');
      fed++;
    },
    check: () => (keep.completes === fed ? null : `${keep.completes} requests completed of ${fed} fed`),
  });
}

for (const [label, input] of [
  ['wrk head', WRK[0]],
  ['browser head', BROWSER[0]],
] as const) {
  const head = parseOne(input);
  const expected = hitLookups(head);
  let answered = 0;
  specs.push({
    name: `hit lookups on the ${label} (11, lower-case literals)`,
    batch: 64,
    fn: () => {
      answered = hitLookups(head);
    },
    check: () => (answered === expected ? null : `lookups answered ${answered}, expected ${expected}`),
  });
}

{
  const names = ['content-length', 'host', 'if-modified-since', 'accept-encoding'];
  let k = 0;
  specs.push({ name: 'lowerFieldName of a lower-case literal', batch: 256, fn: () => void (sink = lowerFieldName(names[k++ & 3])) });
  specs.push({ name: '  reference: toLowerCase of the same literal', batch: 256, fn: () => void (sink = names[k++ & 3].toLowerCase()) });
}

{
  // The 14 names of the browser GET, where the parser sees them: spans of the input.
  const text = BROWSER[0].toString('latin1');
  const spans: number[] = [];
  for (const m of text.matchAll(/\r\n([^:\r\n]+):/g)) spans.push(m.index + 2, m.index + 2 + m[1].length);
  const input = new DataView(BROWSER[0].buffer, BROWSER[0].byteOffset, BROWSER[0].length);
  let k = 0;
  let unmatched = 0;
  specs.push({
    name: 'knownSpelling of a received name (browser names)',
    batch: 256,
    fn: () => {
      const j = (k++ % 14) * 2;
      if (knownSpelling(input, spans[j], spans[j + 1] - spans[j]) === undefined) unmatched++;
    },
    check: () => (spans.length === 28 && unmatched === 0 ? null : `${unmatched} browser names not matched`),
  });
  specs.push({
    name: '  reference: cut the name and toLowerCase it',
    batch: 256,
    fn: () => {
      const j = (k++ % 14) * 2;
      sink = text.slice(spans[j], spans[j + 1]).toLowerCase();
    },
  });
}

await runMicroSuite('streamcache micro benchmarks: the request parse stage (src/http1)', specs);
void sink;
