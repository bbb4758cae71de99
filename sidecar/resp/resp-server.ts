import type { Authenticator } from '../../api/auth.ts';
import type { SidecarOptions } from '../../shared/options/sidecar.ts';
import { remoteOf } from '../address.ts';
import type { HubPort } from '../hub-port.ts';
import { StreamListener } from '../stream-listener.ts';
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

/** The Redis pub/sub listener: admits sockets (StreamListener) and makes each a RespConnection. */
export class RespServer {
  readonly #listener: StreamListener;

  constructor(hub: HubPort, opts: RespServerOptions, auth: Authenticator | null) {
    const connOpts: RespConnectionOptions = {
      ...opts,
      auth,
      port: () => this.#listener.port,
      startedAt: Date.now(),
    };
    this.#listener = new StreamListener(hub, {
      name: 'resp',
      allow: opts.tcpAllow,
      maxConnectionsPerIp: opts.maxConnectionsPerIp,
      keepaliveMs: opts.tcpKeepaliveMs,
      listenBacklog: opts.listenBacklog,
      // A Redis error reply: what a client shows for its first command.
      refusal: (err) => error(`${err.code} ${err.message}`),
      accept: (socket) => {
        new RespConnection(socket, remoteOf(socket), hub, connOpts);
      },
    });
  }

  listen(host: string, port: number): Promise<string> {
    return this.#listener.listen(host, port);
  }

  /** Stops accepting, lets connections flush for up to graceMs, then destroys what is left. */
  close(graceMs: number): Promise<void> {
    return this.#listener.close(graceMs);
  }
}
