import type { GroupCounts, HistoryPage, StartPoint, Subscriber } from '../shared/hub.ts';
import { type Batch, formatId, type Message } from '../shared/message.ts';
import { encodeBatchAfter, encodeGap, encodePosition, type GapInfo } from '../shared/sse.ts';
import { SseFanout, type SseTarget } from '../shared/sse-fanout.ts';
import type { History } from './history.ts';
import type { Member } from './member.ts';
import { resolveStart } from './replay.ts';
import type { Stats } from './stats.ts';

/**
 * `lastSeq` of an SSE member whose replay is still being fetched (from Redis): the fan-out skips
 * it, so nothing live reaches it before its replay.
 */
export const PARKED = Number.POSITIVE_INFINITY;

/** An SSE subscriber as a member: the group writes shared event-stream bytes to it once a turn. */
export class SseMember implements Member, SseTarget {
  readonly transport = 'sse' as const;
  readonly id: string;
  readonly remote: string;
  readonly joinedAt = Date.now();
  readonly subscriber: Subscriber;
  slot = -1;
  /** Newest seq this subscriber has been sent. */
  lastSeq = 0;

  constructor(id: string, subscriber: Subscriber) {
    this.id = id;
    this.subscriber = subscriber;
    this.remote = subscriber.remote;
  }

  get pendingBytes(): number {
    return this.subscriber.pendingBytes;
  }

  deliver(): void {
    // SSE members are fed by Group#flushSse, once per turn, not per batch.
  }

  close(): void {
    this.subscriber.close();
  }
}

/**
 * A named group: its members, its message sequence and its replay history. Fan-out to TCP and
 * UDP members happens per batch; SSE subscribers get everything published in a turn as one chunk.
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
  readonly sseFanout: SseFanout<SseMember>;
  readonly history: History;
  readonly counts: GroupCounts = { tcp: 0, udp: 0, sse: 0 };
  messagesIn = 0;
  bytesIn = 0;
  deliveries = 0;
  /** Payload bytes handed to members (each delivery counts its bytes). */
  bytesOut = 0;
  /** When the newest message was received (ms since the epoch), 0 before the first. */
  lastTime = 0;
  /** Set by the hub while the group has no members and waits to expire. */
  expiry: ReturnType<typeof setTimeout> | undefined;

  constructor(name: string, epoch: number, history: History, stats: Stats) {
    this.name = name;
    this.epoch = epoch;
    this.history = history;
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
    return this.members.length + this.sseFanout.size;
  }

  get lastId(): string | null {
    return this.seq === 0 ? null : formatId(this.epoch, this.seq);
  }

  add(member: Member): void {
    if (member instanceof SseMember) this.sseFanout.add(member);
    else {
      member.slot = this.members.length;
      this.members.push(member);
    }
    this.counts[member.transport]++;
  }

  /** Removes a member in O(1); returns false if it was not here. */
  remove(member: Member): boolean {
    if (member instanceof SseMember) {
      if (!this.sseFanout.remove(member)) return false;
    } else {
      const list = this.members;
      const at = member.slot;
      if (at < 0 || list[at] !== member) return false;
      const last = list.pop() as Member;
      if (last !== member) {
        list[at] = last;
        last.slot = at;
      }
      member.slot = -1;
    }
    this.counts[member.transport]--;
    return true;
  }

  /** Numbers the batch, keeps it for replay and hands it to every member but its origin. */
  publish(batch: Batch, origin: Member | null): number {
    if (batch.count > 0) {
      batch.epoch = this.epoch;
      batch.firstSeq = this.seq + 1;
      this.seq += batch.count;
      this.messagesIn += batch.count;
      this.bytesIn += batch.payloadBytes;
      this.lastTime = batch.time;
      this.history.append(batch);
    }
    let recipients = this.deliverToSockets(batch, origin);
    if (batch.count > 0 && this.sseFanout.size > 0) {
      this.sseFanout.push(batch);
      recipients += this.sseFanout.size;
      this.deliveries += this.sseFanout.size * batch.count;
      this.bytesOut += this.sseFanout.size * batch.payloadBytes;
    }
    return recipients;
  }

  /**
   * Hands a batch to every socket member (TCP, UDP) but its origin, at once. On the cluster path
   * SSE subscribers get it only once the cluster has numbered it (acceptNumbered).
   */
  deliverToSockets(batch: Batch, origin: Member | null): number {
    const members = this.members;
    let recipients = 0;
    for (let i = 0; i < members.length; i++) {
      const m = members[i];
      if (m !== origin) {
        m.deliver(batch);
        recipients++;
      }
    }
    this.deliveries += recipients * batch.count;
    this.bytesOut += recipients * batch.payloadBytes;
    return recipients;
  }

  /**
   * Cluster path: a batch that already has its ids (from the cluster, or from this node while
   * the cluster is out of reach) continues the sequence: kept for replay, sent to SSE subscribers
   * and, unless this node published it (its sockets already have it), to socket members.
   */
  acceptNumbered(batch: Batch, toSockets: boolean): number {
    this.seq = batch.lastSeq;
    this.messagesIn += batch.count;
    this.bytesIn += batch.payloadBytes;
    this.lastTime = batch.time;
    this.history.append(batch);
    let recipients = toSockets ? this.deliverToSockets(batch, null) : 0;
    if (this.sseFanout.size > 0) {
      this.sseFanout.push(batch);
      recipients += this.sseFanout.size;
      this.deliveries += this.sseFanout.size * batch.count;
      this.bytesOut += this.sseFanout.size * batch.payloadBytes;
    }
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
