// B4 (with B1, O2, R2) as a property on real loopback sockets: for any file length, segment size,
// client range (and If-Range), origin arrival schedule, failure point and a second client joining (collapsing), a client gets exactly the bytes of its
// range, or a prefix of them and an abrupt end; never a wrong byte. A second request then gets
// them whole, and the origin has seen every segment at most once, except the one that failed
// (which was not cached, so it is fetched again).
//
// One origin and one proxy serve every run; each run has its own path (its own cache keys) and
// its segment size is set per request by the recv hook. The origin closes the connection
// prematurely (a clean FIN inside a Content-Length body, which the proxy must read as O2) at the
// failure point, the first time the segment holding it is asked for.
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startProxy, type RunningProxy } from '../support/proxy.js';
import { startScriptedOrigin, type ScriptedOrigin } from '../support/scripted-origin.js';
import { patternBody, patternBytes } from '../support/bytes.js';
import { parseResponses, sendRaw, type ParsedResponse } from '../support/raw-client.js';
import { delay } from '../support/ports.js';
import { requestText } from '../support/requests.js';
import { parseRange, resolveRange } from '../../src/http1/range.js';
import { fcOptions } from '../support/fc.js';

interface Scenario {
  length: number;
  size: number;
  range: string | undefined;
  /** If-Range: the file's strong ETag (the range applies), another one (the whole file), or none. */
  ifRange: string | undefined;
  chunk: number;
  gapMs: number;
  failAt: number | undefined;
  /** A second client, for the whole file, arrives this many ms after the first (collapsing, R2). */
  joinAfterMs: number | undefined;
}

/** Per path: the file, its scenario, and which segment starts have failed once already. */
const runs = new Map<string, { scenario: Scenario; failed: Set<number> }>();
let origin: ScriptedOrigin;
let proxy: RunningProxy;

beforeAll(async () => {
  origin = await startScriptedOrigin(async (req, res) => {
    const run = runs.get(req.target)!;
    const { length, chunk, gapMs, failAt } = run.scenario;
    const body = patternBody(length);
    const match = /^bytes=(\d+)-(\d+)$/.exec(req.header('range') ?? '');
    if (!match) return res.send({ headers: [['Cache-Control', 'max-age=300'], ['ETag', '"p"']], body });
    const start = Number(match[1]);
    if (start >= length) return res.send({ status: 416, headers: [['Content-Range', `bytes */${length}`]] });
    const end = Math.min(Number(match[2]) + 1, length);
    const headers: [string, string][] = [['Cache-Control', 'max-age=300'], ['ETag', '"p"'], ['Content-Range', `bytes ${start}-${end - 1}/${length}`]];
    const fails = failAt !== undefined && failAt >= start && failAt < end && !run.failed.has(start);
    if (fails) run.failed.add(start);
    await res.send({ status: 206, headers, body: body.subarray(start, end), chunkSizes: [chunk], gapMs, failAt: fails ? { byte: failAt - start, how: 'close' } : undefined });
  });
  proxy = await startProxy(origin.url, {
    storeSlabSize: 1024 * 1024,
    hooks: {
      recv(ctx) {
        const run = runs.get(ctx.path);
        if (run) ctx.segmentSize = run.scenario.size;
      },
    },
  });
});

afterAll(async () => {
  await proxy?.close();
  await origin?.close();
});

const scenario: fc.Arbitrary<Scenario> = fc
  .record({
    length: fc.integer({ min: 1, max: 3000 }),
    segments: fc.integer({ min: 1, max: 12 }),
    rangeKind: fc.constantFrom('none', 'int', 'open', 'suffix'),
    a: fc.nat(3200),
    b: fc.nat(3200),
    chunk: fc.integer({ min: 1, max: 700 }),
    gapMs: fc.constantFrom(0, 0, 1),
    fail: fc.option(fc.nat(2999), { nil: undefined }),
    joinAfterMs: fc.option(fc.integer({ min: 0, max: 5 }), { nil: undefined }),
    ifRange: fc.constantFrom(undefined, undefined, '"p"', '"q"'),
  })
  .map(({ length, segments, rangeKind, a, b, chunk, gapMs, fail, joinAfterMs, ifRange }) => ({
    joinAfterMs,
    ifRange,
    length,
    size: Math.max(1, Math.ceil(length / segments)),
    range: rangeKind === 'none' ? undefined : rangeKind === 'int' ? `bytes=${Math.min(a, b)}-${Math.max(a, b)}` : rangeKind === 'open' ? `bytes=${a}-` : `bytes=-${a}`,
    chunk,
    gapMs,
    failAt: fail === undefined ? undefined : fail % length,
  }));

let counter = 0;

/** Exactly `expected`, or a prefix of it cut short (O2), or a 503 before any head went out. */
function expectExactOrCut(res: ParsedResponse, status: number, expected: Buffer): void {
  if (res.status === 503) return;
  expect(res.status).toBe(status);
  expect(res.body.equals(expected.subarray(0, res.body.length)), 'never a wrong byte').toBe(true);
  if (res.complete) expect(res.body.length).toBe(expected.length);
}

async function get(path: string, range: string | undefined, ifRange?: string) {
  const headers: [string, string][] = range ? [['Range', range]] : [];
  if (range && ifRange) headers.push(['If-Range', ifRange]);
  const exchange = await sendRaw(proxy.port, requestText(path, { host: 'segprop.test', headers }), { idleMs: 3000 });
  return parseResponses(exchange, ['GET'], { closedCleanly: exchange.error === undefined })[0];
}

describe('segmented caching (property, real sockets)', () => {
  it('B4, B1, O2, R2: exactly the bytes of the range or an abrupt end, never wrong bytes; each segment fetched at most once while cached', async () => {
    await fc.assert(
      fc.asyncProperty(scenario, async (s) => {
        const path = `/p/${++counter}`;
        runs.set(path, { scenario: s, failed: new Set() });
        const honoured = s.range !== undefined && s.ifRange !== '"q"';
        const resolved = resolveRange(parseRange(honoured ? [s.range!] : []), s.length);
        const [start, end, status] = resolved.kind === 'partial' ? [resolved.start, resolved.end, 206] : resolved.kind === 'whole' ? [0, s.length, 200] : [0, 0, 416];
        const expected = patternBytes(start, end - start);

        const joiner = s.joinAfterMs === undefined ? undefined : delay(s.joinAfterMs).then(() => get(path, undefined));
        const first = await get(path, s.range, s.ifRange);
        expectExactOrCut(first, status, expected);
        if (joiner) expectExactOrCut(await joiner, 200, patternBytes(0, s.length));
        const second = await get(path, s.range, s.ifRange);
        expect(second.status).toBe(status);
        expect(second.complete).toBe(true);
        expect(second.body.equals(expected)).toBe(true);

        const asked = origin.requests.filter((r) => r.target === path).map((r) => r.header('range')!);
        const counts = new Map<string, number>();
        for (const r of asked) counts.set(r, (counts.get(r) ?? 0) + 1);
        const failedStarts = runs.get(path)!.failed;
        for (const [range, count] of counts) {
          const segmentStart = Number(/^bytes=(\d+)-/.exec(range)![1]);
          expect(count, `${range} fetched ${count} times`).toBeLessThanOrEqual(failedStarts.has(segmentStart) ? 2 : 1);
        }
        runs.delete(path);
      }),
      fcOptions(40),
    );
  });
});
