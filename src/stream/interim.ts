// Interim responses towards clients (RFC 9110 §15.2): a 103 Early Hints or 102 from the origin goes
// to each client still waiting for its final head, if that client speaks HTTP/1.1. Nothing of it
// is stored: a client that attaches later, or a hit, never sees it.
import type { ClientExchange } from '../net/client-exchange.js';
import type { ResponseHead } from '../http1/message.js';
import { interimHeadString, relaysInterim } from '../http1/semantics.js';

/** Writes an interim response to a client that may get one, while its final head is not out yet. */
export function relayInterim(exchange: ClientExchange, head: ResponseHead, finalHeadSent: boolean): void {
  // An HTTP/2 stream takes no HTTP/1 bytes (its host resets it): interim responses are not relayed there yet.
  if (exchange.http2) return;
  if (finalHeadSent || !exchange.isOpen || !relaysInterim(exchange.request.version, head.status)) return;
  exchange.write(Buffer.from(interimHeadString(head.status, head.reason, head.headers), 'latin1'));
}
