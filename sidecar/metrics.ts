import type { Registry } from 'prom-client';
import type { HubView } from './hub-view.ts';
import { MEMORY_KINDS } from './memory-budget.ts';

type PromClient = typeof import('prom-client');

const registries = new WeakMap<HubView, Promise<Registry>>();

/**
 * Prometheus text for a hub; the registry is built on the first scrape and reads the hub's plain
 * counters. prom-client is loaded then too: about 10 MB of RSS and 50 ms of start-up that a
 * sidecar nobody scrapes never pays.
 */
export async function renderMetrics(hub: HubView): Promise<string> {
  let reg = registries.get(hub);
  if (!reg) {
    reg = import('prom-client').then((prom) => buildRegistry(prom, hub));
    registries.set(hub, reg);
  }
  return (await reg).metrics();
}

function buildRegistry(
  { Counter, collectDefaultMetrics, Gauge, Registry }: PromClient,
  hub: HubView,
): Registry {
  const register = new Registry();
  collectDefaultMetrics({ register, prefix: 'groupcast_' });
  const transports = ['tcp', 'udp', 'sse', 'http', 'resp'] as const;

  new Gauge({
    name: 'groupcast_connections',
    help: 'Open connections by transport (TCP sockets, SSE streams, RESP connections)',
    labelNames: ['transport'],
    registers: [register],
    collect() {
      this.set({ transport: 'tcp' }, hub.connections.tcp);
      this.set({ transport: 'sse' }, hub.connections.sse);
      this.set({ transport: 'resp' }, hub.connections.resp);
    },
  });
  new Counter({
    name: 'groupcast_connections_accepted_total',
    help: 'TCP and RESP connections accepted, including those then refused (by address, limit)',
    labelNames: ['transport'],
    registers: [register],
    collect() {
      this.reset();
      this.inc({ transport: 'tcp' }, hub.stats.accepted.tcp);
      this.inc({ transport: 'resp' }, hub.stats.accepted.resp);
    },
  });
  new Gauge({
    name: 'groupcast_members',
    help: 'Group members by transport',
    labelNames: ['transport'],
    registers: [register],
    collect() {
      const sum = { tcp: 0, udp: 0, sse: 0, resp: 0 };
      for (const g of hub.allGroups()) {
        sum.tcp += g.counts.tcp;
        sum.udp += g.counts.udp;
        sum.sse += g.counts.sse;
        sum.resp += g.counts.resp;
      }
      for (const [transport, n] of Object.entries(sum)) this.set({ transport }, n);
    },
  });
  new Gauge({
    name: 'groupcast_groups',
    help: 'Groups held',
    registers: [register],
    collect() {
      this.set(hub.groupCount);
    },
  });
  const traffic = [
    ['messages_in', 'messagesIn', 'Messages received'],
    ['bytes_in', 'bytesIn', 'Payload bytes received'],
    ['messages_out', 'messagesOut', 'Messages delivered'],
    ['bytes_out', 'bytesOut', 'Bytes delivered'],
  ] as const;
  for (const [name, field, help] of traffic) {
    new Counter({
      name: `groupcast_${name}_total`,
      help: `${help}, by transport`,
      labelNames: ['transport'],
      registers: [register],
      collect() {
        this.reset();
        for (const t of transports) this.inc({ transport: t }, hub.stats.byTransport[t][field]);
      },
    });
  }
  new Counter({
    name: 'groupcast_rejected_total',
    help: 'Rejected inputs by reason (error code)',
    labelNames: ['reason'],
    registers: [register],
    collect() {
      this.reset();
      for (const [reason, n] of hub.stats.rejected) this.inc({ reason }, n);
    },
  });
  new Counter({
    name: 'groupcast_dropped_total',
    help: 'Messages that could not be carried to a transport, by reason',
    labelNames: ['reason'],
    registers: [register],
    collect() {
      this.reset();
      for (const [reason, n] of hub.stats.dropped) this.inc({ reason }, n);
    },
  });
  new Counter({
    name: 'groupcast_slow_consumer_disconnects_total',
    help: 'Members cut as slow consumers: stalled past the stall timeout, or past a hard queue limit',
    labelNames: ['transport'],
    registers: [register],
    collect() {
      this.reset();
      this.inc({ transport: 'tcp' }, hub.stats.slowConsumers.tcp);
      this.inc({ transport: 'sse' }, hub.stats.slowConsumers.sse);
      this.inc({ transport: 'resp' }, hub.stats.slowConsumers.resp);
    },
  });
  new Gauge({
    name: 'groupcast_history_messages',
    help: 'Messages held for replay, all groups',
    registers: [register],
    collect() {
      let n = 0;
      for (const g of hub.allGroups()) n += g.history.messages;
      this.set(n);
    },
  });
  new Gauge({
    name: 'groupcast_history_bytes',
    help: 'Bytes held for replay, all groups',
    registers: [register],
    collect() {
      let n = 0;
      for (const g of hub.allGroups()) n += g.history.bytes;
      this.set(n);
    },
  });
  new Gauge({
    name: 'groupcast_memory_budget_bytes',
    help: 'The memory budget (GROUPCAST_MEMORY_BUDGET)',
    registers: [register],
    collect() {
      this.set(hub.budget.limit);
    },
  });
  new Gauge({
    name: 'groupcast_memory_bytes',
    help: 'Memory charged to the budget, by kind: history (with cached encodings and 512 bytes a held batch), queues, partial frames, request bodies',
    labelNames: ['kind'],
    registers: [register],
    collect() {
      for (const kind of MEMORY_KINDS) this.set({ kind }, hub.budget.used[kind]);
    },
  });
  new Counter({
    name: 'groupcast_history_evicted_bytes_total',
    help: 'History bytes evicted to stay within the memory budget',
    registers: [register],
    collect() {
      this.reset();
      this.inc(hub.budget.evictedBytes);
    },
  });
  new Counter({
    name: 'groupcast_budget_refusals_total',
    help: 'Times new work was refused (HTTP 503 OVER_BUDGET) or a TCP publisher paused because the memory budget was used up',
    registers: [register],
    collect() {
      this.reset();
      this.inc(hub.budget.refusals);
    },
  });
  new Gauge({
    name: 'groupcast_flow_members_over_high_water',
    help: 'Members whose unsent bytes are over the high-water mark (their groups publishers wait)',
    registers: [register],
    collect() {
      this.set(hub.flow.watching);
    },
  });
  new Counter({
    name: 'groupcast_flow_stalls_total',
    help: 'Members cut because they took none of their unsent bytes for the stall timeout',
    registers: [register],
    collect() {
      this.reset();
      this.inc(hub.flow.stalls);
    },
  });
  hub.cluster?.registerMetrics(register);
  return register;
}
