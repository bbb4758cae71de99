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

/**
 * An SSE sink that writes to a Node stream that pushes back (`write` returns false until
 * 'drain'): bytes go out while it takes them and wait in this sink's own queue while it does not,
 * a large chunk in pieces of SSE_PIECE_BYTES. Pending bytes are that queue, and progress is what
 * the stream took. Counting Node's socket buffer as pending instead made a reader that was
 * reading look stalled for seconds (the kernel takes more only in large steps). A subclass says
 * how one piece is written and how the body ends.
 */
export abstract class PushbackSseSink extends SseSinkBase {
  /** Bytes not handed over yet: before the head, or while the stream is backed up. */
  #queue: Uint8Array[] | null = null;
  #queued = 0;
  /** The head is out: bytes may go. */
  #open = false;
  /** The last write returned false: wait for 'drain'. */
  #blocked = false;
  /** The stream was closed while bytes were queued: end once they are handed over. */
  #endWhenEmpty = false;

  /** Writes one piece; false when the stream pushes back. */
  protected abstract send(piece: Uint8Array): boolean;
  /** Ends the body (everything queued is out). */
  protected abstract endBody(): void;

  protected get isOpen(): boolean {
    return this.#open;
  }

  /** Closed with bytes still to hand over before the body ends. */
  protected get ending(): boolean {
    return this.#endWhenEmpty;
  }

  /** The head is out (`blocked`: its write pushed back): what was queued follows. */
  protected opened(blocked = false): void {
    this.#open = true;
    if (blocked) this.#blocked = true;
    this.#pump();
  }

  /** The stream took what it had: hand it more, and tell the member. */
  protected drained(): void {
    this.#blocked = false;
    this.#pump();
    this.takenBy?.taken();
  }

  /** The connection is gone: nothing queued will be taken. */
  protected forgetQueued(): void {
    this.#queue = null;
    this.#queued = 0;
    this.#endWhenEmpty = false;
  }

  protected queuedBytes(): number {
    return this.#queued;
  }

  protected enqueue(chunk: Uint8Array): void {
    const size = chunk.byteLength;
    if (size <= SSE_PIECE_BYTES) {
      this.#enqueuePiece(chunk);
      return;
    }
    for (let at = 0; at < size; at += SSE_PIECE_BYTES) {
      this.#enqueuePiece(chunk.subarray(at, Math.min(size, at + SSE_PIECE_BYTES)));
    }
  }

  #enqueuePiece(piece: Uint8Array): void {
    if (this.#open && !this.#blocked && this.#queued === 0) {
      if (!this.send(piece)) this.#blocked = true;
      return;
    }
    this.#queue ??= [];
    this.#queue.push(piece);
    this.#queued += piece.byteLength;
  }

  /** Hands queued bytes over until the stream pushes back; ends the body once empty if asked. */
  #pump(): void {
    const queue = this.#queue;
    if (queue) {
      let i = 0;
      while (i < queue.length && !this.#blocked) {
        const piece = queue[i++];
        this.#queued -= piece.byteLength;
        if (!this.send(piece)) this.#blocked = true;
      }
      queue.splice(0, i);
      if (queue.length === 0) this.#queue = null;
    }
    if (this.#endWhenEmpty && this.#queued === 0 && this.#open) {
      this.#endWhenEmpty = false;
      this.endBody();
    }
  }

  protected finish(last: Uint8Array | null): void {
    if (last) this.enqueue(last);
    this.#endWhenEmpty = true;
    if (this.#open && this.#queued === 0) this.#pump();
  }
}
