// The demo origin's publisher: the push-stream recipe of the streaming-miss seed, done as an origin
// should for a cache in front of it.
//
// - Every GET /events is one stream (in practice one per cache window: the proxy collapses its
//   viewers onto it). A stream lasts a set duration, then ends, so no response grows forever; its
//   Cache-Control is `no-cache, s-maxage=N` with N a little shorter than the duration, so that the
//   cached copy is stale by the time the stream ends and viewers reconnect to a new one.
// - An event goes to every stream open at the origin when it is published (two overlap around a
//   rotation: viewers drop the events they saw twice, by id). Ids increase across streams.
// - Each stream opens with the events published in the last `replayMs` (one stream duration by
//   default), and with any event published while no stream was open. A viewer reconnecting between
//   two streams, or onto a stream that started after the one carrying an event (a late reconnect),
//   misses nothing; the repeats are dropped by id. The origin does not need Last-Event-ID (with
//   collapsing, only the first viewer's reaches it).
// - Payloads above the inline limit are not put in the stream (every late joiner would replay
//   them): the event carries a URL, served with a long max-age, so the cache collapses the fetches.
import type { ServerResponse } from 'node:http';

export interface PublisherOptions {
  /** How long one stream lasts before the origin ends it, ms (default 30 s). */
  streamDurationMs?: number;
  /** s-maxage of a stream, seconds (default: the duration less 2 s, at least 1: 28 for 30 s). */
  streamMaxAge?: number;
  /** Period of the `tick` event, ms; 0 turns it off (publishing only). Default 300. */
  eventIntervalMs?: number;
  /** `retry:` sent at the start of each stream: how soon EventSource reconnects, ms (default 1000). */
  retryMs?: number;
  /**
   * A comment line on each stream after this much silence, ms (default 5000; 0 off). A stream
   * that only carries published events may be silent for long; a cache gives up on an origin
   * that sends nothing for its between-bytes timeout (10 s in streamcache, as in Fastly).
   */
  heartbeatMs?: number;
  /** Payloads whose serialized size is above this many bytes go to /payload/<id> (default 4096). */
  inlineLimit?: number;
  /** A new stream opens with the events published this long ago or less, ms (default: the stream duration; 0 off). */
  replayMs?: number;
}

export interface PublishInput {
  /** SSE event name (default `message`): letters, digits, `_ . : -`, at most 64. */
  event?: string;
  data: unknown;
  /** How `data` is served when it is too large to inline: JSON (default) or plain text. */
  contentType?: 'application/json' | 'text/plain; charset=utf-8';
}

export interface PublishResult {
  id: number;
  event: string;
  sentAt: number;
  /** Streams the event was written to; 0 when it waits for the next stream. */
  streams: number;
  queued: boolean;
  /** Set when the payload was too large to inline. */
  url?: string;
  size: number;
}

export interface PublisherStats {
  streamsStarted: number;
  streamsOpen: number;
  lastEventId: number;
  published: number;
  queued: number;
  eventNames: string[];
  streamDurationMs: number;
  streamMaxAge: number;
}

export interface StoredPayload {
  body: Buffer;
  contentType: string;
}

export class PublishError extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
  }
}

const EVENT_NAME = /^[A-Za-z0-9_.:-]{1,64}$/;
/** Bounds on what the origin holds: recent events (for replay), and large payloads. */
const MAX_RECENT_EVENTS = 1_000;
const MAX_PAYLOADS = 1_000;
const MAX_PAYLOAD_BYTES = 64 * 1024 * 1024;

interface OpenStream {
  res: ServerResponse;
  lastWriteAt: number;
  heartbeat?: NodeJS.Timeout;
  ending: NodeJS.Timeout;
}

interface RecentEvent {
  sentAt: number;
  text: string;
  /** Written to at least one stream. */
  delivered: boolean;
}

export class Publisher {
  readonly streamDurationMs: number;
  readonly streamMaxAge: number;
  readonly eventIntervalMs: number;
  readonly retryMs: number;
  readonly heartbeatMs: number;
  readonly inlineLimit: number;
  readonly replayMs: number;

  private lastEventId = 0;
  private published = 0;
  private readonly open = new Set<OpenStream>();
  private readonly starts: number[] = [];
  /** Published events, oldest first: the recent ones and the undelivered ones open the next stream. */
  private readonly recent: RecentEvent[] = [];
  private readonly payloads = new Map<number, StoredPayload>();
  private payloadBytes = 0;
  private readonly eventNames = new Set<string>();
  private ticker: NodeJS.Timeout | undefined;

  constructor(opts: PublisherOptions = {}) {
    this.streamDurationMs = positive(opts.streamDurationMs, 30_000, 'streamDurationMs');
    this.streamMaxAge = opts.streamMaxAge ?? Math.max(1, Math.round(this.streamDurationMs / 1000) - 2);
    if (!Number.isSafeInteger(this.streamMaxAge) || this.streamMaxAge < 0) throw new RangeError(`streamMaxAge: ${opts.streamMaxAge} must be whole seconds`);
    this.eventIntervalMs = Math.max(0, opts.eventIntervalMs ?? 300);
    this.retryMs = Math.max(0, Math.round(opts.retryMs ?? 1_000));
    this.heartbeatMs = Math.max(0, opts.heartbeatMs ?? 5_000);
    this.inlineLimit = Math.max(0, opts.inlineLimit ?? 4096);
    this.replayMs = Math.max(0, opts.replayMs ?? this.streamDurationMs);
  }

  /** GET /events: one stream, ended after the stream duration. */
  openStream(res: ServerResponse, headOnly: boolean): void {
    res.writeHead(200, {
      'Content-Type': 'text/event-stream',
      'Cache-Control': `no-cache, s-maxage=${this.streamMaxAge}`,
    });
    if (headOnly) return void res.end();
    this.starts.push(Date.now());
    // The retry line goes out with the head, so caches and viewers get the head at once even when
    // nothing is published for a while; then the replay.
    res.write(`retry: ${this.retryMs}\n\n${this.replay()}`);
    const stream: OpenStream = {
      res,
      lastWriteAt: Date.now(),
      ending: setTimeout(() => res.end(), this.streamDurationMs),
    };
    if (this.heartbeatMs > 0) {
      stream.heartbeat = setInterval(() => {
        if (Date.now() - stream.lastWriteAt >= this.heartbeatMs) this.write(stream, ':\n\n');
      }, this.heartbeatMs / 2);
    }
    this.open.add(stream);
    const closed = (): void => {
      clearTimeout(stream.ending);
      clearInterval(stream.heartbeat);
      this.open.delete(stream);
      if (this.open.size === 0) this.stopTicking();
    };
    res.on('finish', closed);
    res.on('close', closed);
    this.startTicking();
  }

  /** Sends one event to every open stream (or, none being open, keeps it for the next one). */
  publish(input: PublishInput): PublishResult {
    const event = input.event ?? 'message';
    if (!EVENT_NAME.test(event)) throw new PublishError(400, `event name "${event}": use 1 to 64 letters, digits, _ . : -`);
    if (input.data === undefined) throw new PublishError(400, 'data is required');
    const contentType = input.contentType ?? 'application/json';
    const serialized = contentType === 'application/json' ? JSON.stringify(input.data) : String(input.data);
    const size = Buffer.byteLength(serialized);
    const id = ++this.lastEventId;
    const sentAt = Date.now();
    let body: Record<string, unknown>;
    let url: string | undefined;
    if (size > this.inlineLimit) {
      url = `/payload/${id}`;
      this.keepPayload(id, { body: Buffer.from(serialized), contentType });
      body = { id, sentAt, url, size, contentType };
    } else {
      body = { id, sentAt, data: input.data };
    }
    this.published++;
    this.eventNames.add(event);
    const text = `id: ${id}\nevent: ${event}\ndata: ${JSON.stringify(body)}\n\n`;
    const streams = this.broadcast(text);
    this.recent.push({ sentAt, text, delivered: streams > 0 });
    this.prune(sentAt);
    return { id, event, sentAt, streams, queued: streams === 0, url, size };
  }

  payload(id: number): StoredPayload | undefined {
    return this.payloads.get(id);
  }

  /** Start times (ms since epoch) of every stream served so far, oldest first. */
  streamStarts(): number[] {
    return [...this.starts];
  }

  get openStreams(): number {
    return this.open.size;
  }

  stats(): PublisherStats {
    return {
      streamsStarted: this.starts.length,
      streamsOpen: this.open.size,
      lastEventId: this.lastEventId,
      published: this.published,
      queued: this.recent.filter((e) => !e.delivered).length,
      eventNames: [...this.eventNames],
      streamDurationMs: this.streamDurationMs,
      streamMaxAge: this.streamMaxAge,
    };
  }

  close(): void {
    this.stopTicking();
    for (const stream of this.open) {
      clearTimeout(stream.ending);
      clearInterval(stream.heartbeat);
    }
    this.open.clear();
  }

  /** What a new stream opens with: recent events, and those no stream has carried yet. */
  private replay(): string {
    const now = Date.now();
    this.prune(now);
    let text = '';
    for (const event of this.recent) {
      if (event.delivered && now - event.sentAt >= this.replayMs) continue;
      text += event.text;
      event.delivered = true;
    }
    return text;
  }

  private prune(now: number): void {
    while (this.recent.length > 0) {
      const oldest = this.recent[0];
      const expired = oldest.delivered && now - oldest.sentAt >= this.replayMs;
      if (!expired && this.recent.length <= MAX_RECENT_EVENTS) break;
      this.recent.shift();
    }
  }

  private broadcast(text: string): number {
    let streams = 0;
    for (const stream of this.open) if (this.write(stream, text)) streams++;
    return streams;
  }

  private write(stream: OpenStream, text: string): boolean {
    if (stream.res.writableEnded || stream.res.destroyed) return false;
    stream.lastWriteAt = Date.now();
    stream.res.write(text);
    return true;
  }

  /** One ticker for all streams, so that overlapping streams carry the same tick ids. */
  private startTicking(): void {
    if (this.ticker || this.eventIntervalMs <= 0) return;
    this.ticker = setInterval(() => {
      const id = ++this.lastEventId;
      this.broadcast(`id: ${id}\nevent: tick\ndata: ${JSON.stringify({ id, sentAt: Date.now() })}\n\n`);
    }, this.eventIntervalMs);
  }

  private stopTicking(): void {
    clearInterval(this.ticker);
    this.ticker = undefined;
  }

  private keepPayload(id: number, payload: StoredPayload): void {
    this.payloads.set(id, payload);
    this.payloadBytes += payload.body.length;
    for (const [oldId, old] of this.payloads) {
      if (this.payloads.size <= MAX_PAYLOADS && this.payloadBytes <= MAX_PAYLOAD_BYTES) break;
      if (oldId === id) break;
      this.payloads.delete(oldId);
      this.payloadBytes -= old.body.length;
    }
  }
}

function positive(value: number | undefined, fallback: number, name: string): number {
  const result = value ?? fallback;
  if (!(result > 0) || !Number.isFinite(result)) throw new RangeError(`${name}: ${value} must be a positive number of ms`);
  return result;
}
