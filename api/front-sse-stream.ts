import type { Socket } from 'node:net';
import type { ApiParts } from './app.ts';
import { bearerToken } from './auth.ts';
import type { FrontGetHead } from './http-head.ts';
import { PushbackSseSink, type SseSink } from './sse-sink.ts';

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
 * Backpressure, queue and progress as NodeSseStream (PushbackSseSink).
 */
export class FrontSseStream extends PushbackSseSink {
  readonly #socket: Socket;
  readonly #owner: FrontStreams;

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
    if (this.closed && !this.ending) {
      socket.destroy();
      return;
    }
    this.#owner.opened(this);
    socket.on('data', FrontSseStream.#onData);
    socket.on('end', FrontSseStream.#onEnd);
    this.opened(!socket.write(head, 'latin1'));
  }

  /** The subscription was refused after this stream was made: it lets go of the socket. */
  discard(): void {
    const socket = this.#socket;
    socket.off('close', FrontSseStream.#onClose);
    socket.off('drain', FrontSseStream.#drain);
    delete (socket as Partial<StreamSocket>)[STREAM];
    this.forgetQueued();
    if (!this.closed) this.end();
  }

  /** Shutdown's last step: the connection goes now, whatever is queued. */
  destroy(): void {
    this.#socket.destroy();
  }

  /** One chunk of the chunked body; false when the socket pushes back. */
  protected send(chunk: Uint8Array): boolean {
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

  /**
   * The body ends, and so does the connection (node:http would keep it for another request;
   * closing an idle connection is always allowed, and EventSource reconnects on a new one).
   */
  protected endBody(): void {
    this.#socket.end(LAST_CHUNK, 'latin1');
  }

  protected drop(): void {
    this.forgetQueued();
    this.#socket.destroy();
  }

  /** The connection is gone or going: nothing more is queued for it. */
  #gone(): void {
    this.forgetQueued();
    if (this.isOpen) this.#owner.ended(this);
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
    (this as StreamSocket)[STREAM].drained();
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
