import { connect, createServer, type Server, type Socket } from 'node:net';
import { hostPort } from './sidecar.ts';

/** Which connections an action applies to, told by the first bytes their client sent. */
export type ConnectionFilter = (firstBytes: string) => boolean;

type Pair = [Socket, Socket] & { first?: string };

/**
 * A TCP proxy on 127.0.0.1:0 in front of a real listener, so a test can break connections the
 * way networks do: cut them (reset), or stall them (stop forwarding, keep the socket open), or
 * refuse new ones. With a filter, only connections whose client's first bytes match (a Redis
 * client's CLIENT SETNAME, say) are cut or refused: one connection of a client that has several.
 */
export class TcpProxy {
  readonly #server: Server;
  readonly #pairs = new Set<Pair>();
  #refuse: ConnectionFilter | null = null;
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
    const pair: Pair = [client, upstream];
    this.#pairs.add(pair);
    const forward = (from: Socket, to: Socket) =>
      from.on('data', (d) => {
        if (from === client && pair.first === undefined) {
          pair.first = d.toString('latin1');
          if (this.#refuse?.(pair.first)) {
            end();
            return;
          }
        }
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

  /** Resets every open connection (or those `which` matches). */
  cut(which?: ConnectionFilter): void {
    for (const pair of [...this.#pairs]) {
      if (which && !which(pair.first ?? '')) continue;
      pair[0].resetAndDestroy();
      pair[1].destroy();
      this.#pairs.delete(pair);
    }
  }

  /** Until called again with null: new connections that `which` matches are closed at their first bytes. */
  refuse(which: ConnectionFilter | null): void {
    this.#refuse = which;
  }

  async close(): Promise<void> {
    this.cut();
    await new Promise<void>((r) => this.#server.close(() => r()));
  }
}
