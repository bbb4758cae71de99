import { textEncoder } from '../shared/bytes.ts';
import type { GroupHostPort } from '../shared/options/parse.ts';
import type { JoinSecret } from '../shared/options/sidecar.ts';
import { compilePatterns } from '../shared/patterns.ts';
import { resolveHost } from './address.ts';
import type { HubPort } from './hub-port.ts';
import { StreamListener } from './stream-listener.ts';
import { TcpMember, type TcpMemberOptions } from './tcp-member.ts';

export interface TcpServerOptions extends Omit<TcpMemberOptions, 'secretFor'> {
  tcpKeepaliveMs: number;
  listenBacklog: number;
  tcpPreconfig: readonly GroupHostPort[];
  tcpAllow: readonly string[];
  maxConnectionsPerIp: number;
  joinSecrets: readonly JoinSecret[];
}

/** The raw TCP listener: admits sockets (StreamListener) and makes each a TcpMember. */
export class TcpServer {
  readonly #hub: HubPort;
  readonly #opts: TcpServerOptions;
  readonly #memberOpts: TcpMemberOptions;
  readonly #listener: StreamListener;
  /** `ip:port` of a preconfigured peer -> its group. */
  #preconfig = new Map<string, string>();

  constructor(hub: HubPort, opts: TcpServerOptions) {
    this.#hub = hub;
    this.#opts = opts;
    const secrets = opts.joinSecrets.map((s) => ({
      match: compilePatterns([s.pattern]),
      secret: s.secret,
    }));
    this.#memberOpts = {
      ...opts,
      // No closure per join when no group needs a secret (the default).
      secretFor:
        secrets.length === 0
          ? () => undefined
          : (group) => secrets.find((s) => s.match(group))?.secret,
    };
    this.#listener = new StreamListener(hub, {
      name: 'tcp',
      allow: opts.tcpAllow,
      maxConnectionsPerIp: opts.maxConnectionsPerIp,
      keepaliveMs: opts.tcpKeepaliveMs,
      listenBacklog: opts.listenBacklog,
      refusal: (err) => textEncoder.encode(`ERROR ${err.code} ${err.message}\n`),
      accept: (socket, ip) => {
        const preconfigured =
          this.#preconfig.size > 0 ? this.#preconfig.get(`${ip}:${socket.remotePort}`) : undefined;
        new TcpMember(socket, this.#hub, this.#memberOpts, preconfigured);
      },
      closed: TcpMember.closed,
    });
  }

  async listen(host: string, port: number): Promise<string> {
    for (const p of this.#opts.tcpPreconfig) {
      for (const ip of await resolveHost(p.host)) this.#preconfig.set(`${ip}:${p.port}`, p.group);
    }
    return this.#listener.listen(host, port);
  }

  /** Stops accepting, lets members flush for up to graceMs, then destroys what is left. */
  close(graceMs: number): Promise<void> {
    return this.#listener.close(graceMs);
  }
}
