import { type GroupcastError, SlowConsumerError } from '../shared/errors.ts';
import type { Subscriber, TakenListener } from '../shared/hub.ts';
import { encodeClose } from '../shared/sse.ts';

/**
 * One SSE response as the app drives it: the hub writes to it as a Subscriber, the heartbeat
 * writes comments to it. Web runtimes get a ReadableStream (SseStream); Node writes to its own
 * response object (NodeSseStream), which holds about half the memory per idle subscriber.
 */
export interface SseSink extends Subscriber {
  readonly closed: boolean;
  /** Ends the prelude (retry hint and replay): the queue limit applies from here on. */
  live(): void;
  /** Called once when the stream ends, for whatever reason. */
  onEnd(fn: (reason?: GroupcastError) => void): void;
  /** The response the route returns for this stream. */
  response(headers: Record<string, string>): Response;
}

/** Opens the sink for one SSE request; the default is a Web ReadableStream. */
export type OpenSseSink = (c: unknown, remote: string, limitBytes: number) => SseSink;

/**
 * The most a sink that writes to a socket hands it at once. A turn from a fast TCP publisher can
 * be megabytes; written whole, it shows no progress until all of it has gone, and the flow
 * control's timers would take a reader that reads for a stopped one. In pieces, what the reader
 * takes shows in steps no larger than this. (A Web ReadableStream needs none: its runtime takes
 * each chunk off the queue as a whole, so pieces would only count as queued what it holds.)
 */
export const SSE_PIECE_BYTES = 64 * 1024;

/**
 * What every SSE sink does the same way, whatever carries its bytes: the prelude (the replay
 * goes through whole), the queue limit past it (a backlog is cut as a slow consumer unless the
 * bytes are flow-controlled: their sources wait instead), progress, and how it ends. A runtime's
 * sink says only how bytes are queued, dropped and ended.
 */
export abstract class SseSinkBase implements SseSink {
  readonly remote: string;
  protected readonly limit: number;
  takenBy: TakenListener | undefined;
  #closed = false;
  #onEnd: ((reason?: GroupcastError) => void) | undefined;
  /** True until the subscription is live: the replay is written whole, whatever its size. */
  #prelude = true;
  /** Replayed bytes, allowed on top of the limit until the client has read below it. */
  #allowance = 0;
  /** Every byte queued since the stream opened: taken = queued - pending. */
  #enqueued = 0;

  constructor(remote: string, limitBytes: number) {
    this.remote = remote;
    this.limit = limitBytes;
  }

  /** Bytes queued and not yet taken by the connection. */
  protected abstract queuedBytes(): number;
  /** Queues bytes for the connection. */
  protected abstract enqueue(chunk: Uint8Array): void;
  /** Drops the connection with what is queued (a client that is not reading never takes it). */
  protected abstract drop(err: GroupcastError): void;
  /** Ends the response after what is queued, with `last` queued first when given. */
  protected abstract finish(last: Uint8Array | null): void;
  abstract response(headers: Record<string, string>): Response;

  /** Called once when the stream ends, for whatever reason. */
  onEnd(fn: (reason?: GroupcastError) => void): void {
    this.#onEnd = fn;
    if (this.#closed) fn();
  }

  get closed(): boolean {
    return this.#closed;
  }

  get pendingBytes(): number {
    return this.#closed ? 0 : this.queuedBytes();
  }

  get takenBytes(): number {
    return this.#enqueued - this.pendingBytes;
  }

  /**
   * Ends the prelude (the retry hint and the replay). A replay is bounded by the group's
   * history, and encoded once for every subscriber, so it is let through whole; the limit then
   * applies to what comes on top of it.
   */
  live(): void {
    this.#prelude = false;
  }

  /**
   * Queues bytes. Past the limit a backlog is cut as a slow consumer, unless the bytes are
   * `flowControlled`: their sources wait for this subscriber instead (the sidecar's hub).
   */
  write(chunk: Uint8Array, flowControlled = false): void {
    if (this.#closed) return;
    if (this.#prelude) {
      this.#allowance += chunk.byteLength;
      this.#push(chunk);
      return;
    }
    const pending = this.pendingBytes;
    if (this.#allowance > 0 && pending <= this.limit) this.#allowance = 0;
    // One turn's output may exceed the limit on its own; only a backlog is a slow consumer.
    if (
      !flowControlled &&
      pending > 0 &&
      pending + chunk.byteLength > this.limit + this.#allowance
    ) {
      this.#cut(new SlowConsumerError(pending + chunk.byteLength, this.limit));
      return;
    }
    this.#push(chunk);
  }

  /**
   * Ends the stream after what is queued, with a last `event: close` when a reason is given. A
   * slow consumer is cut at once instead: it is not reading what is queued.
   */
  close(reason?: GroupcastError): void {
    if (this.#closed) return;
    if (reason?.code === 'SLOW_CONSUMER') {
      this.#cut(reason);
      return;
    }
    this.#closed = true;
    this.finish(reason ? encodeClose(reason.code, reason.message) : null);
    this.end(reason);
  }

  /** The stream ended (closed, cut, or its client went): tells the onEnd listener once. */
  protected end(reason?: GroupcastError): void {
    this.#closed = true;
    const fn = this.#onEnd;
    this.#onEnd = undefined;
    fn?.(reason);
  }

  #push(chunk: Uint8Array): void {
    this.#enqueued += chunk.byteLength;
    this.enqueue(chunk);
  }

  #cut(err: GroupcastError): void {
    this.#closed = true;
    this.drop(err);
    this.end(err);
  }
}
