import type { ServerResponse } from 'node:http';
import { SSE_PIECE_BYTES, SseSinkBase } from './sse-sink.ts';

/**
 * Tells @hono/node-server the response was written already: it sends nothing of its own. The
 * route's Response still goes through the app's middleware, so its headers are the final ones
 * (see openNodeSse).
 */
const ALREADY_SENT = 'x-hono-already-sent';

const STREAM = Symbol('groupcast.sseStream');
type StreamResponse = ServerResponse & { [STREAM]: NodeSseStream };

/** Streams whose route has not returned yet: their headers come from the route's Response. */
const opening = new WeakMap<ServerResponse, NodeSseStream>();

/**
 * One SSE response on Node, written straight to its ServerResponse: no Web ReadableStream, no
 * reader loop, no per-chunk promise. Measured at 10,000 idle subscribers, this halves the memory
 * each one holds (21 KiB with a ReadableStream). Bytes go to the response while it takes them
 * (`write` returns true) and wait in this stream's own queue while it does not, until 'drain':
 * pending bytes are that queue, and progress is what the response took, as with the Web stream
 * and the adapter's reader loop. Counting Node's socket buffer as pending instead made a reader
 * that was reading look stalled for seconds (the kernel takes more only in large steps), so it
 * was detached and cut.
 */
export class NodeSseStream extends SseSinkBase {
  readonly #res: ServerResponse;
  /** Bytes not handed to the response yet: before its headers, or while it is backed up. */
  #queue: Uint8Array[] | null = null;
  #queued = 0;
  /** The headers are out. */
  #open = false;
  /** The response's last write returned false: wait for 'drain'. */
  #blocked = false;
  /** The stream was closed while bytes were queued: end once they are handed over. */
  #endWhenEmpty = false;

  constructor(remote: string, limitBytes: number, res: ServerResponse) {
    super(remote, limitBytes);
    this.#res = res;
    opening.set(res, this);
    (res as StreamResponse)[STREAM] = this;
    res.on('close', NodeSseStream.onClose);
    res.on('drain', NodeSseStream.#drain);
  }

  response(headers: Record<string, string>): Response {
    return new Response(null, { status: 200, headers: { ...headers, [ALREADY_SENT]: '1' } });
  }

  /** Sends the headers the route's Response ended up with, then what was written meanwhile. */
  open(status: number, headers: Headers): void {
    if (this.#open) return;
    this.#open = true;
    const res = this.#res;
    if (res.destroyed) return;
    const out: Record<string, string> = {};
    headers.forEach((value, name) => {
      // Node picks chunked encoding itself (the header is there for the Web-stream path).
      if (name !== ALREADY_SENT && name !== 'transfer-encoding') out[name] = value;
    });
    res.writeHead(status, out);
    // Sent on their own: written as a string, Node's header string is flattened (and its
    // pieces freed); sent with the first chunk it stays a tree of ~24 strings, ~0.8 KB kept
    // for as long as the stream is open.
    res.flushHeaders();
    this.#pump();
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

  #enqueuePiece(chunk: Uint8Array): void {
    if (this.#open && !this.#blocked && this.#queued === 0) {
      if (!this.#res.write(chunk)) this.#blocked = true;
      return;
    }
    this.#queue ??= [];
    this.#queue.push(chunk);
    this.#queued += chunk.byteLength;
  }

  /** Hands queued bytes to the response until it pushes back; ends it once empty if asked. */
  #pump(): void {
    const queue = this.#queue;
    const res = this.#res;
    if (queue) {
      let i = 0;
      while (i < queue.length && !this.#blocked) {
        const chunk = queue[i++];
        this.#queued -= chunk.byteLength;
        if (!res.write(chunk)) this.#blocked = true;
      }
      queue.splice(0, i);
      if (queue.length === 0) this.#queue = null;
    }
    if (this.#endWhenEmpty && this.#queued === 0) res.end();
  }

  protected drop(): void {
    this.#queue = null;
    this.#queued = 0;
    this.#res.destroy();
  }

  protected finish(last: Uint8Array | null): void {
    if (last) this.enqueue(last);
    if (this.#open && this.#queued === 0) this.#res.end();
    else this.#endWhenEmpty = true;
  }

  // Shared listener functions, not two closures per subscriber.
  static readonly onClose = function (this: ServerResponse): void {
    // The client went away, or the connection was dropped.
    const stream = (this as StreamResponse)[STREAM];
    stream.#queue = null;
    stream.#queued = 0;
    stream.end();
  };

  static readonly #drain = function (this: ServerResponse): void {
    const stream = (this as StreamResponse)[STREAM];
    stream.#blocked = false;
    stream.#pump();
    stream.takenBy?.taken();
  };
}

/**
 * Called with the app's Response for a request: an SSE stream written on this ServerResponse
 * gets its headers from it (true: answer the adapter with RESPONSE_ALREADY_SENT); a stream
 * whose route failed afterwards is forgotten, and the error Response goes out as usual.
 */
export function openNodeSse(res: ServerResponse, response: Response): boolean {
  const stream = opening.get(res);
  if (!stream) return false;
  opening.delete(res);
  if (!response.headers.has(ALREADY_SENT)) return false;
  // The adapter's 'close' listener aborts the Request's signal, which nothing reads once the
  // stream is open (its own 'close' listener ends it); the listener's closure keeps the Request,
  // its headers and URL alive as long as the stream, ~0.4 KB an idle subscriber.
  for (const listener of res.listeners('close')) {
    if (listener !== NodeSseStream.onClose) res.removeListener('close', listener as () => void);
  }
  stream.open(response.status, response.headers);
  return true;
}
