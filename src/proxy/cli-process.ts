// The process-level conventions shared by the CLI and the demo: how a startup failure is reported
// and how a signal turns into a graceful shutdown.

import type { AddressInfo } from 'node:net';
import { OptionError } from './options.js';

/** Exit code for a configuration or listen error: the operator must change something. */
export const EXIT_USAGE = 2;

const LISTEN_ERRORS: Record<string, string> = {
  EADDRINUSE: 'address already in use',
  EADDRNOTAVAIL: 'address not available on this host',
  EACCES: 'permission denied (ports below 1024 need privileges)',
  ENOTFOUND: 'host name not found',
  EAI_AGAIN: 'host name lookup failed',
};

/** True for the errors an operator can fix (bad option, port taken): reported in one line, exit 2. */
export function isStartupError(err: unknown): boolean {
  return err instanceof OptionError || (err as NodeJS.ErrnoException)?.syscall === 'listen' || listenCode(err) !== undefined;
}

/** One line, no stack: what went wrong and where. `listenAddress` is used when the error does not say. */
export function describeError(err: unknown, listenAddress?: string): string {
  if (err instanceof OptionError) return err.message;
  const code = listenCode(err);
  // Node's error names the address that failed (the admin port, say); the configured one is a fallback.
  const { address, port } = err as { address?: string; port?: number };
  const where = address !== undefined && port !== undefined ? `${address.includes(':') ? `[${address}]` : address}:${port}` : listenAddress;
  if (code !== undefined && where !== undefined) return `cannot listen on ${where}: ${LISTEN_ERRORS[code]}`;
  return err instanceof Error ? err.message : String(err);
}

function listenCode(err: unknown): string | undefined {
  const code = (err as NodeJS.ErrnoException)?.code;
  return code !== undefined && code in LISTEN_ERRORS ? code : undefined;
}

/**
 * Runs `shutdown` on the first SIGINT or SIGTERM and exits 0 when it resolves (1 if it throws).
 * A second signal exits at once: the operator who presses Ctrl-C twice means it.
 */
export function onShutdownSignal(shutdown: () => Promise<void>, onError: (err: unknown) => void): void {
  let shuttingDown = false;
  const handle = (signal: NodeJS.Signals): void => {
    if (shuttingDown) process.exit(signal === 'SIGINT' ? 130 : 143);
    shuttingDown = true;
    shutdown().then(
      () => process.exit(0),
      (err: unknown) => {
        onError(err);
        process.exit(1);
      },
    );
  };
  process.on('SIGINT', handle);
  process.on('SIGTERM', handle);
}

/** `http://127.0.0.1:8080`, `http://[::1]:8080`: the URL a listening address is reached at. */
export function formatUrl(address: AddressInfo): string {
  const host = address.address.includes(':') ? `[${address.address}]` : address.address;
  return `http://${host}:${address.port}`;
}

/**
 * K1: runs `reload` on every SIGHUP. Installing the handler is what keeps SIGHUP from ending the
 * process (Node's default for it is to exit).
 */
export function onReloadSignal(reload: () => void): void {
  process.on('SIGHUP', reload);
}
