// The request text and the one-request-one-connection fetch that the cache's integration tests
// share. Each test file binds its own Host (every file its own cache keys) with requestKit.
import { expect } from 'vitest';
import { parseResponses, sendRaw, type ParsedResponse } from './raw-client.js';

export interface RequestOptions {
  method?: string;
  version?: '1.0' | '1.1';
  host?: string;
  headers?: [string, string][];
  body?: string;
  /** Keep the connection (1.1: no Connection: close; 1.0: Connection: keep-alive). */
  keepAlive?: boolean;
}

export interface FetchOptions extends RequestOptions {
  /** sendRaw's idleMs: how long a silent server is waited for (default 3000, 300 with keepAlive). */
  idleMs?: number;
}

/** A request's bytes. HTTP/1.1 ones ask to close unless keepAlive, so that a fetch ends with its response. */
export function requestText(path: string, opts: RequestOptions = {}): string {
  const version = opts.version ?? '1.1';
  let head = `${opts.method ?? 'GET'} ${path} HTTP/${version}\r\nHost: ${opts.host ?? 'cache.test'}\r\n`;
  for (const [name, value] of opts.headers ?? []) head += `${name}: ${value}\r\n`;
  if (opts.body !== undefined) head += `Content-Length: ${Buffer.byteLength(opts.body)}\r\n`;
  if (version === '1.1' && !opts.keepAlive) head += 'Connection: close\r\n';
  if (version === '1.0' && opts.keepAlive) head += 'Connection: keep-alive\r\n';
  return `${head}\r\n${opts.body ?? ''}`;
}

/** One request on its own connection: exactly one response, parsed, plus the raw exchange. */
export async function fetchOnce(port: number, path: string, opts: FetchOptions = {}): Promise<ParsedResponse & { closedByServer: boolean; wire: Buffer }> {
  const exchange = await sendRaw(port, requestText(path, opts), { idleMs: opts.idleMs ?? (opts.keepAlive ? 300 : 3000) });
  const responses = parseResponses(exchange, [opts.method ?? 'GET']);
  expect(responses.length, `one response to ${opts.method ?? 'GET'} ${path}`).toBe(1);
  return Object.assign(responses[0], { closedByServer: exchange.closedByServer, wire: exchange.bytes });
}

/** requestText and fetchOnce with a test file's own defaults (its Host, its idle wait). */
export function requestKit(defaults: FetchOptions): {
  request: (path: string, opts?: RequestOptions) => string;
  fetchOnce: (port: number, path: string, opts?: FetchOptions) => ReturnType<typeof fetchOnce>;
} {
  return {
    request: (path, opts = {}) => requestText(path, { ...defaults, ...opts }),
    fetchOnce: (port, path, opts = {}) => fetchOnce(port, path, { ...defaults, ...opts }),
  };
}
