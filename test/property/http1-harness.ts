// Test harness for src/http1 (shared by the unit and property tests of the parser): feeds bytes,
// in one piece or split anywhere, into a RequestParser / ResponseParser and records everything
// the parser reports, in a shape that compares with `toEqual`.
import {
  ParseError,
  RequestParser,
  ResponseParser,
  type BodyFraming,
  type MessageEvents,
  type RequestHead,
  type ResponseHead,
} from '../../src/http1/index.js';

export const latin1 = (s: string): Buffer => Buffer.from(s, 'latin1');

export interface ParsedMessage<H> {
  head: H;
  framing: BodyFraming;
  /** Body bytes (chunk framing removed), concatenated. */
  body: Buffer;
  /** The body views exactly as onBody handed them out. */
  bodyViews: Buffer[];
  /** null until onComplete; then llhttp's keep-alive verdict. */
  keepAlive: boolean | null;
  /** True when it was finish() (end of input) that completed the message. */
  completedByFinish: boolean;
}

export interface ParseRun<H> {
  messages: ParsedMessage<H>[];
  /** How many onComplete events arrived. */
  completed: number;
  /** The first error reported, by feed() or finish(). */
  error: ParseError | null;
  /** Which call reported `error`. */
  failedIn: 'feed' | 'finish' | null;
  /** Index of the part whose feed() first reported an error. */
  failedAtPart: number;
  /** Events that arrived after the first error was returned (must stay 0). */
  eventsAfterError: number;
  /** Calls after the first error that returned something else than that same error (must stay 0). */
  nonStickyErrors: number;
  /** An onBody call arrived outside a message's body (must stay 0). */
  strayBodies: number;
}

export interface ParseOptions {
  /** Call finish() after the last part (end of input). */
  finish?: boolean;
  maxHeadSize?: number;
  /** Keep feeding the remaining parts after an error (to check errors are sticky). */
  feedAfterError?: boolean;
}

export interface ResponseParseOptions extends ParseOptions {
  /** Whether response i answers a HEAD request (ResponseParser.expectNoBody before it). */
  noBody?: (index: number) => boolean;
}

function drive<H>(
  make: (events: MessageEvents<H>) => RequestParser | ResponseParser,
  input: Buffer | readonly Buffer[],
  options: ParseOptions,
  beforeMessage?: (parser: RequestParser | ResponseParser, index: number) => void,
): ParseRun<H> {
  const parts = Buffer.isBuffer(input) ? [input] : input;
  const run: ParseRun<H> = {
    messages: [],
    completed: 0,
    error: null,
    failedIn: null,
    failedAtPart: -1,
    eventsAfterError: 0,
    nonStickyErrors: 0,
    strayBodies: 0,
  };
  let current: ParsedMessage<H> | null = null;
  let finishing = false;
  const events: MessageEvents<H> = {
    onHead(head, framing) {
      if (run.error) run.eventsAfterError++;
      current = { head, framing, body: Buffer.alloc(0), bodyViews: [], keepAlive: null, completedByFinish: false };
      run.messages.push(current);
    },
    onBody(chunk) {
      if (run.error) run.eventsAfterError++;
      if (!current) {
        run.strayBodies++;
        return;
      }
      current.bodyViews.push(chunk);
    },
    onComplete(keepAlive) {
      if (run.error) run.eventsAfterError++;
      run.completed++;
      if (current) {
        current.keepAlive = keepAlive;
        current.completedByFinish = finishing;
      }
      current = null;
      beforeMessage?.(parser, run.completed);
    },
  };
  const parser = make(events);
  beforeMessage?.(parser, 0);
  try {
    for (let i = 0; i < parts.length; i++) {
      if (run.error && !options.feedAfterError) break;
      const err = parser.feed(parts[i]);
      if (run.error) {
        if (err !== run.error) run.nonStickyErrors++;
      } else if (err) {
        run.error = err;
        run.failedIn = 'feed';
        run.failedAtPart = i;
      }
    }
    if (options.finish && (!run.error || options.feedAfterError)) {
      finishing = true;
      const err = parser.finish();
      if (run.error) {
        if (err !== run.error) run.nonStickyErrors++;
      } else if (err) {
        run.error = err;
        run.failedIn = 'finish';
      }
    }
  } finally {
    parser.close();
  }
  for (const m of run.messages) m.body = Buffer.concat(m.bodyViews);
  return run;
}

export function parseRequests(input: Buffer | readonly Buffer[], options: ParseOptions = {}): ParseRun<RequestHead> {
  return drive<RequestHead>((events) => new RequestParser(events, options.maxHeadSize), input, options);
}

export function parseResponses(input: Buffer | readonly Buffer[], options: ResponseParseOptions = {}): ParseRun<ResponseHead> {
  const noBody = options.noBody;
  return drive<ResponseHead>(
    (events) => new ResponseParser(events, options.maxHeadSize),
    input,
    options,
    noBody
      ? (parser, index) => {
          (parser as ResponseParser).expectNoBody = noBody(index);
        }
      : undefined,
  );
}

/** Cuts `buf` at the given offsets (any order, duplicates and out-of-range values allowed). */
export function splitAt(buf: Buffer, cuts: readonly number[]): Buffer[] {
  const points = [...new Set(cuts.map((c) => Math.max(0, Math.min(buf.length, c))))].sort((a, b) => a - b);
  const parts: Buffer[] = [];
  let from = 0;
  for (const p of points) {
    parts.push(buf.subarray(from, p));
    from = p;
  }
  parts.push(buf.subarray(from));
  return parts;
}

/** One byte per part: the most fragmented feeding there is. */
export function bytewise(buf: Buffer): Buffer[] {
  const parts: Buffer[] = [];
  for (let i = 0; i < buf.length; i++) parts.push(buf.subarray(i, i + 1));
  return parts;
}

export interface HeadSummary {
  method?: string;
  target?: string;
  status?: number;
  reason?: string;
  version: string;
  headers: [string, string][];
}

export interface MessageSummary {
  head: HeadSummary;
  framing: BodyFraming;
  body: string;
  keepAlive: boolean | null;
}

export function summarizeHead(head: RequestHead | ResponseHead): HeadSummary {
  const common = { version: `${head.version.major}.${head.version.minor}`, headers: [...head.headers] };
  return 'method' in head
    ? { method: head.method, target: head.target, ...common }
    : { status: head.status, reason: head.reason, ...common };
}

/** What a run parsed, as plain data (bodies as latin1 strings), comparable with toEqual. */
export function summarize(run: ParseRun<RequestHead> | ParseRun<ResponseHead>): {
  messages: MessageSummary[];
  completed: number;
  error: string | null;
} {
  return {
    messages: (run.messages as ParsedMessage<RequestHead | ResponseHead>[]).map((m) => ({
      head: summarizeHead(m.head),
      framing: m.framing,
      body: m.body.toString('latin1'),
      keepAlive: m.keepAlive,
    })),
    completed: run.completed,
    error: run.error ? run.error.kind : null,
  };
}

/** The status a proxy answers a client's parse error with (SPEC P1, P2). */
export function statusForParseError(kind: ParseError['kind']): number | null {
  switch (kind) {
    case 'invalid':
      return 400;
    case 'head-too-large':
      return 431;
    case 'truncated':
      return null; // the client went away: nobody to answer
  }
}
