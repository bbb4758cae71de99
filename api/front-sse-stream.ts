import type { Socket } from 'node:net';
import type { ApiParts } from './app.ts';
import { bearerToken } from './auth.ts';
import type { FrontGetHead } from './http-head.ts';
import { SSE_PIECE_BYTES, type SseSink, SseSinkBase } from './sse-sink.ts';

const STREAM = Symbol('groupcast.frontSseStream');
type StreamSocket = Socket & { [STREAM]: FrontSseStream };

const CRLF = '\r\n';
/** Chunks up to this size are framed in one buffer (a copy); larger ones go out corked, as three. */
const COPY_FRAME_BYTES = 4096;
/** The last chunk of a chunked body. */
const LAST_CHUNK = '0\r\n\r\n';

/** Where the raw front keeps its open streams, to end them at shutdown. */
export interface FrontStreams {
  opened(stream: FrontSseStream): void;
  ended(stream: FrontSseStream): void;
}

/**
 * One SSE response written straight to its socket by the raw HTTP front (node-http-front.ts):
 * the head node:http would send, then the events as chunks of a chunked body, as node:http frames
 * them. No IncomingMessage, ServerResponse or HTTP parser stays behind for an idle subscriber.
 * Backpressure as NodeSseStream: bytes go to the socket while it takes them (`write` returns
 * true) and wait in this stream's own queue while it does not, until 'drain'; pending bytes are
 * that queue, and progress is what the socket took.
 */
export class FrontSseStream extends SseSinkBase {
  readonly #socket: Socket;
  readonly #owner: FrontStreams;
  /** Bytes not handed to the socket yet: before the head, or while it is backed up. */
  #queue: Uint8Array[] | null = null;
  #queued = 0;
  /** The head is out. */
  #open = false;
  /** The socket's last write returned false: wait for 'drain'. */
  #blocked = false;
  /** The stream was closed while bytes were queued: end once they are handed over. */
  #endWhenEmpty = false;

  constructor(remote: string, limitBytes: number, socket: Socket, owner: FrontStreams) {
    super(remote, limitBytes);
    this.#socket = socket;
    this.#owner = owner;
    (socket as StreamSocket)[STREAM] = this;
    socket.on('close', FrontSseStream.#onClose);
    socket.on('drain', FrontSseStream.#drain);
  }

  response(): Response {
    throw new Error('a front stream is answered by the front, not through the app');
  }

  /**
   * The subscription is open: the connection is this stream's from now on. `head` is the whole
   * response head; the client sends nothing more on this connection (bytes that come anyway, or
   * its end, close it, as node:http closes a connection whose client ended).
   */
  open(head: string): void {
    const socket = this.#socket;
    if (this.closed && !this.#endWhenEmpty) {
      socket.destroy();
      return;
    }
    this.#open = true;
    this.#owner.opened(this);
    socket.on('data', FrontSseStream.#onData);
    socket.on('end', FrontSseStream.#onEnd);
    if (!socket.write(head, 'latin1')) this.#blocked = true;
    this.#pump();
  }

  /** The subscription was refused after this stream was made: it lets go of the socket. */
  discard(): void {
    const socket = this.#socket;
    socket.off('close', FrontSseStream.#onClose);
    socket.off('drain', FrontSseStream.#drain);
    delete (socket as Partial<StreamSocket>)[STREAM];
    this.#queue = null;
    this.#queued = 0;
    if (!this.closed) this.end();
  }

  /** Shutdown's last step: the connection goes now, whatever is queued. */
  destroy(): void {
    this.#socket.destroy();
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
    // As NodeSseStream: a megabyte turn shows the reader's progress piece by piece.
    for (let at = 0; at < size; at += SSE_PIECE_BYTES) {
      this.#enqueuePiece(chunk.subarray(at, Math.min(size, at + SSE_PIECE_BYTES)));
    }
  }

  #enqueuePiece(chunk: Uint8Array): void {
    if (this.#open && !this.#blocked && this.#queued === 0) {
      if (!this.#send(chunk)) this.#blocked = true;
      return;
    }
    this.#queue ??= [];
    this.#queue.push(chunk);
    this.#queued += chunk.byteLength;
  }

  /** One chunk of the chunked body; false when the socket pushes back. */
  #send(chunk: Uint8Array): boolean {
    const socket = this.#socket;
    const n = chunk.byteLength;
    if (n === 0) return true;
    const size = n.toString(16);
    if (n <= COPY_FRAME_BYTES) {
      const frame = Buffer.allocUnsafe(size.length + n + 4);
      frame.write(size, 0, 'latin1');
      frame[size.length] = 13;
      frame[size.length + 1] = 10;
      frame.set(chunk, size.length + 2);
      frame[size.length + 2 + n] = 13;
      frame[size.length + 3 + n] = 10;
      return socket.write(frame);
    }
    socket.cork();
    socket.write(size + CRLF, 'latin1');
    socket.write(chunk);
    const ok = socket.write(CRLF, 'latin1');
    socket.uncork();
    return ok;
  }

  /** Hands queued bytes to the socket until it pushes back; ends the body once empty if asked. */
  #pump(): void {
    const queue = this.#queue;
    if (queue) {
      let i = 0;
      while (i < queue.length && !this.#blocked) {
        const chunk = queue[i++];
        this.#queued -= chunk.byteLength;
        if (!this.#send(chunk)) this.#blocked = true;
      }
      queue.splice(0, i);
      if (queue.length === 0) this.#queue = null;
    }
    if (this.#endWhenEmpty && this.#queued === 0 && this.#open) {
      this.#endWhenEmpty = false;
      // The body ends, and so does the connection (node:http would keep it for another request;
      // closing an idle connection is always allowed, and EventSource reconnects on a new one).
      this.#socket.end(LAST_CHUNK, 'latin1');
    }
  }

  protected drop(): void {
    this.#queue = null;
    this.#queued = 0;
    this.#socket.destroy();
  }

  protected finish(last: Uint8Array | null): void {
    if (last) this.enqueue(last);
    this.#endWhenEmpty = true;
    if (this.#open && this.#queued === 0) this.#pump();
  }

  /** The connection is gone or going: nothing more is queued for it. */
  #gone(): void {
    this.#queue = null;
    this.#queued = 0;
    this.#endWhenEmpty = false;
    if (this.#open) this.#owner.ended(this);
    if (!this.closed) this.end();
  }

  // Shared listener functions, not closures per subscriber.
  static readonly #onClose = function (this: Socket): void {
    (this as StreamSocket)[STREAM].#gone();
  };

  static readonly #onEnd = function (this: Socket): void {
    // The client ended its side: node:http ends the connection at once, without a last chunk.
    (this as StreamSocket)[STREAM].#gone();
    this.end();
  };

  static readonly #onData = function (this: Socket): void {
    // Nothing may follow the request on a connection the stream holds.
    (this as StreamSocket)[STREAM].#gone();
    this.destroy();
  };

  static readonly #drain = function (this: Socket): void {
    const stream = (this as StreamSocket)[STREAM];
    stream.#blocked = false;
    stream.#pump();
    stream.takenBy?.taken();
  };
}

/** Subscribes the request, opening its stream when asked; rejects with the refusal. */
export type FrontSubscribeCall = (
  open: (remote: string, limitBytes: number) => FrontSseStream,
) => Promise<SseSink | null>;

/**
 * Decides whether the answer to an SSE GET with this head cannot depend on anything the front
 * skips (a call), or must come from the app (null), as `publishTaker` does for POSTs: no CORS
 * configured, an address the allowlist admits and, with auth on, a token the front can see (a
 * Bearer header, or `?access_token=` with no Cookie the app would read first). The group segment
 * must already be plain (`plainGroup`).
 */
export function subscribeTaker(
  parts: ApiParts,
): ((head: FrontGetHead, remote: string) => FrontSubscribeCall | null) | null {
  if (parts.cors) return null;
  const { subscribe, admits, auth } = parts;
  return (head, remote) => {
    if (!admits(remote)) return null;
    let token: string | undefined;
    if (auth) {
      token = bearerToken(head.authorization);
      if (token === undefined) {
        if (head.cookie) return null;
        token = head.query.get('access_token');
        if (token === undefined) return null;
      }
    }
    const query = head.query;
    return (open) =>
      subscribe({
        group: head.group,
        query: (name) => query.get(name),
        lastEventId: head.lastEventId,
        head: false,
        remote,
        grants: auth ? () => auth.verify(token) : NO_GRANTS,
        open,
      });
  };
}

const NO_GRANTS = () => undefined;

/**
 * The head node:http sends for the app's SSE answer, but its Date line: the route's headers as
 * Headers iterates them (lower-case, sorted, values trimmed, one line per name; Transfer-Encoding
 * left to Node), then Node's own. Built by hand: touching the global Headers would load Node's
 * fetch (undici, ~6 MB of RSS) in a sidecar that never needs it (test/sidecar/lazy-start.test.ts).
 */
export function sseHeadParts(headers: Readonly<Record<string, string>>): string {
  const lines = new Map<string, string>();
  for (const [key, raw] of Object.entries(headers)) {
    const name = key.toLowerCase();
    const value = raw.trim();
    const had = lines.get(name);
    lines.set(name, had === undefined ? value : `${had}, ${value}`);
  }
  let out = 'HTTP/1.1 200 OK\r\n';
  for (const name of [...lines.keys()].sort()) {
    if (name !== 'transfer-encoding') out += `${name}: ${lines.get(name)}\r\n`;
  }
  return out;
}
