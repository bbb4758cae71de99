import { nanoid } from 'nanoid';
import {
  GroupcastError,
  LimitError,
  MessageTooLargeError,
  OverBudgetError,
  toGroupcastError,
} from '../shared/errors.ts';
import { type Framing, framing as framingByName } from '../shared/framing/index.ts';
import { validateGroupId } from '../shared/group-id.ts';
import type {
  GroupDetail,
  GroupSummary,
  HealthReport,
  HistoryPage,
  Hub,
  ListenerStatus,
  Origin,
  PublishOptions,
  PublishResult,
  StartPoint,
  SubscribeOptions,
  Subscriber,
  Subscription,
} from '../shared/hub.ts';
import { type Batch, formatId, type Transport } from '../shared/message.ts';
import type { SidecarOptions } from '../shared/options/sidecar.ts';
import { encodePresence } from '../shared/sse.ts';
import type { Backplane, BackplaneHealth, BackplaneHost } from './backplane/types.ts';
import { FlowControl } from './flow.ts';
import { Group } from './group.ts';
import { groupActivity } from './group-activity.ts';
import { healthCounters } from './health-counters.ts';
import { History } from './history.ts';
import type { HubPort } from './hub-port.ts';
import type { HubView } from './hub-view.ts';
import type { Logger } from './logger.ts';
import { type Member, memberInfo } from './member.ts';
import { MEMORY_KINDS, MemoryBudget, type MemoryKind } from './memory-budget.ts';
import { renderMetrics } from './metrics.ts';
import { PatternRegistry } from './pattern-registry.ts';
import { Presence } from './presence.ts';
import { SseMember } from './sse-member.ts';
import { Stats } from './stats.ts';

/** Health of a sidecar with no backplane: nothing to be cut off from. */
const ALONE: BackplaneHealth = { degraded: false, detail: { kind: 'memory' } };

export type HubOptions = Pick<
  SidecarOptions,
  | 'tcpFraming'
  | 'maxMessageBytes'
  | 'historyMessages'
  | 'historyBytes'
  | 'groupTtlMs'
  | 'maxGroups'
  | 'maxMembersPerGroup'
  | 'maxConnections'
  | 'flowHighWater'
  | 'stallTimeoutMs'
  | 'publishWaitMs'
  | 'memoryBudget'
  | 'respMaxPatterns'
>;

/**
 * The sidecar's in-process hub: the group registry, fan-out and history. TCP, UDP and the HTTP
 * API all publish and subscribe through it; its backplane decides what other nodes see.
 */
export class LocalHub implements Hub, HubPort, HubView, BackplaneHost {
  readonly options: HubOptions;
  readonly framing: HubOptions['tcpFraming'];
  readonly codec: Framing;
  readonly stats = new Stats();
  readonly log: Logger;
  /** This sidecar's id among the nodes sharing groups (shown in /healthz and on members). */
  readonly node: string;
  /** Shares this node's groups with other sidecars (Redis); null for a sidecar on its own. */
  readonly cluster: Backplane | null;
  readonly flow: FlowControl;
  readonly budget: MemoryBudget;
  /** Listener states, filled in by the servers. */
  readonly listeners: Record<string, ListenerStatus> = {};
  /** Pattern subscriptions (RESP PSUBSCRIBE): they follow matching groups as groups are created. */
  readonly patterns: PatternRegistry;
  /** Listeners to members coming and going, by group. */
  readonly presence: Presence;
  /** Open TCP connections and SSE streams, against maxConnections. */
  connections = { tcp: 0, sse: 0, resp: 0 };
  readonly #groups = new Map<string, Group>();
  /** Groups with no members kept for replay, longest idle first. */
  readonly #idle = new Set<Group>();
  #lastEpoch = 0;
  #closed = false;

  constructor(
    options: HubOptions,
    log: Logger,
    node: string = nanoid(10),
    cluster: ((hub: LocalHub) => Backplane) | null = null,
  ) {
    this.options = options;
    this.framing = options.tcpFraming;
    // Node Buffers: sockets write them without wrapping each one again.
    this.codec = framingByName(options.tcpFraming, (n) => Buffer.allocUnsafe(n));
    this.log = log;
    this.node = node;
    this.flow = new FlowControl(options);
    this.budget = new MemoryBudget(options.memoryBudget);
    this.patterns = new PatternRegistry(options.respMaxPatterns);
    this.presence = new Presence(node);
    this.budget.start({
      queuedBytes: () => this.#queuedBytes(),
      histories: () => this.#histories(),
    });
    this.cluster = cluster ? cluster(this) : null;
    this.patterns.watcher = this.cluster;
    this.presence.cluster = this.cluster;
  }

  /**
   * Bytes in member queues. Members of a group are handed the same buffers (one wire buffer per
   * batch for sockets, one chunk per turn for SSE), so a group's queues hold about as much as
   * its longest queue of each kind, not the sum.
   */
  #queuedBytes(): number {
    let total = 0;
    for (const g of this.#groups.values()) {
      let sockets = 0;
      let streams = 0;
      // Indexed: every 100 ms over every member, so no iterator objects while it is not optimized.
      const members = g.members;
      for (let i = 0; i < members.length; i++) {
        const m = members[i];
        const p = m.pendingBytes;
        if (m.needsIds) streams = Math.max(streams, p);
        else sockets = Math.max(sockets, p);
      }
      total += sockets + streams;
    }
    return total;
  }

  *#histories(): Generator<History> {
    for (const g of this.#groups.values()) yield g.history;
  }

  get overBudget(): boolean {
    return this.budget.over;
  }

  whenUnderBudget(fn: () => void): void {
    this.budget.whenUnder(fn);
  }

  charge(kind: MemoryKind, bytes: number): void {
    this.budget.charge(kind, bytes);
  }

  reserve(bytes: number): () => void {
    return this.budget.reserve(bytes, () => new OverBudgetError(this.budget.limit));
  }

  accepted(transport: 'tcp' | 'resp'): void {
    this.stats.accepted[transport]++;
  }

  opened(transport: 'tcp' | 'resp'): void {
    this.connections[transport]++;
  }

  closed(transport: 'tcp' | 'resp'): void {
    this.connections[transport]--;
  }

  sent(transport: Transport, messages: number, bytes: number): void {
    const out = this.stats.byTransport[transport];
    out.messagesOut += messages;
    out.bytesOut += bytes;
  }

  reject(code: string): void {
    this.stats.reject(code);
  }

  drop(reason: string, n = 1): void {
    this.stats.drop(reason, n);
  }

  admit(bytes: number): void {
    this.cluster?.admit(bytes);
  }

  connectionsOf(transport: 'tcp' | 'sse' | 'resp'): number {
    return this.connections[transport];
  }

  get groupCount(): number {
    return this.#groups.size;
  }

  get totalConnections(): number {
    return this.connections.tcp + this.connections.sse + this.connections.resp;
  }

  /** Throws TOO_MANY_CONNECTIONS when one more connection would pass the limit. */
  checkConnectionLimit(): void {
    if (this.totalConnections >= this.options.maxConnections) {
      throw new LimitError('TOO_MANY_CONNECTIONS', this.options.maxConnections);
    }
  }

  /** The group, created if needed (throws TOO_MANY_GROUPS). */
  groupFor(name: string): Group {
    let group = this.#groups.get(name);
    if (group) return group;
    if (this.#groups.size >= this.options.maxGroups && !this.#evictIdle()) {
      throw new LimitError('TOO_MANY_GROUPS', this.options.maxGroups);
    }
    // Strictly increasing, so a re-created group never reuses an id.
    this.#lastEpoch = Math.max(Date.now(), this.#lastEpoch + 1);
    const history = new History(
      this.options.historyMessages,
      this.options.historyBytes,
      this.budget,
    );
    group = new Group(name, this.#lastEpoch, history, this.stats, this.flow);
    this.#groups.set(name, group);
    const g = group;
    g.onPresence = (type, m) => this.presence.emit(type, g, m);
    // Other nodes' PUBSUB NUMSUB reads whether it is one from its listing entry: written again.
    g.onFollower = (m) => this.cluster?.joined(g, m);
    this.patterns.created(group);
    return group;
  }

  findGroup(name: string): Group | undefined {
    return this.#groups.get(name);
  }

  patternGroup(name: string): Group | undefined {
    const had = this.#groups.get(name);
    if (had) return had;
    if (!this.patterns.matches(name)) return undefined;
    let group: Group;
    try {
      group = this.groupFor(name);
    } catch (err) {
      // No room for one more group: the followers miss this batch, counted.
      this.stats.reject(toGroupcastError(err).code);
      return undefined;
    }
    if (group.size > 0) return group;
    // Matched, but no follower took it (its grants say no): nothing here wants it.
    this.#drop(group);
    return undefined;
  }

  settle(group: Group): void {
    if (group.anchored > 0) return;
    // As a publish into an idle group does: its time to live starts again.
    this.#wake(group);
    this.#settle(group);
  }

  subscriberCounts(names: string[]): Promise<number[]> | null {
    if (!this.cluster) return null;
    return Promise.all(
      names.map(async (name) => {
        const d = await this.group(name);
        return d ? d.members.filter((m) => !m.follower).length : 0;
      }),
    );
  }

  remotePresence(group: string, json: string): boolean {
    return this.presence.fromNode(group, json);
  }

  /** Adds a member to a group; throws GROUP_FULL or TOO_MANY_GROUPS. */
  join(name: string, member: Member): Group {
    const group = this.groupFor(name);
    if (group.size >= this.options.maxMembersPerGroup) {
      this.#settle(group);
      throw new LimitError('GROUP_FULL', this.options.maxMembersPerGroup);
    }
    // A pattern follower keeps no group alive: an idle group keeps its time to live.
    if (!member.follower) this.#wake(group);
    group.add(member);
    this.cluster?.joined(group, member);
    // Checked first: the line's fields would be built for nothing, per member, at 'warn'.
    if (this.log.isLevelEnabled('info')) {
      this.log.info(
        { group: name, member: member.id, transport: member.transport, remote: member.remote },
        'join',
      );
    }
    return group;
  }

  leave(group: Group, member: Member, reason = 'closed'): void {
    if (!group.remove(member)) return;
    if (reason === 'SLOW_CONSUMER' && member.transport !== 'udp') {
      this.stats.slowConsumers[member.transport]++;
    }
    this.cluster?.left(group, member);
    if (this.log.isLevelEnabled('info')) {
      this.log.info(
        {
          group: group.name,
          member: member.id,
          transport: member.transport,
          remote: member.remote,
          reason,
        },
        'leave',
      );
    }
    this.#settle(group);
  }

  /**
   * An empty group is dropped at once, or after groupTtl while it still holds history. Idle
   * groups also give way, oldest first, when maxGroups is reached.
   */
  #settle(group: Group): void {
    if (group.anchored > 0 || group.expiry || this.#groups.get(group.name) !== group) return;
    if (group.history.messages === 0 || this.options.groupTtlMs === 0 || this.#closed) {
      this.#drop(group);
      return;
    }
    group.expiry = setTimeout(() => {
      group.expiry = undefined;
      this.#idle.delete(group);
      if (group.anchored === 0) this.#drop(group);
    }, this.options.groupTtlMs);
    group.expiry.unref?.();
    this.#idle.add(group);
  }

  /**
   * Forgets a group; pattern followers still in it leave it first (a pattern alone keeps no
   * group: they follow it again if it is created again).
   */
  #drop(group: Group): void {
    this.#groups.delete(group.name);
    for (const m of [...group.members]) {
      if (!group.remove(m)) continue;
      this.cluster?.left(group, m);
    }
  }

  #wake(group: Group): void {
    if (!group.expiry) return;
    clearTimeout(group.expiry);
    group.expiry = undefined;
    this.#idle.delete(group);
  }

  /** Drops the longest-idle group to make room; false when every group has members. */
  #evictIdle(): boolean {
    for (const group of this.#idle) {
      this.#wake(group);
      this.#drop(group);
      return true;
    }
    return false;
  }

  /** Fan-out entry for TCP and UDP: counts and hands the batch to the group. */
  publishBatch(
    group: Group,
    batch: Batch,
    origin: Member | null,
    transport: Origin['transport'],
  ): number {
    const s = this.stats.byTransport[transport];
    s.messagesIn += batch.count;
    s.bytesIn += batch.payloadBytes;
    const recipients = this.cluster
      ? this.cluster.publish(group, batch, origin)
      : group.accept(batch, origin, 'local');
    if (origin === null && group.anchored === 0) {
      // A publish into an idle group restarts its time to live.
      this.#wake(group);
      this.#settle(group);
    }
    return recipients;
  }

  async publish(
    name: string,
    payloads: Uint8Array[],
    origin: Origin,
    options: PublishOptions = {},
  ): Promise<PublishResult> {
    validateGroupId(name);
    for (const p of payloads) {
      if (p.byteLength > this.options.maxMessageBytes) {
        throw new MessageTooLargeError(this.options.maxMessageBytes);
      }
    }
    let group = this.groupFor(name);
    if (group.congested) {
      // A recipient is behind: the POST waits (bounded) instead of growing its queue; a later
      // slice of a POST already under way waits as long as it takes.
      const g = group;
      await (options.continuing
        ? new Promise<void>((resolve) => g.whenDrained(resolve))
        : group.drained(this.options.publishWaitMs));
      group = this.groupFor(name);
    }
    const batch = this.codec.encode(payloads);
    this.cluster?.admit(batch.wire.byteLength);
    const recipients = this.publishBatch(group, batch, null, origin.transport);
    const numbered = this.cluster?.numbered(batch);
    if (numbered) await numbered;
    const ids: string[] = [];
    for (let i = 0; i < batch.count; i++) ids.push(batch.id(i));
    return { ids, recipients };
  }

  async subscribe(
    name: string,
    start: StartPoint,
    subscriber: Subscriber,
    opts: SubscribeOptions = {},
  ): Promise<Subscription> {
    validateGroupId(name);
    this.checkConnectionLimit();
    const member = new SseMember(subscriber, this);
    const group = this.join(name, member);
    this.connections.sse++;
    if (this.cluster) await this.cluster.replay(group, member, start);
    else group.replay(member, start);
    // Others coming and going from now on (its own join is the stream's start).
    if (opts.presence) {
      member.presence = (e, json) => subscriber.write(encodePresence(e.type, json));
      this.presence.on(group.name, member.presence);
    }
    return member;
  }

  /** An SSE member's stream ended (SubscriptionOwner): once per member. */
  unsubscribed(member: SseMember, group: Group, reason?: GroupcastError): void {
    if (member.presence) this.presence.off(group.name, member.presence);
    this.connections.sse--;
    this.leave(group, member, reason?.code ?? 'closed');
  }

  async history(name: string, start: StartPoint, limit: number): Promise<HistoryPage | null> {
    validateGroupId(name);
    const local = this.#groups.get(name);
    if (!this.cluster) return local?.page(start, limit) ?? null;
    return this.cluster.page(name, start, limit, local);
  }

  async groups(): Promise<GroupSummary[]> {
    const out: GroupSummary[] = [];
    for (const g of this.#groups.values()) {
      out.push({
        group: g.name,
        counts: { ...g.counts },
        lastId: g.lastId,
        activity: groupActivity(g),
      });
    }
    out.sort((a, b) => (a.group < b.group ? -1 : a.group > b.group ? 1 : 0));
    return this.cluster ? this.cluster.groups(out) : out;
  }

  async group(name: string): Promise<GroupDetail | null> {
    const local = this.localGroup(name);
    return this.cluster ? this.cluster.group(name, local) : local;
  }

  /** One group as this node alone sees it. */
  localGroup(name: string): GroupDetail | null {
    const g = this.#groups.get(name);
    if (!g) return null;
    const h = g.history;
    return {
      group: g.name,
      counts: { ...g.counts },
      lastId: g.lastId,
      members: g.members.map((m) => memberInfo(m, this.node)),
      history: {
        messages: h.messages,
        bytes: h.bytes,
        firstId: h.messages > 0 ? formatId(g.epoch, h.firstSeq) : null,
        lastId: h.messages > 0 ? formatId(g.epoch, h.lastSeq) : null,
        maxMessages: h.maxMessages,
        maxBytes: h.maxBytes,
      },
      counters: {
        messagesIn: g.messagesIn,
        bytesIn: g.bytesIn,
        deliveries: g.deliveries,
        bytesOut: g.bytesOut,
      },
      createdAt: new Date(g.createdAt).toISOString(),
    };
  }

  async health(): Promise<HealthReport> {
    const down = Object.values(this.listeners).some((l) => !l.listening);
    const backplane: BackplaneHealth = this.cluster?.health() ?? ALONE;
    return {
      status: this.#closed || down ? 'down' : backplane.degraded ? 'degraded' : 'ok',
      node: this.node,
      listeners: structuredClone(this.listeners),
      groups: this.#groups.size,
      connections: { ...this.connections },
      // An edge worker in front of this sidecar learns the framing from here.
      framing: this.framing,
      backplane: backplane.detail,
      memory: this.memoryReport(),
      ...healthCounters(this),
    };
  }

  /** The memory budget and what uses it, by kind (in /healthz). */
  memoryReport(): { budget: number; used: number; over: boolean } & Record<MemoryKind, number> {
    const b = this.budget;
    const byKind = {} as Record<MemoryKind, number>;
    for (const k of MEMORY_KINDS) byKind[k] = b.used[k];
    return { budget: b.limit, used: b.total, over: b.over, ...byKind };
  }

  async metrics(): Promise<string> {
    return renderMetrics(this);
  }

  /** Every group, for metrics and shutdown. */
  allGroups(): IterableIterator<Group> {
    return this.#groups.values();
  }

  /** Ends every member; the servers close their sockets. */
  close(): void {
    this.#closed = true;
    this.flow.stop();
    this.budget.stop();
    for (const g of this.#groups.values()) {
      if (g.expiry) clearTimeout(g.expiry);
      for (const m of [...g.members]) {
        // One member that fails to close must not stop the others (or the shutdown).
        try {
          m.close(new GroupcastError('SHUTTING_DOWN'));
        } catch (err) {
          this.log.warn(
            { group: g.name, member: m.id, err: (err as Error).message },
            'member close failed',
          );
        }
      }
    }
  }
}
