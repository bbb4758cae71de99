import { nanoid } from 'nanoid';
import type { GroupcastError } from '../../shared/errors.ts';
import type { Batch } from '../../shared/message.ts';
import type { Group } from '../group.ts';
import { type Member, Progress } from '../member.ts';
import { messagePushes, sharedPushes } from './resp-encode.ts';

/** What a RESP member needs of its connection: one socket shared by all its groups. */
export interface RespLink {
  readonly remote: string;
  readonly proto: 2 | 3;
  readonly name: string | undefined;
  /** Bytes written to the socket and not yet taken by the kernel. */
  readonly pendingBytes: number;
  /** Bytes the kernel took since the connection opened. */
  readonly takenBytes: number;
  /** Writes pushes for `messages` messages; returns false once the connection is closed. */
  send(bytes: Buffer, messages: number, pausable: boolean): boolean;
  close(reason?: GroupcastError): void;
  /** The member left its group (the group dropped it, or the connection closed). */
  forget(member: RespMember): void;
}

const utf8 = new TextEncoder();
/** A group's name as bytes, shared by every RESP member of the group (so encodings are shared too). */
const channelBytes = new WeakMap<Group, Uint8Array>();

function channelOf(group: Group): Uint8Array {
  let bytes = channelBytes.get(group);
  if (!bytes) {
    bytes = utf8.encode(group.name);
    channelBytes.set(group, bytes);
  }
  return bytes;
}

/**
 * A Redis client's place in one group. A connection has one per group it receives from, for
 * whatever reasons it does: subscribed to the channel (`message` pushes), to the shard channel
 * (`smessage`), and every pattern of its that matches (`pmessage`), as Redis sends them. With
 * only patterns it is a follower: it does not keep the group alive.
 */
export class RespMember implements Member {
  readonly transport = 'resp' as const;
  readonly needsIds = false;
  readonly id = nanoid(10);
  readonly joinedAt = Date.now();
  readonly link: RespLink;
  readonly groupName: string;
  groupSlot = -1;
  over = false;
  detached = false;
  follower = true;
  direct = false;
  shard = false;
  /** Patterns of the connection that match this group, in subscription order. */
  readonly patterns = new Set<Buffer>();
  group: Group | null = null;
  readonly #progress = new Progress();
  /** What this member adds to its group's extraDeliveries now. */
  #extra = 0;

  constructor(link: RespLink, groupName: string) {
    this.link = link;
    this.groupName = groupName;
  }

  get remote(): string {
    return this.link.remote;
  }

  get name(): string | undefined {
    return this.link.name;
  }

  get pendingBytes(): number {
    return this.link.pendingBytes;
  }

  /** True while it has a reason to stay in the group. */
  get wanted(): boolean {
    return this.direct || this.shard || this.patterns.size > 0;
  }

  joined(group: Group): void {
    this.group = group;
    this.recount();
  }

  left(): void {
    if (this.group) this.group.extraDeliveries -= this.#extra;
    this.#extra = 0;
    this.group = null;
    this.link.forget(this);
  }

  /** Its subscriptions changed: keeps its group's count of extra deliveries right. */
  recount(): void {
    if (!this.group) return;
    const takes = (this.direct ? 1 : 0) + (this.shard ? 1 : 0) + this.patterns.size;
    const extra = Math.max(0, takes - 1);
    this.group.extraDeliveries += extra - this.#extra;
    this.#extra = extra;
  }

  deliver(batch: Batch, pausable: boolean): void {
    const group = this.group;
    if (!group || batch.count === 0) return;
    const proto = this.link.proto;
    const channel = channelOf(group);
    let out: Buffer | undefined;
    const parts: Buffer[] = [];
    if (this.direct) parts.push(sharedPushes(batch, 'message', channel, proto));
    if (this.shard) parts.push(sharedPushes(batch, 'smessage', channel, proto));
    for (const p of this.patterns) parts.push(messagePushes(batch, 'pmessage', channel, p, proto));
    if (parts.length === 1) out = parts[0];
    else if (parts.length > 1) out = Buffer.concat(parts);
    if (!out) return;
    const messages = batch.count * parts.length;
    if (!this.link.send(out, messages, pausable && !this.detached)) return;
    if (!this.over && this.link.pendingBytes > group.flow.high) group.rise(this);
  }

  progress(): boolean {
    return this.#progress.check(this.link.takenBytes);
  }

  close(reason?: GroupcastError): void {
    this.link.close(reason);
  }
}
