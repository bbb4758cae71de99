import { connect, createServer, type Server, type Socket } from 'node:net';
import { hostPort } from './sidecar.ts';

/**
 * A TCP proxy on 127.0.0.1:0 in front of a real listener, so a test can break connections the
 * way networks do: cut them (reset), or stall them (stop forwarding, keep the socket open).
 */
export class TcpProxy {
  readonly #server: Server;
  readonly #pairs = new Set<[Socket, Socket]>();
  #target: { host: string; port: number };
  #stalled = false;
  /** Connections accepted so far. */
  accepted = 0;
  address = '';

  private constructor(target: string) {
    this.#target = hostPort(target);
    this.#server = createServer((client) => this.#onConnection(client));
  }

  static async open(target: string): Promise<TcpProxy> {
    const p = new TcpProxy(target);
    await new Promise<void>((r) => p.#server.listen(0, '127.0.0.1', () => r()));
    const a = p.#server.address() as { port: number };
    p.address = `127.0.0.1:${a.port}`;
    return p;
  }

  get url(): string {
    return `http://${this.address}`;
  }

  get open(): number {
    return this.#pairs.size;
  }

  retarget(target: string): void {
    this.#target = hostPort(target);
  }

  #onConnection(client: Socket): void {
    this.accepted++;
    this.#stalled = false;
    const upstream = connect(this.#target);
    const pair: [Socket, Socket] = [client, upstream];
    this.#pairs.add(pair);
    const forward = (from: Socket, to: Socket) =>
      from.on('data', (d) => {
        if (!this.#stalled) to.write(d);
      });
    forward(client, upstream);
    forward(upstream, client);
    const end = () => {
      this.#pairs.delete(pair);
      client.destroy();
      upstream.destroy();
    };
    for (const s of pair) {
      s.on('error', end);
      s.on('close', end);
    }
  }

  /**
   * Stops forwarding and stops reading: both ends see a silent, open connection whose peer has
   * stopped taking data (a dead host, a hung NAT entry).
   */
  stall(): void {
    this.#stalled = true;
    for (const [a, b] of this.#pairs) {
      a.pause();
      b.pause();
    }
  }

  /** Resets every open connection. */
  cut(): void {
    for (const [a, b] of this.#pairs) {
      a.resetAndDestroy();
      b.destroy();
    }
    this.#pairs.clear();
  }

  async close(): Promise<void> {
    this.cut();
    await new Promise<void>((r) => this.#server.close(() => r()));
  }
}
