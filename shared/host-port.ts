/**
 * `host:port` as logs, errors and member listings show it, the one formatter for every runtime:
 * an IPv6 literal is bracketed (`[::1]:7400`) so the port cannot be read as part of it. Only an
 * IPv6 literal contains `:`; host names and IPv4 addresses never do.
 */
export function formatHostPort(host: string, port: number): string {
  return host.includes(':') ? `[${host}]:${port}` : `${host}:${port}`;
}
