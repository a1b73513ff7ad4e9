// `npm start`: the demo origin and streamcache in front of it, with the admin listener, on fixed
// local ports, so that the URLs and curl lines it prints can be pasted as they are. The first line
// it prints is the demo page.
//   DEMO_ORIGIN_PORT (default 3000), STREAMCACHE_PORT (default 8080), STREAMCACHE_ADMIN_PORT (default 9090),
//   DEMO_STREAM_SECONDS (default 30: each /events stream; s-maxage is 2 s less),
//   DEMO_TICK_MS (default 2000: a `tick` event; 0 for publishing only),
//   STREAMCACHE_LOG_LEVEL (default info, read by createLogger). A port of 0 takes a free one.
//   STREAMCACHE_TLS_CERT, STREAMCACHE_TLS_KEY (PEM files): the proxy speaks TLS with ALPN h2, so a
//   browser puts every EventSource of a page on one HTTP/2 connection (past six streams, H1, H3).

import { readFileSync } from 'node:fs';
import { createProxy } from '../index.js';
import { describeError, EXIT_USAGE, formatUrl, isStartupError, onShutdownSignal } from '../proxy/cli-process.js';
import { createLogger } from '../proxy/logger.js';
import { OptionError } from '../proxy/options.js';
import { startDemoOrigin } from './origin.js';

const HOST = '127.0.0.1';
/** Viewers of /events would hold shutdown for the full stream otherwise; a demo should stop promptly. */
const SHUTDOWN_DEADLINE_MS = 2_000;

async function main(): Promise<void> {
  const originPort = portFromEnv('DEMO_ORIGIN_PORT', 3000);
  const proxyPort = portFromEnv('STREAMCACHE_PORT', 8080);
  const adminPort = portFromEnv('STREAMCACHE_ADMIN_PORT', 9090);
  const streamSeconds = numberFromEnv('DEMO_STREAM_SECONDS', 30, 1);
  const tickMs = numberFromEnv('DEMO_TICK_MS', 2_000, 0);

  const origin = await startDemoOrigin({ host: HOST, port: originPort, streamDurationMs: streamSeconds * 1000, eventIntervalMs: tickMs }).catch((err: unknown) =>
    fail(err, `${HOST}:${originPort}`),
  );
  const logger = createLogger('info');
  const tls = tlsFromEnv();
  const proxy = createProxy({ origin: origin.url, listen: `${HOST}:${proxyPort}`, admin: `${HOST}:${adminPort}`, logger, ...tls, h2c: tls === undefined });
  // Before listening: whoever reads the URLs may press Ctrl-C at once.
  onShutdownSignal(
    async () => {
      logger.info('stopping the proxy, then the demo origin');
      await proxy.close(SHUTDOWN_DEADLINE_MS);
      await origin.close();
    },
    (err) => process.stderr.write(`streamcache demo: shutdown failed: ${describeError(err)}\n`),
  );
  const address = await proxy.listen().catch(async (err: unknown) => {
    await origin.close();
    return fail(err, `${HOST}:${proxyPort}`);
  });

  // With TLS, curl needs -k for the self-signed certificate a demo is usually given.
  const proxyUrl = tls ? formatUrl(address).replace(/^http:/, 'https:') : formatUrl(address);
  const curlTls = tls ? '-k ' : '';
  const adminAddress = proxy.adminAddress();
  const adminUrl = adminAddress ? formatUrl(adminAddress) : undefined;
  // The page's subscriber count comes from the proxy: the origin reads the admin /stats for it.
  if (adminUrl) origin.setStatsUrl(`${adminUrl}/stats`);
  process.stdout.write(
    [
      `  demo page           ${proxyUrl}/                  (open it in several windows, publish from any)`,
      `  streamcache proxy   ${proxyUrl}`,
      `  demo origin         ${origin.url}`,
      ...(adminUrl ? [`  admin               ${adminUrl}/stats  ${adminUrl}/metrics`] : []),
      '',
      '  Try, through the proxy:',
      `    curl ${curlTls}-N ${proxyUrl}/events                      (run it in two terminals: one origin fetch, same ids)`,
      tls ? `    curl -k --http2 -N ${proxyUrl}/events              (HTTP/2: many streams on one connection)` : `    curl --http2-prior-knowledge -N ${proxyUrl}/events   (HTTP/2 without TLS, h2c)`,
      `    curl -d 'hello' ${proxyUrl}/publish              (an event to every subscriber)`,
      `    curl -H 'Content-Type: application/json' -d '{"event":"news","data":{"n":1}}' ${proxyUrl}/publish`,
      `    curl -s ${proxyUrl}/demo-stats                   (streams at the origin, subscribers at the proxy)`,
      `    curl -s ${proxyUrl}/large/1048576 | sha256sum`,
      '',
      '  Ctrl-C stops both.',
      '',
      '',
    ].join('\n'),
  );
}

/** STREAMCACHE_TLS_CERT and STREAMCACHE_TLS_KEY, both or neither. */
function tlsFromEnv(): { tlsCert: string; tlsKey: string } | undefined {
  const certPath = process.env.STREAMCACHE_TLS_CERT;
  const keyPath = process.env.STREAMCACHE_TLS_KEY;
  if (!certPath && !keyPath) return undefined;
  if (!certPath || !keyPath) throw new OptionError('STREAMCACHE_TLS_CERT and STREAMCACHE_TLS_KEY: give both or neither');
  const read = (name: string, path: string): string => {
    try {
      return readFileSync(path, 'utf8');
    } catch (err) {
      throw new OptionError(`${name}: cannot read ${path} (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`);
    }
  };
  return { tlsCert: read('STREAMCACHE_TLS_CERT', certPath), tlsKey: read('STREAMCACHE_TLS_KEY', keyPath) };
}

function portFromEnv(name: string, fallback: number): number {
  const text = process.env[name];
  if (text === undefined || text === '') return fallback;
  const port = /^\d+$/.test(text) ? Number(text) : NaN;
  if (!(port <= 65535)) throw new OptionError(`${name}: "${text}" is not a port number`);
  return port;
}

function numberFromEnv(name: string, fallback: number, min: number): number {
  const text = process.env[name];
  if (text === undefined || text === '') return fallback;
  const value = /^\d+(?:\.\d+)?$/.test(text) ? Number(text) : NaN;
  if (!(value >= min)) throw new OptionError(`${name}: "${text}" is not a number of at least ${min}`);
  return value;
}

function fail(err: unknown, listenAddress?: string): never {
  process.stderr.write(`streamcache demo: ${describeError(err, listenAddress)}\n`);
  process.exit(isStartupError(err) ? EXIT_USAGE : 1);
}

main().catch((err: unknown) => fail(err));
