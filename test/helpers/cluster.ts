import { Redis } from 'ioredis';
import { DEFAULT_REDIS_PREFIX } from '../../shared/options/sidecar.ts';
import { waitFor } from './sidecar.ts';

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
