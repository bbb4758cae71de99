import { Counter, Gauge, type Registry } from 'prom-client';

/** What went wrong receiving from other nodes, by kind (see registerBackplaneMetrics). */
export type ReceiveProblem =
  | 'holes'
  | 'lost'
  | 'stale'
  | 'held_dropped'
  | 'malformed'
  | 'unframeable';

/** Why a batch published here was not shared with the other nodes. */
export type UnsharedReason = 'down' | 'queue_full' | 'error';

/** Plain counters of the Redis backplane, read by prom-client only when scraped. */
export class BackplaneStats {
  /** Messages published here that Redis took (and so every node got). */
  shared = 0;
  /** Messages published on other nodes delivered here. */
  received = 0;
  /** Connections (command or pub/sub) back after being lost. */
  reconnects = 0;
  /** Stretches read back from the shared history, and messages delivered from those reads. */
  readBacks = 0;
  recovered = 0;
  readonly unshared = new Map<UnsharedReason, number>();
  /** Join and leave events: shared (Redis took them), unshared (down, queue full, error), received from other nodes. */
  readonly presence = { shared: 0, unshared: 0, received: 0 };
  readonly problems = new Map<ReceiveProblem, number>();

  notShared(reason: UnsharedReason, n: number): void {
    this.unshared.set(reason, (this.unshared.get(reason) ?? 0) + n);
  }

  /** A read-back ended; what it could not deliver is counted as `lost` where it is skipped. */
  readBack(recovered: number): void {
    this.readBacks++;
    this.recovered += recovered;
  }

  count(problem: ReceiveProblem, n: number): void {
    this.problems.set(problem, (this.problems.get(problem) ?? 0) + n);
  }
}

export interface BackplaneGauges {
  connected(): boolean;
  queueBytes(): number;
  nodes(): number;
}

export function registerBackplaneMetrics(
  register: Registry,
  stats: BackplaneStats,
  gauges: BackplaneGauges,
): void {
  const registers = [register];
  new Gauge({
    name: 'groupcast_backplane_connected',
    help: '1 while this node shares groups over Redis, 0 while it serves its own members only',
    registers,
    collect() {
      this.set(gauges.connected() ? 1 : 0);
    },
  });
  new Gauge({
    name: 'groupcast_backplane_queue_bytes',
    help: 'Bytes waiting for Redis (queued this turn or sent and unanswered)',
    registers,
    collect() {
      this.set(gauges.queueBytes());
    },
  });
  new Gauge({
    name: 'groupcast_cluster_nodes',
    help: 'Live nodes sharing groups, as of the last heartbeat',
    registers,
    collect() {
      this.set(gauges.nodes());
    },
  });
  new Counter({
    name: 'groupcast_backplane_shared_messages_total',
    help: 'Messages published on this node that Redis took for every node',
    registers,
    collect() {
      this.reset();
      this.inc(stats.shared);
    },
  });
  new Counter({
    name: 'groupcast_backplane_received_messages_total',
    help: 'Messages published on other nodes delivered here',
    registers,
    collect() {
      this.reset();
      this.inc(stats.received);
    },
  });
  new Counter({
    name: 'groupcast_backplane_unshared_messages_total',
    help: 'Messages published here that other nodes did not get: down (Redis out of reach), queue_full, error (Redis did not confirm)',
    labelNames: ['reason'],
    registers,
    collect() {
      this.reset();
      for (const [reason, n] of stats.unshared) this.inc({ reason }, n);
    },
  });
  new Counter({
    name: 'groupcast_backplane_receive_problems_total',
    help: 'Receiving from other nodes: holes (read back from the shared history), lost (messages it no longer held), stale, held_dropped, malformed, unframeable',
    labelNames: ['kind'],
    registers,
    collect() {
      this.reset();
      for (const [kind, n] of stats.problems) this.inc({ kind }, n);
    },
  });
  new Counter({
    name: 'groupcast_backplane_presence_events_total',
    help: 'Join and leave events: shared (with other nodes), unshared (Redis out of reach, queue full, error), received (from other nodes)',
    labelNames: ['kind'],
    registers,
    collect() {
      this.reset();
      for (const [kind, n] of Object.entries(stats.presence)) this.inc({ kind }, n);
    },
  });
  new Counter({
    name: 'groupcast_backplane_reconnects_total',
    help: 'Times a connection to Redis (command or pub/sub) came back after being lost',
    registers,
    collect() {
      this.reset();
      this.inc(stats.reconnects);
    },
  });
  new Counter({
    name: 'groupcast_backplane_read_backs_total',
    help: 'Stretches of a group read back from the shared history (a hole, a new sequence, own batches the outbox no longer had)',
    registers,
    collect() {
      this.reset();
      this.inc(stats.readBacks);
    },
  });
  new Counter({
    name: 'groupcast_backplane_recovered_messages_total',
    help: 'Messages delivered here from read-backs of the shared history (lost ones: receive_problems{kind="lost"})',
    registers,
    collect() {
      this.reset();
      this.inc(stats.recovered);
    },
  });
}
