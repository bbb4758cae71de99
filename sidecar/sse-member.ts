import { nanoid } from 'nanoid';
import type { GroupcastError } from '../shared/errors.ts';
import type { Subscriber, Subscription, TakenListener } from '../shared/hub.ts';
import type { Batch } from '../shared/message.ts';
import type { SseTarget } from '../shared/sse-fanout.ts';
import type { Group } from './group.ts';
import type { Member } from './member.ts';
import type { PresenceListener } from './presence.ts';

/**
 * `lastSeq` of an SSE member whose replay is still being fetched (from Redis): nothing live
 * reaches it before its replay.
 */
export const PARKED = Number.POSITIVE_INFINITY;

/** Where a subscription's end is told: the hub's bookkeeping for its SSE members. */
export interface SubscriptionOwner {
  unsubscribed(member: SseMember, group: Group, reason?: GroupcastError): void;
}

/**
 * An SSE subscriber as a member. Batches handed to it within one event-loop turn are written as
 * one chunk once the turn ends, and members that start the turn at the same batch share that
 * chunk (the group's SseFanout keeps the turn). It is also the hub's Subscription for its stream
 * and the listener its stream tells of bytes taken: one object per subscriber, not a closure
 * and a context for each role (measured at 10,000 idle subscribers, every object counts).
 */
export class SseMember implements Member, SseTarget, Subscription, TakenListener {
  // Kind and id live on the prototype or come when first asked, as for TCP members.
  get transport(): 'sse' {
    return 'sse';
  }
  get needsIds(): true {
    return true;
  }
  get id(): string {
    this.#id ??= nanoid(10);
    return this.#id;
  }
  #id: string | undefined;
  readonly remote: string;
  readonly joinedAt = Date.now();
  readonly subscriber: Subscriber;
  /** Position in its group's member list. */
  groupSlot = -1;
  /** Position in its group's SSE fan-out. */
  slot = -1;
  over = false;
  detached = false;
  /** Newest seq this subscriber has been sent. */
  lastSeq = 0;
  turnFrom = -1;
  turnStrict = false;
  /** Others coming and going in its group, when the client asked (`?presence`). */
  presence: PresenceListener | null = null;
  #group: Group | null = null;
  /** The group it subscribed to, until unsubscribed (it may have been removed before). */
  #home: Group | null = null;
  #owner: SubscriptionOwner | null;
  /** Bytes its connection had taken when progress was last asked. */
  #taken = 0;

  constructor(subscriber: Subscriber, owner: SubscriptionOwner) {
    this.subscriber = subscriber;
    this.remote = subscriber.remote;
    this.#owner = owner;
    subscriber.takenBy = this;
  }

  get pendingBytes(): number {
    return this.subscriber.pendingBytes;
  }

  joined(group: Group): void {
    this.#group = group;
    this.#home = group;
    group.sseFanout.add(this);
  }

  left(): void {
    this.#group?.sseFanout.remove(this);
    this.#group = null;
  }

  deliver(batch: Batch, pausable: boolean): void {
    this.#group?.sseFanout.deliver(this, batch, pausable && !this.detached);
  }

  /** After the turn's chunk was written: over the high-water mark, the group's publishers wait. */
  written(): void {
    const group = this.#group;
    if (group && !this.over && this.pendingBytes > group.flow.high) group.rise(this);
  }

  progress(): boolean {
    const taken = this.subscriber.takenBytes;
    if (taken <= this.#taken) return false;
    this.#taken = taken;
    return true;
  }

  close(reason?: GroupcastError): void {
    this.subscriber.close(reason);
  }

  /** The connection took bytes: under the low-water mark, the group's publishers go on. */
  taken(): void {
    const group = this.#group;
    if (group && this.over && this.pendingBytes <= group.flow.low) group.fall(this);
  }

  /** Subscription: the stream ended; the hub drops the member (idempotent). */
  unsubscribe(reason?: GroupcastError): void {
    const owner = this.#owner;
    const home = this.#home;
    this.#owner = null;
    if (owner && home) owner.unsubscribed(this, home, reason);
  }
}
