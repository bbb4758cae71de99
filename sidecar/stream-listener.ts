import { createServer, type Server, type Socket } from 'node:net';
import { type AddressMatcher, compileAllowlist } from '../shared/cidr.ts';
import { GroupcastError, LimitError } from '../shared/errors.ts';
import { formatHostPort } from '../shared/host-port.ts';
import { normalizeIp, remoteOf } from './address.ts';
import type { HubPort } from './hub-port.ts';

export interface StreamListenerOptions {
  /** Which listener this is, in /healthz, metrics and logs. */
  name: 'tcp' | 'resp';
  /** CIDR allowlist; empty allows every address. */
  allow: readonly string[];
  maxConnectionsPerIp: number;
  keepaliveMs: number;
  listenBacklog: number;
  /** The bytes a refused connection gets before it is closed, in the listener's protocol. */
  refusal(err: GroupcastError): Uint8Array | string;
  /**
   * A connection that passed the allowlist and the limits: make it a member. Its `host:port`
   * is `remoteOf(socket)` when needed: a string kept per idle member is memory.
   */
  accept(socket: Socket, ip: string): void;
  /**
   * Called by the listener's own 'close' listener after its bookkeeping, for a member that
   * would otherwise add a second one (a second listener makes Node keep an array per socket).
   */
  closed?(socket: Socket): void;
}

/**
 * A stream listener of the sidecar (raw TCP, the RESP port): binds, admits each connection
 * against the allowlist, the per-address limit and the hub's connection limit (refusing with one
 * line of its protocol), counts it, and closes every socket on shutdown.
 */
export class StreamListener {
  readonly #hub: HubPort;
  readonly #opts: StreamListenerOptions;
  readonly #allowed: AddressMatcher;
  readonly #perIp = new Map<string, number>();
  readonly #server: Server;
  /**
   * Open sockets. The address each counts against is read again from the socket at close (Node
   * keeps the peer address it read at accept), not kept here for every connection.
   */
  readonly #sockets = new Set<Socket>();
  /** One 'close' listener for every socket, not a closure (and a once-wrapper) per connection. */
  readonly #socketOnClose: (this: Socket) => void;
  port = 0;

  constructor(hub: HubPort, opts: StreamListenerOptions) {
    this.#hub = hub;
    this.#opts = opts;
    this.#allowed = compileAllowlist(opts.allow);
    const sockets = this.#sockets;
    const perIp = this.#perIp;
    const closed = opts.closed;
    this.#socketOnClose = function (this: Socket) {
      if (!sockets.delete(this)) return;
      const ip = normalizeIp(this.remoteAddress);
      const left = (perIp.get(ip) ?? 1) - 1;
      if (left === 0) perIp.delete(ip);
      else perIp.set(ip, left);
      closed?.(this);
    };
    this.#server = createServer({ noDelay: true }, this.#serverOnConnection);
    this.#server.on('error', (err) =>
      hub.log.error({ err: err.message }, `${opts.name} server error`),
    );
  }

  async listen(host: string, port: number): Promise<string> {
    await new Promise<void>((resolve, reject) => {
      this.#server.once('error', reject);
      this.#server.listen({ host, port, backlog: this.#opts.listenBacklog }, () => {
        this.#server.off('error', reject);
        resolve();
      });
    });
    const a = this.#server.address();
    this.port = a && typeof a === 'object' ? a.port : 0;
    const address = a && typeof a === 'object' ? formatHostPort(a.address, a.port) : String(a);
    this.#hub.listeners[this.#opts.name] = { listening: true, address };
    return address;
  }

  #refusal(ip: string, perIp: number): GroupcastError | null {
    if (!this.#allowed(ip)) {
      return new GroupcastError('ADDRESS_NOT_ALLOWED', 'this address may not connect');
    }
    if (perIp >= this.#opts.maxConnectionsPerIp) {
      return new LimitError('TOO_MANY_FROM_ADDRESS', this.#opts.maxConnectionsPerIp);
    }
    try {
      this.#hub.checkConnectionLimit();
    } catch (err) {
      return err as GroupcastError;
    }
    return null;
  }

  #serverOnConnection = (socket: Socket): void => {
    const name = this.#opts.name;
    this.#hub.accepted(name);
    const ip = normalizeIp(socket.remoteAddress);
    const perIp = this.#perIp.get(ip) ?? 0;
    const refusal = this.#refusal(ip, perIp);
    if (refusal) {
      this.#hub.reject(refusal.code);
      this.#hub.log.warn({ remote: remoteOf(socket), code: refusal.code }, 'refused connection');
      socket.on('error', () => {});
      socket.end(this.#opts.refusal(refusal));
      setTimeout(() => socket.destroy(), 1000).unref();
      return;
    }
    this.#hub.opened(name);
    this.#perIp.set(ip, perIp + 1);
    this.#sockets.add(socket);
    socket.on('close', this.#socketOnClose);
    if (this.#opts.keepaliveMs > 0) socket.setKeepAlive(true, this.#opts.keepaliveMs);
    this.#opts.accept(socket, ip);
  };

  /** Stops accepting, lets connections flush for up to graceMs, then destroys what is left. */
  async close(graceMs: number): Promise<void> {
    const closed = new Promise<void>((resolve) => this.#server.close(() => resolve()));
    const status = this.#hub.listeners[this.#opts.name];
    if (status) status.listening = false;
    for (const s of this.#sockets) s.end();
    if (this.#sockets.size > 0) {
      const deadline = setTimeout(() => {
        for (const s of this.#sockets) s.destroy();
      }, graceMs);
      await closed;
      clearTimeout(deadline);
    } else await closed;
  }
}
