// Client connections read into one buffer that all of them share, through Node's `onread` option,
// instead of 'data' events.
//
// Why: a 'data' read allocates a Buffer per read and goes through Readable.push and emit; for a
// small request that is a large part of what reading it costs. With `onread`, libuv reads into
// the buffer given and Node calls back with the count, nothing else. One buffer is enough for
// every connection: a read's callback runs to its end before the next read of any socket.
//
// The cost: bytes handed on are a view of that buffer, valid only until the callback returns. The
// request parser copies head text into strings; whatever keeps body bytes (ClientConnection) must
// copy them.
//
// `onread` is an option of `new net.Socket()` only, and a server's sockets are made by Node. So an
// accepted socket (listen with pauseOnConnect, so that nothing has been read) is replaced: its
// handle moves to a new Socket made with `onread`. What that relies on (Node internals, checked
// here, with the 'data' path as the fallback): `socket._handle` (the libuv TCP handle, with
// readStop and useUserBuffer), and `socket._server`, through which a Socket's destroy counts the
// server's connections down: it moves with the handle, so server.close() still waits for the
// connection and getConnections() counts it once. The old Socket, without handle or server, is
// destroyed: nothing of it is left to close or count.
import net from 'node:net';
import { TLSSocket } from 'node:tls';

/** Bytes read: a view of the shared buffer, valid until the handler returns. */
export type ReadHandler = (bytes: Buffer) => void;

/** As much as Node reads at once into its own buffers. */
const SHARED_READ_SIZE = 64 * 1024;
let sharedBuffer: Buffer | null = null;

interface SocketInternals {
  _handle: { reading?: boolean; readStop?(): number; useUserBuffer?(buffer: Uint8Array): void } | null;
  _server: net.Server | null;
  server: net.Server | null;
}

/** True when `socket` can be moved to a shared-buffer reader. */
export function canShareReads(socket: net.Socket): boolean {
  if (socket instanceof TLSSocket || socket.connecting || socket.destroyed) return false;
  // Bytes already in its readable buffer, or an end already seen, belong to the old Socket.
  if (socket.readableLength > 0 || socket.readableEnded) return false;
  const handle = (socket as unknown as SocketInternals)._handle;
  return !!handle && typeof handle.readStop === 'function' && typeof handle.useUserBuffer === 'function';
}

/**
 * Moves an accepted socket's connection to a new Socket that reads into the shared buffer and
 * hands each read to `onBytes`. Returns null (the socket untouched) when that cannot be done:
 * then read it with 'data' events. The new Socket starts reading at once; pause() and resume()
 * stop and restart the reads (Node's Socket does so for `onread` sockets).
 */
export function shareReads(socket: net.Socket, onBytes: ReadHandler): net.Socket | null {
  if (!canShareReads(socket)) return null;
  const old = socket as unknown as SocketInternals;
  const handle = old._handle!;
  const server = old._server;
  if (handle.reading) {
    // A socket read with 'data' so far (h2c's preface check): the new Socket restarts the reads.
    handle.reading = false;
    handle.readStop!();
  }
  old._handle = null;
  old._server = null;
  old.server = null;
  const buffer = (sharedBuffer ??= Buffer.allocUnsafe(SHARED_READ_SIZE));
  const adopted = new net.Socket({
    handle: handle as never,
    allowHalfOpen: socket.allowHalfOpen,
    readable: true,
    writable: true,
    onread: {
      buffer,
      callback: (count: number, into: Uint8Array): void => {
        onBytes((into as Buffer).subarray(0, count));
      },
    },
  } as net.SocketConstructorOpts);
  const moved = adopted as unknown as SocketInternals;
  moved._server = server;
  moved.server = server;
  socket.destroy();
  return adopted;
}
