/// <reference lib="deno.ns" />
// Deno only: checked by `deno check` (via test/deno), left out of tsc like api/edge/deno.ts.
import type { TcpConnect, TcpConnection } from '../../shared/client/tcp-transport.ts';

/** The TCP client's transport on Deno (Deno.connect). Needs --allow-net. */
export const denoTcp: TcpConnect = async ({ host, port, keepAliveMs }) => {
  const conn = await Deno.connect({ hostname: host, port, transport: 'tcp' });
  conn.setNoDelay(true);
  // Deno sets keepalive on or off; the idle time is the system's.
  conn.setKeepAlive(keepAliveMs > 0);
  return new DenoConnection(conn);
};

class DenoConnection implements TcpConnection {
  readonly #conn: Deno.TcpConn;
  readonly #reader: ReadableStreamDefaultReader<Uint8Array>;
  readonly #writer: WritableStreamDefaultWriter<Uint8Array>;
  #closed = false;

  constructor(conn: Deno.TcpConn) {
    this.#conn = conn;
    this.#reader = conn.readable.getReader();
    this.#writer = conn.writable.getWriter();
  }

  async read(): Promise<Uint8Array | null> {
    if (this.#closed) return null;
    try {
      const { done, value } = await this.#reader.read();
      return done ? null : value;
    } catch (err) {
      if (this.#closed) return null;
      throw err;
    }
  }

  async write(bytes: Uint8Array): Promise<void> {
    if (this.#closed) throw new Error('connection is closed');
    await this.#writer.write(bytes);
  }

  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#reader.cancel().catch(() => {});
    this.#writer.abort().catch(() => {});
    try {
      this.#conn.close();
    } catch {
      // Cancelling the streams may already have closed it.
    }
  }
}
