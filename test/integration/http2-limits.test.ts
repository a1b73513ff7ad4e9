// HTTP/2 limits and abuse (H1, P2, P4): streams beyond the concurrency limit are refused, a header
// list above the head limit gets 431, and the floods HTTP/2 makes cheap — rapid reset
// (CVE-2023-44487), PING, SETTINGS — cost a bounded amount of work and end in
// GOAWAY(ENHANCE_YOUR_CALM), each with one log line. The floods are raw frames we build
// (test/support/h2-client.ts): node:http2's own client would not send them.
import http2 from 'node:http2';
import { pino } from 'pino';
import { describe, expect, it } from 'vitest';
import { cleanupAfterEach, startOriginAndProxy } from '../support/proxy.js';
import type { OriginScript } from '../support/scripted-origin.js';
import type { CreateProxyOptions } from '../../src/index.js';
import { DEFAULTS } from '../../src/proxy/options.js';
import { FRAME, closeSession, connectH2, errorCodeOf, frame, getHeaders, h2Request, rawH2, rstStream } from '../support/h2-client.js';
import { delay } from '../support/ports.js';

const cleanups = cleanupAfterEach();
const { NGHTTP2_ENHANCE_YOUR_CALM, NGHTTP2_REFUSED_STREAM, NGHTTP2_CANCEL } = http2.constants;

/** The proxy's warn lines, as objects. */
function warnings(): { logger: pino.Logger; lines: Array<Record<string, unknown>> } {
  const lines: Array<Record<string, unknown>> = [];
  const logger = pino({ level: 'warn' }, { write: (line: string) => void lines.push(JSON.parse(line) as Record<string, unknown>) });
  return { logger, lines };
}

async function setup(script: OriginScript, options: Partial<CreateProxyOptions> = {}) {
  const log = warnings();
  const started = await startOriginAndProxy(cleanups, script, { h2c: true, logger: log.logger, ...options });
  return { ...started, log };
}

async function raw(port: number) {
  const c = await rawH2(port);
  cleanups.push(() => c.close());
  return c;
}

describe('HTTP/2 limits: defaults', () => {
  it('H1: the limits have stated defaults', () => {
    expect(DEFAULTS.h2MaxConcurrentStreams).toBe(128);
    expect(DEFAULTS.h2MaxHeaderListSize).toBe(64 * 1024);
    expect(DEFAULTS.h2ResetLimit).toBe(100);
    expect(DEFAULTS.h2PingLimit).toBe(100);
    expect(DEFAULTS.h2SettingsLimit).toBe(100);
  });
});

describe('HTTP/2 limits: streams and header lists', () => {
  it('P3: a stream beyond h2MaxConcurrentStreams is refused (REFUSED_STREAM), the others are served, one log line', async () => {
    const { proxy, log } = await setup((_req, res) => res.send({ body: 'late', delayHeadMs: 200 }), { h2MaxConcurrentStreams: 4 });
    const c = await raw(proxy.port);
    for (let i = 0; i < 5; i++) c.send(getHeaders(1 + 2 * i, `/s${i}`, 't'));
    const refused = await c.waitFor((f) => f.type === FRAME.RST_STREAM && f.streamId === 9);
    expect(refused && errorCodeOf(refused)).toBe(NGHTTP2_REFUSED_STREAM);
    expect(await c.waitFor((f) => f.type === FRAME.DATA && f.streamId === 7 && (f.flags & 1) === 1, 3000)).not.toBeNull();
    // The refusal is nghttp2's; the proxy notices the skipped id at the next stream it is given.
    c.send(getHeaders(11, '/s5', 't'));
    expect(await c.waitFor((f) => f.type === FRAME.DATA && f.streamId === 11, 3000)).not.toBeNull();
    expect(log.lines.filter((l) => l.kind === 'too-many-streams')).toHaveLength(1);
    expect(String(log.lines.find((l) => l.kind === 'too-many-streams')?.reason)).toMatch(/1 stream\(s\) refused: more than 4 streams open at once/);
  });

  it('P2: a header list above maxHeadSize gets 431 with a reason and a log line; the session goes on', async () => {
    const { proxy, log } = await setup((_req, res) => res.send({ body: 'ok' }), { maxHeadSize: 2048 });
    const s = connectH2(proxy.port);
    cleanups.push(() => closeSession(s));
    const big = await h2Request(s, '/big', { 'x-big': 'a'.repeat(3000) });
    expect(big.status).toBe(431);
    expect(big.body.toString()).toMatch(/header list of \d+ bytes passes the limit \(2048 bytes\)/);
    expect(log.lines.some((l) => l.status === 431 && /header list/.test(String(l.reason)))).toBe(true);
    expect((await h2Request(s, '/small')).body.toString()).toBe('ok');
  });
});

describe('HTTP/2 abuse: floods end in GOAWAY(ENHANCE_YOUR_CALM) after bounded work', () => {
  it('P4: rapid reset (CVE-2023-44487): a flood of HEADERS+RST_STREAM dispatches at most h2ResetLimit + h2MaxConcurrentStreams requests', async () => {
    const resetLimit = 50;
    const maxStreams = 20;
    const { origin, proxy, log } = await setup((req, res) => res.send({ body: `r ${req.target}` }), { h2ResetLimit: resetLimit, h2MaxConcurrentStreams: maxStreams });
    const c = await raw(proxy.port);
    const pairs = 5000;
    const flood: Buffer[] = [];
    for (let i = 0; i < pairs; i++) {
      const id = 1 + 2 * i;
      flood.push(getHeaders(id, `/flood/${i}`, 't'), rstStream(id, NGHTTP2_CANCEL));
    }
    // In slices, as an attacker's socket would deliver them: several reads, several turns of the loop.
    const bytes = Buffer.concat(flood);
    for (let at = 0; at < bytes.length && !c.socket.destroyed; at += 16_384) {
      c.send(bytes.subarray(at, at + 16_384));
      await delay(1);
    }
    const goaway = await c.waitFor((f) => f.type === FRAME.GOAWAY, 5000);
    expect(goaway && errorCodeOf(goaway)).toBe(NGHTTP2_ENHANCE_YOUR_CALM);
    await c.closed;
    await delay(200);
    // The bound: resets counted per second; a read's worth of streams in flight at most before they are.
    expect(origin.requests.length).toBeLessThanOrEqual(resetLimit + maxStreams + 1);
    expect(log.lines.filter((l) => l.kind === 'rapid-reset')).toHaveLength(1);
    expect(String(log.lines.find((l) => l.kind === 'rapid-reset')?.reason)).toMatch(/more than 50 streams cancelled by the client in one second/);
    // The process and the listener go on.
    const s = connectH2(proxy.port);
    cleanups.push(() => closeSession(s));
    expect((await h2Request(s, '/after')).body.toString()).toBe('r /after');
  });

  it('P4: a client that cancels its streams at an ordinary pace is never cut off', async () => {
    const { proxy, log } = await setup((_req, res) => res.send({ body: 'x'.repeat(10), delayHeadMs: 50 }), { h2ResetLimit: 50 });
    const c = await raw(proxy.port);
    for (let i = 0; i < 30; i++) {
      c.send(Buffer.concat([getHeaders(1 + 2 * i, `/calm/${i}`, 't'), rstStream(1 + 2 * i, NGHTTP2_CANCEL)]));
      await delay(5);
    }
    expect(await c.waitFor((f) => f.type === FRAME.GOAWAY, 500)).toBeNull();
    expect(log.lines.filter((l) => l.kind === 'rapid-reset')).toHaveLength(0);
  });

  it('P4: a PING flood gets GOAWAY past h2PingLimit per second, with a log line', async () => {
    const { proxy, log } = await setup((_req, res) => res.send({ body: 'x' }), { h2PingLimit: 100 });
    const c = await raw(proxy.port);
    const pings: Buffer[] = [];
    for (let i = 0; i < 1000; i++) pings.push(frame(FRAME.PING, 0, 0, Buffer.alloc(8, i & 0xff)));
    c.send(Buffer.concat(pings));
    const goaway = await c.waitFor((f) => f.type === FRAME.GOAWAY, 5000);
    expect(goaway && errorCodeOf(goaway)).toBe(NGHTTP2_ENHANCE_YOUR_CALM);
    const acks = c.frames.filter((f) => f.type === FRAME.PING).length;
    expect(acks).toBeLessThanOrEqual(1000);
    expect(log.lines.filter((l) => l.kind === 'ping-flood')).toHaveLength(1);
    expect(String(log.lines.find((l) => l.kind === 'ping-flood')?.reason)).toMatch(/more than 100 PING frames in one second/);
  });

  it('P4: a SETTINGS flood gets GOAWAY past h2SettingsLimit per second, with a log line', async () => {
    const { proxy, log } = await setup((_req, res) => res.send({ body: 'x' }), { h2SettingsLimit: 100 });
    const c = await raw(proxy.port);
    const settings: Buffer[] = [];
    for (let i = 0; i < 1000; i++) settings.push(frame(FRAME.SETTINGS, 0, 0));
    c.send(Buffer.concat(settings));
    const goaway = await c.waitFor((f) => f.type === FRAME.GOAWAY, 5000);
    expect(goaway && errorCodeOf(goaway)).toBe(NGHTTP2_ENHANCE_YOUR_CALM);
    expect(log.lines.filter((l) => l.kind === 'settings-flood')).toHaveLength(1);
    expect(String(log.lines.find((l) => l.kind === 'settings-flood')?.reason)).toMatch(/more than 100 SETTINGS frames in one second/);
  });

  it('P2: a client that reads nothing at all is dropped after sendTimeout: its stream is reset, one log line', async () => {
    const { proxy, log } = await setup((_req, res) => res.send({ body: 'r'.repeat(1_000_000), framing: 'chunked', chunkSizes: [65_536] }), { sendTimeout: 300 });
    const c = await raw(proxy.port);
    // No WINDOW_UPDATE ever: the connection's 64 KiB window is all the proxy may send.
    c.send(getHeaders(1, '/big', 't'));
    const reset = await c.waitFor((f) => f.type === FRAME.RST_STREAM && f.streamId === 1, 5000);
    expect(reset).not.toBeNull();
    await c.closed;
    expect(c.frames.some((f) => f.type === FRAME.DATA && f.streamId === 1 && (f.flags & 1) === 1)).toBe(false);
    expect(log.lines.some((l) => /HTTP\/2 client read nothing for 300 ms/.test(String(l.reason)))).toBe(true);
  });
});
