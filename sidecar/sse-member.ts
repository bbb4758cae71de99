import type { GroupcastError } from '../shared/errors.ts';
import type { Subscriber } from '../shared/hub.ts';
import type { Batch } from '../shared/message.ts';
import type { SseTarget } from '../shared/sse-fanout.ts';
import type { Group } from './group.ts';
import { type Member, Progress } from './member.ts';

/**
 * `lastSeq` of an SSE member whose replay is still being fetched (from Redis): nothing live
 * reaches it before its replay.
 */
export const PARKED = Number.POSITIVE_INFINITY;

/**
 * An SSE subscriber as a member. Batches handed to it within one event-loop turn are written as
 * one chunk once the turn ends, and members that start the turn at the same batch share that
 * chunk (the group's SseFanout keeps the turn).
 */
export class SseMember implements Member, SseTarget {
  readonly transport = 'sse' as const;
  readonly needsIds = true;
  readonly id: string;
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
  #group: Group | null = null;
  readonly #progress = new Progress();

  constructor(id: string, subscriber: Subscriber) {
    this.id = id;
    this.subscriber = subscriber;
    this.remote = subscriber.remote;
    subscriber.onTaken = this.#subscriberOnTaken;
  }

  get pendingBytes(): number {
    return this.subscriber.pendingBytes;
  }

  joined(group: Group): void {
    this.#group = group;
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
    return this.#progress.check(this.subscriber.takenBytes);
  }

  close(reason?: GroupcastError): void {
    this.subscriber.close(reason);
  }

  #subscriberOnTaken = (): void => {
    const group = this.#group;
    if (group && this.over && this.pendingBytes <= group.flow.low) group.fall(this);
  };
}
