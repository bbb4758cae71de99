import { concatBytes } from '../../shared/bytes.ts';
import type { StartPoint } from '../../shared/hub.ts';
import { type Batch, formatId } from '../../shared/message.ts';
import { encodeBatchAfter, encodeGap, encodePosition } from '../../shared/sse.ts';
import type { Group, SseMember } from '../group.ts';
import { resolveStart } from '../replay.ts';
import type { SharedBatch } from './redis-codec.ts';
import type { BackplaneStats } from './redis-stats.ts';

/** A group's shared history at one moment, with the batches a read asked for. */
export interface Snapshot {
  epoch: number;
  seq: number;
  evicted: number;
  bytes: number;
  entries: SharedBatch[];
}

/**
 * unsynced: this node follows no sequence yet (new here, or it had no members for a while);
 * cluster: it follows the cluster's; local: Redis was out of reach and it numbers its own.
 */
type Mode = 'unsynced' | 'cluster' | 'local';

interface Held {
  batch: Batch;
  /** False for a batch this node published (its sockets have it) or cannot frame for them. */
  toSockets: boolean;
  fromOther: boolean;
}

interface Track {
  mode: Mode;
  /** While a hole is read back from the shared history: that read's number (0 otherwise). */
  reading: number;
  /** Batches that arrived after the hole, in order, waiting for the read. */
  held: Held[];
  heldBytes: number;
}

export interface SequencerDeps {
  node: string;
  /** Batches (after, upto] of a group's epoch, from the shared history; what it no longer holds is missing. */
  readRange(group: string, epoch: number, after: number, upto: number): Promise<SharedBatch[]>;
  /** Bytes that may wait while a hole is read back; past it they are dropped and read back later. */
  maxHeldBytes: number;
  stats: BackplaneStats;
}

/**
 * Keeps each group's ids on this node in line with the cluster. Batches from Redis arrive in the
 * cluster's order; each continues the group's sequence, a duplicate is dropped, and a hole (a
 * lost pub/sub connection) is read back from the shared history before anything after it is delivered.
 * While Redis is out of reach, batches published here are numbered here, under an epoch of this
 * node's own (ms x 100 + a per-node digit pair, so it can never be taken for a cluster id). Each
 * switch between sequences reaches SSE subscribers as a gap event, never as a silent jump.
 */
export class Sequencer {
  readonly #deps: SequencerDeps;
  readonly #tracks = new WeakMap<Group, Track>();
  readonly #salt: number;
  #reads = 0;

  constructor(deps: SequencerDeps) {
    this.#deps = deps;
    let h = 0;
    for (let i = 0; i < deps.node.length; i++) h = (h * 31 + deps.node.charCodeAt(i)) >>> 0;
    this.#salt = h % 100;
  }

  #track(group: Group): Track {
    let t = this.#tracks.get(group);
    if (!t) {
      t = { mode: 'unsynced', reading: 0, held: [], heldBytes: 0 };
      this.#tracks.set(group, t);
    }
    return t;
  }

  /** The group stopped listening to the cluster (no members here): it resyncs on its next batch. */
  unsync(group: Group): void {
    const t = this.#tracks.get(group);
    if (!t) return;
    this.#forgetRead(t, false);
    if (t.mode === 'cluster') t.mode = 'unsynced';
  }

  #held(shared: SharedBatch): Held {
    const fromOther = shared.origin !== this.#deps.node;
    return { batch: shared.batch, toSockets: fromOther && !shared.notForSockets, fromOther };
  }

  /** A batch from the channel. */
  fromRedis(group: Group, shared: SharedBatch): void {
    const t = this.#track(group);
    const h = this.#held(shared);
    if (t.reading !== 0) this.#hold(t, h);
    else this.#accept(group, t, h);
  }

  #hold(t: Track, h: Held): void {
    const bytes = h.batch.wire.byteLength;
    if (t.heldBytes + bytes > this.#deps.maxHeldBytes) {
      // Dropped for now: the next batch after the hole finds it missing and reads it back.
      this.#deps.stats.count('held_dropped', h.batch.count);
      return;
    }
    t.held.push(h);
    t.heldBytes += bytes;
  }

  #accept(group: Group, t: Track, h: Held): void {
    const batch = h.batch;
    if (batch.count === 0) {
      if (h.toSockets) group.deliverToSockets(batch, null);
      return;
    }
    if (t.mode !== 'cluster') {
      group.restart(batch.epoch, batch.firstSeq - 1, t.mode === 'local' ? 'reset' : null);
      t.mode = 'cluster';
    } else if (batch.epoch !== group.epoch) {
      if (batch.epoch < group.epoch) {
        // From a sequence this node already left behind (its snapshot saw the newer one first).
        this.#deps.stats.count('stale', batch.count);
        return;
      }
      group.restart(batch.epoch, batch.firstSeq - 1, 'reset');
    } else if (batch.lastSeq <= group.seq) {
      return;
    } else if (batch.firstSeq > group.seq + 1) {
      this.#fillHole(group, t, h);
      return;
    }
    this.#deliver(group, h);
  }

  #deliver(group: Group, h: Held): void {
    group.acceptNumbered(h.batch, h.toSockets);
    if (h.fromOther) this.#deps.stats.received += h.batch.count;
  }

  #fillHole(group: Group, t: Track, h: Held): void {
    const batch = h.batch;
    const read = ++this.#reads;
    t.reading = read;
    t.held = [h];
    t.heldBytes = batch.wire.byteLength;
    const epoch = group.epoch;
    const upto = batch.firstSeq - 1;
    this.#deps.stats.count('holes', 1);
    const done = (entries: SharedBatch[]) => {
      if (t.reading !== read) return;
      t.reading = 0;
      if (t.mode === 'cluster' && group.epoch === epoch) {
        for (const e of entries) {
          if (e.batch.lastSeq <= group.seq) continue;
          if (e.batch.firstSeq > group.seq + 1) this.#skip(group, e.batch.firstSeq - 1);
          this.#deliver(group, this.#held(e));
        }
        if (group.seq < upto) this.#skip(group, upto);
      }
      this.#drain(group, t);
    };
    this.#deps.readRange(group.name, epoch, group.seq, upto).then(done, () => done([]));
  }

  /** Messages the shared history no longer holds: counted, and SSE subscribers are told. */
  #skip(group: Group, toSeq: number): void {
    this.#deps.stats.count('lost', toSeq - group.seq);
    group.restart(group.epoch, toSeq, 'evicted');
  }

  #drain(group: Group, t: Track): void {
    const held = t.held;
    t.held = [];
    t.heldBytes = 0;
    for (const h of held) {
      if (t.reading !== 0) this.#hold(t, h);
      else this.#accept(group, t, h);
    }
  }

  /** Abandons a read in progress; what waited for it is dropped (counted when someone was waiting). */
  #forgetRead(t: Track, count: boolean): void {
    if (t.reading === 0) return;
    t.reading = 0;
    let n = 0;
    for (const h of t.held) n += h.batch.count;
    if (count && n > 0) this.#deps.stats.count('lost', n);
    t.held = [];
    t.heldBytes = 0;
  }

  /** A batch published here that Redis cannot take: numbered here (see the class comment). */
  local(group: Group, batch: Batch): void {
    if (batch.count === 0) return;
    const t = this.#track(group);
    if (t.mode !== 'local') {
      this.#forgetRead(t, true);
      const epoch = Math.max(Date.now(), Math.floor(group.epoch / 100) + 1) * 100 + this.#salt;
      group.restart(epoch, 0, 'reset');
      t.mode = 'local';
    }
    batch.epoch = group.epoch;
    batch.firstSeq = group.seq + 1;
    group.acceptNumbered(batch, false);
  }

  /**
   * A new SSE member's replay from a snapshot of the shared history (read after this node was
   * listening to the group's channel), then what this node received since, then live.
   */
  merge(group: Group, member: SseMember, start: StartPoint, snap: Snapshot | null): void {
    const t = this.#track(group);
    if (snap === null || (t.mode === 'cluster' && snap.epoch < group.epoch)) {
      // No shared history, or one older than what already arrived: this node's own serves.
      member.lastSeq = 0;
      group.replay(member, start);
      return;
    }
    if (t.mode !== 'cluster' || snap.epoch > group.epoch) {
      group.restart(snap.epoch, snap.seq, t.mode === 'unsynced' ? null : 'reset');
      t.mode = 'cluster';
      // What waited for a read of the old sequence is measured against the new one.
      t.reading = 0;
      this.#drain(group, t);
    }
    const { afterSeq, gap } = resolveStart(start, {
      epoch: snap.epoch,
      seq: snap.seq,
      evictedSeq: snap.evicted,
      firstSeq: snap.seq > snap.evicted ? snap.evicted + 1 : 0,
    });
    const parts: Uint8Array[] = [];
    if (gap) parts.push(encodeGap(gap));
    for (const e of snap.entries) {
      if (e.batch.lastSeq > afterSeq) parts.push(encodeBatchAfter(e.batch, afterSeq));
    }
    const last = Math.max(afterSeq, snap.seq);
    if (group.seq > last) {
      // Arrived here after the snapshot was read.
      const h = group.history;
      if (h.firstSeq === 0 || h.firstSeq > last + 1) {
        const resumed = h.firstSeq === 0 ? group.seq + 1 : h.firstSeq;
        parts.push(
          encodeGap({
            requested: formatId(snap.epoch, last),
            resumedFrom: formatId(snap.epoch, resumed),
            reason: 'evicted',
          }),
        );
      }
      for (const b of h.after(last)) parts.push(encodeBatchAfter(b, last));
    }
    member.lastSeq = Math.max(last, group.seq);
    // As in memory (see Group.replay): where the stream starts, for a client cut before its first message.
    if (member.lastSeq > 0) parts.push(encodePosition(formatId(snap.epoch, member.lastSeq)));
    if (parts.length > 0) member.subscriber.write(concatBytes(parts));
  }
}
