import { CannotListenError } from '../shared/errors.ts';
import { formatHostPort } from '../shared/host-port.ts';
import { SIDECAR_OPTIONS } from '../shared/options/sidecar.ts';

/** What a bind failure means to someone choosing options, by the system's error code. */
const REASONS: Record<string, string> = {
  EADDRINUSE:
    'address already in use (EADDRINUSE): another process holds it; choose another port, or 0',
  EACCES: 'permission denied (EACCES): ports below 1024 need privileges',
  EADDRNOTAVAIL: 'no such address on this machine (EADDRNOTAVAIL): see GROUPCAST_HOST / --host',
  ENOTFOUND: 'host name does not resolve (ENOTFOUND): see GROUPCAST_HOST / --host',
};

/**
 * Turns a listener's bind error into one line naming the option that chose the port (its
 * environment name and flag) and the address, e.g. `cannot listen on 127.0.0.1:7480
 * (GROUPCAST_HTTP_PORT / --http-port): address already in use`.
 */
export function cannotListen(
  key: 'tcpPort' | 'udpPort' | 'httpPort' | 'respPort',
  host: string,
  port: number,
  err: unknown,
): CannotListenError {
  const spec = SIDECAR_OPTIONS.find((s) => s.key === key);
  const option = spec ? `${spec.env} / --${spec.flag}` : key;
  const code = (err as NodeJS.ErrnoException)?.code ?? '';
  const reason = REASONS[code] ?? (err instanceof Error ? err.message : String(err));
  return new CannotListenError(option, formatHostPort(host, port), reason);
}

/** Runs a listener's `listen`, turning a bind failure into a CannotListenError. */
export async function listenOrExplain<T>(
  key: 'tcpPort' | 'udpPort' | 'httpPort' | 'respPort',
  host: string,
  port: number,
  listen: () => Promise<T>,
): Promise<T> {
  try {
    return await listen();
  } catch (err) {
    throw aboutOwnAddress(err, host) ? cannotListen(key, host, port, err) : err;
  }
}

/** A bind failure, or a lookup of the listen host itself (not of a preconfigured peer's host). */
function aboutOwnAddress(err: unknown, host: string): boolean {
  const e = err as NodeJS.ErrnoException & { hostname?: string };
  return e?.syscall === 'listen' || e?.syscall === 'bind' || e?.hostname === host;
}
