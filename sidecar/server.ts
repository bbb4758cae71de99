import { readFileSync } from 'node:fs';
import { nanoid } from 'nanoid';
import { Authenticator, authConfigured } from '../api/auth.ts';
import { listenApi } from '../api/node.ts';
import { InvalidOptionError } from '../shared/errors.ts';
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

/** jwtPublicKey is PEM text or a path to a PEM file. */
function readPem(value: string | null): string | null {
  if (value === null || value.includes('-----BEGIN')) return value;
  try {
    return readFileSync(value, 'utf8');
  } catch (err) {
    throw new InvalidOptionError('jwtPublicKey', value, `cannot read: ${(err as Error).message}`);
  }
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
      const apiOptions = { ...options, jwtPublicKey: readPem(options.jwtPublicKey) };
      // A key that cannot be used stops start-up, not the first request.
      if (authConfigured(apiOptions)) await new Authenticator(apiOptions).ready();
      const api = await listenApi(hub, apiOptions, options.host, options.httpPort, {
        logError: (err) =>
          log.error({ err: err instanceof Error ? err.stack : String(err) }, 'http handler error'),
        onRejected: (code) => hub.stats.reject(code),
      });
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
