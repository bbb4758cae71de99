import { Redis } from 'ioredis';
import { DEFAULT_REDIS_PREFIX } from '../../shared/options/sidecar.ts';
import type { Sidecar } from '../../sidecar/server.ts';
import { baseUrl } from './http.ts';
import { waitFor } from './sidecar.ts';
import { SseClient } from './sse.ts';
import { TcpPeer } from './tcp.ts';

/** A plain Redis client for a test to look at what the sidecars share (not used by them). */
export function inspector(url: string): Redis {
  const r = new Redis(url, {
    lazyConnect: false,
    maxRetriesPerRequest: 1,
    retryStrategy: () => 100,
  });
  r.on('error', () => {});
  return r;
}

/** Waits until `nodes` sidecars listen to a group's channel (a join takes one round trip to Redis). */
export async function waitListening(
  r: Redis,
  group: string,
  nodes: number,
  prefix = DEFAULT_REDIS_PREFIX,
  ms = 5000,
): Promise<void> {
  const channel = `${prefix}ch:${group}`;
  await waitFor(
    async () => {
      try {
        const reply = (await r.pubsub('NUMSUB', channel)) as [string, number];
        return Number(reply[1]) >= nodes;
      } catch {
        return false;
      }
    },
    ms,
    `${nodes} nodes listening to ${channel}`,
  );
}

/** A TCP member of `group` on `sc`, once the sidecar counts it; kept in `open` for the teardown. */
export async function joinTcp(
  sc: Sidecar,
  group: string,
  open: { close(): void }[],
): Promise<TcpPeer> {
  const before = sc.hub.findGroup(group)?.counts.tcp ?? 0;
  const p = await TcpPeer.open(sc.addresses.tcp as string, group);
  open.push(p);
  await waitFor(() => sc.hub.findGroup(group)?.counts.tcp === before + 1, 2000, 'tcp join');
  return p;
}

/** An SSE subscriber of `group` on `sc`, once the sidecar counts it; kept in `open`. */
export async function joinSse(
  sc: Sidecar,
  group: string,
  open: { close(): void }[],
  query = '',
): Promise<SseClient> {
  const before = sc.hub.findGroup(group)?.counts.sse ?? 0;
  const c = await SseClient.open(`${baseUrl(sc)}/groups/${group}/events${query}`);
  open.push(c);
  await waitFor(() => sc.hub.findGroup(group)?.counts.sse === before + 1, 2000, 'sse join');
  return c;
}

/** The first number `pattern` captures in a sidecar's /metrics (0 when absent). */
export async function metricMatch(sc: Sidecar, pattern: RegExp): Promise<number> {
  const text = await (await fetch(`${baseUrl(sc)}/metrics`)).text();
  return Number(pattern.exec(text)?.[1] ?? 0);
}
