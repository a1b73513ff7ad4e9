// Starts streamcache on a free loopback port in front of an origin, quiet, for a test.
import { afterEach } from 'vitest';
import { createProxy, type CreateProxyOptions, type Proxy } from '../../src/index.js';
import { startScriptedOrigin, type OriginScript, type ScriptedOrigin } from './scripted-origin.js';
import { openClient, type RawClient } from './raw-client.js';

export interface RunningProxy {
  proxy: Proxy;
  port: number;
  url: string;
  close(): Promise<void>;
}

export async function startProxy(origin: string, options: Partial<CreateProxyOptions> = {}): Promise<RunningProxy> {
  const proxy = createProxy({ logLevel: 'silent', ...options, origin });
  const address = await proxy.listen(0, '127.0.0.1');
  return {
    proxy,
    port: address.port,
    url: `http://127.0.0.1:${address.port}`,
    close: () => proxy.close(2_000),
  };
}

/** Cleanups run after each test of the calling file, newest first: push a function to register one. */
export function cleanupAfterEach(): Array<() => Promise<void> | void> {
  const cleanups: Array<() => Promise<void> | void> = [];
  afterEach(async () => {
    for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
  });
  return cleanups;
}

/**
 * A scripted origin and streamcache in front of it, both closed after the test. The proxy closes
 * with a short deadline, so that a test leaving a client hanging (a bug) does not hold the suite.
 */
export async function startOriginAndProxy(
  cleanups: Array<() => Promise<void> | void>,
  script: OriginScript,
  options: Partial<CreateProxyOptions> = {},
): Promise<{ origin: ScriptedOrigin; proxy: RunningProxy }> {
  const origin = await startScriptedOrigin(script);
  cleanups.push(() => origin.close());
  const proxy = await startProxy(origin.url, options);
  cleanups.push(() => proxy.proxy.close(300));
  return { origin, proxy };
}

export interface Signal {
  promise: Promise<void>;
  resolve(): void;
}

/**
 * Helpers whose resources end with the test: a signal (a promise the test resolves when it wants
 * the origin script to go on; resolved at cleanup so no script hangs) and a raw client (closed at
 * cleanup).
 */
export function testKit(cleanups: Array<() => Promise<void> | void>): { signal(): Signal; client(port: number): Promise<RawClient> } {
  return {
    signal() {
      let resolve!: () => void;
      const promise = new Promise<void>((r) => (resolve = r));
      cleanups.push(() => resolve());
      return { promise, resolve };
    },
    async client(port) {
      const c = await openClient(port);
      cleanups.push(() => c.close());
      return c;
    },
  };
}
