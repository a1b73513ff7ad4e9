// T2: ESI page assembly. As Fastly does, the object the cache stores is the template (the response
// as the origin sent it, marked ESI by the fetch hook or a rule); the page is assembled for every
// delivery, hit or miss: the template is parsed (src/proxy/esi/parser.ts) and its includes are
// fetched through the cache, in parallel, each as an in-process client request
// (src/proxy/esi/subrequest.ts): so every fragment is a cache object of its own, on its own key,
// with its own TTL, collapsed with every other request for it, and never streamed (T2). Includes
// nest (a fragment may itself be marked ESI) down to ESI_MAX_DEPTH; an include of a resource that
// is already on the include path is a loop, and fails with the path in the reason.
//
// A failed include (no response, a status other than 2xx, a loop, the depth limit) is replaced by
// its `alt` when that succeeds; else, with onerror="continue", by nothing; else the whole page is a
// 503 whose body names the include and why. The page goes out with Content-Length (from
// TransformingReader), without the template's validators (ETag, Last-Modified: they describe the
// template, not the page), and within the non-streaming size limit.
import type { ClientExchange } from '../../net/client-exchange.js';
import type { RequestHead } from '../../http1/message.js';
import { withoutHopByHop } from '../../http1/semantics.js';
import type { CacheObject, ObjectHead } from '../../cache/object.js';
import { contentCodingOf, decodeBody } from '../../stream/codecs.js';
import type { AssembledPage } from '../../stream/transform.js';
import type { ProxyContext } from '../context.js';
import { EsiParser, type EsiNode } from './parser.js';
import { subrequest } from './subrequest.js';
import { includePathOf } from './fragment.js';

/** Includes nest this deep at most: the page's includes are at depth 1. */
export const ESI_MAX_DEPTH = 3;

/** Request fields of the page that a fragment request does not carry. */
const NOT_INHERITED = new Set([
  'if-none-match',
  'if-modified-since',
  'if-match',
  'if-unmodified-since',
  'if-range',
  'range',
  'accept-encoding',
  'content-length',
  'transfer-encoding',
  'expect',
  'host',
]);

/** The template's fields the assembled page does not keep. */
const NOT_ON_PAGE = new Set(['etag', 'last-modified', 'content-encoding', 'content-md5', 'digest']);

const EMPTY = Buffer.alloc(0);

type Fetched = { ok: true; body: Buffer } | { ok: false; reason: string };

/** `host/path?query` of a client request: how the include path names resources. */
function resourceOf(request: RequestHead, defaultHost: string): string {
  const { target } = request;
  if (/^https?:\/\//i.test(target)) {
    try {
      const url = new URL(target);
      return `${url.host}${url.pathname}${url.search}`;
    } catch {
      // validateRequest has refused such a target before it came here.
    }
  }
  return `${(request.headers.get('host') || defaultHost).toLowerCase()}${target}`;
}

/** Assembles the page of `template` for the client of `exchange` (ctx.esi, built once in createProxy, calls it). */
export async function assemblePage(ctx: ProxyContext, template: CacheObject, exchange: ClientExchange): Promise<AssembledPage> {
  const maxBytes = ctx.options.maxObjectSizeBuffered;
  const path = includePathOf(exchange) ?? [resourceOf(exchange.request, ctx.options.originUrl.host)];
  let pieces = template.chunks;
  if (pieces.some((chunk) => chunk === null)) return { ok: false, reason: 'ESI template no longer complete' };
  // A template the origin sent encoded (it had our client's Accept-Encoding) is decoded first.
  const coding = contentCodingOf(template.head.headers);
  if (coding) {
    try {
      pieces = [await decodeBody(coding, Buffer.concat(pieces as Buffer[], template.length), maxBytes)];
    } catch (err) {
      return { ok: false, reason: `ESI template: ${(err as Error).message}` };
    }
  }
  const parser = new EsiParser();
  for (const piece of pieces) parser.write(piece!);
  const nodes = parser.end();

  const parts = await Promise.all(nodes.map((node) => (node.kind === 'text' ? ({ ok: true, body: node.data } as Fetched) : include(ctx, exchange, node, path))));
  const failed = parts.find((part): part is { ok: false; reason: string } => !part.ok);
  if (failed) return { ok: false, reason: `ESI include failed: ${failed.reason}` };
  const bodies = parts.map((part) => (part as { ok: true; body: Buffer }).body);
  const length = bodies.reduce((n, body) => n + body.length, 0);
  if (length > maxBytes) return { ok: false, reason: `assembled ESI page passed the maximum object size (${maxBytes} bytes)` };
  const head: ObjectHead = { ...template.head, headers: template.head.headers.copyWithout((name) => NOT_ON_PAGE.has(name)) };
  const headOnly = exchange.request.method === 'HEAD';
  // Text views point into the template, which stays pinned until this promise settles: copy now.
  return { ok: true, head, body: headOnly ? EMPTY : Buffer.concat(bodies, length), length };
}

/** One include: its src, else its alt, else nothing (onerror="continue"), else the page fails. */
async function include(ctx: ProxyContext, page: ClientExchange, node: Extract<EsiNode, { kind: 'include' }>, path: readonly string[]): Promise<Fetched> {
  const first = await fetchFragment(ctx, page, node.src, path);
  if (first.ok) return first;
  let reason = first.reason;
  if (node.alt !== undefined) {
    const alt = await fetchFragment(ctx, page, node.alt, path);
    if (alt.ok) return alt;
    reason += `; alt ${alt.reason}`;
  }
  ctx.logger.warn({ page: path[0], include: node.src, reason, continued: node.continueOnError }, 'ESI include failed');
  return node.continueOnError ? { ok: true, body: EMPTY } : { ok: false, reason };
}

/** Fetches one fragment through the cache, as an in-process client of the page's client. */
async function fetchFragment(ctx: ProxyContext, page: ClientExchange, src: string, path: readonly string[]): Promise<Fetched> {
  if (!src) return { ok: false, reason: 'an include without src' };
  const here = path[path.length - 1];
  let url: URL;
  try {
    url = new URL(src, `http://${here}`);
  } catch {
    return { ok: false, reason: `"${src}": not a URL` };
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') return { ok: false, reason: `"${src}": only http and https URLs can be included` };
  const resource = `${url.host.toLowerCase()}${url.pathname}${url.search}`;
  const chain = [...path, resource].join(' -> ');
  if (path.includes(resource)) return { ok: false, reason: `"${src}": include loop (${chain})` };
  if (path.length > ESI_MAX_DEPTH) return { ok: false, reason: `"${src}": include depth limit of ${ESI_MAX_DEPTH} passed (${chain})` };

  const headers = withoutHopByHop(page.request.headers, NOT_INHERITED);
  headers.set('Host', url.host);
  const request: RequestHead = { method: 'GET', target: `${url.pathname}${url.search}`, version: { major: 1, minor: 1 }, headers };
  const maxBytes = ctx.options.maxObjectSizeBuffered;
  const response = await subrequest(ctx, request, { clientAddress: page.clientAddress, includePath: [...path, resource], maxBodyBytes: maxBytes });
  if (typeof response === 'string') return { ok: false, reason: `"${src}": ${response}` };
  if (response.status < 200 || response.status > 299) {
    const said = response.body.subarray(0, 4096).toString('utf8').split('\n')[0].trim();
    return { ok: false, reason: `"${src}": ${response.status}${said ? ` (${said})` : ''}` };
  }
  const coding = contentCodingOf(response.headers);
  if (!coding) return { ok: true, body: response.body };
  try {
    return { ok: true, body: await decodeBody(coding, response.body, maxBytes) };
  } catch (err) {
    return { ok: false, reason: `"${src}": ${(err as Error).message}` };
  }
}
