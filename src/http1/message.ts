// Message heads: what the parser produces and the serializer consumes.
import type { HeaderFields } from './headers.js';

export interface HttpVersion {
  major: number;
  minor: number;
}

export interface RequestHead {
  method: string;
  /** The request-target exactly as sent (origin-form, absolute-form, ...). */
  target: string;
  version: HttpVersion;
  headers: HeaderFields;
}

/** How the body of a parsed message is delimited on the wire. */
export type BodyFraming =
  | { kind: 'none' }
  | { kind: 'length'; length: number }
  | { kind: 'chunked' }
  /** Read until the connection closes (responses only, RFC 9112 §6.3 rule 8). */
  | { kind: 'close' };

export interface ResponseHead {
  status: number;
  reason: string;
  version: HttpVersion;
  headers: HeaderFields;
}

export function versionString(v: HttpVersion): string {
  return `HTTP/${v.major}.${v.minor}`;
}

export function isHttp10(v: HttpVersion): boolean {
  return v.major === 1 && v.minor === 0;
}
