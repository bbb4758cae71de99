import { concatBytes } from '../../shared/bytes.ts';
import type { TcpConnect, TcpConnection } from '../../shared/client/tcp-transport.ts';
import { RemoteError, UnreachableError } from '../../shared/errors.ts';
import type { PublishResult } from '../../shared/hub.ts';
import { type Answer, parseAnswer } from './http-answer.ts';

export interface PublishConnectionsOptions {
  /** Base URL of the sidecar's HTTP API; `http:` only (TLS stays with fetch). */
  url: string;
  token?: string | null;
  /** Time limit of one request, until its whole answer. */
  timeoutMs: number;
  connect: TcpConnect;
}

/**
 * A connection this long without a request is closed by the edge: well under Node's keep-alive
 * timeout (5 s), so the edge never writes a POST on a connection the sidecar is closing, which
 * would leave that POST's fate unknown.
 */
export const IDLE_CLOSE_MS = 1000;

const encoder = new TextEncoder();
const decoder = new TextDecoder();

/**
 * The edge worker's POSTs to its sidecar on kept-open HTTP/1.1 connections of its own, one
 * request at a time on each (as many connections as requests at once, which the PublishQueue
 * bounds). Deno's fetch does the same with Nagle's algorithm on (it turns TCP_NODELAY off) and
 * builds a Request, Headers and body streams per request; here a request is one write of bytes.
 * Not pipelined on purpose: the sidecar ends a connection after refusing a body by its size, and
 * a request written behind that one could be published with its answer lost. A request whose
 * connection fails before its answer fails with UNREACHABLE and is not sent again.
 */
export class PublishConnections {
  readonly #connect: TcpConnect;
  readonly #host: string;
  readonly #port: number;
  readonly #origin: string;
  readonly #basePath: string;
  readonly #head: string;
  readonly #timeoutMs: number;
  /** Connections waiting for a request, the most recently used last. */
  #idle: Connection[] = [];
  #sweep: ReturnType<typeof setInterval> | undefined;
  /** Connections open now, idle or busy (for tests and inspection). */
  opened = 0;

  constructor(options: PublishConnectionsOptions) {
    const url = new URL(options.url.endsWith('/') ? options.url : `${options.url}/`);
    if (url.protocol !== 'http:') throw new TypeError('PublishConnections speaks plain http only');
    this.#connect = options.connect;
    this.#host = url.hostname.replace(/^\[|\]$/g, '');
    this.#port = Number(url.port || 80);
    this.#origin = url.origin;
    this.#basePath = url.pathname;
    this.#timeoutMs = options.timeoutMs;
    const auth = options.token ? `Authorization: Bearer ${options.token}\r\n` : '';
    this.#head = `Host: ${url.host}\r\n${auth}`;
  }

  /**
   * Whether a sidecar can be reached this way: plain http without credentials in the URL, and a
   * token that fits in a header line as it is. Anything else stays with fetch, which answers it
   * as before (and refuses what it cannot send with its own error).
   */
  static handles(url: string, token?: string | null): boolean {
    let u: URL;
    try {
      u = new URL(url);
    } catch {
      return false;
    }
    if (u.protocol !== 'http:' || u.username !== '' || u.password !== '') return false;
    return !token || /^[\t\x20-\x7e]+$/.test(token);
  }

  /** POSTs one body to a group's publish route; resolves with the sidecar's answer. */
  async send(group: string, body: Uint8Array, contentType: string): Promise<PublishResult> {
    const head = encoder.encode(
      `POST ${this.#basePath}groups/${encodeURIComponent(group)}/messages HTTP/1.1\r\n${this.#head}Content-Type: ${contentType}\r\nContent-Length: ${body.byteLength}\r\n\r\n`,
    );
    const request = new Uint8Array(head.byteLength + body.byteLength);
    request.set(head);
    request.set(body, head.byteLength);
    let conn: Connection;
    try {
      conn = this.#idle.pop() ?? (await this.#open());
    } catch (err) {
      throw this.#unreachable(err);
    }
    let answer: Answer;
    try {
      answer = await conn.exchange(request, this.#timeoutMs);
    } catch (err) {
      conn.close();
      throw err instanceof RemoteError || err instanceof UnreachableError
        ? err
        : this.#unreachable(err);
    }
    if (answer.close) conn.close();
    else this.#release(conn);
    return readResult(answer);
  }

  /** Closes every idle connection (a busy one is closed once idle). */
  close(): void {
    for (const c of this.#idle.splice(0)) c.close();
    clearInterval(this.#sweep);
    this.#sweep = undefined;
  }

  async #open(): Promise<Connection> {
    const tcp = await this.#connect({ host: this.#host, port: this.#port, keepAliveMs: 0 });
    this.opened++;
    const conn: Connection = new Connection(tcp, this.#origin, () => {
      this.opened--;
      const at = this.#idle.indexOf(conn);
      if (at >= 0) this.#idle.splice(at, 1);
    });
    return conn;
  }

  #release(conn: Connection): void {
    if (conn.closed) return;
    conn.lastUse = Date.now();
    this.#idle.push(conn);
    this.#sweep ??= setInterval(() => this.#closeIdle(), IDLE_CLOSE_MS / 4);
  }

  #closeIdle(): void {
    const before = Date.now() - IDLE_CLOSE_MS;
    // Oldest first: the list is in order of last use.
    while (this.#idle.length > 0 && this.#idle[0].lastUse <= before) this.#idle.shift()?.close();
    if (this.#idle.length === 0) {
      clearInterval(this.#sweep);
      this.#sweep = undefined;
    }
  }

  #unreachable(err: unknown): UnreachableError {
    const why = err instanceof Error ? err.message : String(err);
    return new UnreachableError(`cannot reach ${this.#origin}: ${why}`);
  }
}

/** The sidecar's answer to a publish: its ids, or its error with the code it gave. */
function readResult(answer: Answer): PublishResult {
  const text = decoder.decode(answer.body);
  if (answer.status >= 200 && answer.status < 300) {
    try {
      return JSON.parse(text) as PublishResult;
    } catch {
      throw new RemoteError(
        answer.status,
        'REMOTE_ERROR',
        `HTTP ${answer.status}: the answer is not JSON`,
      );
    }
  }
  throw remoteError(answer.status, text);
}

/** An error answer as the client library reads one: `{ error: { code, message } }`, or foreign. */
function remoteError(status: number, text: string): RemoteError {
  try {
    const { code, message } =
      (JSON.parse(text) as { error?: { code?: unknown; message?: unknown } }).error ?? {};
    if (typeof code === 'string') {
      return new RemoteError(status, code, typeof message === 'string' ? message : code);
    }
  } catch {}
  const detail = text.trim().slice(0, 200);
  return new RemoteError(status, 'REMOTE_ERROR', `HTTP ${status}${detail ? `: ${detail}` : ''}`);
}

interface Exchange {
  resolve(a: Answer): void;
  reject(err: unknown): void;
  timer: ReturnType<typeof setTimeout> | undefined;
}

/** One kept-open connection to the sidecar: a request, its answer, then the next request. */
class Connection {
  readonly #tcp: TcpConnection;
  readonly #origin: string;
  readonly #onClose: () => void;
  #buffer: Uint8Array = new Uint8Array(0);
  #exchange: Exchange | null = null;
  closed = false;
  lastUse = 0;

  constructor(tcp: TcpConnection, origin: string, onClose: () => void) {
    this.#tcp = tcp;
    this.#origin = origin;
    this.#onClose = onClose;
    void this.#readLoop();
  }

  /** Writes a request and resolves with its whole answer. */
  exchange(request: Uint8Array, timeoutMs: number): Promise<Answer> {
    return new Promise<Answer>((resolve, reject) => {
      const timer =
        timeoutMs > 0
          ? setTimeout(
              () =>
                this.#settle(
                  new UnreachableError(`${this.#origin} did not answer within ${timeoutMs} ms`),
                ),
              timeoutMs,
            )
          : undefined;
      this.#exchange = { resolve, reject, timer };
      this.#tcp.write(request).catch((err) => this.#settle(err));
    });
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.#tcp.close();
    this.#onClose();
    this.#settle(new UnreachableError(`the connection to ${this.#origin} was closed`));
  }

  async #readLoop(): Promise<void> {
    try {
      for (;;) {
        const chunk = await this.#tcp.read();
        if (chunk === null) break;
        this.#buffer = this.#buffer.byteLength === 0 ? chunk : concatBytes([this.#buffer, chunk]);
        const answer = parseAnswer(this.#buffer);
        if (answer === null) continue;
        if (answer instanceof Error || !this.#exchange) {
          const why = answer instanceof Error ? answer.message : 'an answer to no request';
          this.#settle(new RemoteError(502, 'REMOTE_ERROR', why));
          break;
        }
        this.#buffer = this.#buffer.subarray(answer.length);
        this.#settle(null, answer);
      }
      this.#settle(new UnreachableError(`${this.#origin} closed the connection`));
    } catch (err) {
      this.#settle(err);
    }
    this.close();
  }

  /** Ends the request in progress with its answer, or with `err`. */
  #settle(err: unknown, answer?: Answer): void {
    const ex = this.#exchange;
    if (!ex) return;
    this.#exchange = null;
    clearTimeout(ex.timer);
    if (answer) ex.resolve(answer);
    else ex.reject(err);
  }
}
