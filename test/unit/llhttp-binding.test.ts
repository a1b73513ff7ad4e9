// Fails loudly if an undici upgrade moves or changes the llhttp WebAssembly build that
// src/http1/llhttp.ts loads (DESIGN.md "llhttp in this project"): the pinned version, the module
// paths, the wasm imports we provide, the wasm exports we call, and the constants we read.
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import {
  ERR_INVALID_EOF_STATE,
  ERR_OK,
  ERR_PAUSED,
  ERR_PAUSED_UPGRADE,
  LLHTTP_CONSTANTS_PATH,
  LLHTTP_WASM_PATH,
  LLHTTP_WASM_SIMD_PATH,
  LlhttpHandle,
  TYPE_REQUEST,
  TYPE_RESPONSE,
  type LlhttpCallbacks,
} from '../../src/http1/llhttp.js';

const require = createRequire(import.meta.url);
const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..');

// The WebAssembly JS API, which TypeScript declares only in lib.dom.
interface WasmDescriptor {
  module: string;
  name: string;
  kind: string;
}
interface WasmModuleApi {
  new (bytes: Uint8Array): object;
  exports(module: object): WasmDescriptor[];
  imports(module: object): WasmDescriptor[];
}
const WasmModule = (globalThis as unknown as { WebAssembly: { Module: WasmModuleApi } }).WebAssembly.Module;

/** Every export src/http1/llhttp.ts calls (its LlhttpExports interface), and the memory. */
const EXPORTS_WE_USE = [
  'memory',
  'malloc',
  'llhttp_alloc',
  'llhttp_free',
  'llhttp_reset',
  'llhttp_execute',
  'llhttp_finish',
  'llhttp_resume',
  'llhttp_resume_after_upgrade',
  'llhttp_get_error_pos',
  'llhttp_get_error_reason',
  'llhttp_get_http_major',
  'llhttp_get_http_minor',
  'llhttp_get_method',
  'llhttp_get_status_code',
  'llhttp_message_needs_eof',
  'llhttp_should_keep_alive',
  'llhttp_method_name',
];

/** The imports llhttp.ts provides: the wasm build must ask for exactly these. */
const IMPORTS_WE_PROVIDE = [
  'env.wasm_on_body',
  'env.wasm_on_header_field',
  'env.wasm_on_header_value',
  'env.wasm_on_headers_complete',
  'env.wasm_on_message_begin',
  'env.wasm_on_message_complete',
  'env.wasm_on_status',
  'env.wasm_on_url',
];

function pinnedUndici(): string {
  const pkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as { dependencies: Record<string, string> };
  return pkg.dependencies.undici;
}

describe('llhttp binding: the wasm build pinned inside undici', () => {
  it('undici is pinned to an exact version, and the installed undici is exactly that version', () => {
    const pinned = pinnedUndici();
    expect(pinned, 'package.json must pin undici exactly (no ^, ~ or range)').toMatch(/^\d+\.\d+\.\d+$/);
    const installedPath = join(dirname(require.resolve('undici')), 'package.json');
    const installed = JSON.parse(readFileSync(installedPath, 'utf8')) as { name: string; version: string };
    expect(installed.name).toBe('undici');
    expect(installed.version, `installed undici ${installed.version} is not the pinned ${pinned}: re-check DESIGN.md "llhttp"`).toBe(pinned);
  });

  it.each([
    ['constants', LLHTTP_CONSTANTS_PATH],
    ['simd wasm', LLHTTP_WASM_SIMD_PATH],
    ['wasm', LLHTTP_WASM_PATH],
  ])('the %s module path exported by llhttp.ts resolves inside undici', (_label, path) => {
    expect(path.startsWith('undici/lib/llhttp/')).toBe(true);
    const resolved = require.resolve(path);
    expect(resolved).toMatch(/[\\/]undici[\\/]lib[\\/]llhttp[\\/]/);
  });

  it.each([
    ['simd', LLHTTP_WASM_SIMD_PATH],
    ['plain', LLHTTP_WASM_PATH],
  ])('the %s wasm build compiles, asks for exactly our imports and has every export we call', (_label, path) => {
    const bytes = require(path) as unknown;
    expect(Buffer.isBuffer(bytes), `${path} no longer exports the wasm bytes as a Buffer`).toBe(true);
    const module = new WasmModule(bytes as Buffer);
    const imports = WasmModule.imports(module)
      .map((d) => `${d.module}.${d.name}`)
      .sort();
    expect(imports).toEqual(IMPORTS_WE_PROVIDE);
    const exports = new Map(WasmModule.exports(module).map((d) => [d.name, d.kind]));
    for (const name of EXPORTS_WE_USE) {
      expect(exports.has(name), `wasm export ${name} is missing from ${path}`).toBe(true);
      expect(exports.get(name)).toBe(name === 'memory' ? 'memory' : 'function');
    }
  });

  it('the constants we read have the values llhttp has always given them', () => {
    const constants = require(LLHTTP_CONSTANTS_PATH) as {
      ERROR: Record<string, number>;
      TYPE: Record<string, number>;
    };
    expect(ERR_OK).toBe(0);
    expect(ERR_PAUSED).toBe(constants.ERROR.PAUSED);
    expect(ERR_PAUSED_UPGRADE).toBe(constants.ERROR.PAUSED_UPGRADE);
    expect(ERR_INVALID_EOF_STATE).toBe(constants.ERROR.INVALID_EOF_STATE);
    for (const v of [ERR_PAUSED, ERR_PAUSED_UPGRADE, ERR_INVALID_EOF_STATE]) {
      expect(Number.isInteger(v) && v > 0).toBe(true);
    }
    expect(new Set([ERR_PAUSED, ERR_PAUSED_UPGRADE, ERR_INVALID_EOF_STATE]).size).toBe(3);
    expect(TYPE_REQUEST).toBe(1);
    expect(TYPE_RESPONSE).toBe(2);
    expect(constants.TYPE.BOTH).toBe(0);
  });
});

/** Records what a raw handle reports, with spans as strings. */
function recorder(): LlhttpCallbacks & { log: string[]; bodyViews: Buffer[] } {
  const log: string[] = [];
  const bodyViews: Buffer[] = [];
  const span = (tag: string) => (buf: Buffer, start: number, end: number) => {
    log.push(`${tag}:${buf.toString('latin1', start, end)}`);
    return 0;
  };
  return {
    log,
    bodyViews,
    onMessageBegin: () => (log.push('begin'), 0),
    onUrl: span('url'),
    onStatus: span('status'),
    onHeaderField: span('field'),
    onHeaderValue: span('value'),
    onHeadersComplete: (status, upgrade, keepAlive) => (log.push(`headers:${status}:${upgrade}:${keepAlive}`), 0),
    onBody(buf, start, end) {
      bodyViews.push(buf.subarray(start, end));
      log.push(`body:${buf.toString('latin1', start, end)}`);
      return 0;
    },
    onMessageComplete: () => (log.push('complete'), 0),
  };
}

describe('llhttp binding: a raw handle', () => {
  it('reports the spans of a request and its version and method', () => {
    const cb = recorder();
    const h = new LlhttpHandle('request', cb);
    const input = Buffer.from('POST /a?b HTTP/1.0\r\nHost: x\r\nContent-Length: 3\r\n\r\nabc', 'latin1');
    const r = h.execute(input);
    expect(r).toEqual({ errno: ERR_OK, consumed: input.length, reason: '' });
    expect(cb.log).toEqual([
      'begin',
      'url:/a?b',
      'field:Host',
      'value:x',
      'field:Content-Length',
      'value:3',
      'headers:0:false:false',
      'body:abc',
      'complete',
    ]);
    expect(h.methodName).toBe('POST');
    expect([h.httpMajor, h.httpMinor]).toEqual([1, 0]);
    h.free();
    h.free(); // idempotent
  });

  it('hands body spans out as views of the caller\'s buffer, not copies of wasm memory', () => {
    const cb = recorder();
    const h = new LlhttpHandle('response', cb);
    const input = Buffer.from('HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello', 'latin1');
    h.execute(input);
    expect(cb.bodyViews).toHaveLength(1);
    expect(cb.bodyViews[0].buffer).toBe(input.buffer);
    expect(cb.bodyViews[0].byteOffset).toBe(input.byteOffset + input.length - 5);
    expect(h.statusCode).toBe(200);
    h.free();
  });

  it('maps spans back across the 256 KiB scratch slices of one large input', () => {
    const cb = recorder();
    const h = new LlhttpHandle('response', cb);
    const body = Buffer.alloc(700_000);
    for (let i = 0; i < body.length; i++) body[i] = i % 251;
    const input = Buffer.concat([Buffer.from(`HTTP/1.1 200 OK\r\nContent-Length: ${body.length}\r\n\r\n`, 'latin1'), body]);
    expect(h.execute(input).errno).toBe(ERR_OK);
    const joined = Buffer.concat(cb.bodyViews);
    expect(joined.equals(body)).toBe(true);
    for (const view of cb.bodyViews) expect(view.buffer).toBe(input.buffer);
    h.free();
  });

  it('reports a read-until-close body as needing EOF, and completes it on finish', () => {
    const cb = recorder();
    const h = new LlhttpHandle('response', cb);
    h.execute(Buffer.from('HTTP/1.1 200 OK\r\n\r\nab', 'latin1'));
    expect(h.needsEof).toBe(true);
    expect(cb.log.at(-1)).toBe('body:ab');
    expect(h.finish().errno).toBe(ERR_OK);
    expect(cb.log.at(-1)).toBe('complete');
    h.free();
  });

  it('reports a truncated Content-Length body on finish as INVALID_EOF_STATE (O2)', () => {
    const h = new LlhttpHandle('response', recorder());
    h.execute(Buffer.from('HTTP/1.1 200 OK\r\nContent-Length: 9\r\n\r\nab', 'latin1'));
    expect(h.needsEof).toBe(false);
    const r = h.finish();
    expect(r.errno).toBe(ERR_INVALID_EOF_STATE);
    expect(r.reason).toMatch(/^HPE_INVALID_EOF_STATE|^INVALID_EOF_STATE/);
    h.free();
  });

  it('reports errors with their position and name, stays in error until reset', () => {
    const cb = recorder();
    const h = new LlhttpHandle('request', cb);
    const input = Buffer.from('GET / HTTP/1.1\r\nBad Name: x\r\n\r\n', 'latin1');
    const r = h.execute(input);
    expect(r.errno).not.toBe(ERR_OK);
    expect(r.reason).toMatch(/INVALID_HEADER_TOKEN/);
    expect(r.consumed).toBe(input.indexOf(' Name'));
    expect(h.execute(Buffer.from('GET / HTTP/1.1\r\n\r\n', 'latin1')).errno).toBe(r.errno);
    h.reset();
    cb.log.length = 0;
    expect(h.execute(Buffer.from('GET /ok HTTP/1.1\r\n\r\n', 'latin1')).errno).toBe(ERR_OK);
    expect(cb.log).toEqual(['begin', 'url:/ok', 'headers:0:false:true', 'complete']);
    h.free();
  });

  it('reports where each message starts: empty lines before a request are skipped, pipelined ones follow', () => {
    const starts: number[] = [];
    const cb = { ...recorder(), onMessageBegin: (_buf: Buffer, at: number) => void starts.push(at) };
    const h = new LlhttpHandle('request', cb);
    const first = '\r\n\r\nGET /1 HTTP/1.1\r\nContent-Length: 2\r\n\r\nab';
    const input = Buffer.from(`${first}GET /2 HTTP/1.1\r\n\r\n`, 'latin1');
    expect(h.execute(input).errno).toBe(ERR_OK);
    expect(starts).toEqual([4, first.length]);
    h.free();
  });

  it('pauses with PAUSED_UPGRADE after an Upgrade request and resumes after resumeAfterUpgrade', () => {
    const cb = recorder();
    const h = new LlhttpHandle('request', cb);
    const first = 'GET / HTTP/1.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n';
    const input = Buffer.from(`${first}GET /next HTTP/1.1\r\n\r\n`, 'latin1');
    const r = h.execute(input);
    expect(r.errno).toBe(ERR_PAUSED_UPGRADE);
    expect(r.consumed).toBe(first.length);
    // A pause is named, not explained: no reason is read out of wasm memory for it.
    expect(r.reason).toBe('PAUSED_UPGRADE');
    h.resumeAfterUpgrade();
    expect(h.execute(input, r.consumed).errno).toBe(ERR_OK);
    expect(cb.log.filter((e) => e === 'complete')).toHaveLength(2);
    expect(cb.log).toContain('url:/next');
    h.free();
  });
});
