import type { ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import { Duplex } from 'node:stream';

/** How a loan ends, for the front connection that made it. */
export interface LoanEnds {
  /** The answer is out and node:http would keep the connection: it is the front's again. */
  back(): void;
  /** node:http ended the connection after its answer (`Connection: close`, shutdown). */
  ended(): void;
  /** node:http destroyed it (a parse error, a timeout, closeAllConnections). */
  destroyed(): void;
}

/**
 * Requests of a front connection lent to node:http one at a time (see FrontLendHead in
 * http-head.ts): a connection of its own as node:http sees it, which reads each lent request's
 * head and writes node:http's answer straight to the real socket (as the socket takes it:
 * node:http's writes wait for its drain). node:http accepts any Duplex as a connection; the
 * addresses are the real socket's, so the app sees the same client. Between lent requests the
 * front has the connection and node:http sees a kept-alive connection with nothing to read, so
 * the next lent request costs no new connection in node:http (a loan per request cost about 45
 * µs more CPU per GET than node:http's own kept-alive connection; a kept loan, about 5% more).
 */
export class Loan extends Duplex {
  readonly remoteAddress: string | undefined;
  readonly remotePort: number | undefined;
  readonly remoteFamily: string | undefined;
  readonly localAddress: string | undefined;
  readonly localPort: number | undefined;
  readonly #socket: Socket;
  readonly #ends: LoanEnds;
  /** A request is lent: node:http answers it. Else the loan waits for the next one. */
  #out = false;

  constructor(socket: Socket, ends: LoanEnds) {
    super();
    this.#socket = socket;
    this.#ends = ends;
    this.remoteAddress = socket.remoteAddress;
    this.remotePort = socket.remotePort;
    this.remoteFamily = socket.remoteFamily;
    this.localAddress = socket.localAddress;
    this.localPort = socket.localPort;
  }

  /** Whether node:http still takes requests on this loan. */
  get usable(): boolean {
    return !this.destroyed && !this.writableEnded && !this.#out;
  }

  /** Lends one whole request (its head: lent requests have no body). */
  lend(head: Buffer): void {
    this.#out = true;
    this.push(head);
  }

  /** The front's request listener: node:http is answering a request of this loan with `res`. */
  answering(res: ServerResponse): void {
    res.once('finish', () => {
      // node:http's own finish listener ran first: ended() follows if the answer closes.
      if (!this.#out || this.writableEnded || this.destroyed) return;
      this.#out = false;
      this.#ends.back();
    });
  }

  /** The real connection is gone, or no longer lends: node:http lets go of the loan. */
  forget(): void {
    this.#out = false;
    this.destroy();
  }

  override _read(): void {}

  override _write(chunk: Buffer, _encoding: BufferEncoding, done: (err?: Error) => void): void {
    if (!this.#out || this.#socket.write(chunk)) done();
    else this.#socket.once('drain', () => done());
  }

  override _writev(
    chunks: { chunk: Buffer; encoding: BufferEncoding }[],
    done: (err?: Error) => void,
  ): void {
    const socket = this.#socket;
    if (!this.#out) {
      done();
      return;
    }
    socket.cork();
    let taken = true;
    for (const { chunk } of chunks) taken = socket.write(chunk);
    socket.uncork();
    if (taken) done();
    else socket.once('drain', () => done());
  }

  /** node:http ended its side: after a lent request's answer, the connection ends with it. */
  override _final(done: (err?: Error) => void): void {
    const out = this.#out;
    this.#out = false;
    if (out) this.#ends.ended();
    done();
    // Its client side never ends by itself: closed, node:http frees what it held for it.
    process.nextTick(() => this.destroy());
  }

  /** Destroyed by node:http while a request is lent, the connection goes too; idle, only the loan. */
  override _destroy(err: Error | null, done: (err: Error | null) => void): void {
    const out = this.#out;
    this.#out = false;
    if (out) this.#ends.destroyed();
    done(err);
  }
}
