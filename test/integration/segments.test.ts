// B4 segmented caching on real sockets: the origin is asked for one segment at a time, every
// segment is an object of its own, and clients get whole files and ranges walked from them.
import { describe, expect, it } from 'vitest';
import { cleanupAfterEach, startOriginAndProxy } from '../support/proxy.js';
import { requestKit } from '../support/requests.js';
import { patternBody, patternBytes, PatternChecker, type BodySource } from '../support/bytes.js';
import { sendRaw, parseResponses } from '../support/raw-client.js';
import type { ReceivedRequest, ScriptedResponder } from '../support/scripted-origin.js';

const { request, fetchOnce } = requestKit({ host: 'segments.test' });
const cleanups = cleanupAfterEach();

const SIZE = 100;
const BODY = patternBytes(0, 350);
const fileHeaders: [string, string][] = [['Cache-Control', 'max-age=60'], ['ETag', '"v1"']];

/** Answers `Range: bytes=a-b` with a 206 of those bytes of `body`, anything else with the whole body. */
async function serveRange(req: ReceivedRequest, res: ScriptedResponder, body: BodySource, headers: [string, string][] = fileHeaders): Promise<void> {
  const match = /^bytes=(\d+)-(\d+)$/.exec(req.header('range') ?? '');
  if (!match) return res.send({ headers, body });
  const start = Number(match[1]);
  if (start >= body.length) return res.send({ status: 416, headers: [['Content-Range', `bytes */${body.length}`]] });
  const end = Math.min(Number(match[2]) + 1, body.length);
  await res.send({ status: 206, headers: [...headers, ['Content-Range', `bytes ${start}-${end - 1}/${body.length}`]], body: body.subarray(start, end) });
}

const ranges = (requests: readonly ReceivedRequest[]) => requests.map((r) => r.header('range') ?? 'none');

async function segmented(script: (req: ReceivedRequest, res: ScriptedResponder) => Promise<void> = (req, res) => serveRange(req, res, BODY), options = {}) {
  return startOriginAndProxy(cleanups, script, { segmentSize: SIZE, ...options });
}

describe('B4: segmented caching', () => {
  it('B4: a whole-file GET is fetched one segment at a time and served as one 200 with the total Content-Length; the next is all hits', async () => {
    const { origin, proxy } = await segmented();
    const res = await fetchOnce(proxy.port, '/file');
    expect(res.status).toBe(200);
    expect(res.header('content-length')).toBe('350');
    expect(res.header('content-range')).toBeUndefined();
    expect(res.header('accept-ranges')).toBe('bytes');
    expect(res.body.equals(BODY)).toBe(true);
    expect(ranges(origin.requests)).toEqual(['bytes=0-99', 'bytes=100-199', 'bytes=200-299', 'bytes=300-399']);
    const again = await fetchOnce(proxy.port, '/file');
    expect(again.header('x-cache')).toBe('HIT');
    expect(again.body.equals(BODY)).toBe(true);
    expect(origin.requests).toHaveLength(4);
    expect(proxy.proxy.stats().segments).toEqual({ hits: 4, collapsed: 0, fetches: 4, unsegmented: 0 });
  });

  it('B4: a range in the middle fetches only its segments and gets 206', async () => {
    const { origin, proxy } = await segmented();
    const res = await fetchOnce(proxy.port, '/file', { headers: [['Range', 'bytes=150-249']] });
    expect(res.status).toBe(206);
    expect(res.header('content-range')).toBe('bytes 150-249/350');
    expect(res.body.equals(BODY.subarray(150, 250))).toBe(true);
    expect(ranges(origin.requests)).toEqual(['bytes=100-199', 'bytes=200-299']);
  });

  it('B4: a suffix range of a file never seen learns the total from segment 0; once known, only its segments', async () => {
    const { origin, proxy } = await segmented();
    const first = await fetchOnce(proxy.port, '/file', { headers: [['Range', 'bytes=-20']] });
    expect(first.status).toBe(206);
    expect(first.body.equals(BODY.subarray(330))).toBe(true);
    expect(ranges(origin.requests)).toEqual(['bytes=0-99', 'bytes=300-399']);
    const second = await fetchOnce(proxy.port, '/file', { headers: [['Range', 'bytes=-160']] });
    expect(second.body.equals(BODY.subarray(190))).toBe(true);
    expect(ranges(origin.requests).slice(2)).toEqual(['bytes=100-199', 'bytes=200-299']);
  });

  it('B4, B1: a range in the middle whose If-Range does not match gets the whole file, in order', async () => {
    const { proxy } = await segmented();
    const res = await fetchOnce(proxy.port, '/file', { headers: [['Range', 'bytes=250-'], ['If-Range', '"other"']] });
    expect(res.status).toBe(200);
    expect(res.header('content-length')).toBe('350');
    expect(res.body.equals(BODY)).toBe(true);
  });

  it('B4, B1: an unsatisfiable range gets 416; HEAD gets the whole head; If-None-Match gets 304', async () => {
    const { proxy } = await segmented();
    const unsatisfiable = await fetchOnce(proxy.port, '/file', { headers: [['Range', 'bytes=350-']] });
    expect(unsatisfiable.status).toBe(416);
    expect(unsatisfiable.header('content-range')).toBe('bytes */350');
    const head = await fetchOnce(proxy.port, '/file', { method: 'HEAD' });
    expect(head.status).toBe(200);
    expect(head.header('content-length')).toBe('350');
    const notModified = await fetchOnce(proxy.port, '/file', { headers: [['If-None-Match', '"v1"']] });
    expect(notModified.status).toBe(304);
  });

  it('B4, R2: clients arriving together collapse per segment: the origin sees each segment once', async () => {
    const { origin, proxy } = await segmented(async (req, res) => {
      await res.sleep(30);
      await serveRange(req, res, BODY);
    });
    const results = await Promise.all([0, 1, 2, 3].map(() => fetchOnce(proxy.port, '/file')));
    for (const res of results) expect(res.body.equals(BODY)).toBe(true);
    expect(ranges(origin.requests).sort()).toEqual(['bytes=0-99', 'bytes=100-199', 'bytes=200-299', 'bytes=300-399']);
  });

  it('B4: an origin that answers a segment request with 200 gets the file served (and cached) as an ordinary object', async () => {
    const { origin, proxy } = await segmented((_req, res) => res.send({ headers: fileHeaders, body: BODY }));
    const res = await fetchOnce(proxy.port, '/file', { headers: [['Range', 'bytes=10-19']] });
    expect(res.status).toBe(206);
    expect(res.body.equals(BODY.subarray(10, 20))).toBe(true);
    const hit = await fetchOnce(proxy.port, '/file');
    expect(hit.header('x-cache')).toBe('HIT');
    expect(hit.body.equals(BODY)).toBe(true);
    // The segment request, then the ordinary fetch (without Range, B3).
    expect(ranges(origin.requests)).toEqual(['bytes=0-99', 'none']);
  });

  it('B4: a 206 without a total length, an uncacheable segment or an error status: the file takes the ordinary path', async () => {
    const { origin, proxy } = await segmented(async (req, res) => {
      const range = req.header('range');
      if (req.target === '/no-total' && range) return res.send({ status: 206, headers: [...fileHeaders, ['Content-Range', 'bytes 0-99/*']], body: BODY.subarray(0, 100) });
      if (req.target === '/no-store') return serveRange(req, res, BODY, [['Cache-Control', 'no-store']]);
      if (req.target === '/missing') return res.send({ status: 404, headers: [['Cache-Control', 'max-age=60']], body: 'no such file' });
      await serveRange(req, res, BODY);
    });
    const noTotal = await fetchOnce(proxy.port, '/no-total');
    expect(noTotal.status).toBe(200);
    expect(noTotal.body.equals(BODY)).toBe(true);
    const noStore = await fetchOnce(proxy.port, '/no-store');
    expect(noStore.status).toBe(200);
    expect(noStore.body.equals(BODY)).toBe(true);
    const missing = await fetchOnce(proxy.port, '/missing');
    expect(missing.status).toBe(404);
    expect(missing.body.toString()).toBe('no such file');
    expect(proxy.proxy.stats().segments.unsegmented).toBe(3);
    // Each: one segment request, then the ordinary request (no Range).
    expect(origin.requests.map((r) => `${r.target} ${r.header('range') ?? 'none'}`)).toEqual([
      '/no-total bytes=0-99',
      '/no-total none',
      '/no-store bytes=0-99',
      '/no-store none',
      '/missing bytes=0-99',
      '/missing none',
    ]);
  });

  it('B4: segments that disagree on the validator: the response is cut (O2) and the segments are dropped and refetched', async () => {
    let version = 1;
    const { origin, proxy } = await segmented(async (req, res) => {
      // The file changes at the origin just before segment 2 is asked for.
      if (req.header('range') === 'bytes=200-299') version = 2;
      await serveRange(req, res, BODY, [['Cache-Control', 'max-age=60'], ['ETag', `"v${version}"`]]);
    });
    const exchange = await sendRaw(proxy.port, request('/file'), { idleMs: 2000 });
    const [cut] = parseResponses(exchange, ['GET'], { closedCleanly: false });
    expect(cut.status).toBe(200);
    expect(cut.complete).toBe(false);
    expect(cut.body.equals(BODY.subarray(0, cut.body.length))).toBe(true);
    expect(cut.body.length).toBeLessThanOrEqual(200);
    const fetchedBefore = origin.requests.length;
    const whole = await fetchOnce(proxy.port, '/file');
    expect(whole.body.equals(BODY)).toBe(true);
    // Segments 0 and 1 (version 1) were dropped with the file: everything is fetched again.
    expect(ranges(origin.requests.slice(fetchedBefore))[0]).toBe('bytes=0-99');
  });

  it('B4, O2: an origin failing mid-segment cuts a Content-Length client short; the failed segment is never cached', async () => {
    let failures = 1;
    const { origin, proxy } = await segmented(async (req, res) => {
      if (req.header('range') === 'bytes=200-299' && failures-- > 0) {
        await res.send({ status: 206, headers: [...fileHeaders, ['Content-Range', 'bytes 200-299/350']], body: BODY.subarray(200, 300), failAt: { byte: 40, how: 'reset' } });
        return;
      }
      await serveRange(req, res, BODY);
    });
    const exchange = await sendRaw(proxy.port, request('/file'), { idleMs: 2000 });
    const [cut] = parseResponses(exchange, ['GET'], { closedCleanly: false });
    expect(exchange.closedByServer).toBe(true);
    expect(cut.header('content-length')).toBe('350');
    expect(cut.complete).toBe(false);
    expect(cut.body.equals(BODY.subarray(0, cut.body.length))).toBe(true);
    const whole = await fetchOnce(proxy.port, '/file');
    expect(whole.body.equals(BODY)).toBe(true);
    // Segments 0 and 1 were hits; the failed segment 2 is fetched again, then 3.
    expect(ranges(origin.requests)).toEqual(['bytes=0-99', 'bytes=100-199', 'bytes=200-299', 'bytes=200-299', 'bytes=300-399']);
  });

  it('B4, F3: an HTTP/1.0 client gets the file with Content-Length', async () => {
    const { proxy } = await segmented();
    const res = await fetchOnce(proxy.port, '/file', { version: '1.0' });
    expect(res.status).toBe(200);
    expect(res.header('content-length')).toBe('350');
    expect(res.header('transfer-encoding')).toBeUndefined();
    expect(res.body.equals(BODY)).toBe(true);
  });

  it('B4, L1: the maximum object size applies per segment: a file larger than it is served', async () => {
    const { proxy } = await segmented(undefined, { maxObjectSize: 150, maxObjectSizeBuffered: 150 });
    const res = await fetchOnce(proxy.port, '/file');
    expect(res.status).toBe(200);
    expect(res.body.equals(BODY)).toBe(true);
  });

  it('B4: a rule turns segmenting on for its paths only', async () => {
    const { origin, proxy } = await startOriginAndProxy(cleanups, (req, res) => serveRange(req, res, BODY), { rules: [{ path: '/video/*', segmentSize: SIZE }] });
    expect((await fetchOnce(proxy.port, '/video/a')).body.equals(BODY)).toBe(true);
    expect((await fetchOnce(proxy.port, '/other')).body.equals(BODY)).toBe(true);
    expect(ranges(origin.requests)).toEqual(['bytes=0-99', 'bytes=100-199', 'bytes=200-299', 'bytes=300-399', 'none']);
  });

  it('B4, L5: a 64 MiB file through an 8 MiB store is served byte-exact, its hot segments stay cached', async () => {
    const length = 64 * 1024 * 1024;
    const body = patternBody(length);
    const { origin, proxy } = await startOriginAndProxy(cleanups, (req, res) => serveRange(req, res, body), {
      segmentSize: 1024 * 1024,
      storeSize: 8 * 1024 * 1024,
      storeSlabSize: 1024 * 1024,
    });
    const checker = new PatternChecker();
    let headSeen = false;
    const exchange = await sendRaw(proxy.port, request('/big'), {
      idleMs: 5000,
      maxRetain: 4096,
      onData(chunk) {
        if (!headSeen) {
          const end = chunk.indexOf('\r\n\r\n');
          headSeen = true;
          checker.push(chunk.subarray(end + 4));
        } else checker.push(chunk);
      },
    });
    expect(exchange.bytes.toString('latin1')).toContain(`Content-Length: ${length}`);
    expect(checker.ok(length)).toBe(true);
    expect(origin.requests).toHaveLength(64);
    // The last segments are still in the store: a range in them is a hit.
    const tail = await fetchOnce(proxy.port, '/big', { headers: [['Range', `bytes=${length - 10}-`]] });
    expect(tail.header('x-cache')).toBe('HIT');
    expect(tail.body.equals(patternBytes(length - 10, 10))).toBe(true);
  });
});

describe('I1: a URL purge of a segmented file', () => {
  it('I1 B4: PURGE removes every segment of the file (counted), and the next GET fetches them again; soft marks them stale', async () => {
    const { origin, proxy } = await segmented();
    await fetchOnce(proxy.port, '/purged-file');
    expect(origin.requests).toHaveLength(4);
    const purge = await fetchOnce(proxy.port, '/purged-file', { method: 'PURGE' });
    expect(JSON.parse(purge.body.toString())).toEqual({ purged: 4 });
    const again = await fetchOnce(proxy.port, '/purged-file');
    expect(again.body.equals(BODY)).toBe(true);
    expect(ranges(origin.requests.slice(4))).toEqual(['bytes=0-99', 'bytes=100-199', 'bytes=200-299', 'bytes=300-399']);
    // Soft: the segments stay (validators kept) but are no longer fresh: each is asked for again.
    expect(proxy.proxy.purge({ url: '/purged-file', host: 'segments.test', soft: true })).toEqual({ purged: 4 });
    expect(proxy.proxy.stats().store.objects).toBe(4);
    expect((await fetchOnce(proxy.port, '/purged-file')).body.equals(BODY)).toBe(true);
    expect(origin.requests.length).toBe(12);
  });
});
