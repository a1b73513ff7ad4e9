// The rules that depend on the HTTP version and on header semantics, kept pure so that they can be
// tested byte by byte: persistence (F5), which framing a client may get (F1-F3), bodiless
// responses (F4), hop-by-hop fields and Via (F6).
import type { HeaderFields } from './headers.js';
import { isHttp10, type HttpVersion, type RequestHead } from './message.js';
import { responseStatusHasNoBody } from './parser.js';

/** RFC 9110 §7.6.1 plus Proxy-Connection, which old clients still send. */
export const HOP_BY_HOP = new Set([
  'connection',
  'keep-alive',
  'proxy-connection',
  'te',
  'trailer',
  'transfer-encoding',
  'upgrade',
  'proxy-authenticate',
  'proxy-authorization',
]);

/** F5, F3: does the client want this connection kept open after the response? */
export function clientWantsKeepAlive(head: RequestHead): boolean {
  // What follows a CONNECT is tunnel data, and RFC 9112 §6.1 closes after an HTTP/1.0 message
  // with Transfer-Encoding: the RequestParser parses nothing after either.
  if (head.method === 'CONNECT') return false;
  if (isHttp10(head.version) && head.headers.has('transfer-encoding')) return false;
  const connection = head.headers.tokens('connection');
  if (connection.includes('close')) return false;
  if (head.version.major === 1 && head.version.minor >= 1) return true;
  return connection.includes('keep-alive');
}

/**
 * F3, F5: the Connection field a response head must carry so the client knows whether the
 * connection goes on: `close` when it ends after this response, `keep-alive` for an HTTP/1.0
 * client that keeps it (1.0 closes by default), none for HTTP/1.1 (persistence is the default).
 */
export function connectionField(persistent: boolean, client: HttpVersion): 'close' | 'keep-alive' | undefined {
  if (!persistent) return 'close';
  return client.major === 1 && client.minor === 0 ? 'keep-alive' : undefined;
}

const NOTHING_ELSE: ReadonlySet<string> = new Set();

/**
 * The fields a proxy passes on: a copy without the hop-by-hop fields, every field named by
 * Connection (F6), and the fields in `alsoDrop` (lower-cased names).
 */
export function withoutHopByHop(headers: HeaderFields, alsoDrop: ReadonlySet<string> = NOTHING_ELSE): HeaderFields {
  const named = headers.has('connection') ? headers.tokens('connection') : [];
  return headers.copyWithout((name) => HOP_BY_HOP.has(name) || alsoDrop.has(name) || (named.length > 0 && named.includes(name)));
}

/** Appends this hop to Via (RFC 9110 §7.6.3): `1.1 streamcache`, or `1.0 streamcache`. */
export function appendVia(headers: HeaderFields, received: HttpVersion, pseudonym: string): HeaderFields {
  return headers.appendToList('Via', `${received.major}.${received.minor} ${pseudonym}`);
}

/**
 * Whether one of the Via entries (`1.1 name`, `HTTP/1.1 name:port (comment)`) has one of these
 * pseudonyms: how a tier of our own is told from a client (I2, shielding).
 */
export function viaHasPseudonym(headers: HeaderFields, pseudonyms: readonly string[]): boolean {
  for (const value of headers.getAll('via')) {
    for (const entry of value.split(',')) {
      // received-by is a pseudonym or host[:port]: the port does not name the hop.
      const receivedBy = entry.trim().split(/[ \t]+/)[1];
      if (receivedBy !== undefined && pseudonyms.includes(receivedBy.replace(/:\d*$/, '').toLowerCase())) return true;
    }
  }
  return false;
}

/** F4: HEAD responses and 1xx/204/304 carry no body, whatever their headers say. */
export function responseHasNoBody(requestMethod: string, status: number): boolean {
  return requestMethod === 'HEAD' || responseStatusHasNoBody(status);
}

/**
 * How a body goes to one client:
 * - `none`: no body bytes (F4);
 * - `length`: Content-Length and exactly that many bytes (F1);
 * - `chunked`: unknown length, HTTP/1.1 client (F2);
 * - `buffered`: unknown length, HTTP/1.0 client: wait for the whole body, then Content-Length (F3).
 */
export type ClientFraming = 'none' | 'length' | 'chunked' | 'buffered';

export function chooseClientFraming(client: HttpVersion, requestMethod: string, status: number, knownLength: number | undefined): ClientFraming {
  if (responseHasNoBody(requestMethod, status)) return 'none';
  if (knownLength !== undefined) return 'length';
  return client.major === 1 && client.minor >= 1 ? 'chunked' : 'buffered';
}

/** Methods whose requests may be answered from or collapsed onto a shared response (C1, C4). */
export function isSafeMethod(method: string): boolean {
  return method === 'GET' || method === 'HEAD';
}

/** P5: the fields a backend that folds `_` into `-` would take for framing or routing. */
const UNDERSCORE_ALIASED = new Set(['transfer-encoding', 'content-length', 'host', 'connection']);

/**
 * P5: a request field whose name reads as Transfer-Encoding, Content-Length, Host or Connection once
 * `_` is read as `-` (case ignored): the name as received, or undefined. Such a request gets 400,
 * because forwarding it would hand a second framing or routing field to any backend (nginx with
 * underscores_in_headers, many CGI-style servers) that maps both spellings to one variable.
 */
export function underscoreAliasedField(headers: HeaderFields): string | undefined {
  return headers.findName((name) => name.includes('_') && UNDERSCORE_ALIASED.has(name.replaceAll('_', '-')));
}

/**
 * Interim responses (RFC 9110 §15.2): a 1xx from the origin (103 Early Hints, 102 Processing) is
 * relayed to an HTTP/1.1 client before the final response, never to an HTTP/1.0 one. 100 Continue
 * is ours to answer (the origin gets the body without waiting) and 101 needs an Upgrade we never
 * forward: neither is relayed.
 */
export function relaysInterim(client: HttpVersion, status: number): boolean {
  return status >= 102 && status < 200 && (client.major > 1 || client.minor >= 1);
}

/** The bytes of a relayed interim response: its status and fields, without the hop-by-hop ones. */
export function interimHeadString(status: number, reason: string, headers: HeaderFields): string {
  return `HTTP/1.1 ${status} ${reason || interimReason(status)}\r\n${withoutHopByHop(headers).toLines()}\r\n`;
}

function interimReason(status: number): string {
  return status === 102 ? 'Processing' : status === 103 ? 'Early Hints' : 'Informational';
}
