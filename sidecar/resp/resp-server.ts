import { createServer, type Server, type Socket } from 'node:net';
import type { Authenticator } from '../../api/auth.ts';
import { type AddressMatcher, compileAllowlist } from '../../shared/cidr.ts';
import { GroupcastError, LimitError } from '../../shared/errors.ts';
import { formatHostPort } from '../../shared/host-port.ts';
import type { SidecarOptions } from '../../shared/options/sidecar.ts';
import { normalizeIp } from '../address.ts';
import type { HubPort } from '../hub-port.ts';
import { RespConnection, type RespConnectionOptions } from './resp-connection.ts';
import { error } from './resp-encode.ts';

export type RespServerOptions = Pick<
  SidecarOptions,
  | 'maxMessageBytes'
  | 'maxPendingBytes'
  | 'flowHighWater'
  | 'respMaxSubscriptions'
  | 'rateLimit'
  | 'rateBurst'
  | 'rateLimitAction'
  | 'tcpAllow'
  | 'maxConnectionsPerIp'
  | 'tcpKeepaliveMs'
  | 'listenBacklog'
>;

/** The Redis pub/sub listener: accepts sockets and makes each a RespConnection. */
export class RespServer {
  readonly #hub: HubPort;
  readonly #opts: RespServerOptions;
  readonly #connOpts: RespConnectionOptions;
  readonly #allowed: AddressMatcher;
  readonly #perIp = new Map<string, number>();
  readonly #server: Server;
  readonly #sockets = new Set<Socket>();
  #port = 0;

  constructor(hub: HubPort, opts: RespServerOptions, auth: Authenticator | null) {
    this.#hub = hub;
    this.#opts = opts;
    this.#allowed = compileAllowlist(opts.tcpAllow);
    this.#connOpts = { ...opts, auth, port: () => this.#port, startedAt: Date.now() };
    this.#server = createServer({ noDelay: true }, this.#serverOnConnection);
    this.#server.on('error', (err) => hub.log.error({ err: err.message }, 'resp server error'));
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
    this.#port = a && typeof a === 'object' ? a.port : 0;
    const address = a && typeof a === 'object' ? formatHostPort(a.address, a.port) : String(a);
    this.#hub.listeners.resp = { listening: true, address };
    return address;
  }

  #serverOnConnection = (socket: Socket): void => {
    this.#hub.accepted('resp');
    const ip = normalizeIp(socket.remoteAddress);
    const remote = formatHostPort(ip, socket.remotePort ?? 0);
    const perIp = this.#perIp.get(ip) ?? 0;
    let refusal: GroupcastError | null = null;
    if (!this.#allowed(ip))
      refusal = new GroupcastError('ADDRESS_NOT_ALLOWED', 'this address may not connect');
    else if (perIp >= this.#opts.maxConnectionsPerIp) {
      refusal = new LimitError('TOO_MANY_FROM_ADDRESS', this.#opts.maxConnectionsPerIp);
    } else {
      try {
        this.#hub.checkConnectionLimit();
      } catch (err) {
        refusal = err as GroupcastError;
      }
    }
    if (refusal) {
      this.#hub.reject(refusal.code);
      this.#hub.log.warn({ remote, code: refusal.code }, 'refused connection');
      socket.on('error', () => {});
      // A Redis error reply: what a client shows for its first command.
      socket.end(error(`${refusal.code} ${refusal.message}`));
      setTimeout(() => socket.destroy(), 1000).unref();
      return;
    }
    this.#hub.opened('resp');
    this.#perIp.set(ip, perIp + 1);
    this.#sockets.add(socket);
    socket.once('close', () => {
      this.#sockets.delete(socket);
      const left = (this.#perIp.get(ip) ?? 1) - 1;
      if (left === 0) this.#perIp.delete(ip);
      else this.#perIp.set(ip, left);
    });
    if (this.#opts.tcpKeepaliveMs > 0) socket.setKeepAlive(true, this.#opts.tcpKeepaliveMs);
    new RespConnection(socket, remote, this.#hub, this.#connOpts);
  };

  /** Stops accepting, lets connections flush for up to graceMs, then destroys what is left. */
  async close(graceMs: number): Promise<void> {
    const closed = new Promise<void>((resolve) => this.#server.close(() => resolve()));
    if (this.#hub.listeners.resp) this.#hub.listeners.resp.listening = false;
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
