// The one place that knows llhttp exists. It loads the WebAssembly build of llhttp that ships,
// pinned, inside undici (see DESIGN.md "llhttp in this project"), and exposes a tiny binding:
// a parser handle per message stream, callbacks routed to a JS object, and spans handed out as
// views of the caller's own buffer (never copies of wasm memory).
//
// If an undici upgrade moves or changes these files, test/unit/llhttp-binding.test.ts fails loudly.
import { createRequire } from 'node:module';

const require = createRequire(import.meta.url);

// The slice of the WebAssembly JS API we use (TypeScript declares it only in lib.dom).
interface WasmMemory {
  readonly buffer: ArrayBuffer;
}
interface WasmApi {
  Module: new (bytes: Uint8Array) => object;
  Instance: new (module: object, imports: Record<string, Record<string, unknown>>) => { exports: unknown };
}
const WebAssembly = (globalThis as unknown as { WebAssembly: WasmApi }).WebAssembly;

/** The constants module that sits beside the wasm build (error codes, parser types). */
export const LLHTTP_CONSTANTS_PATH = 'undici/lib/llhttp/constants.js';
export const LLHTTP_WASM_SIMD_PATH = 'undici/lib/llhttp/llhttp_simd-wasm.js';
export const LLHTTP_WASM_PATH = 'undici/lib/llhttp/llhttp-wasm.js';

interface LlhttpConstants {
  ERROR: Record<string, number>;
  TYPE: { REQUEST: number; RESPONSE: number };
}
const constants = require(LLHTTP_CONSTANTS_PATH) as LlhttpConstants;

export const ERR_OK = constants.ERROR.OK;
export const ERR_PAUSED = constants.ERROR.PAUSED;
export const ERR_PAUSED_UPGRADE = constants.ERROR.PAUSED_UPGRADE;
export const ERR_INVALID_EOF_STATE = constants.ERROR.INVALID_EOF_STATE;
export const TYPE_REQUEST = constants.TYPE.REQUEST;
export const TYPE_RESPONSE = constants.TYPE.RESPONSE;
const errorNames = new Map<number, string>(Object.entries(constants.ERROR).map(([k, v]) => [v, k]));

/** What one parser handle reports back while `execute` runs. Return 0 to continue. */
export interface LlhttpCallbacks {
  /** A message starts at `buf[at]` (its first byte; empty lines before a request are skipped). */
  onMessageBegin(buf: Buffer, at: number): void;
  onUrl(buf: Buffer, start: number, end: number): number;
  onStatus(buf: Buffer, start: number, end: number): number;
  onHeaderField(buf: Buffer, start: number, end: number): number;
  onHeaderValue(buf: Buffer, start: number, end: number): number;
  /** 0 continue, 1 the message has no body (responses to HEAD), 2 upgrade. */
  onHeadersComplete(status: number, upgrade: boolean, keepAlive: boolean): number;
  onBody(buf: Buffer, start: number, end: number): number;
  onMessageComplete(): number;
}

interface LlhttpExports {
  memory: WasmMemory;
  malloc(size: number): number;
  llhttp_alloc(type: number): number;
  llhttp_free(ptr: number): void;
  llhttp_reset(ptr: number): void;
  llhttp_execute(ptr: number, data: number, len: number): number;
  llhttp_finish(ptr: number): number;
  llhttp_resume(ptr: number): void;
  llhttp_resume_after_upgrade(ptr: number): void;
  llhttp_get_error_pos(ptr: number): number;
  llhttp_get_error_reason(ptr: number): number;
  llhttp_get_http_major(ptr: number): number;
  llhttp_get_http_minor(ptr: number): number;
  llhttp_get_method(ptr: number): number;
  llhttp_get_status_code(ptr: number): number;
  llhttp_message_needs_eof(ptr: number): number;
  llhttp_should_keep_alive(ptr: number): number;
  llhttp_method_name(method: number): number;
}

/** Bytes copied into wasm memory per `llhttp_execute` call; larger inputs are fed in slices. */
const SCRATCH_SIZE = 256 * 1024;

// Execution is synchronous and not re-entrant: these name the parser and the input being run.
let currentCallbacks: LlhttpCallbacks | null = null;
let currentInput: Buffer = Buffer.alloc(0);
let currentBase = 0; // input offset that corresponds to the scratch pointer
// llhttp tells no position with on_message_begin, so we pause there and read the error position.
let pausedAtBegin = false;

function loadInstance(): { exports: LlhttpExports; scratch: number } {
  let module: object;
  try {
    module = new WebAssembly.Module(require(LLHTTP_WASM_SIMD_PATH) as Buffer);
  } catch {
    module = new WebAssembly.Module(require(LLHTTP_WASM_PATH) as Buffer);
  }
  // One closure per callback, each calling its method directly: a `pick(cb).call(cb, ...)`
  // through one shared closure cost a generic call per span.
  const startOf = (at: number): number => currentBase + (at - scratch);
  const instance = new WebAssembly.Instance(module, {
    env: {
      wasm_on_message_begin: () => {
        pausedAtBegin = true;
        return ERR_PAUSED;
      },
      wasm_on_url: (_p: number, at: number, len: number) => currentCallbacks!.onUrl(currentInput, startOf(at), startOf(at) + len),
      wasm_on_status: (_p: number, at: number, len: number) => currentCallbacks!.onStatus(currentInput, startOf(at), startOf(at) + len),
      wasm_on_header_field: (_p: number, at: number, len: number) =>
        currentCallbacks!.onHeaderField(currentInput, startOf(at), startOf(at) + len),
      wasm_on_header_value: (_p: number, at: number, len: number) =>
        currentCallbacks!.onHeaderValue(currentInput, startOf(at), startOf(at) + len),
      wasm_on_headers_complete: (_p: number, status: number, upgrade: number, keepAlive: number) =>
        currentCallbacks!.onHeadersComplete(status, upgrade === 1, keepAlive === 1),
      wasm_on_body: (_p: number, at: number, len: number) => currentCallbacks!.onBody(currentInput, startOf(at), startOf(at) + len),
      wasm_on_message_complete: () => currentCallbacks!.onMessageComplete(),
    },
  });
  const exports = instance.exports as unknown as LlhttpExports;
  // Scratch is allocated once: a later malloc that grows memory would detach views taken before it.
  const scratch = exports.malloc(SCRATCH_SIZE);
  return { exports, scratch };
}

let loaded: { exports: LlhttpExports; scratch: number } | null = null;
let scratch = 0;
// A view of the scratch area, made again whenever wasm memory has grown: growing detaches the old
// buffer, and a view of a detached buffer has length 0 (asking `memory.buffer` on every execute
// was a call into the API).
let scratchArray: Uint8Array | null = null;
// The same bytes as a DataView, for reading a span's bytes four at a time while a callback runs
// (a DataView costs a runtime call to make: one per memory, never one per input). Memory can grow
// inside execute, when a callback makes a parser (a proxy's onHead opening an origin connection):
// the views are checked again at every use, not once per execute.
let scratchData: DataView | null = null;
function scratchView(ex: LlhttpExports): Uint8Array {
  if (scratchArray === null || scratchArray.length === 0) {
    scratchArray = new Uint8Array(ex.memory.buffer, scratch, SCRATCH_SIZE);
    scratchData = new DataView(ex.memory.buffer, scratch, SCRATCH_SIZE);
  }
  return scratchArray;
}
function wasm(): LlhttpExports {
  if (!loaded) {
    loaded = loadInstance();
    scratch = loaded.scratch;
  }
  return loaded.exports;
}

/** Result of feeding bytes: how many were consumed, and the llhttp error code (0 when fine). */
export interface ExecuteResult {
  errno: number;
  /** Offset in the input where parsing stopped (pause or error); input.length when all consumed. */
  consumed: number;
  reason: string;
}

function readCString(ex: LlhttpExports, ptr: number): string {
  if (ptr === 0) return '';
  const mem = new Uint8Array(ex.memory.buffer);
  let end = ptr;
  while (mem[end] !== 0) end++;
  return Buffer.from(mem.subarray(ptr, end)).toString('latin1');
}

/** llhttp's method numbers to their names, read from wasm memory once each (an array: the numbers are small). */
const methodNames: string[] = [];

/** One llhttp parser instance (a request stream or a response stream). */
export class LlhttpHandle {
  /** The instance's exports, kept here: the module-level accessor was a call per getter. */
  private readonly ex: LlhttpExports = wasm();
  private readonly ptr: number;
  private freed = false;

  constructor(
    type: 'request' | 'response',
    private readonly callbacks: LlhttpCallbacks,
  ) {
    this.ptr = this.ex.llhttp_alloc(type === 'request' ? TYPE_REQUEST : TYPE_RESPONSE);
  }

  /** Feeds `input[from..]`; spans passed to callbacks are offsets into `input` itself. */
  execute(input: Buffer, from = 0): ExecuteResult {
    // Set once for the whole call, message-begin pauses included: each store of the input is a
    // write barrier (a young Buffer into the old module context).
    this.enter(input);
    try {
      return this.executeEntered(input, from);
    } finally {
      this.leave();
    }
  }

  private executeEntered(input: Buffer, from: number): ExecuteResult {
    const ex = this.ex;
    let offset = from;
    while (offset < input.length) {
      const len = Math.min(SCRATCH_SIZE, input.length - offset);
      scratchView(ex).set(offset === 0 && len === input.length ? input : input.subarray(offset, offset + len));
      let errno = this.run(offset, scratch, len);
      // Paused at a message's first byte: report it with its offset, then go on from that byte
      // (the scratch copy is still there: one more execute call per message, no second copy).
      while (errno === ERR_PAUSED && pausedAtBegin) {
        const at = ex.llhttp_get_error_pos(this.ptr);
        ex.llhttp_resume(this.ptr);
        this.callbacks.onMessageBegin(input, offset + (at - scratch));
        errno = this.run(offset, at, scratch + len - at);
      }
      if (errno !== ERR_OK) {
        const stoppedAt = offset + (ex.llhttp_get_error_pos(this.ptr) - scratch);
        // A pause is no error: its name will do, without reading its reason out of wasm memory.
        const paused = errno === ERR_PAUSED || errno === ERR_PAUSED_UPGRADE;
        return { errno, consumed: stoppedAt, reason: paused ? (errorNames.get(errno) ?? 'paused') : this.errorReason(errno) };
      }
      offset += len;
    }
    return { errno: ERR_OK, consumed: input.length, reason: '' };
  }

  /**
   * While a span callback runs: the bytes being parsed, as a DataView over their copy in wasm
   * memory, and where input offset `start` is in it. The span `input[start..end]` is
   * `spanView()[spanOffset(start) ..]`, valid until the callback returns.
   */
  spanView(): DataView {
    scratchView(this.ex);
    return scratchData!;
  }
  spanOffset(start: number): number {
    return start - currentBase;
  }

  /** Signals end of input: completes a read-until-close body, or reports a truncated message. */
  finish(): ExecuteResult {
    this.enter(EMPTY);
    let errno: number;
    try {
      errno = this.run(0, 0, -1);
    } finally {
      this.leave();
    }
    return { errno, consumed: 0, reason: errno === ERR_OK ? '' : this.errorReason(errno) };
  }

  resume(): void {
    this.ex.llhttp_resume(this.ptr);
  }

  /** Continues after llhttp stopped at an `Upgrade` request: we relay such a request as plain HTTP. */
  resumeAfterUpgrade(): void {
    this.ex.llhttp_resume_after_upgrade(this.ptr);
  }

  reset(): void {
    this.ex.llhttp_reset(this.ptr);
  }

  get httpMajor(): number {
    return this.ex.llhttp_get_http_major(this.ptr);
  }
  get httpMinor(): number {
    return this.ex.llhttp_get_http_minor(this.ptr);
  }
  get methodName(): string {
    const ex = this.ex;
    const method = ex.llhttp_get_method(this.ptr);
    let name = methodNames[method];
    if (name === undefined) {
      name = readCString(ex, ex.llhttp_method_name(method));
      methodNames[method] = name;
    }
    return name;
  }
  get statusCode(): number {
    return this.ex.llhttp_get_status_code(this.ptr);
  }
  /** True when the current message's body ends only at end of input (read-until-close). */
  get needsEof(): boolean {
    return this.ex.llhttp_message_needs_eof(this.ptr) === 1;
  }
  get shouldKeepAlive(): boolean {
    return this.ex.llhttp_should_keep_alive(this.ptr) === 1;
  }

  free(): void {
    if (this.freed) return;
    this.freed = true;
    this.ex.llhttp_free(this.ptr);
  }

  /** Makes this handle the one llhttp's callbacks report to, with spans in `input`. */
  private enter(input: Buffer): void {
    if (currentCallbacks !== null) throw new Error('llhttp: execute is not re-entrant');
    currentCallbacks = this.callbacks;
    currentInput = input;
  }

  private leave(): void {
    currentCallbacks = null;
    currentInput = EMPTY;
  }

  /** Runs llhttp on `len` bytes at wasm address `data` (the copy of the input from `base`), or finishes the stream when `len` is -1. */
  private run(base: number, data: number, len: number): number {
    currentBase = base;
    pausedAtBegin = false;
    return len === -1 ? this.ex.llhttp_finish(this.ptr) : this.ex.llhttp_execute(this.ptr, data, len);
  }

  private errorReason(errno: number): string {
    const ex = this.ex;
    const reason = readCString(ex, ex.llhttp_get_error_reason(this.ptr));
    return `${errorNames.get(errno) ?? `HPE_${errno}`}${reason ? `: ${reason}` : ''}`;
  }
}

const EMPTY = Buffer.alloc(0);
