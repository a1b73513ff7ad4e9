// What the origin receives for a client request: always HTTP/1.1 (V4), hop-by-hop fields removed
// (F6), our Via hop and the client's address added, the body re-framed by us.
import type { HeaderFields } from '../http1/headers.js';
import type { RequestHead } from '../http1/message.js';
import { appendVia, stripHopByHop } from '../http1/semantics.js';
import { requestHeadString } from '../http1/serializer.js';

export interface OriginRequestPlan {
  /** The request head, latin1 text. */
  head: string;
  /** How the proxy frames the body it forwards. */
  bodyFraming: 'none' | 'length' | 'chunked';
}

export interface ValidatedTarget {
  /** origin-form path and query (or `*` for OPTIONS). */
  path: string;
  /** The authority from an absolute-form target, which overrides Host (RFC 9112 §3.2.2). */
  authority?: string;
}

/** uri-host [ ":" port ] (RFC 9110 §7.2): a reg-name or IPv4 address, or an IPv6 literal in brackets. */
const VALID_HOST = /^(?:[A-Za-z0-9._~!$&'()*+,;=%-]*|\[[0-9A-Fa-f:.]+\])(?::\d*)?$/;

/** Checks the request-target and Host; returns a short reason when the request must get a 400. */
export function validateRequest(request: RequestHead): ValidatedTarget | string {
  const { target, headers, version } = request;
  const hosts = headers.getAll('host');
  if (hosts.length > 1) return 'more than one Host header';
  if (version.minor >= 1 && hosts.length === 0) return 'HTTP/1.1 request without Host';
  // Host is part of the cache key (C1): anything but host[:port] could make two URLs share a key.
  if (hosts.length === 1 && !VALID_HOST.test(hosts[0])) return 'invalid Host header';
  if (request.method === 'CONNECT') return 'CONNECT is not supported by a reverse proxy';
  if (target.startsWith('/')) return { path: target };
  if (target === '*' && request.method === 'OPTIONS') return { path: target };
  if (/^https?:\/\//i.test(target)) {
    try {
      const url = new URL(target);
      return { path: `${url.pathname}${url.search}`, authority: url.host };
    } catch {
      return 'invalid absolute request-target';
    }
  }
  return 'invalid request-target';
}

export function planOriginRequest(
  request: RequestHead,
  target: ValidatedTarget,
  options: { clientAddress: string; viaName: string; defaultHost: string; bodyFraming: 'none' | 'length' | 'chunked'; bodyLength?: number },
): OriginRequestPlan {
  const headers: HeaderFields = stripHopByHop(request.headers.clone());
  // We answer Expect: 100-continue ourselves; the origin gets the body without waiting.
  headers.delete('expect');
  headers.delete('content-length');
  if (target.authority) headers.set('Host', target.authority);
  else if (!headers.has('host')) headers.set('Host', options.defaultHost);
  appendVia(headers, request.version, options.viaName);
  const forwarded = headers.getAll('x-forwarded-for');
  headers.set('X-Forwarded-For', forwarded.length ? `${forwarded.join(', ')}, ${options.clientAddress}` : options.clientAddress);
  if (options.bodyFraming === 'length') headers.set('Content-Length', String(options.bodyLength));
  if (options.bodyFraming === 'chunked') headers.set('Transfer-Encoding', 'chunked');
  return { head: requestHeadString(request.method, target.path, headers), bodyFraming: options.bodyFraming };
}
