import { GroupBusyError } from '../shared/errors.ts';
import type { GroupCounts, HistoryPage, StartPoint } from '../shared/hub.ts';
import { type Batch, formatId, type Message } from '../shared/message.ts';
import { encodeBatchAfter, encodeGap, encodePosition, type GapInfo } from '../shared/sse.ts';
import { SseFanout } from '../shared/sse-fanout.ts';
import type { FlowControl } from './flow.ts';
import type { History } from './history.ts';
import type { Member } from './member.ts';
import { resolveStart } from './replay.ts';
import { PARKED, type SseMember } from './sse-member.ts';
import type { Stats } from './stats.ts';

export { PARKED, SseMember } from './sse-member.ts';

/**
 * How a batch reaches a group. `local`: published on a sidecar on its own, numbered here, for
 * every member but its origin. With a cluster, a batch published here is `early` (for the members
 * that need no ids, at once) and then `numbered` (kept, for the members that need its ids, once
 * the cluster numbered it); one published on another node is `remote` (kept, for every member;
 * it cannot be paused, so it meets the members' hard limits).
 */
export type Arrival = 'local' | 'early' | 'numbered' | 'remote';

/** Which members a delivery reaches (on the cluster path SSE members wait for the ids). */
const ALL = 0;
const NOW = 1;
const NUMBERED = 2;
type Scope = typeof ALL | typeof NOW | typeof NUMBERED;

/**
 * A named group: its members, its message sequence, its replay history and its flow control.
 * Every batch is handed to every member but its origin; while any member is over the high-water
 * mark the group is congested, and publishers that can wait (TCP sockets, POSTs) wait until it
 * drains. SSE members write what a turn brought as one chunk.
 */
export class Group {
  readonly name: string;
  /**
   * Start of this group's id sequence (ms); ids are `<epoch>-<seq>`. Fixed in memory; with a
   * backplane it follows the cluster's sequence (see restart).
   */
  epoch: number;
  readonly createdAt = Date.now();
  seq = 0;
  readonly members: Member[] = [];
  /** The SSE members, and the turn they are written once a turn. */
  readonly sseFanout: SseFanout<SseMember>;
  readonly history: History;
  readonly flow: FlowControl;
  /** Members over the high-water mark. */
  #over = 0;
  /** Members here only through a pattern (they do not keep the group alive). */
  followers = 0;
  /**
   * Deliveries beyond one per member: a Redis client subscribed to the channel and to matching
   * patterns takes each message once per subscription, and Redis's PUBLISH counts each.
   */
  extraDeliveries = 0;
  /** Publishers waiting for the group to drain. */
  #waiters: (() => void)[] = [];
  readonly counts: GroupCounts = { tcp: 0, udp: 0, sse: 0, resp: 0 };
  messagesIn = 0;
  bytesIn = 0;
  deliveries = 0;
  /** Told when a member in the group starts or stops being only a pattern follower. */
  onFollower: ((member: Member) => void) | null = null;
  /** Told when a member (not a pattern follower) comes or goes: presence events. */
  onPresence: ((type: 'join' | 'leave', member: Member) => void) | null = null;
  /** Payload bytes handed to members (each delivery counts its bytes). */
  bytesOut = 0;
  /** When the newest message was received (ms since the epoch), 0 before the first. */
  lastTime = 0;
  /** Set by the hub while the group has no members and waits to expire. */
  expiry: ReturnType<typeof setTimeout> | undefined;

  constructor(name: string, epoch: number, history: History, stats: Stats, flow: FlowControl) {
    this.name = name;
    this.epoch = epoch;
    this.history = history;
    this.flow = flow;
    const out = stats.byTransport.sse;
    this.sseFanout = new SseFanout((messages, bytes) => {
      out.messagesOut += messages;
      out.bytesOut += bytes;
    });
  }

  get sse(): readonly SseMember[] {
    return this.sseFanout.targets;
  }

  get size(): number {
    return this.members.length;
  }

  /** Members that keep the group alive (all but pattern followers). */
  get anchored(): number {
    return this.members.length - this.followers;
  }

  /** True while a member is over the high-water mark: publishers that can wait, wait. */
  get congested(): boolean {
    return this.#over > 0;
  }

  get lastId(): string | null {
    return this.seq === 0 ? null : formatId(this.epoch, this.seq);
  }

  add(member: Member): void {
    member.groupSlot = this.members.length;
    this.members.push(member);
    this.counts[member.transport]++;
    if (member.follower) this.followers++;
    member.joined(this);
    if (!member.follower) this.onPresence?.('join', member);
  }

  /** Removes a member in O(1); returns false if it was not here. */
  remove(member: Member): boolean {
    const list = this.members;
    const at = member.groupSlot;
    if (at < 0 || list[at] !== member) return false;
    const last = list.pop() as Member;
    if (last !== member) {
      list[at] = last;
      last.groupSlot = at;
    }
    member.groupSlot = -1;
    this.counts[member.transport]--;
    if (member.follower) this.followers--;
    this.fall(member);
    member.left();
    if (!member.follower) this.onPresence?.('leave', member);
    return true;
  }

  /** A member in this group starts or stops being only a pattern follower. */
  markFollower(member: Member & { follower: boolean }, follower: boolean): void {
    if (member.follower === follower) return;
    member.follower = follower;
    if (member.groupSlot < 0) return;
    this.followers += follower ? 1 : -1;
    this.onFollower?.(member);
    this.onPresence?.(follower ? 'leave' : 'join', member);
  }

  /** A member's unsent bytes passed the high-water mark: the group is congested until it drains. */
  rise(member: Member): void {
    if (member.over || member.groupSlot < 0) return;
    member.over = true;
    this.#over++;
    this.flow.watch(member, this);
  }

  /** A member drained to the low-water mark (or left): publishers resume once none is over. */
  fall(member: Member): void {
    if (!member.over) return;
    member.over = false;
    this.flow.unwatch(member);
    if (member.detached) member.detached = false;
    else this.#ease();
  }

  /** An over member that takes nothing stops holding the publishers (flow control's watch). */
  detach(member: Member): void {
    if (!member.over || member.detached) return;
    member.detached = true;
    this.#ease();
  }

  /** A detached member took bytes again while still over the mark: it holds them again. */
  attach(member: Member): void {
    if (!member.over || !member.detached) return;
    member.detached = false;
    this.#over++;
  }

  #ease(): void {
    this.#over--;
    if (this.#over === 0 && this.#waiters.length > 0) {
      const waiting = this.#waiters;
      this.#waiters = [];
      for (const fn of waiting) fn();
    }
  }

  /** Calls `fn` once no member is over the high-water mark (at once if none is). */
  whenDrained(fn: () => void): void {
    if (this.#over === 0) fn();
    else this.#waiters.push(fn);
  }

  /** Resolves once the group is not congested; rejects with GROUP_BUSY after `ms`. */
  drained(ms: number): Promise<void> {
    if (this.#over === 0) return Promise.resolve();
    return new Promise((resolve, reject) => {
      let waiting = true;
      const timer = setTimeout(() => {
        waiting = false;
        reject(new GroupBusyError(ms));
      }, ms);
      this.whenDrained(() => {
        if (!waiting) return;
        clearTimeout(timer);
        resolve();
      });
    });
  }

  /** Numbers a batch published on this node and keeps it for replay. */
  #number(batch: Batch): void {
    batch.epoch = this.epoch;
    batch.firstSeq = this.seq + 1;
    this.seq += batch.count;
    this.#keep(batch);
  }

  #keep(batch: Batch): void {
    this.messagesIn += batch.count;
    this.bytesIn += batch.payloadBytes;
    this.lastTime = batch.time;
    this.history.append(batch);
  }

  /**
   * Takes a batch into the group, however it arrives (see Arrival): numbers or continues the
   * sequence, keeps it for replay, and hands it to the members it is for. Returns them.
   */
  accept(batch: Batch, origin: Member | null, arrival: Arrival): number {
    switch (arrival) {
      case 'local':
        if (batch.count > 0) this.#number(batch);
        return this.#deliver(batch, origin, ALL, true);
      case 'early':
        return this.#deliver(batch, origin, NOW, true);
      case 'numbered':
        this.#continue(batch);
        return this.#deliver(batch, null, NUMBERED, true);
      case 'remote':
        if (batch.count > 0) this.#continue(batch);
        return this.#deliver(batch, null, ALL, false);
    }
  }

  /** A batch the cluster numbered continues the sequence. */
  #continue(batch: Batch): void {
    this.seq = batch.lastSeq;
    this.#keep(batch);
  }

  #deliver(batch: Batch, origin: Member | null, scope: Scope, pausable: boolean): number {
    const members = this.members;
    let recipients = 0;
    // No member leaves the list synchronously from deliver (sockets report their end later, SSE
    // members write after the turn), so the list is walked as it is.
    for (let i = 0; i < members.length; i++) {
      const m = members[i];
      if (m === origin || (scope === NOW && m.needsIds) || (scope === NUMBERED && !m.needsIds)) {
        continue;
      }
      m.deliver(batch, pausable);
      recipients++;
    }
    this.deliveries += recipients * batch.count;
    this.bytesOut += recipients * batch.payloadBytes;
    return recipients;
  }

  /**
   * Cluster path: the sequence continues at `<epoch>-<seq + 1>` (the cluster's sequence was
   * re-created, this node switches to or from ids of its own, or a stretch is lost). Held history
   * no longer fits and is dropped; SSE subscribers are told with a gap event unless `reason` is
   * null (nothing was sent from the old sequence that the new one could contradict).
   */
  restart(epoch: number, seq: number, reason: GapInfo['reason'] | null): void {
    this.sseFanout.flush();
    const resumedFrom = formatId(epoch, seq + 1);
    const gapAfter = (last: number) =>
      encodeGap({ requested: formatId(this.epoch, last), resumedFrom, reason: reason ?? 'reset' });
    const common = reason && this.seq > 0 ? gapAfter(this.seq) : null;
    for (const t of this.sseFanout.targets.slice()) {
      if (t.lastSeq === PARKED) continue;
      if (reason && t.lastSeq > 0) {
        t.subscriber.write(common && t.lastSeq === this.seq ? common : gapAfter(t.lastSeq));
      }
      t.lastSeq = seq;
    }
    this.epoch = epoch;
    this.seq = seq;
    this.history.restart(seq);
  }

  /** Where a start point leaves off in this group's own history (see resolveStart). */
  resolveStart(start: StartPoint): { afterSeq: number; gap: GapInfo | null } {
    const h = this.history;
    return resolveStart(start, {
      epoch: this.epoch,
      seq: this.seq,
      evictedSeq: h.evictedSeq,
      firstSeq: h.firstSeq,
    });
  }

  /** Sends a new subscriber what it asked to replay; it then receives live messages. */
  replay(member: SseMember, start: StartPoint): void {
    const { afterSeq, gap } = this.resolveStart(start);
    if (gap) member.subscriber.write(encodeGap(gap));
    member.lastSeq = this.seq;
    const parts: Uint8Array[] = [];
    if (afterSeq < this.seq) {
      for (const b of this.history.after(afterSeq)) parts.push(encodeBatchAfter(b, afterSeq));
    }
    // A group that never had a message has no position worth keeping: it may be gone, and
    // re-created under a new epoch, by the time the client comes back.
    if (this.seq > 0) parts.push(encodePosition(formatId(this.epoch, this.seq)));
    // Written part by part: whole batches are the encodings every subscriber shares.
    for (const part of parts) member.subscriber.write(part);
  }

  /** Up to `limit` held messages from a start point, oldest first. */
  page(start: StartPoint, limit: number): HistoryPage {
    const { afterSeq, gap } = this.resolveStart(start);
    const messages: Message[] = [];
    let more = false;
    outer: for (const b of this.history.after(afterSeq)) {
      for (let i = Math.max(0, afterSeq - b.firstSeq + 1); i < b.count; i++) {
        if (messages.length === limit) {
          more = true;
          break outer;
        }
        messages.push({
          group: this.name,
          id: b.id(i),
          data: b.payload(i),
          origin: '',
          time: b.time,
        });
      }
    }
    return { group: this.name, messages, gap, lastId: this.lastId, more };
  }
}
