// L (logging), issue 18: the access lines the built CLI writes on stdout (our own line writer, the
// log batch, SonicBoom; not an embedder's pino) are whole JSON lines in pino's field order, one per
// response, for hits written as bytes in place and for lines that take the string way.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startDemoOrigin } from '../../src/demo/origin.js';
import type { DemoOrigin } from '../../src/demo/origin.js';
import { killCliProcessesAfterEach, lines, spawnCli, waitForListening } from '../support/cli.js';
import { sendRaw } from '../support/raw-client.js';

killCliProcessesAfterEach();

/** pino's order for an access line (src/proxy/access-log.ts), the optional fields last. */
const FIELDS = ['level', 'time', 'name', 'method', 'path', 'status', 'version', 'cache', 'bytes', 'ttfbMs', 'durationMs', 'client', 'outcome'];

describe('the access log on stdout (real sockets, the built CLI)', () => {
  let origin: DemoOrigin;
  beforeAll(async () => {
    origin = await startDemoOrigin();
  });
  afterAll(() => origin.close());

  it('one JSON line per response, pino\'s fields in pino\'s order; repeated hits in one burst; a path to escape', async () => {
    const started = Date.now();
    const run = spawnCli(['--origin', origin.url, '--listen', '127.0.0.1:0', '--log-level', 'info'], { STREAMCACHE_LOG_LEVEL: undefined });
    const url = new URL(await waitForListening(run));
    const port = Number(url.port);
    // The miss that stores it (the same request as the hits: the demo origin's page varies).
    expect((await sendRaw(port, 'GET / HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n')).bytes.toString('latin1')).toMatch(/^HTTP\/1\.1 200 /);
    // A burst of hits on one keep-alive connection (one turn's lines in one write), then a path with a quote.
    const burst = 'GET / HTTP/1.1\r\nHost: a\r\n\r\n'.repeat(20);
    await sendRaw(port, burst + 'GET /?q="x" HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n');
    run.child.kill('SIGTERM');
    const exit = await run.exit;
    expect(exit.code).toBe(0);
    const ended = Date.now();
    const access = lines(exit.stdout)
      .filter((l) => l.startsWith('{'))
      .map((l) => JSON.parse(l) as Record<string, unknown>)
      .filter((l) => l.msg === 'access');
    expect(access).toHaveLength(22);
    for (const line of access) {
      expect(Object.keys(line).slice(0, FIELDS.length)).toEqual(FIELDS);
      expect(line.level).toBe(30);
      expect(line.time).toBeGreaterThanOrEqual(started);
      expect(line.time).toBeLessThanOrEqual(ended);
      expect(typeof line.durationMs).toBe('number');
    }
    expect(access.map((l) => `${l.method} ${l.path} ${l.cache}`)).toEqual(['GET / MISS', ...Array(20).fill('GET / HIT'), 'GET /?q="x" MISS']);
    const hits = access.slice(1, 21);
    // The same object each time: its length, and a head that grows by the digits of X-Cache-Hits.
    expect(Math.max(...hits.map((l) => l.bytes as number)) - Math.min(...hits.map((l) => l.bytes as number))).toBeLessThanOrEqual(1);
    for (const hit of hits) expect(hit).toMatchObject({ status: 200, version: '1.1', client: '127.0.0.1', outcome: 'ended' });
  });
});
