import type { GroupcastError } from '../shared/errors.ts';
import type { MemberInfo } from '../shared/hub.ts';
import type { Batch } from '../shared/message.ts';
import type { Group } from './group.ts';

/**
 * A member of a group as the group sees it, whatever its transport (a TCP socket, a UDP address,
 * an SSE stream): the group hands it batches, reads its unsent bytes and progress, and closes it.
 * Each kind lives in its own file; the group never asks which kind it has.
 */
export interface Member {
  readonly id: string;
  readonly transport: MemberInfo['transport'];
  readonly remote: string;
  readonly joinedAt: number;
  /**
   * True for members that are sent messages with their ids (SSE): on the cluster path they get
   * a batch once the cluster has numbered it; the others get it at once.
   */
  readonly needsIds: boolean;
  /** The client's name, where it set one (a Redis client's CLIENT SETNAME). */
  readonly name?: string;
  /**
   * True for a member that is in the group only because a pattern it follows matches the group's
   * name (a RESP PSUBSCRIBE): it receives the group's messages but does not keep the group alive.
   */
  readonly follower?: boolean;
  /** Position in its group's member list, kept by the group for O(1) removal. */
  groupSlot: number;
  /** Set by the group while the member's unsent bytes are over the high-water mark. */
  over: boolean;
  /**
   * Set by the group while the member is over the mark and takes nothing: it does not hold the
   * group back, and everything it is handed meets its hard queue limit.
   */
  detached: boolean;
  /** The member is now in `group` (and receives its batches) / no longer is. */
  joined(group: Group): void;
  left(): void;
  /**
   * Hands a batch over for sending. Never throws. `pausable`: the batch comes from a source that
   * flow control slows down (a TCP publisher, a POST), so the member queues it whatever its size;
   * otherwise (UDP, other nodes), or while detached, a member past its hard queue limit is cut.
   */
  deliver(batch: Batch, pausable: boolean): void;
  /** Bytes handed over and not yet taken by the connection. */
  readonly pendingBytes: number;
  /** True when the connection took some of the unsent bytes since the last call. */
  progress(): boolean;
  /** Disconnects the member (idempotent); the group drops it when its transport reports the end. */
  close(reason?: GroupcastError): void;
}

/** Remembers how much a member's connection had taken when last asked, for `progress()`. */
export class Progress {
  #taken = 0;

  /** `taken`: bytes the connection has taken since it opened. True when that grew. */
  check(taken: number): boolean {
    if (taken <= this.#taken) return false;
    this.#taken = taken;
    return true;
  }
}

export function memberInfo(m: Member, node: string): MemberInfo {
  return {
    id: m.id,
    transport: m.transport,
    remote: m.remote,
    joinedAt: new Date(m.joinedAt).toISOString(),
    pendingBytes: m.pendingBytes,
    node,
    ...(m.name ? { name: m.name } : {}),
    ...(m.follower ? { follower: true } : {}),
  };
}
