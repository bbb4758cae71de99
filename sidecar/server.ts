import { readFileSync } from 'node:fs';
import { nanoid } from 'nanoid';
import { Authenticator, authConfigured } from '../api/auth.ts';
import { listenApi } from '../api/node.ts';
import { InvalidOptionError } from '../shared/errors.ts';
import type { SidecarOptions } from '../shared/options/sidecar.ts';
import { LocalHub } from './hub.ts';
import { listenOrExplain } from './listen-error.ts';
import type { Logger } from './logger.ts';
import { RespServer } from './resp/resp-server.ts';
import { TcpServer } from './tcp-server.ts';
import { UdpServer } from './udp-server.ts';

export interface Sidecar {
  readonly hub: LocalHub;
  /** The addresses really bound, by listener (a port of 0 picks a free one). */
  readonly addresses: { tcp?: string; udp?: string; http?: string; resp?: string };
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
 * Linux silently caps a listener's accept queue at net.core.somaxconn; when that is below what we
 * ask for, a burst of connections (every proxy reconnecting after a restart) overflows it and the
 * kernel drops them, so say so once at start-up.
 */
function warnIfBacklogCapped(backlog: number, log: Logger): void {
  let somaxconn: number;
  try {
    somaxconn = Number(readFileSync('/proc/sys/net/core/somaxconn', 'utf8'));
  } catch {
    return; // not Linux, or no procfs: nothing to read
  }
  if (somaxconn > 0 && somaxconn < backlog) {
    log.warn(
      { listenBacklog: backlog, somaxconn },
      `the kernel caps the accept queue at net.core.somaxconn=${somaxconn}; raise it (sysctl -w net.core.somaxconn=${backlog}) to take bursts of connections`,
    );
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
  // ioredis and the backplane load only when Redis is on: about 13 MB of RSS and 0.2 s otherwise.
  const { RedisBackplane } = redisUrl
    ? await import('./backplane/redis/backplane.ts')
    : { RedisBackplane: undefined };
  const hub = new LocalHub(
    options,
    log,
    node,
    redisUrl && RedisBackplane ? (h) => new RedisBackplane(h, { ...options, redisUrl }, log) : null,
  );
  warnIfBacklogCapped(options.listenBacklog, log);
  const addresses: Sidecar['addresses'] = {};
  const closers: (() => Promise<void>)[] = [];
  try {
    const cluster = hub.cluster;
    if (cluster) {
      await cluster.start();
      closers.push(() => cluster.close());
    }
    if (options.tcpPort !== null) {
      const tcp = new TcpServer(hub, options);
      const port = options.tcpPort;
      addresses.tcp = await listenOrExplain('tcpPort', options.host, port, () =>
        tcp.listen(options.host, port),
      );
      closers.push(() => tcp.close(options.shutdownGraceMs));
    }
    if (options.udpPort !== null) {
      const udp = new UdpServer(hub, options);
      const port = options.udpPort;
      addresses.udp = await listenOrExplain('udpPort', options.host, port, () =>
        udp.listen(options.host, port),
      );
      closers.push(() => udp.close());
    }
    const apiOptions = { ...options, jwtPublicKey: readPem(options.jwtPublicKey) };
    // A key that cannot be used stops start-up, not the first request.
    const auth = authConfigured(apiOptions) ? new Authenticator(apiOptions) : null;
    if (auth) await auth.ready();
    if (options.httpPort !== null) {
      const at = {
        host: options.host,
        port: options.httpPort,
        backlog: options.listenBacklog,
        front: options.httpFront,
        headTimeoutMs: options.httpHeadTimeoutMs,
      };
      const api = await listenOrExplain('httpPort', at.host, at.port, () =>
        listenApi(hub, apiOptions, at, {
          logError: (err) =>
            log.error(
              { err: err instanceof Error ? err.stack : String(err) },
              'http handler error',
            ),
          onRejected: (code) => hub.stats.reject(code),
        }),
      );
      addresses.http = api.address;
      hub.listeners.http = { listening: true, address: api.address };
      closers.push(async () => {
        hub.listeners.http.listening = false;
        await api.close(options.shutdownGraceMs);
      });
    }
    // After HTTP: the listeners that were there before it keep their start-up order.
    if (options.respPort !== null) {
      const resp = new RespServer(hub, options, auth);
      const port = options.respPort;
      addresses.resp = await listenOrExplain('respPort', options.host, port, () =>
        resp.listen(options.host, port),
      );
      closers.push(() => resp.close(options.shutdownGraceMs));
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
