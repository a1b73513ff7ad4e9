// `npm start`: the demo origin and streamcache in front of it, on fixed local ports, so that
// the curl lines it prints can be pasted as they are.
//   DEMO_ORIGIN_PORT (default 3000), STREAMCACHE_PORT (default 8080), STREAMCACHE_LOG_LEVEL (default info, read by createLogger)

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

  const origin = await startDemoOrigin({ host: HOST, port: originPort }).catch((err: unknown) => fail(err, `${HOST}:${originPort}`));
  const logger = createLogger('info');
  const proxy = createProxy({ origin: origin.url, listen: `${HOST}:${proxyPort}`, logger });
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

  const proxyUrl = formatUrl(address);
  process.stdout.write(
    [
      '',
      `  streamcache proxy   ${proxyUrl}`,
      `  demo origin         ${origin.url}`,
      '',
      '  Try, through the proxy:',
      `    curl -i ${proxyUrl}/`,
      `    curl -N ${proxyUrl}/events                      (run it in two terminals: one origin fetch, same ids)`,
      `    curl -s ${proxyUrl}/large/1048576 | sha256sum`,
      '',
      '  Ctrl-C stops both.',
      '',
      '',
    ].join('\n'),
  );
}

function portFromEnv(name: string, fallback: number): number {
  const text = process.env[name];
  if (text === undefined || text === '') return fallback;
  const port = /^\d+$/.test(text) ? Number(text) : NaN;
  if (!(port <= 65535)) throw new OptionError(`${name}: "${text}" is not a port number`);
  return port;
}

function fail(err: unknown, listenAddress?: string): never {
  process.stderr.write(`streamcache demo: ${describeError(err, listenAddress)}\n`);
  process.exit(isStartupError(err) ? EXIT_USAGE : 1);
}

main().catch((err: unknown) => fail(err));
