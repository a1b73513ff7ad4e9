// `npm start` as a person runs it: the built demo (`node dist/src/demo/start.js`; the test script
// builds first), on free ports. It prints the demo page first, serves the page, the stream, the
// publisher and the stats through the proxy, with the proxy's numbers from its admin listener.
import { spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';
import { waitFor } from '../support/ports.js';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { closeSession, connectH2, h2Request } from '../support/h2-client.js';
import { generateTestCertificate } from '../support/tls-cert.js';

const START = fileURLToPath(new URL('../../dist/src/demo/start.js', import.meta.url));

let child: ChildProcess | undefined;
afterEach(() => {
  child?.kill('SIGKILL');
  child = undefined;
});

describe('npm start (the demo)', () => {
  it('prints the demo page URL first; page, stream, publish and stats work through the proxy; SIGTERM exits 0', async () => {
    child = spawn(process.execPath, [START], {
      stdio: ['ignore', 'pipe', 'pipe'],
      env: { ...process.env, DEMO_ORIGIN_PORT: '0', STREAMCACHE_PORT: '0', STREAMCACHE_ADMIN_PORT: '0', DEMO_STREAM_SECONDS: '3', DEMO_TICK_MS: '0' },
    });
    const output = { stdout: '', stderr: '' };
    child.stdout?.setEncoding('utf8').on('data', (text: string) => (output.stdout += text));
    child.stderr?.setEncoding('utf8').on('data', (text: string) => (output.stderr += text));
    const exit = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => child?.on('close', (code, signal) => resolve({ code, signal })));
    await waitFor(() => output.stdout.includes('Ctrl-C'), 30_000, `the demo's banner (so far: ${JSON.stringify(output)})`, 20);

    const lines = output.stdout.split('\n');
    const page = /^ {2}demo page +(http:\/\/127\.0\.0\.1:\d+)\/ /.exec(lines[0]);
    expect(page, lines[0]).not.toBeNull();
    const proxyUrl = (page as RegExpExecArray)[1];
    expect(output.stdout).toMatch(/^ {2}admin +http:\/\/127\.0\.0\.1:\d+\/stats +http:\/\/127\.0\.0\.1:\d+\/metrics$/m);

    const html = await fetch(`${proxyUrl}/`);
    expect(html.status).toBe(200);
    expect(await html.text()).toContain("new EventSource('/events')");

    // A subscriber through the proxy, then an event published through the proxy.
    const controller = new AbortController();
    const stream = await fetch(`${proxyUrl}/events`, { signal: controller.signal });
    expect(stream.headers.get('cache-control')).toBe('no-cache, s-maxage=1');
    const reader = (stream.body as ReadableStream<Uint8Array>).getReader();
    const published = (await (await fetch(`${proxyUrl}/publish`, { method: 'POST', body: 'hello from npm start' })).json()) as { id: number; streams: number };
    expect(published.streams).toBe(1);
    let text = '';
    while (!text.includes('hello from npm start')) text += Buffer.from((await reader.read()).value as Uint8Array).toString();
    expect(text).toContain(`id: ${published.id}\n`);

    // The page's numbers: the origin's stream count, and the proxy's subscribers via the admin listener.
    const stats = (await (await fetch(`${proxyUrl}/demo-stats`)).json()) as { origin: { streamsStarted: number }; proxy: { subscribers: number } | null; proxyError?: string };
    expect(stats.proxyError).toBeUndefined();
    expect(stats.origin.streamsStarted).toBe(1);
    expect(stats.proxy?.subscribers).toBeGreaterThanOrEqual(1);
    controller.abort();

    child.kill('SIGTERM');
    expect(await exit).toEqual({ code: 0, signal: null });
    expect(output.stderr).toBe('');
  }, 45_000);

  it('H1: with STREAMCACHE_TLS_CERT and STREAMCACHE_TLS_KEY the demo is served over TLS, HTTP/2 by ALPN', async () => {
    const cert = generateTestCertificate();
    const dir = mkdtempSync(join(tmpdir(), 'streamcache-demo-tls-'));
    writeFileSync(join(dir, 'cert.pem'), cert.cert);
    writeFileSync(join(dir, 'key.pem'), cert.key);
    try {
      child = spawn(process.execPath, [START], {
        stdio: ['ignore', 'pipe', 'pipe'],
        env: { ...process.env, DEMO_ORIGIN_PORT: '0', STREAMCACHE_PORT: '0', STREAMCACHE_ADMIN_PORT: '0', DEMO_STREAM_SECONDS: '3', DEMO_TICK_MS: '0', STREAMCACHE_TLS_CERT: join(dir, 'cert.pem'), STREAMCACHE_TLS_KEY: join(dir, 'key.pem') },
      });
      let stdout = '';
      child.stdout?.setEncoding('utf8').on('data', (text: string) => (stdout += text));
      await waitFor(() => stdout.includes('Ctrl-C'), 30_000, `the demo's banner (so far: ${JSON.stringify(stdout)})`, 20);
      const page = /^ {2}demo page +https:\/\/127\.0\.0\.1:(\d+)\/ /.exec(stdout.split('\n')[0]);
      expect(page, stdout.split('\n')[0]).not.toBeNull();
      const session = connectH2(Number((page as RegExpExecArray)[1]), { ca: cert.cert });
      try {
        const html = await h2Request(session, '/');
        expect(html.status).toBe(200);
        expect(html.body.toString()).toContain("new EventSource('/events')");
      } finally {
        await closeSession(session);
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }, 45_000);
});
