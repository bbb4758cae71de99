import { lookup } from 'node:dns/promises';
import { isIP, type Socket } from 'node:net';
import { formatHostPort } from '../shared/host-port.ts';

/** `::ffff:10.0.0.1` -> `10.0.0.1`, so IPv4 peers look the same on dual-stack listeners. */
export function normalizeIp(ip: string | undefined): string {
  if (!ip) return '';
  return ip.startsWith('::ffff:') && isIP(ip.slice(7)) === 4 ? ip.slice(7) : ip;
}

/**
 * A connected socket's peer as `host:port`. Node reads the peer address once and keeps it, so
 * this answers the same after the socket closed; it is made when asked (logs, listings), not
 * held by every member.
 */
export function remoteOf(socket: Socket): string {
  return formatHostPort(normalizeIp(socket.remoteAddress), socket.remotePort ?? 0);
}

/** Every IP a configured host name stands for (an IP stands for itself). */
export async function resolveHost(host: string): Promise<string[]> {
  if (isIP(host)) return [normalizeIp(host)];
  const all = await lookup(host, { all: true });
  return all.map((a) => normalizeIp(a.address));
}
