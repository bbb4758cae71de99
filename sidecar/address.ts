import { lookup } from 'node:dns/promises';
import { isIP } from 'node:net';

/** `::ffff:10.0.0.1` -> `10.0.0.1`, so IPv4 peers look the same on dual-stack listeners. */
export function normalizeIp(ip: string | undefined): string {
  if (!ip) return '';
  return ip.startsWith('::ffff:') && isIP(ip.slice(7)) === 4 ? ip.slice(7) : ip;
}

/** Every IP a configured host name stands for (an IP stands for itself). */
export async function resolveHost(host: string): Promise<string[]> {
  if (isIP(host)) return [normalizeIp(host)];
  const all = await lookup(host, { all: true });
  return all.map((a) => normalizeIp(a.address));
}
