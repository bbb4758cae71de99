import type { GroupcastError } from '../shared/errors.ts';
import { SseSinkBase } from './sse-sink.ts';

/**
 * One SSE response: a Web ReadableStream with a bounded byte queue. The hub writes shared,
 * already-encoded event-stream bytes; the runtime's server pulls them as the client reads. A
 * subscriber whose queue would pass its limit is cut at once (its memory freed), so a slow reader
 * never holds up anyone else.
 */
export class SseStream extends SseSinkBase {
  readonly readable: ReadableStream<Uint8Array>;
  #controller!: ReadableStreamDefaultController<Uint8Array>;
  readonly #drop: (() => void) | undefined;

  /**
   * `drop` ends the connection at once (a runtime entry can do it quietly); without it the
   * stream is errored, which every runtime turns into an aborted response.
   */
  constructor(remote: string, limitBytes: number, drop?: () => void) {
    super(remote, limitBytes);
    this.#drop = drop;
    this.readable = new ReadableStream<Uint8Array>(
      {
        start: (controller) => {
          this.#controller = controller;
        },
        // Called whenever the queue is under its mark and the connection has read from it.
        pull: () => {
          this.takenBy?.taken();
        },
        cancel: () => {
          // The client went away.
          this.end();
        },
      },
      { highWaterMark: limitBytes, size: (chunk) => chunk.byteLength },
    );
  }

  response(headers: Record<string, string>): Response {
    return new Response(this.readable, { status: 200, headers });
  }

  protected queuedBytes(): number {
    return this.limit - (this.#controller.desiredSize ?? this.limit);
  }

  protected enqueue(chunk: Uint8Array): void {
    this.#controller.enqueue(chunk);
  }

  protected drop(err: GroupcastError): void {
    if (this.#drop) this.#drop();
    // Drops what is queued; without a `drop`, it also makes the server abort the response.
    else this.#controller.error(err);
  }

  protected finish(last: Uint8Array | null): void {
    try {
      if (last) this.#controller.enqueue(last);
      this.#controller.close();
    } catch {
      // The runtime already ended the stream (its connection went): nothing left to send.
    }
  }
}
