import type { HubView } from './hub-view.ts';

/**
 * What /healthz adds for a reader at a glance (the dashboard): the counters the sidecar keeps,
 * as /metrics has them but in JSON, and the limits the connections are measured against.
 */
export function healthCounters(hub: HubView) {
  const o = hub.options;
  return {
    traffic: structuredClone(hub.stats.byTransport),
    slowConsumers: { ...hub.stats.slowConsumers },
    rejected: Object.fromEntries(hub.stats.rejected),
    dropped: Object.fromEntries(hub.stats.dropped),
    limits: {
      maxConnections: o.maxConnections,
      maxGroups: o.maxGroups,
      maxMembersPerGroup: o.maxMembersPerGroup,
    },
  };
}
