import type { Registry } from 'prom-client';
import type { GroupDetail, GroupSummary, HistoryPage, StartPoint } from '../../shared/hub.ts';
import type { Batch } from '../../shared/message.ts';
import type { Group, SseMember } from '../group.ts';
import type { Member } from '../member.ts';

/**
 * How this node's groups meet the same groups on other nodes. The hub calls it at each point
 * where a cluster differs from one process: publishing, numbering, replay, listings, health.
 * `memory` is one process (today's hub, unchanged); `redis` shares groups between sidecars.
 */
export interface Backplane {
  readonly kind: 'memory' | 'redis';
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
  detail: { kind: Backplane['kind']; [field: string]: unknown };
}
