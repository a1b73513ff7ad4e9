// The built CLI as an operator runs it: `node dist/src/cli.js …` (the test script builds first).
import { readFileSync } from 'node:fs';
import { createServer } from 'node:net';
import type { AddressInfo, Server } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startDemoOrigin } from '../../src/demo/origin.js';
import type { DemoOrigin } from '../../src/demo/origin.js';
import { killCliProcessesAfterEach, lines, runCli, spawnCli, waitForListening, waitForOutput } from '../support/cli.js';

const PACKAGE = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string };
/** Nothing listens on the discard port; the proxy only connects when a request comes. */
const UNUSED_ORIGIN = 'http://127.0.0.1:9';

killCliProcessesAfterEach();

describe('streamcache CLI', () => {
  it('--help prints one line per flag and exits 0', async () => {
    const exit = await runCli(['--help']);
    expect(exit.code).toBe(0);
    expect(exit.stdout).toMatch(/^Usage: streamcache --origin URL/);
    for (const flag of ['--origin URL', '--listen HOST:PORT', '--store-size BYTES', '--no-stream', '--config FILE', '--version']) {
      expect(lines(exit.stdout).filter((line) => line.trimStart().startsWith(flag))).toHaveLength(1);
    }
    expect(exit.stderr).toBe('');
  });

  it('--version prints the package.json version and exits 0', async () => {
    const exit = await runCli(['--version']);
    expect(exit.code).toBe(0);
    expect(exit.stdout).toBe(`${PACKAGE.version}\n`);
  });

  it('an unknown flag: exit 2 and exactly one line on stderr naming it', async () => {
    const exit = await runCli(['--origin', UNUSED_ORIGIN, '--frobnicate']);
    expect(exit.code).toBe(2);
    expect(exit.stderr).toBe('streamcache: --frobnicate: unknown option (see --help)\n');
    expect(exit.stdout).toBe('');
  });

  it('L5: a bad size: exit 2 and one line naming the flag', async () => {
    const exit = await runCli(['--origin', UNUSED_ORIGIN, '--store-size', '12 parsecs']);
    expect(exit.code).toBe(2);
    expect(lines(exit.stderr)).toEqual(['streamcache: --store-size: "12 parsecs" is not a size (examples: 65536, 512k, 512m, 2g)']);
  });

  it('a missing --origin: exit 2 and one line', async () => {
    const exit = await runCli(['--listen', '127.0.0.1:0']);
    expect(exit.code).toBe(2);
    expect(lines(exit.stderr)).toEqual(['streamcache: --origin: required (example: --origin http://127.0.0.1:3000)']);
  });

  // Invalidation and the fleet (I1, I5, shielding): bad values of their flags.
  for (const [args, line] of [
    [['--purge-bus', 'http://127.0.0.1:6379'], '--purge-bus: "http://127.0.0.1:6379" must be redis://HOST:PORT[/CHANNEL] (example: redis://127.0.0.1:6379/streamcache:purge)'],
    [['--purge-bus', 'redis://127.0.0.1'], '--purge-bus: "redis://127.0.0.1" must name a host and a port (example: redis://127.0.0.1:6379/streamcache:purge)'],
    [['--purge-allow', '10.0.0.0/33'], '--purge-allow: "10.0.0.0/33" is not an IPv4 or IPv6 CIDR (example: 10.0.0.0/8)'],
    [['--purge-token', 'short'], '--purge-token: must be a string of 16 characters at least'],
    [['--shield', 'redis://x:1'], '--shield: "redis://x:1" must be http:// or https://'],
  ] as const) {
    it(`I1 I5: ${args.join(' ')}: exit 2 and one line naming the flag`, async () => {
      const exit = await runCli(['--origin', UNUSED_ORIGIN, ...args]);
      expect(exit.code).toBe(2);
      expect(lines(exit.stderr)).toEqual([`streamcache: ${line}`]);
    });
  }

  describe('with a port already taken', () => {
    let occupier: Server;
    let port: number;
    beforeAll(async () => {
      occupier = createServer();
      await new Promise<void>((resolve) => occupier.listen(0, '127.0.0.1', resolve));
      port = (occupier.address() as AddressInfo).port;
    });
    afterAll(() => new Promise<void>((resolve) => occupier.close(() => resolve())));

    it('the admin port taken: exit 2 and one line naming that port', async () => {
      const exit = await runCli(['--origin', UNUSED_ORIGIN, '--listen', '127.0.0.1:0', '--admin', `127.0.0.1:${port}`, '--log-level', 'silent']);
      expect(exit.code).toBe(2);
      expect(lines(exit.stderr)).toEqual([`streamcache: cannot listen on 127.0.0.1:${port}: address already in use`]);
    });

    it('exit 2 and one line saying the address is in use', async () => {
      const exit = await runCli(['--origin', UNUSED_ORIGIN, '--listen', `127.0.0.1:${port}`, '--log-level', 'silent']);
      expect(exit.code).toBe(2);
      expect(lines(exit.stderr)).toEqual([`streamcache: cannot listen on 127.0.0.1:${port}: address already in use`]);
    });
  });

  describe('in front of the demo origin', () => {
    let origin: DemoOrigin;
    beforeAll(async () => {
      origin = await startDemoOrigin();
    });
    afterAll(() => origin.close());

    it('prints its URL, relays the demo page, and exits 0 on SIGTERM', async () => {
      const run = spawnCli(['--origin', origin.url, '--listen', '127.0.0.1:0', '--log-level', 'silent']);
      const url = await waitForListening(run);
      expect(url).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
      expect(url).not.toBe('http://127.0.0.1:0');

      const [viaProxy, direct] = await Promise.all([fetch(`${url}/`), fetch(`${origin.url}/`)]);
      expect(viaProxy.status).toBe(200);
      expect(viaProxy.headers.get('cache-control')).toBe('max-age=60');
      expect(await viaProxy.text()).toBe(await direct.text());

      run.child.kill('SIGTERM');
      const exit = await run.exit;
      expect(exit).toMatchObject({ code: 0, signal: null, stderr: '' });
      expect(lines(exit.stdout)).toEqual([`streamcache listening on ${url} (origin ${origin.url})`]);
    });

    it('--admin: prints the admin URL, which serves /stats as JSON and /metrics as Prometheus text; --store-prefault shows there', async () => {
      const run = spawnCli(['--origin', origin.url, '--listen', '127.0.0.1:0', '--admin', '127.0.0.1:0', '--log-level', 'silent', '--store-size', '32m', '--store-prefault']);
      const adminUrl = await waitForOutput(run, /admin on (http:\/\/\S+)\/stats/);
      expect(adminUrl).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
      const stats = await fetch(`${adminUrl}/stats`);
      expect(stats.status).toBe(200);
      expect(stats.headers.get('content-type')).toBe('application/json');
      const json = (await stats.json()) as { store: { capacity: number; prefault: string } };
      expect(json.store.capacity).toBe(32 * 1024 * 1024);
      expect(['running', 'done']).toContain(json.store.prefault);
      const metrics = await fetch(`${adminUrl}/metrics`);
      expect(metrics.headers.get('content-type')).toMatch(/^text\/plain; version=0\.0\.4/);
      const text = await metrics.text();
      expect(text).toMatch(/^streamcache_store_capacity_bytes 33554432$/m);
      expect(text).toMatch(/^streamcache_store_prefault\{state="(running|done)"\} 1$/m);
      expect(text).toMatch(/^streamcache_responses_total\{cache="HIT"\} 0$/m);
      run.child.kill('SIGTERM');
      expect(await run.exit).toMatchObject({ code: 0, signal: null, stderr: '' });
    });

    it('SIGTERM lets a response in flight finish (graceful close), then exits 0', async () => {
      const shortStreams = await startDemoOrigin({ streamDurationMs: 600, eventIntervalMs: 50 });
      try {
        const run = spawnCli(['--origin', shortStreams.url, '--listen', '127.0.0.1:0', '--log-level', 'silent']);
        const url = await waitForListening(run);
        const response = await fetch(`${url}/events`);
        const reader = (response.body as ReadableStream<Uint8Array>).getReader();
        let text = Buffer.from((await reader.read()).value as Uint8Array).toString();
        run.child.kill('SIGTERM');
        for (let chunk = await reader.read(); !chunk.done; chunk = await reader.read()) text += Buffer.from(chunk.value).toString();
        // The stream ran its full 600 ms: about 12 events, the last one complete.
        expect(text.match(/^id: /gm)?.length).toBeGreaterThanOrEqual(5);
        expect(text.endsWith('\n\n')).toBe(true);
        expect(await run.exit).toMatchObject({ code: 0, signal: null, stderr: '' });
      } finally {
        await shortStreams.close();
      }
    });

    it('SIGINT also closes gracefully and exits 0', async () => {
      const run = spawnCli(['--origin', origin.url, '--listen', '127.0.0.1:0', '--log-level', 'silent']);
      await waitForListening(run);
      run.child.kill('SIGINT');
      expect(await run.exit).toMatchObject({ code: 0, signal: null, stderr: '' });
    });
  });
});
