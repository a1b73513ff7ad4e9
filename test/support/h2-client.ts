// HTTP/2 clients for tests: node:http2's client for ordinary requests (h2c or TLS), and a raw
// socket writing frames we build ourselves for the floods node:http2's client would refuse to send.
import http2, { type ClientHttp2Session, type IncomingHttpHeaders, type OutgoingHttpHeaders } from 'node:http2';
import net from 'node:net';

export interface H2Response {
  status: number;
  headers: IncomingHttpHeaders;
  body: Buffer;
  /** True when the stream ended with END_STREAM; false when it was reset. */
  endedCleanly: boolean;
  /** The RST_STREAM code when reset (NGHTTP2_INTERNAL_ERROR is 2). */
  rstCode: number;
}

/** An h2c session (prior knowledge) or, with `ca`, an h2 session over TLS. */
export function connectH2(port: number, options: { ca?: string; settings?: http2.Settings } = {}): ClientHttp2Session {
  const session = options.ca
    ? http2.connect(`https://localhost:${port}`, { ca: options.ca, settings: options.settings })
    : http2.connect(`http://127.0.0.1:${port}`, { settings: options.settings });
  session.on('error', () => {});
  return session;
}

/** One request on a session; resolves when the stream closes, however it closes. */
export function h2Request(session: ClientHttp2Session, path: string, headers: OutgoingHttpHeaders = {}, body?: Buffer | string): Promise<H2Response> {
  return new Promise((resolve, reject) => {
    const stream = session.request({ ':path': path, ...headers }, { endStream: body === undefined });
    const chunks: Buffer[] = [];
    let status = 0;
    let responseHeaders: IncomingHttpHeaders = {};
    let ended = false;
    stream.on('response', (h) => {
      status = Number(h[':status']);
      responseHeaders = h;
    });
    stream.on('data', (c: Buffer) => chunks.push(c));
    stream.on('end', () => (ended = true));
    stream.on('error', () => {});
    stream.on('close', () => {
      if (status === 0 && stream.rstCode === undefined) return reject(new Error(`stream ${path} closed without a response`));
      resolve({ status, headers: responseHeaders, body: Buffer.concat(chunks), endedCleanly: ended && stream.rstCode === http2.constants.NGHTTP2_NO_ERROR, rstCode: stream.rstCode ?? 0 });
    });
    if (body !== undefined) stream.end(body);
  });
}

export function closeSession(session: ClientHttp2Session): Promise<void> {
  return new Promise((resolve) => {
    if (session.destroyed) return resolve();
    session.close(() => resolve());
    setTimeout(() => {
      session.destroy();
      resolve();
    }, 500).unref();
  });
}

// ---- raw frames ----

export const FRAME = { DATA: 0, HEADERS: 1, RST_STREAM: 3, SETTINGS: 4, PING: 6, GOAWAY: 7, WINDOW_UPDATE: 8 } as const;
export const FLAG = { END_STREAM: 0x1, ACK: 0x1, END_HEADERS: 0x4 } as const;
const PREFACE = Buffer.from('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n', 'latin1');

export function frame(type: number, flags: number, streamId: number, payload: Buffer = Buffer.alloc(0)): Buffer {
  const head = Buffer.alloc(9);
  head.writeUIntBE(payload.length, 0, 3);
  head[3] = type;
  head[4] = flags;
  head.writeUInt32BE(streamId & 0x7fffffff, 5);
  return Buffer.concat([head, payload]);
}

/** HPACK without Huffman or the dynamic table (RFC 7541 §6.2.2, literal without indexing, new name). */
function literal(name: string, value: string): Buffer {
  const n = Buffer.from(name, 'latin1');
  const v = Buffer.from(value, 'latin1');
  if (n.length > 126 || v.length > 126) throw new Error('literal: test headers are short');
  return Buffer.concat([Buffer.from([0x00, n.length]), n, Buffer.from([v.length]), v]);
}

/** A HEADERS frame for `GET path` (END_HEADERS, END_STREAM unless `open`). */
export function getHeaders(streamId: number, path: string, authority: string, open = false): Buffer {
  const block = Buffer.concat([literal(':method', 'GET'), literal(':scheme', 'http'), literal(':path', path), literal(':authority', authority)]);
  return frame(FRAME.HEADERS, FLAG.END_HEADERS | (open ? 0 : FLAG.END_STREAM), streamId, block);
}

export function rstStream(streamId: number, code: number): Buffer {
  const payload = Buffer.alloc(4);
  payload.writeUInt32BE(code);
  return frame(FRAME.RST_STREAM, 0, streamId, payload);
}

export interface RawFrame {
  type: number;
  flags: number;
  streamId: number;
  payload: Buffer;
}

/** A raw h2c connection: the preface and an empty SETTINGS are sent; frames received are parsed. */
export interface RawH2 {
  socket: net.Socket;
  frames: RawFrame[];
  send(bytes: Buffer): void;
  /** Resolves with the first frame matching, or null when the connection closes first. */
  waitFor(match: (f: RawFrame) => boolean, timeoutMs?: number): Promise<RawFrame | null>;
  /** Resolves when the server closes the connection. */
  closed: Promise<void>;
  close(): void;
}

export async function rawH2(port: number): Promise<RawH2> {
  const socket = net.connect(port, '127.0.0.1');
  await new Promise<void>((resolve, reject) => socket.once('connect', resolve).once('error', reject));
  socket.on('error', () => {});
  const frames: RawFrame[] = [];
  const watchers: Array<() => void> = [];
  let input = Buffer.alloc(0);
  let ended = false;
  socket.on('data', (chunk: Buffer) => {
    input = Buffer.concat([input, chunk]);
    while (input.length >= 9) {
      const length = input.readUIntBE(0, 3);
      if (input.length < 9 + length) break;
      frames.push({ type: input[3], flags: input[4], streamId: input.readUInt32BE(5) & 0x7fffffff, payload: input.subarray(9, 9 + length) });
      input = input.subarray(9 + length);
    }
    for (const w of watchers.slice()) w();
  });
  const closed = new Promise<void>((resolve) =>
    socket.once('close', () => {
      ended = true;
      for (const w of watchers.slice()) w();
      resolve();
    }),
  );
  socket.write(Buffer.concat([PREFACE, frame(FRAME.SETTINGS, 0, 0)]));
  return {
    socket,
    frames,
    closed,
    send: (bytes) => void (socket.destroyed || socket.write(bytes)),
    close: () => socket.destroy(),
    waitFor(match, timeoutMs = 5_000) {
      return new Promise((resolve) => {
        let timer: NodeJS.Timeout | undefined;
        const check = (): void => {
          const found = frames.find(match);
          if (found || ended) {
            watchers.splice(watchers.indexOf(check), 1);
            clearTimeout(timer);
            resolve(found ?? null);
          }
        };
        timer = setTimeout(() => {
          watchers.splice(watchers.indexOf(check), 1);
          resolve(null);
        }, timeoutMs);
        watchers.push(check);
        check();
      });
    },
  };
}

/** The error code of a GOAWAY or RST_STREAM frame. */
export function errorCodeOf(f: RawFrame): number {
  return f.type === FRAME.GOAWAY ? f.payload.readUInt32BE(4) : f.payload.readUInt32BE(0);
}
