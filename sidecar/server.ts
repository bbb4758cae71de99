import { nanoid } from 'nanoid';
import { listenApi } from '../api/node.ts';
import type { SidecarOptions } from '../shared/options/sidecar.ts';
import { RedisBackplane } from './backplane/redis.ts';
import { LocalHub } from './hub.ts';
import type { Logger } from './logger.ts';
import { TcpServer } from './tcp-server.ts';
import { UdpServer } from './udp-server.ts';

export interface Sidecar {
  readonly hub: LocalHub;
  /** The addresses really bound, by listener (a port of 0 picks a free one). */
  readonly addresses: { tcp?: string; udp?: string; http?: string };
  /** Closes every listener and socket (idempotent). */
  close(): Promise<void>;
}

/**
 * Starts every listener the options ask for, around one hub; with a Redis URL the hub shares its
 * groups with the other sidecars on that Redis (reachable or not yet).
 */
export async function startSidecar(
  options: Readonly<SidecarOptions>,
  log: Logger,
): Promise<Sidecar> {
  const node = options.nodeId ?? nanoid(10);
  const redisUrl = options.redisUrl;
  const hub = new LocalHub(
    options,
    log,
    node,
    redisUrl ? (h) => new RedisBackplane(h, { ...options, redisUrl }, log) : undefined,
  );
  const addresses: Sidecar['addresses'] = {};
  const closers: (() => Promise<void>)[] = [];
  try {
    await hub.backplane.start();
    closers.push(() => hub.backplane.close());
    if (options.tcpPort !== null) {
      const tcp = new TcpServer(hub, options);
      addresses.tcp = await tcp.listen(options.host, options.tcpPort);
      closers.push(() => tcp.close(options.shutdownGraceMs));
    }
    if (options.udpPort !== null) {
      const udp = new UdpServer(hub, options);
      addresses.udp = await udp.listen(options.host, options.udpPort);
      closers.push(() => udp.close());
    }
    if (options.httpPort !== null) {
      const api = await listenApi(hub, options, options.host, options.httpPort, (err) =>
        log.error({ err: err instanceof Error ? err.stack : String(err) }, 'http handler error'),
      );
      addresses.http = api.address;
      hub.listeners.http = { listening: true, address: api.address };
      closers.push(async () => {
        hub.listeners.http.listening = false;
        await api.close();
      });
    }
  } catch (err) {
    await Promise.allSettled(closers.map((c) => c()));
    throw err;
  }
  let closing: Promise<void> | undefined;
  return {
    hub,
    addresses,
    close() {
      closing ??= (async () => {
        hub.close();
        await Promise.allSettled(closers.map((c) => c()));
      })();
      return closing;
    },
  };
}
