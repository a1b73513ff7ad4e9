// T2: what marks a request made for an ESI include. The mark is a field of the request itself:
// the fetch it causes is never streamed (T2), and a fragment that is itself a template knows its
// include path (its ancestors, for loops and the depth limit).
import type { ClientExchange } from '../../net/client-exchange.js';
import type { RequestHead } from '../../http1/message.js';

/** A request made by src/proxy/esi/subrequest.ts for an include. */
export interface FragmentRequest extends RequestHead {
  /** The resources (`host/path?query`) from the page down to this fragment. */
  readonly esiIncludePath: readonly string[];
}

/** T2: was this request made for an ESI include? (Its fetch is never streamed.) */
export function isEsiFragmentRequest(request: RequestHead): request is FragmentRequest {
  return (request as Partial<FragmentRequest>).esiIncludePath !== undefined;
}

/** Marks `request` as made for an include on `includePath`. */
export function markFragmentRequest(request: RequestHead, includePath: readonly string[]): FragmentRequest {
  return Object.assign(request, { esiIncludePath: includePath });
}

/** The include path of a fragment's exchange; undefined for a client's own request. */
export function includePathOf(exchange: ClientExchange): readonly string[] | undefined {
  const { request } = exchange;
  return isEsiFragmentRequest(request) ? request.esiIncludePath : undefined;
}
