import type { Registry } from 'prom-client';
import type { Framing, FramingName } from '../../shared/framing/index.ts';
import type { GroupDetail, GroupSummary, HistoryPage, StartPoint } from '../../shared/hub.ts';
import type { Batch } from '../../shared/message.ts';
import type { Group, SseMember } from '../group.ts';
import type { Member } from '../member.ts';

/** What a backplane needs of the hub it serves: its identity, its framing and its groups. */
export interface BackplaneHost {
  readonly node: string;
  readonly framing: FramingName;
  readonly codec: Framing;
  findGroup(name: string): Group | undefined;
  allGroups(): IterableIterator<Group>;
  /**
   * The group for a batch that reached this node only for a pattern held here: created (and its
   * pattern followers in it) when it has no members here; undefined when nothing here follows it.
   */
  patternGroup(name: string): Group | undefined;
  /** A batch was handed to a group only pattern followers hold here: its time to live starts again. */
  settle(group: Group): void;
  /** A join or leave event of another node's member, for this node's presence listeners; false when it is not one. */
  remotePresence(group: string, json: string): boolean;
}

/**
 * How this node's groups meet the same groups on other nodes (Redis). The hub owns its groups
 * and their delivery; it calls a backplane, when it has one, at each point where a cluster
 * differs from one process: numbering and shipping batches, replay, listings, health. Without
 * one (a single sidecar) the hub calls its groups directly.
 */
export interface Backplane {
  readonly kind: 'redis';
  /** Starts sharing. Never fails because the backplane is out of reach: it keeps retrying. */
  start(): Promise<void>;
  /**
   * The hot path: hands a batch published on this node (origin: its sender, or null for HTTP)
   * to the group's members here at once and, when shared, to every other node. Returns the
   * members here it was handed to.
   */
  publish(group: Group, batch: Batch, origin: Member | null): number;
  /** Throws when a batch of `bytes` cannot be queued for sharing now (HTTP answers 503 before publishing). */
  admit(bytes: number): void;
  /** Resolves once a batch passed to publish has its ids; undefined when it already has them. */
  numbered(batch: Batch): Promise<void> | undefined;
  /** Sends a new SSE member what it asked to replay; it receives live messages afterwards. */
  replay(group: Group, member: SseMember, start: StartPoint): Promise<void> | undefined;
  /** Held messages of a group from a start point; null for a group unknown everywhere. */
  page(
    name: string,
    start: StartPoint,
    limit: number,
    local: Group | undefined,
  ): Promise<HistoryPage | null>;
  /** A pattern (RESP PSUBSCRIBE) is now held on this node, or no longer is: follow it cluster-wide. */
  watchPattern(pattern: string): void;
  unwatchPattern(pattern: string): void;
  /** This node has presence listeners for a group, or no longer has: receive other nodes' events. */
  watchPresence(group: string): void;
  unwatchPresence(group: string): void;
  /** A join or leave event of this node (its JSON), for other nodes' listeners; fire and forget. */
  sharePresence(group: string, json: string): void;
  /** A member joined or left a group on this node (after the group counted it). */
  joined(group: Group, member: Member): void;
  left(group: Group, member: Member): void;
  /** The listings of every node, given this node's own. */
  groups(local: GroupSummary[]): Promise<GroupSummary[]>;
  group(name: string, local: GroupDetail | null): Promise<GroupDetail | null>;
  health(): BackplaneHealth;
  /** Adds the backplane's own metrics to the sidecar's registry. */
  registerMetrics(register: Registry): void;
  /** Stops sharing and withdraws this node from the cluster's listings (idempotent). */
  close(): Promise<void>;
}

export interface BackplaneHealth {
  /** True while sharing is interrupted: the node serves its own members only. */
  degraded: boolean;
  /** Shown under `backplane` in /healthz. */
  detail: { kind: Backplane['kind'] | 'memory'; [field: string]: unknown };
}
