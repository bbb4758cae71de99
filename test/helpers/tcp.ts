import { connect, type Socket } from 'node:net';
import { hostPort, waitFor } from './sidecar.ts';

/** A raw TCP peer that records everything it receives. */
export class TcpPeer {
  readonly socket: Socket;
  chunks: Buffer[] = [];
  received = 0;
  closed = false;
  #ready: Promise<void>;

  constructor(address: string) {
    const { host, port } = hostPort(address);
    this.socket = connect({ host, port, noDelay: true });
    this.#ready = new Promise((resolve, reject) => {
      this.socket.once('connect', () => resolve());
      this.socket.once('error', reject);
    });
    this.socket.on('data', (d) => {
      this.chunks.push(d);
      this.received += d.byteLength;
    });
    this.socket.on('error', () => {});
    this.socket.on('close', () => {
      this.closed = true;
    });
  }

  static async open(
    address: string,
    group?: string,
    prefix = 'SOCKETFORWARDER-NEW:',
  ): Promise<TcpPeer> {
    const peer = new TcpPeer(address);
    await peer.#ready;
    if (group !== undefined) peer.socket.write(`${prefix}${group}\n`);
    return peer;
  }

  connected(): Promise<void> {
    return this.#ready;
  }

  write(data: string | Uint8Array): void {
    this.socket.write(data);
  }

  get data(): Buffer {
    if (this.chunks.length > 1) this.chunks = [Buffer.concat(this.chunks)];
    return this.chunks[0] ?? Buffer.alloc(0);
  }

  get text(): string {
    return this.data.toString('utf8');
  }

  async waitForBytes(n: number, ms = 5000): Promise<Buffer> {
    await waitFor(() => this.received >= n, ms, `${n} bytes (have ${this.received})`);
    return this.data;
  }

  async waitForText(text: string, ms = 5000): Promise<string> {
    await waitFor(
      () => this.text.includes(text),
      ms,
      `text ${JSON.stringify(text)} (have ${JSON.stringify(this.text.slice(-200))})`,
    );
    return this.text;
  }

  async waitClosed(ms = 5000): Promise<void> {
    await waitFor(() => this.closed, ms, 'socket close');
  }

  close(): void {
    this.socket.destroy();
  }
}

/**
 * A plain socket on 127.0.0.1:`port` that has sent its join line for `group`. Nothing is kept of
 * what it receives: for tests that hold thousands of members or read in their own way.
 */
export function joinedSocket(port: number, group: string): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const s = connect(port, '127.0.0.1', () => {
      s.setNoDelay(true);
      s.write(`SOCKETFORWARDER-NEW:${group}\n`);
      resolve(s);
    });
    s.on('error', reject);
  });
}
