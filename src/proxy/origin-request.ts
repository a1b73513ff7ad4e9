// What the origin receives for a client request: always HTTP/1.1 (V4), hop-by-hop fields removed
// (F6), our Via hop and the client's address added, the body re-framed by us.
import type { HeaderFields } from '../http1/headers.js';
import type { RequestHead } from '../http1/message.js';
import { appendVia, underscoreAliasedField, withoutHopByHop } from '../http1/semantics.js';
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

/**
 * Request fields never forwarded besides the hop-by-hop ones: we answer Expect: 100-continue
 * ourselves (the origin gets the body without waiting), and frame the body ourselves. A purge
 * token (I1) is a secret between the operator and us: it never reaches an origin's logs.
 */
const NOT_FORWARDED: ReadonlySet<string> = new Set(['expect', 'content-length', 'x-purge-token']);

/** uri-host [ ":" port ] (RFC 9110 §7.2): a reg-name or IPv4 address, or an IPv6 literal in brackets. */
const VALID_HOST = /^(?:[A-Za-z0-9._~!$&'()*+,;=%-]*|\[[0-9A-Fa-f:.]+\])(?::\d*)?$/;

/** The Host value last found valid: a client sends the same one request after request (one regex test per new value). */
let lastValidHost: string | null = null;

function isValidHost(host: string): boolean {
  if (host === lastValidHost) return true;
  if (!VALID_HOST.test(host)) return false;
  lastValidHost = host;
  return true;
}

/** Checks the request-target and Host; returns a short reason when the request must get a 400. */
export function validateRequest(request: RequestHead): ValidatedTarget | string {
  const { target, headers, version } = request;
  const hosts = headers.getAll('host');
  if (hosts.length > 1) return 'more than one Host header';
  if (version.minor >= 1 && hosts.length === 0) return 'HTTP/1.1 request without Host';
  // Host is part of the cache key (C1): anything but host[:port] could make two URLs share a key.
  if (hosts.length === 1 && !isValidHost(hosts[0])) return 'invalid Host header';
  if (request.method === 'CONNECT') return 'CONNECT is not supported by a reverse proxy';
  const aliased = underscoreAliasedField(headers);
  if (aliased !== undefined) return `field name "${aliased}" reads as ${aliased.replaceAll('_', '-')} with _ as - (P5)`;
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
  const headers: HeaderFields = withoutHopByHop(request.headers, NOT_FORWARDED);
  if (target.authority) headers.set('Host', target.authority);
  else if (!headers.has('host')) headers.append('Host', options.defaultHost);
  appendVia(headers, request.version, options.viaName);
  headers.appendToList('X-Forwarded-For', options.clientAddress);
  // Content-Length and Transfer-Encoding (hop-by-hop) were left out above: the framing is ours.
  if (options.bodyFraming === 'length') headers.append('Content-Length', String(options.bodyLength));
  if (options.bodyFraming === 'chunked') headers.append('Transfer-Encoding', 'chunked');
  return { head: requestHeadString(request.method, target.path, headers), bodyFraming: options.bodyFraming };
}
