import type { Framing } from '../shared/framing/index.ts';
import type { ListenerStatus } from '../shared/hub.ts';
import type { Batch, Transport } from '../shared/message.ts';
import type { Group } from './group.ts';
import type { Logger } from './logger.ts';
import type { Member } from './member.ts';
import type { MemoryKind } from './memory-budget.ts';
import type { PatternRegistry } from './pattern-registry.ts';
import type { Presence } from './presence.ts';

/**
 * What the raw-socket servers and their members need of the hub, and nothing else: joining and
 * leaving groups, publishing, the memory budget, and counting. The LocalHub implements it.
 */
export interface HubPort {
  /** Framing of TCP members: decoders and encoders of batches. */
  readonly codec: Framing;
  readonly log: Logger;
  /** Listener states, filled in by the servers. */
  readonly listeners: Record<string, ListenerStatus>;
  /** This sidecar's id among the nodes sharing groups. */
  readonly node: string;
  /** Pattern subscriptions: they follow matching groups as groups are created. */
  readonly patterns: PatternRegistry;
  /** Listeners to members coming and going, by group. */
  readonly presence: Presence;
  /** Every group held now. */
  allGroups(): IterableIterator<Group>;
  /** The group, created if needed (throws TOO_MANY_GROUPS). */
  groupFor(name: string): Group;
  findGroup(name: string): Group | undefined;
  /** Adds a member to a group; throws GROUP_FULL or TOO_MANY_GROUPS. */
  join(name: string, member: Member): Group;
  /** Drops a member from its group; `reason` is an error code or `closed` (SLOW_CONSUMER is counted). */
  leave(group: Group, member: Member, reason: string): void;
  /** Publishes a batch read from a socket (origin: its sender, or null); returns its recipients. */
  publishBatch(group: Group, batch: Batch, origin: Member | null, transport: Transport): number;
  /** Throws BACKPLANE_BUSY when too much waits to be shared with other nodes. */
  admit(bytes: number): void;
  /** Open connections of a transport. */
  connectionsOf(transport: 'tcp' | 'sse' | 'resp'): number;
  /** True while the memory budget is used up: publishers that can pause, pause. */
  readonly overBudget: boolean;
  /** Calls `fn` once the memory budget has room again. */
  whenUnderBudget(fn: () => void): void;
  /** Charges (or, negative, releases) memory of a kind against the budget. */
  charge(kind: MemoryKind, bytes: number): void;
  /** Throws TOO_MANY_CONNECTIONS when one more connection would pass the limit. */
  checkConnectionLimit(): void;
  /** A TCP connection was accepted from the kernel (refused or not). */
  accepted(transport: 'tcp' | 'resp'): void;
  /** A connection opened or closed, against maxConnections. */
  opened(transport: 'tcp' | 'resp'): void;
  closed(transport: 'tcp' | 'resp'): void;
  /** Counts what a member was sent. */
  sent(transport: Transport, messages: number, bytes: number): void;
  /**
   * Members of each group on every node, pattern followers aside (PUBSUB NUMSUB), from the
   * cluster's listing; null for a sidecar on its own (its groups' counts are the answer).
   */
  subscriberCounts(names: string[]): Promise<number[]> | null;
  /** Counts a refused input by error code. */
  reject(code: string): void;
  /** Counts messages that could not be carried, by reason. */
  drop(reason: string, n?: number): void;
}
