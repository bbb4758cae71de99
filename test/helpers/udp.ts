import { createSocket, type Socket } from 'node:dgram';
import { hostPort, waitFor } from './sidecar.ts';

/** A UDP peer bound to a free local port that records the datagrams it receives. */
export class UdpPeer {
  readonly socket: Socket;
  readonly received: Buffer[] = [];
  port = 0;

  private constructor() {
    this.socket = createSocket('udp4');
    this.socket.on('message', (m) => this.received.push(m));
  }

  /** `host`: another loopback address (127.0.0.2, ...) stands for another machine. */
  static async open(host = '127.0.0.1'): Promise<UdpPeer> {
    const p = new UdpPeer();
    await new Promise<void>((r) => p.socket.bind(0, host, () => r()));
    p.port = p.socket.address().port;
    return p;
  }

  send(address: string, data: string | Uint8Array): Promise<void> {
    const { host, port } = hostPort(address);
    return new Promise((resolve, reject) =>
      this.socket.send(data, port, host, (e) => (e ? reject(e) : resolve())),
    );
  }

  /** Registers this peer's own port with the sidecar. */
  register(address: string, prefix = 'SOCKETFORWARDER-NEW:'): Promise<void> {
    return this.send(address, `${prefix}${this.port}`);
  }

  texts(): string[] {
    return this.received.map((b) => b.toString());
  }

  async waitForCount(n: number, ms = 5000): Promise<string[]> {
    await waitFor(
      () => this.received.length >= n,
      ms,
      `${n} datagrams (have ${this.received.length})`,
    );
    return this.texts();
  }

  #closed = false;

  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.socket.close();
  }
}
