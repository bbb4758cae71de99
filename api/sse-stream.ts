import { type GroupcastError, SlowConsumerError } from '../shared/errors.ts';
import { encodeClose } from '../shared/sse.ts';
import type { SseSink } from './sse-sink.ts';

/**
 * One SSE response: a Web ReadableStream with a bounded byte queue. The hub writes shared,
 * already-encoded event-stream bytes; the runtime's server pulls them as the client reads. A
 * subscriber whose queue would pass its limit is cut at once (its memory freed), so a slow reader
 * never holds up anyone else.
 */
export class SseStream implements SseSink {
  readonly remote: string;
  readonly readable: ReadableStream<Uint8Array>;
  readonly #limit: number;
  #controller!: ReadableStreamDefaultController<Uint8Array>;
  #closed = false;
  #onEnd: ((reason?: GroupcastError) => void) | undefined;
  readonly #drop: (() => void) | undefined;
  /** True until the subscription is live: the replay is written whole, whatever its size. */
  #prelude = true;
  /** Replayed bytes, allowed on top of the limit until the client has read below it. */
  #allowance = 0;
  /** Every byte enqueued since the stream opened: taken = enqueued - pending. */
  #enqueued = 0;
  onTaken: (() => void) | undefined;

  /**
   * `drop` ends the connection at once (a runtime entry can do it quietly); without it the
   * stream is errored, which every runtime turns into an aborted response.
   */
  constructor(remote: string, limitBytes: number, drop?: () => void) {
    this.remote = remote;
    this.#limit = limitBytes;
    this.#drop = drop;
    this.readable = new ReadableStream<Uint8Array>(
      {
        start: (controller) => {
          this.#controller = controller;
        },
        // Called whenever the queue is under its mark and the connection has read from it.
        pull: () => {
          this.onTaken?.();
        },
        cancel: () => {
          // The client went away.
          this.#end();
        },
      },
      { highWaterMark: limitBytes, size: (chunk) => chunk.byteLength },
    );
  }

  /** Called once when the stream ends, for whatever reason. */
  onEnd(fn: (reason?: GroupcastError) => void): void {
    this.#onEnd = fn;
    if (this.#closed) fn();
  }

  get closed(): boolean {
    return this.#closed;
  }

  get pendingBytes(): number {
    if (this.#closed) return 0;
    return this.#limit - (this.#controller.desiredSize ?? this.#limit);
  }

  get takenBytes(): number {
    return this.#enqueued - this.pendingBytes;
  }

  response(headers: Record<string, string>): Response {
    return new Response(this.readable, { status: 200, headers });
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
    const pending = this.pendingBytes;
    if (this.#prelude) {
      this.#allowance += chunk.byteLength;
      this.#enqueue(chunk);
      return;
    }
    if (this.#allowance > 0 && pending <= this.#limit) this.#allowance = 0;
    // One turn's output may exceed the limit on its own; only a backlog is a slow consumer.
    if (
      !flowControlled &&
      pending > 0 &&
      pending + chunk.byteLength > this.#limit + this.#allowance
    ) {
      this.#cut(new SlowConsumerError(pending + chunk.byteLength, this.#limit));
      return;
    }
    this.#enqueue(chunk);
  }

  #enqueue(chunk: Uint8Array): void {
    this.#enqueued += chunk.byteLength;
    this.#controller.enqueue(chunk);
  }

  /** Drops the connection with what is queued (a client that is not reading would never take it). */
  #cut(err: GroupcastError): void {
    this.#closed = true;
    if (this.#drop) this.#drop();
    // Drops what is queued; without a `drop`, it also makes the server abort the response.
    else this.#controller.error(err);
    this.#end(err);
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
    try {
      if (reason) this.#enqueue(encodeClose(reason.code, reason.message));
      this.#controller.close();
    } catch {
      // The runtime already ended the stream (its connection went): nothing left to send.
    }
    this.#end(reason);
  }

  #end(reason?: GroupcastError): void {
    this.#closed = true;
    const fn = this.#onEnd;
    this.#onEnd = undefined;
    fn?.(reason);
  }
}
