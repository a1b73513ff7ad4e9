// Small helpers for tests that bind real loopback ports: listen on a free port, close a server
// for sure, and bound every wait with a clear failure message.
import type { AddressInfo, Server, Socket } from 'node:net';
import net from 'node:net';

export const LOOPBACK = '127.0.0.1';

/** Makes `server` listen on an ephemeral loopback port and resolves with that port. */
export function listenOnFreePort(server: Server, host: string = LOOPBACK): Promise<number> {
  return new Promise((resolve, reject) => {
    const onError = (err: Error): void => reject(err);
    server.once('error', onError);
    server.listen(0, host, () => {
      server.off('error', onError);
      resolve((server.address() as AddressInfo).port);
    });
  });
}

/**
 * A port that was free a moment ago (bound, then released). Racy by nature: use it only to hand a
 * port to something that must be told one in advance (a child process, a CLI flag), or as a port
 * where nothing listens (connection refused).
 */
export async function freePort(host: string = LOOPBACK): Promise<number> {
  const server = net.createServer();
  const port = await listenOnFreePort(server, host);
  await closeServer(server);
  return port;
}

/** Stops `server` listening and resolves once it has (already-closed servers resolve at once). */
export function closeServer(server: Server): Promise<void> {
  return new Promise((resolve) => {
    if (!server.listening) return resolve();
    server.close(() => resolve());
  });
}

/**
 * Settles like `promise`, but rejects with `Error("timed out after <ms> ms: <what>")` if it has not
 * settled within `ms`. The timer is always cleared, so it never keeps the process alive.
 */
export function withTimeout<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms: ${what}`)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

/** Resolves after `ms` milliseconds. */
export function delay(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/**
 * Polls `condition` every `intervalMs` until it returns true; rejects with a message naming `what`
 * after `timeoutMs`.
 */
export async function waitFor(
  condition: () => boolean,
  timeoutMs: number,
  what: string,
  intervalMs = 5,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() >= deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for: ${what}`);
    await delay(intervalMs);
  }
}

/** One loopback TCP connection: `writer` is the side we connect, `reader` the side the server accepted; `received` collects what `reader` reads. */
export interface LoopbackPair {
  server: Server;
  writer: Socket;
  reader: Socket;
  received: Buffer[];
  close(): Promise<void>;
}

export async function loopbackPair(): Promise<LoopbackPair> {
  let server!: Server;
  const accepted = new Promise<Socket>((resolve) => {
    server = net.createServer(resolve);
  });
  const port = await listenOnFreePort(server);
  const writer = net.connect(port, LOOPBACK);
  writer.on('error', () => {}); // a test that destroys one side sees the reset on the other
  const reader = await accepted;
  const received: Buffer[] = [];
  reader.on('data', (chunk: Buffer) => received.push(chunk));
  await new Promise((resolve) => writer.once('connect', resolve));
  return {
    server,
    writer,
    reader,
    received,
    async close() {
      writer.destroy();
      reader.destroy();
      await closeServer(server);
    },
  };
}
