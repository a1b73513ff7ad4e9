// I5: the fleet's purge bus, an adapter between the Purger and Redis pub/sub (ioredis). Every
// purge this node accepts is published with this node's id; every message received is applied,
// except this node's own, which it applied when it accepted it (so that a purge works at once and
// also while the bus is down, and is applied exactly once everywhere). While Redis is unreachable,
// purges to publish wait in a bounded queue and go out when it is back: a remote node gets them
// late, never silently not at all (a purge dropped from a full queue is counted and logged).
// Pub/sub delivers only to whoever is subscribed at that instant, and after an outage the nodes
// come back at slightly different times: the queued purges are sent when we are back and once
// more a resend delay later, and a receiver applies each (node, seq) once.
import { Redis } from 'ioredis';
import type { Logger } from 'pino';
import { purgeKeys } from '../cache/surrogate-index.js';
import type { ResolvedPurgeOptions } from './options.js';
import { describePurge, type Purge, type PurgePublisher } from './purge.js';

/** Purges kept for publishing while the bus is down; past it the oldest is dropped (and counted). */
export const BUS_QUEUE_LIMIT = 10_000;
/** Reconnect backoff: 100 ms, 200 ms, ... at most this, so the node is back within a few seconds. */
const MAX_RETRY_DELAY_MS = 1_000;
const MAX_MESSAGE_BYTES = 512 * 1024;
/** Queued purges go out again this long after the bus is back, for nodes that resubscribed later than us. */
const RESEND_AFTER_MS = 3 * MAX_RETRY_DELAY_MS;
/** Messages remembered per receiver to apply each once (a resent one is a repeat). */
const SEEN_LIMIT = 50_000;

export interface BusStats {
  /** 1 when both connections (publish, subscribe) are up. */
  busConnected: number;
  busPublished: number;
  busReceived: number;
  /** Received from another node and applied. */
  busApplied: number;
  /** Our own messages coming back (applied already). */
  busOwnIgnored: number;
  /** Messages received again (a resend after an outage), not applied twice. */
  busRepeats: number;
  /** Messages that were not a purge we can read: counted, logged, not applied. */
  busInvalid: number;
  /** Waiting to be published (the bus is down), and ever queued. */
  busQueued: number;
  busQueuedTotal: number;
  /** Dropped from a full queue: those purges never reach the other nodes. */
  busDropped: number;
  busErrors: number;
  /** Connections (publish or subscribe) lost while running. */
  busDisconnects: number;
  busReconnects: number;
}

interface BusMessage {
  v: 1;
  node: string;
  seq: number;
  /** ms since epoch when published: lets a receiver log the propagation delay. */
  at: number;
  purge: Purge;
}

export class PurgeBus implements PurgePublisher {
  private readonly pub: Redis;
  private readonly sub: Redis;
  private readonly queue: string[] = [];
  private seq = 0;
  private pubReady = false;
  private subReady = false;
  private down = false;
  private closed = false;
  private resendTimer: NodeJS.Timeout | null = null;
  /** `node:seq` of the messages applied, oldest first (bounded by SEEN_LIMIT). */
  private readonly seen = new Set<string>();
  readonly counters: Omit<BusStats, 'busConnected' | 'busQueued'> = {
    busPublished: 0,
    busReceived: 0,
    busApplied: 0,
    busOwnIgnored: 0,
    busRepeats: 0,
    busInvalid: 0,
    busQueuedTotal: 0,
    busDropped: 0,
    busErrors: 0,
    busDisconnects: 0,
    busReconnects: 0,
  };

  constructor(
    private readonly config: NonNullable<ResolvedPurgeOptions['purgeBus']>,
    readonly nodeId: string,
    private readonly logger: Logger,
    private readonly apply: (purge: Purge, fromNode: string) => void,
  ) {
    const options = {
      host: config.host,
      port: config.port,
      connectTimeout: 2_000,
      retryStrategy: (times: number) => Math.min(100 * times, MAX_RETRY_DELAY_MS),
      // Our own bounded queue holds purges while the bus is down, not ioredis's unbounded one.
      enableOfflineQueue: false,
      maxRetriesPerRequest: 1,
      lazyConnect: true,
    };
    this.pub = new Redis({ ...options, connectionName: `streamcache-pub-${nodeId}` });
    // We subscribe ourselves on every `ready`: ioredis's own resubscription is not done when it says ready.
    this.sub = new Redis({ ...options, connectionName: `streamcache-sub-${nodeId}`, autoResubscribe: false });
    // The queue goes out once both connections are back: our own subscription coming back says
    // the others' (on the same backoff) are about to.
    this.watch(this.pub, 'publish', (ready) => {
      this.pubReady = ready;
      this.cameUp();
    });
    this.watch(this.sub, 'subscribe', (ready) => {
      if (!ready) {
        this.subReady = false;
        return;
      }
      this.sub.subscribe(this.config.channel).then(
        () => {
          this.subReady = true;
          this.cameUp();
        },
        (err: Error) => {
          this.counters.busErrors++;
          this.logger.warn({ err: err.message, bus: this.config.url }, 'purge bus: subscribe failed (retried on reconnect)');
        },
      );
    });
    this.sub.on('message', (_channel: string, message: string) => this.received(message));
  }

  /** Connects (in the background: a bus that is down at startup is retried like one that went down). */
  start(): void {
    this.pub.connect().catch(() => {});
    this.sub.connect().catch(() => {});
  }

  get connected(): boolean {
    return this.pubReady && this.subReady;
  }

  stats(): BusStats {
    return { busConnected: this.connected ? 1 : 0, busQueued: this.queue.length, ...this.counters };
  }

  publish(purge: Purge): void {
    const message: BusMessage = { v: 1, node: this.nodeId, seq: ++this.seq, at: Date.now(), purge };
    const text = JSON.stringify(message);
    if (this.pubReady && this.queue.length === 0) return this.send(text);
    this.enqueue(text, purge);
  }

  close(): void {
    this.closed = true;
    if (this.resendTimer) clearTimeout(this.resendTimer);
    this.pub.disconnect();
    this.sub.disconnect();
  }

  private send(text: string): void {
    this.pub.publish(this.config.channel, text).then(
      () => this.counters.busPublished++,
      (err: Error) => {
        this.counters.busErrors++;
        this.logger.warn({ err: err.message, bus: this.config.url }, 'purge bus publish failed: the purge is queued for when the bus is back');
        this.enqueue(text);
      },
    );
  }

  private enqueue(text: string, purge?: Purge): void {
    this.counters.busQueuedTotal++;
    this.queue.push(text);
    if (purge) this.logger.warn({ purge: describePurge(purge), queued: this.queue.length, bus: this.config.url }, 'purge bus down: purge applied here, queued for the other nodes');
    if (this.queue.length > BUS_QUEUE_LIMIT) {
      this.queue.shift();
      this.counters.busDropped++;
      this.logger.error({ limit: BUS_QUEUE_LIMIT, bus: this.config.url }, 'purge bus queue full: the oldest queued purge was dropped and will not reach the other nodes');
    }
  }

  private flush(): void {
    if (this.queue.length === 0) return;
    const pending = this.queue.splice(0);
    this.logger.info({ purges: pending.length, bus: this.config.url }, 'purge bus back: sending the purges queued while it was down');
    for (const text of pending) this.send(text);
    if (this.resendTimer) clearTimeout(this.resendTimer);
    this.resendTimer = setTimeout(() => {
      this.resendTimer = null;
      if (!this.pubReady) return this.queue.unshift(...pending);
      for (const text of pending) this.send(text);
    }, RESEND_AFTER_MS);
    this.resendTimer.unref();
  }

  private watch(client: Redis, role: string, onReady: (ready: boolean) => void): void {
    // A connection lost counts once, not once per failed attempt to get it back.
    let up = false;
    client.on('ready', () => {
      up = true;
      onReady(true);
    });
    client.on('close', () => {
      if (this.closed) return;
      if (up) this.counters.busDisconnects++;
      up = false;
      onReady(false);
      this.wentDown(role, 'connection closed');
    });
    client.on('reconnecting', () => this.counters.busReconnects++);
    client.on('error', (err: Error) => {
      this.counters.busErrors++;
      this.wentDown(role, err.message);
    });
  }

  /** Both connections are up (again): say so after an outage, and send what was queued. */
  private cameUp(): void {
    if (!this.connected) return;
    if (this.down) {
      this.down = false;
      this.logger.info({ bus: this.config.url }, 'purge bus reconnected');
    }
    this.flush();
  }

  /** One warning per outage; the counters tell how long it lasted. */
  private wentDown(role: string, reason: string): void {
    if (this.down || this.closed) return;
    this.down = true;
    this.logger.warn({ err: reason, role, bus: this.config.url }, 'purge bus unreachable: purges apply on this node only, and are queued for the others, until it is back (retrying)');
  }

  private received(text: string): void {
    this.counters.busReceived++;
    const message = readMessage(text);
    if (typeof message === 'string') {
      this.counters.busInvalid++;
      this.logger.warn({ reason: message, bus: this.config.url }, 'purge bus: message ignored');
      return;
    }
    if (message.node === this.nodeId) {
      this.counters.busOwnIgnored++;
      return;
    }
    const id = `${message.node}:${message.seq}`;
    if (this.seen.has(id)) {
      this.counters.busRepeats++;
      return;
    }
    this.seen.add(id);
    if (this.seen.size > SEEN_LIMIT) this.seen.delete(this.seen.values().next().value as string);
    this.counters.busApplied++;
    this.apply(message.purge, message.node);
  }
}

/** A message from the bus, checked as any outside input: the purge it carries, or why not. */
export function readMessage(text: string): BusMessage | string {
  if (text.length > MAX_MESSAGE_BYTES) return 'message too large';
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    return 'not JSON';
  }
  const m = value as Partial<BusMessage> | null;
  if (!m || typeof m !== 'object' || m.v !== 1 || typeof m.node !== 'string' || typeof m.seq !== 'number' || typeof m.at !== 'number') return 'not a purge message (v, node, seq, at)';
  const p = m.purge as Partial<Purge & { cacheKey: unknown; keys: unknown }> | undefined;
  if (!p || typeof p !== 'object' || typeof p.soft !== 'boolean' || typeof p.hard !== 'boolean') return 'purge: missing soft or hard';
  const modes = { soft: p.soft, hard: p.hard };
  if (p.kind === 'all') return { ...(m as BusMessage), purge: { kind: 'all', ...modes } };
  if (p.kind === 'url' && typeof p.cacheKey === 'string' && p.cacheKey.length > 0) return { ...(m as BusMessage), purge: { kind: 'url', cacheKey: p.cacheKey, ...modes } };
  if (p.kind === 'keys' && Array.isArray(p.keys) && p.keys.every((k) => typeof k === 'string')) {
    const keys = purgeKeys(p.keys.join(' '));
    if (typeof keys === 'string') return `purge: ${keys}`;
    return { ...(m as BusMessage), purge: { kind: 'keys', keys, ...modes } };
  }
  return 'purge: not a url, keys or all purge';
}
