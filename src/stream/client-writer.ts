// Which ResponseWriter a client gets: HTTP/2 for an exchange on an HTTP/2 stream, HTTP/1 otherwise.
// Every response path asks here, so a protocol is chosen in one place.
import type { ClientExchange } from '../net/client-exchange.js';
import { Http1ResponseWriter } from './http1-writer.js';
import { Http2ResponseWriter } from './http2-writer.js';
import type { ResponseWriter } from './response-writer.js';
import type { WriterOptions } from './writer-base.js';

export function writerFor(exchange: ClientExchange, options: WriterOptions = {}): ResponseWriter {
  const stream = exchange.http2;
  return stream ? new Http2ResponseWriter(exchange, stream, options) : new Http1ResponseWriter(exchange, options);
}
