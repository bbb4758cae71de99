import { connect as netConnect, type Socket } from 'node:net';
import type { TcpConnect, TcpConnection } from '../../shared/client/tcp-transport.ts';

/** The TCP client's transport on Node (node:net). */
export const nodeTcp: TcpConnect = ({ host, port, keepAliveMs }) =>
  new Promise((resolve, reject) => {
    const socket = netConnect({ host, port, noDelay: true });
    const onError = (err: Error) => {
      socket.destroy();
      reject(err);
    };
    socket.once('error', onError);
    socket.once('connect', () => {
      socket.off('error', onError);
      if (keepAliveMs > 0) socket.setKeepAlive(true, keepAliveMs);
      resolve(new NodeConnection(socket));
    });
  });

class NodeConnection implements TcpConnection {
  readonly #socket: Socket;
  readonly #chunks: Uint8Array[] = [];
  #ended = false;
  #error: Error | null = null;
  #waiter: (() => void) | null = null;

  constructor(socket: Socket) {
    this.#socket = socket;
    socket.on('data', (chunk: Buffer) => {
      this.#chunks.push(chunk);
      // Read-driven backpressure: nothing more is taken until the client asks.
      socket.pause();
      this.#notify();
    });
    socket.on('end', () => {
      this.#ended = true;
      this.#notify();
    });
    socket.on('error', (err) => {
      this.#error = err;
      this.#notify();
    });
    socket.on('close', () => {
      this.#ended = true;
      this.#notify();
    });
  }

  #notify(): void {
    const w = this.#waiter;
    this.#waiter = null;
    w?.();
  }

  async read(): Promise<Uint8Array | null> {
    for (;;) {
      const chunk = this.#chunks.shift();
      if (chunk) return chunk;
      if (this.#error) throw this.#error;
      if (this.#ended) return null;
      this.#socket.resume();
      await new Promise<void>((resolve) => {
        this.#waiter = resolve;
      });
    }
  }

  write(bytes: Uint8Array): Promise<void> {
    return new Promise((resolve, reject) => {
      if (this.#socket.destroyed || !this.#socket.writable) {
        reject(this.#error ?? new Error('socket is closed'));
        return;
      }
      this.#socket.write(bytes, (err) => (err ? reject(err) : resolve()));
    });
  }

  close(): void {
    this.#socket.destroy();
  }
}
