import { createServer, type Server, type Socket } from 'node:net';
import { textEncoder } from '../shared/bytes.ts';
import { type AddressMatcher, compileAllowlist } from '../shared/cidr.ts';
import { GroupcastError, LimitError } from '../shared/errors.ts';
import { formatHostPort } from '../shared/host-port.ts';
import type { GroupHostPort } from '../shared/options/parse.ts';
import type { JoinSecret } from '../shared/options/sidecar.ts';
import { compilePatterns } from '../shared/patterns.ts';
import { normalizeIp, resolveHost } from './address.ts';
import type { HubPort } from './hub-port.ts';
import { TcpMember, type TcpMemberOptions } from './tcp-member.ts';

export interface TcpServerOptions extends Omit<TcpMemberOptions, 'secretFor'> {
  tcpKeepaliveMs: number;
  listenBacklog: number;
  tcpPreconfig: readonly GroupHostPort[];
  tcpAllow: readonly string[];
  maxConnectionsPerIp: number;
  joinSecrets: readonly JoinSecret[];
}

/** The raw TCP listener: accepts sockets and makes each a TcpMember. */
export class TcpServer {
  readonly #hub: HubPort;
  readonly #opts: TcpServerOptions;
  readonly #memberOpts: TcpMemberOptions;
  readonly #allowed: AddressMatcher;
  readonly #perIp = new Map<string, number>();
  readonly #server: Server;
  /** Open sockets, with the address each counts against. */
  readonly #sockets = new Map<Socket, string>();
  /** One 'close' listener for every socket, not a closure (and a once-wrapper) per connection. */
  readonly #socketOnClose: (this: Socket) => void;
  /** `ip:port` of a preconfigured peer -> its group. */
  #preconfig = new Map<string, string>();

  constructor(hub: HubPort, opts: TcpServerOptions) {
    const sockets = this.#sockets;
    const perIp = this.#perIp;
    this.#socketOnClose = function (this: Socket) {
      const ip = sockets.get(this);
      if (ip === undefined) return;
      sockets.delete(this);
      const left = (perIp.get(ip) ?? 1) - 1;
      if (left === 0) perIp.delete(ip);
      else perIp.set(ip, left);
    };
    this.#hub = hub;
    this.#opts = opts;
    this.#allowed = compileAllowlist(opts.tcpAllow);
    const secrets = opts.joinSecrets.map((s) => ({
      match: compilePatterns([s.pattern]),
      secret: s.secret,
    }));
    this.#memberOpts = {
      ...opts,
      secretFor: (group) => secrets.find((s) => s.match(group))?.secret,
    };
    this.#server = createServer({ noDelay: true }, this.#serverOnConnection);
    this.#server.on('error', (err) => hub.log.error({ err: err.message }, 'tcp server error'));
  }

  async listen(host: string, port: number): Promise<string> {
    for (const p of this.#opts.tcpPreconfig) {
      for (const ip of await resolveHost(p.host)) this.#preconfig.set(`${ip}:${p.port}`, p.group);
    }
    await new Promise<void>((resolve, reject) => {
      this.#server.once('error', reject);
      this.#server.listen({ host, port, backlog: this.#opts.listenBacklog }, () => {
        this.#server.off('error', reject);
        resolve();
      });
    });
    const a = this.#server.address();
    const address = a && typeof a === 'object' ? formatHostPort(a.address, a.port) : String(a);
    this.#hub.listeners.tcp = { listening: true, address };
    return address;
  }

  #serverOnConnection = (socket: Socket): void => {
    this.#hub.accepted('tcp');
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
      socket.end(textEncoder.encode(`ERROR ${refusal.code} ${refusal.message}\n`));
      setTimeout(() => socket.destroy(), 1000).unref();
      return;
    }
    this.#hub.opened('tcp');
    this.#perIp.set(ip, perIp + 1);
    this.#sockets.set(socket, ip);
    socket.on('close', this.#socketOnClose);
    if (this.#opts.tcpKeepaliveMs > 0) socket.setKeepAlive(true, this.#opts.tcpKeepaliveMs);
    const preconfigured = this.#preconfig.get(`${ip}:${socket.remotePort}`);
    new TcpMember(socket, remote, this.#hub, this.#memberOpts, preconfigured);
  };

  /** Stops accepting, lets members flush for up to graceMs, then destroys what is left. */
  async close(graceMs: number): Promise<void> {
    const closed = new Promise<void>((resolve) => this.#server.close(() => resolve()));
    if (this.#hub.listeners.tcp) this.#hub.listeners.tcp.listening = false;
    for (const s of this.#sockets.keys()) s.end();
    if (this.#sockets.size > 0) {
      const deadline = setTimeout(() => {
        for (const s of this.#sockets.keys()) s.destroy();
      }, graceMs);
      await closed;
      clearTimeout(deadline);
    } else await closed;
  }
}
