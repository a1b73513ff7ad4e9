#!/usr/bin/env node
// `streamcache --origin URL [options]`: parse, listen, print where, and close gracefully on a signal.
// Startup problems the operator can fix print one line on stderr and exit 2, without a stack.

import { existsSync, readFileSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createProxy } from './index.js';
import type { Proxy } from './proxy/proxy.js';
import { configFileOf, parseCliArgs, usage } from './proxy/cli-options.js';
import { describeError, EXIT_USAGE, formatUrl, isStartupError, onReloadSignal, onShutdownSignal } from './proxy/cli-process.js';
import { createLogger, type Logger } from './proxy/logger.js';
import { DEFAULTS } from './proxy/options.js';
import { reloadTlsFromArgs } from './proxy/tls-reload.js';

async function main(argv: readonly string[]): Promise<void> {
  const parsed = parseCliArgs(argv);
  if ('help' in parsed) return void process.stdout.write(usage());
  if ('version' in parsed) return void process.stdout.write(`${packageVersion()}\n`);

  const { options } = parsed;
  const logger = createLogger(options.logLevel ?? DEFAULTS.logLevel);
  const proxy = createProxy({ ...options, logger });
  // Before listening: whoever reads the "listening" line may signal at once.
  onShutdownSignal(
    () => {
      logger.info('shutting down: no new connections, waiting for responses in flight');
      return proxy.close();
    },
    (err) => process.stderr.write(`streamcache: shutdown failed: ${describeError(err)}\n`),
  );
  // K1: SIGHUP re-reads --config; H1: with TLS it also swaps in the certificate files as they are now.
  onReloadSignal(() => {
    reloadConfig(argv, proxy, logger);
    if (options.tlsCert !== undefined) reloadTlsFromArgs(argv, proxy, logger);
  });
  const listenAddress = options.listen ?? DEFAULTS.listen;
  let address: AddressInfo;
  try {
    address = await proxy.listen();
  } catch (err) {
    fail(err, listenAddress);
  }
  const admin = proxy.adminAddress();
  // One write, so that whoever sees the first line sees the admin line too.
  process.stdout.write(
    `streamcache listening on ${options.tlsCert !== undefined ? formatUrl(address).replace(/^http:/, 'https:') : formatUrl(address)} (origin ${options.origin})\n` +
      (admin ? `streamcache admin on ${formatUrl(admin)}/stats, /metrics and /healthz\n` : ''),
  );
}

/**
 * K1: SIGHUP reads the command line again, and so the config file, which flags still override. A
 * file that fails validation is refused with one log line and the running configuration stays.
 */
function reloadConfig(argv: readonly string[], proxy: Proxy, logger: Logger): void {
  const config = configFileOf(argv);
  if (config === undefined) return void logger.warn('SIGHUP: there is no --config file to re-read; nothing changed');
  try {
    const parsed = parseCliArgs(argv);
    if ('options' in parsed) proxy.reload(parsed.options);
  } catch (err) {
    logger.error({ config }, `configuration reload refused, the running one stays: ${describeError(err)}`);
  }
}

function fail(err: unknown, listenAddress?: string): never {
  process.stderr.write(`streamcache: ${describeError(err, listenAddress)}\n`);
  process.exit(isStartupError(err) ? EXIT_USAGE : 1);
}

/** The version in package.json, found by walking up: the file runs from dist/src, or from src in tests. */
function packageVersion(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (;;) {
    const candidate = join(dir, 'package.json');
    if (existsSync(candidate)) {
      const pkg = JSON.parse(readFileSync(candidate, 'utf8')) as { name?: string; version?: string };
      if (pkg.name === 'streamcache' && pkg.version) return pkg.version;
    }
    const parent = dirname(dir);
    if (parent === dir) return 'unknown';
    dir = parent;
  }
}

main(process.argv.slice(2)).catch((err: unknown) => fail(err));
