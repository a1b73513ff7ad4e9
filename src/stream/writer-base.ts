// What every ResponseWriter keeps the same way whatever the protocol: its status and first-byte
// time, the framing chosen for its client (F1-F4), the head and body held for a client that must
// wait for the whole body (`buffered`), and write-ahead measured on the exchange (R7). The HTTP/1
// and HTTP/2 writers add how a head, a body view, an end and a failure go out.
import type { ClientExchange } from '../net/client-exchange.js';
import { chooseClientFraming, type ClientFraming } from '../http1/semantics.js';
import { WRITE_AHEAD, type DeliverHook, type ErrorResponse, type LiveFrameSlot, type OutgoingHead, type ResponseWriter, type ServedAsLabel } from './response-writer.js';

export interface WriterOptions {
  /** Fields every error response of this writer carries. */
  readonly errorFields?: readonly (readonly [string, string])[];
  /** vcl_deliver: may edit every head this writer sends: object responses, relays and errors (K3). */
  readonly deliver?: DeliverHook;
  /** K2: X-Cache and Cache-Status for every head this writer sends. */
  readonly servedAs?: ServedAsLabel;
}

export abstract class BaseResponseWriter implements ResponseWriter {
  status = 0;
  firstByteAt: number | undefined = undefined;
  bodyBytes = 0;
  protected framing: ClientFraming = 'none';
  protected finished = false;
  /** `buffered`: the head and a copy of the body, held until end(). */
  protected heldHead: OutgoingHead | null = null;
  protected heldBody: Buffer[] = [];

  constructor(
    protected readonly exchange: ClientExchange,
    protected readonly options: WriterOptions = {},
  ) {}

  get headSent(): boolean {
    return this.firstByteAt !== undefined;
  }

  get done(): boolean {
    return this.finished;
  }

  get bufferedBytes(): number {
    return this.exchange.bufferedBytes;
  }

  get room(): number {
    return WRITE_AHEAD - this.exchange.bufferedBytes;
  }

  framingFor(status: number, knownLength: number | undefined): ClientFraming {
    const { request } = this.exchange;
    return chooseClientFraming(request.version, request.method, status, knownLength);
  }

  head(head: OutgoingHead): void {
    if (this.finished) return;
    this.framing = head.framing;
    this.status = head.status;
    if (head.framing === 'buffered') {
      this.heldHead = head;
      return;
    }
    this.sendHead(head);
  }

  onDrain(callback: () => void): void {
    this.exchange.onDrain(callback);
  }

  /**
   * The part of body() that does not depend on the protocol: true when the view needs no more
   * (nothing to write, a bodiless response, or held for a buffered one: a copy, as the view may
   * belong to an origin socket's read); else it is counted and the caller writes it.
   */
  protected settledBody(view: Buffer): boolean {
    if (this.finished || view.length === 0) return true;
    if (this.framing === 'buffered') {
      this.bodyBytes += view.length;
      this.heldBody.push(Buffer.from(view));
      return true;
    }
    if (this.framing === 'none') return true;
    this.bodyBytes += view.length;
    return false;
  }

  /** Takes the held head and body of a buffered response (for end()), now with its length. */
  protected takeHeld(): { head: OutgoingHead; body: Buffer[] } | null {
    if (!this.heldHead) return null;
    const held = { head: { ...this.heldHead, framing: 'length' as const, length: this.bodyBytes }, body: this.heldBody };
    this.heldHead = null;
    this.heldBody = [];
    return held;
  }

  /** Finalizes and sends (or queues) the head of a response that is not buffered. */
  protected abstract sendHead(head: OutgoingHead): void;
  abstract body(view: Buffer): void;
  abstract live(view: Buffer, index: number, slot: LiveFrameSlot): void;
  abstract flush(urgent?: boolean): void;
  abstract end(written?: () => void): void;
  abstract fail(reason: string, error?: Partial<ErrorResponse>): void;
}
