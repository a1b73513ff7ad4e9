// H1: SIGHUP re-reads the TLS certificate and key files named on the command line (and in the
// config file) and swaps them in for new connections; connections already open keep theirs. A
// pair that does not load is refused with one log line, and the running one stays.
import type { Logger } from 'pino';
import { parseCliArgs } from './cli-options.js';
import { describeError } from './cli-process.js';
import type { Proxy } from './proxy.js';

/** Reads the command line again (the files are read afresh) and applies its TLS pair. */
export function reloadTlsFromArgs(argv: readonly string[], proxy: Pick<Proxy, 'reloadTls'>, logger: Logger): void {
  try {
    const parsed = parseCliArgs(argv);
    if (!('options' in parsed)) return;
    const { tlsCert, tlsKey } = parsed.options;
    if (tlsCert === undefined || tlsKey === undefined) return void logger.warn('SIGHUP: no --tls-cert and --tls-key any more; the running certificate stays');
    proxy.reloadTls({ cert: tlsCert, key: tlsKey });
  } catch (err) {
    logger.error(`TLS reload refused, the running certificate stays: ${describeError(err)}`);
  }
}
