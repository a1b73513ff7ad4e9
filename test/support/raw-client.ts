// Raw-socket HTTP/1.x client side for tests: send exact bytes, collect exact bytes, and parse the
// responses with a parser of our own, written from RFC 9112. This file deliberately imports nothing
// from src/: tests must not trust the code under test to read its own output.
//
// - sendRaw:        one connection, write the request bytes, collect everything until the server
//                   closes or goes silent.
// - parseResponses: split collected bytes into responses (strict: malformed syntax throws).
// - openClient:     a persistent connection for keep-alive and pipelining tests.
import net from 'node:net';
import { TimerSet, watchPeerEnd } from './socket-watch.js';

const LOOPBACK = '127.0.0.1';

// ------------------------------------------------------------------------------------------------
// sendRaw

export interface RawExchange {
  /** Every byte received, in order (only the first `maxRetain` when that option is set). */
  bytes: Buffer;
  /** How many bytes were received in all, retained or not. */
  totalBytes: number;
  /**
   * True when the server ended the connection: a FIN, or a reset (then `error` is set, e.g.
   * ECONNRESET). False when the client gave up (`idleMs` of silence, `timeoutMs`) or never
   * connected.
   */
  closedByServer: boolean;
  /**
   * Code of the first socket error (ECONNRESET, EPIPE, ECONNREFUSED, ...), or 'TIMEOUT' when
   * `timeoutMs` passed first. Undefined for a clean exchange.
   */
  error?: string;
  /** Milliseconds from the start of the call to the end of the exchange. */
  elapsedMs: number;
}

export interface SendRawOptions {
  /** Default 127.0.0.1. */
  host?: string;
  /**
   * Silence after which the client stops waiting and closes the connection itself (then
   * `closedByServer` is false). Counted from the last write, the last byte received, or the end of
   * a reader pause, whichever is latest. Default 500 ms.
   */
  idleMs?: number;
  /** Hard cap on the whole exchange; on expiry the client closes and `error` is 'TIMEOUT'. Default 30 s. */
  timeoutMs?: number;
  /** Send a FIN (half-close) after the last request byte, and keep reading. */
  halfClose?: boolean;
  /** Milliseconds between the items of an array `request`. Default 0 (each item still its own write). */
  writeGapMs?: number;
  /** Do not read anything for this long after connecting (the server's writes back up). */
  readDelayMs?: number;
  /** Readable and writable highWaterMark of the client socket (how much Node buffers while paused). */
  highWaterMark?: number;
  /** Slow reader: after every `everyBytes` bytes received, stop reading for `pauseMs`. */
  slowReader?: { pauseMs: number; everyBytes: number };
  /** Keep at most this many leading bytes in `bytes` (the rest is counted, not kept). Default: all. */
  maxRetain?: number;
  /** Called with every chunk as it arrives (e.g. to check a huge body with a PatternChecker). */
  onData?: (chunk: Buffer) => void;
}

/**
 * Connects to `host:port`, writes `request` (an array: one write per item, `writeGapMs` apart),
 * and collects every byte received until the server closes the connection or `idleMs` pass
 * without a byte. Never rejects: connection failures come back as `error`.
 */
export function sendRaw(
  port: number,
  request: string | Buffer | (string | Buffer)[],
  opts: SendRawOptions = {},
): Promise<RawExchange> {
  const idleMs = opts.idleMs ?? 500;
  const timeoutMs = opts.timeoutMs ?? 30_000;
  const maxRetain = opts.maxRetain ?? Infinity;
  const pieces = (Array.isArray(request) ? request : [request]).map(toBuffer);
  const started = performance.now();

  return new Promise((resolve) => {
    const kept: Buffer[] = [];
    let keptBytes = 0;
    let totalBytes = 0;
    let writesDone = false;
    let readerPaused = false;
    let sincePause = 0;
    let idleTimer: NodeJS.Timeout | undefined;
    const timers = new TimerSet();

    const socket = net.connect({
      host: opts.host ?? LOOPBACK,
      port,
      allowHalfOpen: true,
      ...(opts.highWaterMark !== undefined ? { highWaterMark: opts.highWaterMark } : {}),
    });
    const peer = watchPeerEnd(socket, () => socket.destroy());

    const armIdle = (): void => {
      clearTimeout(idleTimer);
      idleTimer = undefined;
      if (!writesDone || readerPaused || socket.destroyed) return;
      idleTimer = setTimeout(() => socket.destroy(), idleMs);
    };

    const pauseReader = (ms: number): void => {
      readerPaused = true;
      socket.pause();
      clearTimeout(idleTimer);
      timers.later(ms, () => {
        readerPaused = false;
        if (socket.destroyed) return;
        socket.resume();
        armIdle();
      });
    };

    const overall = setTimeout(() => {
      peer.error ??= 'TIMEOUT';
      socket.destroy();
    }, timeoutMs);

    socket.on('data', (chunk: Buffer) => {
      totalBytes += chunk.length;
      if (keptBytes < maxRetain) {
        const take = Math.min(chunk.length, maxRetain - keptBytes);
        kept.push(take === chunk.length ? chunk : chunk.subarray(0, take));
        keptBytes += take;
      }
      opts.onData?.(chunk);
      if (opts.slowReader) {
        sincePause += chunk.length;
        if (sincePause >= opts.slowReader.everyBytes) {
          sincePause = 0;
          pauseReader(opts.slowReader.pauseMs);
          return;
        }
      }
      armIdle();
    });
    socket.on('close', () => {
      clearTimeout(idleTimer);
      clearTimeout(overall);
      timers.clear();
      resolve({
        bytes: Buffer.concat(kept, keptBytes),
        totalBytes,
        closedByServer: peer.closedByServer,
        ...(peer.error !== undefined ? { error: peer.error } : {}),
        elapsedMs: performance.now() - started,
      });
    });

    if (opts.readDelayMs !== undefined && opts.readDelayMs > 0) pauseReader(opts.readDelayMs);

    socket.on('connect', () => {
      void (async () => {
        for (let i = 0; i < pieces.length; i++) {
          if (i > 0 && opts.writeGapMs) await new Promise<void>((r) => timers.later(opts.writeGapMs ?? 0, r));
          if (socket.destroyed) return;
          await new Promise<void>((r) => socket.write(pieces[i], () => r()));
        }
        if (socket.destroyed) return;
        if (opts.halfClose) socket.end();
        writesDone = true;
        armIdle();
      })();
    });
  });
}

function toBuffer(bytes: string | Buffer): Buffer {
  return typeof bytes === 'string' ? Buffer.from(bytes, 'latin1') : bytes;
}

// ------------------------------------------------------------------------------------------------
// parseResponses: an independent, strict HTTP/1.x response parser (RFC 9112)

export type ResponseFraming = 'length' | 'chunked' | 'close' | 'none';

export interface ParsedResponse {
  /** 'HTTP/1.1' or 'HTTP/1.0' (as sent). */
  version: string;
  /** 0 when the bytes ended inside the status line. */
  status: number;
  reason: string;
  /** Header fields in order, names as sent, values trimmed of surrounding whitespace. */
  headers: [string, string][];
  /** Every value of a field (case-insensitive name) joined with ", ", or undefined if absent. */
  header(name: string): string | undefined;
  /** Every value of a field, in order (to catch duplicates). */
  headerAll(name: string): string[];
  /** Body bytes with any chunk framing removed; as much as arrived if incomplete. */
  body: Buffer;
  /**
   * How the body is delimited: 'none' for responses to HEAD and 1xx/204/304, 'chunked' when the
   * final transfer coding is chunked, 'close' for any other Transfer-Encoding or when there is no
   * Content-Length, else 'length' (also Content-Length: 0).
   */
  framing: ResponseFraming;
  /** The whole response arrived: head, and all Content-Length bytes / the zero chunk and trailer
   * section / the clean close (for 'close'). */
  complete: boolean;
  /** The head (status line, fields, empty line) arrived in full. */
  headComplete: boolean;
  /** Chunked only: the zero-size last chunk was seen. */
  terminatingChunk: boolean;
  /** Chunked only: the sizes of the data chunks as framed on the wire (the last one may be partial). */
  chunkSizes: number[];
  /** Chunked only: trailer fields. */
  trailers: [string, string][];
  /** The head exactly as received (latin1), including the final empty line when complete. */
  rawHead: string;
  /** Number of input bytes this response occupies. */
  wireLength: number;
  /** Framing anomalies that RFC 9112 resolves but a good sender never produces (e.g. TE with CL). */
  problems: string[];
}

export interface ParseOptions {
  /**
   * True (the default) when the input ends because the connection closed cleanly: a
   * close-delimited body is then complete. Pass false while the connection is still open or when
   * it was reset.
   */
  closedCleanly?: boolean;
  /** Stop after this many final (non-1xx) responses; what follows is not looked at. */
  maxFinal?: number;
}

/** What parseResponses accepts beside a Buffer: an exchange knows whether it ended cleanly. */
export type ResponseBytes = Buffer | RawExchange;

const TOKEN = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;
const STATUS_LINE = /^HTTP\/(\d)\.(\d) (\d{3}) ([\t\x20-\x7e\x80-\xff]*)$/;
const FIELD_VALUE = /^[\t\x20-\x7e\x80-\xff]*$/;
const CRLF = Buffer.from('\r\n', 'latin1');
const CRLFCRLF = Buffer.from('\r\n\r\n', 'latin1');

export class ResponseParseError extends Error {
  constructor(
    readonly offset: number,
    message: string,
  ) {
    super(`parseResponses: ${message} (at byte ${offset})`);
    this.name = 'ResponseParseError';
  }
}

/**
 * Splits `input` into the responses it holds. `requestMethods[i]` is the method of the request the
 * i-th final response answers (1xx interim responses appear in the list but answer no request);
 * missing entries count as GET. The last response may be partial (`complete` false). Throws a
 * ResponseParseError on any syntax error: bare LF, obs-fold, an invalid field name, a bad status
 * line, invalid or conflicting Content-Length, an invalid chunk size or missing CRLF after chunk
 * data.
 *
 * Given a RawExchange, a close-delimited body counts as complete only if the server closed the
 * connection without an error.
 */
export function parseResponses(input: ResponseBytes, requestMethods: string[] = [], options: ParseOptions = {}): ParsedResponse[] {
  let bytes: Buffer;
  let closedCleanly: boolean;
  if (Buffer.isBuffer(input)) {
    bytes = input;
    closedCleanly = options.closedCleanly ?? true;
  } else {
    bytes = input.bytes;
    closedCleanly = options.closedCleanly ?? (input.closedByServer && input.error === undefined && input.bytes.length === input.totalBytes);
  }

  const out: ParsedResponse[] = [];
  let pos = 0;
  let methodIndex = 0;
  const maxFinal = options.maxFinal ?? Infinity;
  while (pos < bytes.length && methodIndex < maxFinal) {
    const start = pos;
    const headEnd = bytes.indexOf(CRLFCRLF, pos);
    const headText = bytes.toString('latin1', pos, headEnd < 0 ? bytes.length : headEnd + 4);
    const lines = headText.split('\r\n');
    // Complete head: [...lines, '', ''] (status line, fields, the empty line). Incomplete: the last
    // element is a partial line.
    const complete = headEnd >= 0;
    const fullLines = complete ? lines.slice(0, -2) : lines.slice(0, -1);
    checkNoBareLf(fullLines, start);
    if (!complete) {
      // The partial last line may end with the CR of a CRLF cut in two, nothing else.
      const partial = lines[lines.length - 1];
      const at = bytes.length - partial.length;
      const lf = partial.indexOf('\n');
      if (lf >= 0) throw new ResponseParseError(at + lf, 'bare LF in the head');
      const cr = partial.indexOf('\r');
      if (cr >= 0 && cr !== partial.length - 1) throw new ResponseParseError(at + cr, 'bare CR in the head');
    }
    const res = emptyResponse(headText);

    if (fullLines.length === 0) {
      // Not even the status line yet.
      res.wireLength = bytes.length - start;
      out.push(res);
      break;
    }
    const m = STATUS_LINE.exec(fullLines[0]);
    if (!m) throw new ResponseParseError(start, `invalid status line ${JSON.stringify(fullLines[0])}`);
    res.version = `HTTP/${m[1]}.${m[2]}`;
    res.status = Number(m[3]);
    res.reason = m[4];
    let lineOffset = start + fullLines[0].length + 2;
    for (const line of fullLines.slice(1)) {
      res.headers.push(parseField(line, lineOffset));
      lineOffset += line.length + 2;
    }
    if (!complete) {
      res.wireLength = bytes.length - start;
      out.push(res);
      break;
    }
    res.headComplete = true;
    pos = headEnd + 4;

    const interim = res.status >= 100 && res.status < 200;
    const method = interim ? undefined : (requestMethods[methodIndex++] ?? 'GET');
    const { framing, length } = framingOf(res, method, start);
    res.framing = framing;

    switch (res.framing) {
      case 'none':
        res.complete = true;
        break;
      case 'length': {
        const end = Math.min(bytes.length, pos + length);
        res.body = bytes.subarray(pos, end);
        res.complete = end - pos === length;
        pos = end;
        break;
      }
      case 'close':
        res.body = bytes.subarray(pos);
        res.complete = closedCleanly;
        pos = bytes.length;
        break;
      case 'chunked':
        pos = parseChunked(bytes, pos, res);
        break;
    }
    res.wireLength = pos - start;
    out.push(res);
    if (!res.complete) break;
  }
  return out;
}

function emptyResponse(rawHead: string): ParsedResponse {
  const headers: [string, string][] = [];
  const all = (name: string): string[] => {
    const lower = name.toLowerCase();
    return headers.filter(([n]) => n.toLowerCase() === lower).map(([, v]) => v);
  };
  return {
    version: '',
    status: 0,
    reason: '',
    headers,
    header: (name) => {
      const values = all(name);
      return values.length === 0 ? undefined : values.join(', ');
    },
    headerAll: all,
    body: Buffer.alloc(0),
    framing: 'none',
    complete: false,
    headComplete: false,
    terminatingChunk: false,
    chunkSizes: [],
    trailers: [],
    rawHead,
    wireLength: 0,
    problems: [],
  };
}

function checkNoBareLf(lines: string[], offset: number): void {
  for (const line of lines) {
    const lf = line.indexOf('\n');
    if (lf >= 0) throw new ResponseParseError(offset + lf, 'bare LF in the head');
    const cr = line.indexOf('\r');
    if (cr >= 0) throw new ResponseParseError(offset + cr, 'bare CR in the head');
    offset += line.length + 2;
  }
}

function parseField(line: string, offset: number): [string, string] {
  if (line.startsWith(' ') || line.startsWith('\t')) throw new ResponseParseError(offset, 'obs-fold (line starting with whitespace)');
  const colon = line.indexOf(':');
  if (colon < 0) throw new ResponseParseError(offset, `field line without a colon ${JSON.stringify(line)}`);
  const name = line.slice(0, colon);
  if (!TOKEN.test(name)) throw new ResponseParseError(offset, `invalid field name ${JSON.stringify(name)}`);
  const value = line.slice(colon + 1).replace(/^[ \t]+|[ \t]+$/g, '');
  if (!FIELD_VALUE.test(value)) throw new ResponseParseError(offset, `invalid byte in the value of ${name}`);
  return [name, value];
}

function framingOf(res: ParsedResponse, method: string | undefined, offset: number): { framing: ResponseFraming; length: number } {
  const te = res.headerAll('transfer-encoding');
  const cl = res.headerAll('content-length');
  let length: number | undefined;
  if (cl.length > 0) {
    const values = cl.flatMap((v) => v.split(',')).map((v) => v.trim());
    if (!values.every((v) => /^\d+$/.test(v))) throw new ResponseParseError(offset, `invalid Content-Length ${JSON.stringify(cl.join(', '))}`);
    if (new Set(values.map(Number)).size !== 1) throw new ResponseParseError(offset, `conflicting Content-Length values ${JSON.stringify(cl.join(', '))}`);
    if (values.length > 1) res.problems.push('Content-Length repeated');
    length = Number(values[0]);
    if (!Number.isSafeInteger(length)) throw new ResponseParseError(offset, 'Content-Length too large');
  }
  if (te.length > 0 && cl.length > 0) res.problems.push('both Transfer-Encoding and Content-Length');
  if (te.length > 0 && res.version === 'HTTP/1.0') res.problems.push('Transfer-Encoding in an HTTP/1.0 response');

  if (method === undefined || method.toUpperCase() === 'HEAD') return { framing: 'none', length: 0 };
  if (res.status === 204 || res.status === 304) return { framing: 'none', length: 0 };
  if (te.length > 0) {
    const codings = te.flatMap((v) => v.split(',')).map((v) => v.trim().toLowerCase()).filter((v) => v !== '');
    return { framing: codings[codings.length - 1] === 'chunked' ? 'chunked' : 'close', length: 0 };
  }
  if (length !== undefined) return { framing: 'length', length };
  return { framing: 'close', length: 0 };
}

/** Parses a chunked body starting at `pos`; fills `res`; returns the position after what it consumed. */
function parseChunked(bytes: Buffer, pos: number, res: ParsedResponse): number {
  const parts: Buffer[] = [];
  const finish = (at: number, complete: boolean): number => {
    res.body = Buffer.concat(parts);
    res.complete = complete;
    return at;
  };
  for (;;) {
    const lineEnd = bytes.indexOf(CRLF, pos);
    if (lineEnd < 0) {
      // An incomplete size line: it may end with the CR of its CRLF.
      const partial = bytes.toString('latin1', pos).replace(/\r$/, '');
      if (!/^[0-9A-Fa-f]*$/.test(partial.split(';')[0]) || /[\r\n]/.test(partial)) {
        throw new ResponseParseError(pos, `invalid chunk size line ${JSON.stringify(partial.slice(0, 40))}`);
      }
      return finish(bytes.length, false);
    }
    const line = bytes.toString('latin1', pos, lineEnd);
    const m = /^([0-9A-Fa-f]+)[ \t]*(;.*)?$/.exec(line);
    if (!m || line.includes('\n')) throw new ResponseParseError(pos, `invalid chunk size line ${JSON.stringify(line.slice(0, 40))}`);
    if (m[1].length > 12) throw new ResponseParseError(pos, 'chunk size too large');
    const size = parseInt(m[1], 16);
    pos = lineEnd + 2;
    if (size === 0) {
      res.terminatingChunk = true;
      // Trailer section: field lines, then an empty line.
      for (;;) {
        const end = bytes.indexOf(CRLF, pos);
        if (end < 0) return finish(bytes.length, false);
        const field = bytes.toString('latin1', pos, end);
        checkNoBareLf([field], pos);
        pos = end + 2;
        if (field === '') return finish(pos, true);
        res.trailers.push(parseField(field, pos - field.length - 2));
      }
    }
    res.chunkSizes.push(size);
    const dataEnd = pos + size;
    if (dataEnd > bytes.length) {
      parts.push(bytes.subarray(pos));
      return finish(bytes.length, false);
    }
    parts.push(bytes.subarray(pos, dataEnd));
    pos = dataEnd;
    if (bytes.length < pos + 2) {
      if (bytes.length > pos && bytes[pos] !== 0x0d) throw new ResponseParseError(pos, 'chunk data not followed by CRLF');
      return finish(bytes.length, false);
    }
    if (bytes[pos] !== 0x0d || bytes[pos + 1] !== 0x0a) throw new ResponseParseError(pos, 'chunk data not followed by CRLF');
    pos += 2;
  }
}

// ------------------------------------------------------------------------------------------------
// openClient: a persistent raw connection

export interface RawClient {
  /** The underlying socket (for what the helpers do not cover). */
  readonly socket: net.Socket;
  /** Writes bytes (strings as latin1); resolves once they are handed to the kernel. Never rejects. */
  write(bytes: string | Buffer): Promise<void>;
  /** Sends a FIN (half-close); reading continues. */
  end(): void;
  /**
   * Resolves with every byte received since connecting once `until` holds: a number means "at
   * least this many bytes in all", a predicate is called with all bytes received. Rejects if the
   * connection closes first (after one last check) or after `timeoutMs` (default 5000).
   */
  readUntil(until: number | ((received: Buffer) => boolean), timeoutMs?: number): Promise<Buffer>;
  /**
   * Resolves with the next final response after those already returned by readResponse (1xx
   * interim responses are skipped), once it is complete or the connection has closed (then it may
   * be partial: check `complete`). Rejects on timeout (default 5000 ms) or if the connection closes
   * with no byte of the response.
   */
  readResponse(method?: string, timeoutMs?: number): Promise<ParsedResponse>;
  /** readResponse once per method, in order. */
  readResponses(methods: string[], timeoutMs?: number): Promise<ParsedResponse[]>;
  /** Resolves true once the server has closed the connection, false if it is still open after `timeoutMs` (default 5000). */
  waitClose(timeoutMs?: number): Promise<boolean>;
  /** Every byte received so far. */
  received(): Buffer;
  /** Stops reading (the server's writes back up), until resume(). */
  pause(): void;
  resume(): void;
  /** True once the connection has closed, for whatever reason. */
  readonly closed: boolean;
  /** True when the server ended the connection (FIN or reset). */
  readonly closedByServer: boolean;
  /** Code of the first socket error, if any (e.g. ECONNRESET). */
  readonly error: string | undefined;
  /** Destroys the connection; resolves once it is closed. */
  close(): Promise<void>;
}

export interface OpenClientOptions {
  host?: string;
  highWaterMark?: number;
  /** Connect timeout, default 5000 ms. */
  timeoutMs?: number;
}

/** Opens a persistent raw connection to `host:port`; rejects if it cannot connect. */
export function openClient(port: number, opts: OpenClientOptions = {}): Promise<RawClient> {
  return new Promise((resolveOpen, rejectOpen) => {
    const socket = net.connect({
      host: opts.host ?? LOOPBACK,
      port,
      allowHalfOpen: true,
      ...(opts.highWaterMark !== undefined ? { highWaterMark: opts.highWaterMark } : {}),
    });
    const chunks: Buffer[] = [];
    let all: Buffer = Buffer.alloc(0);
    let dirty = false;
    let closed = false;
    let cursor = 0;
    const waiters = new Set<() => void>();

    const received = (): Buffer => {
      if (dirty) {
        all = Buffer.concat([all, ...chunks]);
        chunks.length = 0;
        dirty = false;
      }
      return all;
    };
    const wake = (): void => {
      for (const w of [...waiters]) w();
    };

    const connectTimer = setTimeout(() => {
      socket.destroy(new Error(`openClient: could not connect to port ${port} within ${opts.timeoutMs ?? 5000} ms`));
    }, opts.timeoutMs ?? 5000);

    socket.on('data', (chunk: Buffer) => {
      chunks.push(chunk);
      dirty = true;
      wake();
    });
    const peer = watchPeerEnd(socket, () => socket.destroy());
    socket.on('close', () => {
      clearTimeout(connectTimer);
      closed = true;
      wake();
      if (!connected) rejectOpen(new Error(`openClient: connection to port ${port} failed: ${peer.error ?? 'closed'}`));
    });
    let connected = false;

    /** Waits until `check` returns a value (not undefined), the connection closes, or timeout. */
    const waitFor = <T>(check: (final: boolean) => T | undefined, timeoutMs: number, what: () => string): Promise<T> =>
      new Promise<T>((resolve, reject) => {
        let timer: NodeJS.Timeout | undefined;
        const done = (): void => {
          waiters.delete(waiter);
          clearTimeout(timer);
        };
        const waiter = (): void => {
          let value: T | undefined;
          try {
            value = check(closed);
          } catch (err) {
            done();
            reject(err as Error);
            return;
          }
          if (value !== undefined) {
            done();
            resolve(value);
          } else if (closed) {
            done();
            reject(new Error(`connection closed (${peer.closedByServer ? 'by the server' : 'by the client'}${peer.error ? `, ${peer.error}` : ''}) before ${what()}`));
          }
        };
        waiters.add(waiter);
        timer = setTimeout(() => {
          done();
          reject(new Error(`timed out after ${timeoutMs} ms waiting for ${what()}`));
        }, timeoutMs);
        waiter();
      });

    const describe = (): string => {
      const bytes = received();
      const tail = bytes.subarray(Math.max(cursor, bytes.length - 200)).toString('latin1');
      return `(received ${bytes.length} bytes; last: ${JSON.stringify(tail)})`;
    };

    const client: RawClient = {
      socket,
      write: (bytes) =>
        new Promise<void>((resolve) => {
          if (socket.destroyed || !socket.writable) return resolve();
          socket.write(toBuffer(bytes), () => resolve());
        }),
      end: () => {
        if (!socket.destroyed) socket.end();
      },
      readUntil: (until, timeoutMs = 5000) =>
        waitFor(
          () => {
            const bytes = received();
            return (typeof until === 'number' ? bytes.length >= until : until(bytes)) ? bytes : undefined;
          },
          timeoutMs,
          () => `${typeof until === 'number' ? `${until} bytes` : 'the predicate'} ${describe()}`,
        ),
      readResponse: (method = 'GET', timeoutMs = 5000) =>
        waitFor(
          (final) => {
            const bytes = received().subarray(cursor);
            if (bytes.length === 0) return undefined;
            const cleanly = final && peer.closedByServer && peer.error === undefined;
            let offset = 0;
            for (const res of parseResponses(bytes, [method], { closedCleanly: cleanly, maxFinal: 1 })) {
              offset += res.wireLength;
              const interim = res.headComplete && res.status >= 100 && res.status < 200;
              if (interim) continue;
              if (res.complete || final) {
                cursor += offset;
                return res;
              }
              return undefined;
            }
            return undefined;
          },
          timeoutMs,
          () => `a response to ${method} ${describe()}`,
        ),
      readResponses: async (methods, timeoutMs) => {
        const out: ParsedResponse[] = [];
        for (const m of methods) out.push(await client.readResponse(m, timeoutMs));
        return out;
      },
      waitClose: (timeoutMs = 5000) =>
        new Promise<boolean>((resolve) => {
          if (closed) return resolve(true);
          const timer = setTimeout(() => {
            waiters.delete(waiter);
            resolve(false);
          }, timeoutMs);
          const waiter = (): void => {
            if (!closed) return;
            waiters.delete(waiter);
            clearTimeout(timer);
            resolve(peer.closedByServer);
          };
          waiters.add(waiter);
        }),
      received,
      pause: () => socket.pause(),
      resume: () => socket.resume(),
      get closed() {
        return closed;
      },
      get closedByServer() {
        return peer.closedByServer;
      },
      get error() {
        return peer.error;
      },
      close: () =>
        new Promise<void>((resolve) => {
          if (closed) return resolve();
          socket.once('close', () => resolve());
          socket.destroy();
        }),
    };

    socket.on('connect', () => {
      connected = true;
      clearTimeout(connectTimer);
      resolveOpen(client);
    });
  });
}

/** The first response received so far on a client, complete or not. */
export function soFar(c: RawClient, method = 'GET'): ParsedResponse | undefined {
  return parseResponses(c.received(), [method], { closedCleanly: false })[0];
}

/** Resolves once the client has the head and at least `bytes` body bytes of its first response. */
export async function bodyBytes(c: RawClient, bytes: number, timeoutMs = 2000): Promise<ParsedResponse> {
  await c.readUntil(() => {
    const res = soFar(c);
    return res !== undefined && res.headComplete && res.body.length >= bytes;
  }, timeoutMs);
  return soFar(c)!;
}
