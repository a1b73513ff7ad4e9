// The HTTP/2 clients of the fuzz harness (H1, H2, P4): sessions (h2c, prior knowledge) of random
// but valid-ish requests through node:http2's client — /good/ URLs with random queries and extra
// fields, HEAD or GET, sometimes an oversized header list — played concurrently, with some streams
// reset right after their HEADERS or in the middle of their body, some paused for a while. Every
// stream that is read to its end must be right byte for byte (good-urls.ts); a reset stream must
// not disturb any other stream of the session. Like clients.ts: a pure plan from a 32-bit seed,
// and a runner that plays it.
import http2, { type ClientHttp2Session, type IncomingHttpHeaders } from 'node:http2';
import { Rng } from './prng.js';
import { firstDifference, goodBody, goodPath, pickGoodSpec, type GoodSpec } from './good-urls.js';
import { FUZZ_PROXY_OPTIONS } from './config.js';
import { DEFAULTS } from '../../src/proxy/options.js';
import type { ClientFailure } from './clients.js';

export type H2Action = 'read' | 'reset-at-once' | 'reset-mid-body' | 'pause-then-read';

export interface H2RequestPlan {
  spec: GoodSpec;
  method: 'GET' | 'HEAD';
  query: string;
  fields: Array<[string, string]>;
  /** A header list past the proxy's head limit: the answer is 431. */
  oversized: boolean;
  action: H2Action;
  startDelayMs: number;
}

export interface H2ClientPlan {
  seed: number;
  description: string;
  sessions: H2RequestPlan[][];
}

const TOKEN = 'abcdefghijklmnopqrstuvwxyz0123456789-';
const VALUE = 'abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789 !#$%&()*+,./:;<=>?@[]^_{|}~';

function text(rng: Rng, alphabet: string, min: number, max: number): string {
  let out = '';
  for (let n = rng.int(min, max); n > 0; n--) out += alphabet[rng.int(0, alphabet.length - 1)];
  return out;
}

export function h2ClientPlan(seed: number): H2ClientPlan {
  const rng = new Rng(seed);
  const sessions = Array.from({ length: rng.int(1, 2) }, () =>
    Array.from({ length: rng.logInt(1, 24) }, (): H2RequestPlan => ({
      spec: pickGoodSpec(rng, 0.8),
      method: rng.chance(0.15) ? 'HEAD' : 'GET',
      query: rng.chance(0.2) ? `?${text(rng, TOKEN, 1, 12)}` : '',
      fields: Array.from({ length: rng.int(0, 4) }, () => [`x-${text(rng, TOKEN, 1, 16)}`, text(rng, VALUE, 0, 60).trim()] as [string, string]),
      oversized: rng.chance(0.03),
      action: rng.weighted<H2Action>([[70, 'read'], [12, 'reset-at-once'], [10, 'reset-mid-body'], [8, 'pause-then-read']]),
      startDelayMs: rng.chance(0.5) ? 0 : rng.int(0, 200),
    })),
  );
  const total = sessions.reduce((n, s) => n + s.length, 0);
  return { seed, description: `${sessions.length} HTTP/2 session(s), ${total} stream(s)`, sessions };
}

interface StreamResult {
  status: number;
  headers: IncomingHttpHeaders;
  body: Buffer;
  endedCleanly: boolean;
  rstCode: number;
}

function play(session: ClientHttp2Session, r: H2RequestPlan): Promise<StreamResult> {
  return new Promise((resolve) => {
    const headers: http2.OutgoingHttpHeaders = { ':method': r.method, ':path': `${goodPath(r.spec)}${r.query}` };
    for (const [n, v] of r.fields) headers[n] = v;
    if (r.oversized) headers['x-oversized'] = 'o'.repeat(DEFAULTS.maxHeadSize + 100);
    const result: StreamResult = { status: 0, headers: {}, body: Buffer.alloc(0), endedCleanly: false, rstCode: 0 };
    let stream: http2.ClientHttp2Stream;
    try {
      stream = session.request(headers);
    } catch {
      return resolve(result); // the session is already gone
    }
    const chunks: Buffer[] = [];
    let ended = false;
    stream.on('response', (h) => {
      result.status = Number(h[':status']);
      result.headers = h;
    });
    stream.on('data', (c: Buffer) => {
      chunks.push(c);
      if (r.action === 'reset-mid-body' && !stream.closed) stream.close(http2.constants.NGHTTP2_CANCEL);
    });
    stream.on('end', () => (ended = true));
    stream.on('error', () => {});
    stream.on('close', () => {
      result.body = Buffer.concat(chunks);
      result.rstCode = stream.rstCode ?? 0;
      result.endedCleanly = ended && result.rstCode === http2.constants.NGHTTP2_NO_ERROR;
      resolve(result);
    });
    if (r.action === 'reset-at-once') stream.close(http2.constants.NGHTTP2_CANCEL);
    if (r.action === 'pause-then-read') {
      stream.pause();
      setTimeout(() => stream.resume(), 50 + (r.spec.id % 200));
    }
  });
}

/** A stream that times out inside the proxy: a starved event loop this long would explain it. */
const STALL_EXPLAINS = Math.min(FUZZ_PROXY_OPTIONS.firstByteTimeout, FUZZ_PROXY_OPTIONS.betweenBytesTimeout) * 0.6;

function check(r: H2RequestPlan, res: StreamResult): ClientFailure | null {
  if (r.action === 'reset-at-once' || r.action === 'reset-mid-body') return null;
  const what = `${r.method} ${goodPath(r.spec)}${r.query}`;
  if (r.oversized) return res.status === 431 ? null : { rule: 'P2: an oversized HTTP/2 header list gets 431', detail: `${what}: status ${res.status}` };
  if (res.status === 503 && /timeout/i.test(res.body.toString('latin1'))) return { rule: 'H2: a well-formed stream is answered', detail: `${what}: 503 ${res.body.toString('latin1').trim()}`, stallExplains: STALL_EXPLAINS };
  if (!res.endedCleanly) return { rule: 'H2: a complete body ends with END_STREAM', detail: `${what}: status ${res.status}, reset with code ${res.rstCode} after ${res.body.length} bytes`, stallExplains: STALL_EXPLAINS };
  if (res.status !== 200) return { rule: 'H2: a well-formed stream gets its URL’s response', detail: `${what}: status ${res.status}` };
  for (const name of ['connection', 'keep-alive', 'transfer-encoding', 'upgrade']) {
    if (res.headers[name] !== undefined) return { rule: 'H2: no hop-by-hop field in HTTP/2', detail: `${what}: ${name}` };
  }
  const expected = r.method === 'HEAD' ? Buffer.alloc(0) : goodBody(r.spec);
  const at = firstDifference(res.body, expected);
  if (at >= 0) return { rule: 'H2, R3: every stream gets the identical body', detail: `${what}: ${res.body.length} bytes, expected ${expected.length}, first difference at ${at}` };
  return null;
}

export async function runH2Client(port: number, plan: H2ClientPlan): Promise<{ checked: number; failures: ClientFailure[] }> {
  let checked = 0;
  const failures: ClientFailure[] = [];
  await Promise.all(
    plan.sessions.map(async (requests) => {
      const session = http2.connect(`http://127.0.0.1:${port}`);
      session.on('error', () => {});
      try {
        await Promise.all(
          requests.map(async (r) => {
            if (r.startDelayMs > 0) await new Promise((resolve) => setTimeout(resolve, r.startDelayMs));
            const res = await play(session, r);
            const failure = check(r, res);
            if (r.action === 'read' || r.action === 'pause-then-read') checked++;
            if (failure) failures.push(failure);
          }),
        );
      } finally {
        await new Promise<void>((resolve) => {
          session.close(() => resolve());
          setTimeout(() => {
            session.destroy();
            resolve();
          }, 2_000).unref();
        });
      }
    }),
  );
  return { checked, failures };
}
