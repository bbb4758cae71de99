import { concatBytes } from '../../../shared/bytes.ts';
import type { StartPoint } from '../../../shared/hub.ts';
import { type Batch, formatId } from '../../../shared/message.ts';
import { encodeBatchAfter, encodeGap, encodePosition } from '../../../shared/sse.ts';
import { type Group, PARKED, type SseMember } from '../../group.ts';
import type { Logger } from '../../logger.ts';
import type { SharedBatch } from './codec.ts';
import { type Hole, resolveSnapshotStart } from './history.ts';
import type { BackplaneStats } from './stats.ts';

/** A group's shared history at one moment, with the batches a read asked for. */
export interface Snapshot {
  epoch: number;
  seq: number;
  evicted: number;
  bytes: number;
  entries: SharedBatch[];
  /** Ids among the entries' that the history holds no batch for. */
  holes?: Hole[];
}

/**
 * unsynced: this node follows no sequence yet (new here, or it had no members for a while);
 * cluster: it follows the cluster's; local: Redis was out of reach and it numbers its own.
 */
type Mode = 'unsynced' | 'cluster' | 'local';

/** A batch from the channel, in the order it arrived. */
interface Held {
  epoch: number;
  firstSeq: number;
  count: number;
  /**
   * Null for a batch this node published: its channel copy is not read (see OwnEcho), and its
   * batches are taken from the outbox, or from the shared history if the outbox no longer has them.
   */
  batch: Batch | null;
  /** False for a batch this node published (its sockets have it) or cannot frame for them. */
  toSockets: boolean;
  fromOther: boolean;
  /** Where the shared history holds it, when read from there (see SequencerDeps.numberedHere). */
  field?: string;
}

/** A batch this node published, as it came back on the group's channel: its id, not its bytes. */
export interface OwnEcho {
  epoch: number;
  firstSeq: number;
  count: number;
}

const lastOf = (h: Held): number => h.firstSeq + h.count - 1;

interface Track {
  mode: Mode;
  /** While a hole is read back from the shared history: that read's number (0 otherwise). */
  reading: number;
  /** Batches that arrived after the hole, in order, waiting for the read. */
  held: Held[];
  heldBytes: number;
  /** The cluster's position this node had when it last switched to numbering its own (local mode). */
  left: { epoch: number; seq: number } | null;
  /** While a read switches it to another sequence (see #restartAt): where it will start. */
  restarting: { epoch: number; seq: number } | null;
}

/** Why a stretch is read back from the shared history, for the log. */
type ReadWhy = 'hole' | 'own' | 'sequence';

function ownHeld(b: Batch): Held {
  return {
    epoch: b.epoch,
    firstSeq: b.firstSeq,
    count: b.count,
    batch: b,
    toSockets: false,
    fromOther: false,
  };
}

export interface SequencerDeps {
  node: string;
  /**
   * Batches (after, upto] of a group's epoch, from the shared history; what it no longer holds is
   * missing. Waits (bounded) for Redis to answer; rejects when it did not within that wait.
   */
  readRange(
    group: string,
    epoch: number,
    after: number,
    upto: number,
  ): Promise<(SharedBatch | Hole)[]>;
  /**
   * The batches this node published as `<epoch>-<first..last>`, if its outbox still has them: at
   * once, or once Redis's answer for them arrives (their echo can overtake it); null if not.
   */
  published(
    group: Group,
    epoch: number,
    first: number,
    last: number,
  ): Batch[] | null | Promise<Batch[] | null>;
  /**
   * Whether the batch the shared history holds under `field` was published here and numbered
   * here too: Redis took it after this node had given up waiting for its answer. This node's
   * members already have it, under an id of this node's own.
   */
  numberedHere(field: string, count: number): boolean;
  /**
   * Whether an echo of `count` messages of this node's that neither its outbox nor the shared
   * history holds any more is one of those batches (its outbox counts how many it numbered
   * here that Redis may have taken late).
   */
  unconfirmedEcho(count: number): boolean;
  /** Bytes that may wait while a hole is read back; past it they are dropped and read back later. */
  maxHeldBytes: number;
  stats: BackplaneStats;
  log: Logger;
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
      t = { mode: 'unsynced', reading: 0, held: [], heldBytes: 0, left: null, restarting: null };
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

  #held(shared: SharedBatch | Hole): Held {
    if ('hole' in shared) {
      const { epoch, firstSeq, count, field } = shared;
      return { epoch, firstSeq, count, batch: null, toSockets: false, fromOther: true, field };
    }
    const b = shared.batch;
    const fromOther = shared.origin !== this.#deps.node;
    return {
      epoch: b.epoch,
      firstSeq: b.firstSeq,
      count: b.count,
      batch: b,
      toSockets: fromOther && !shared.notForSockets,
      fromOther,
      field: shared.field,
    };
  }

  /** A batch from the channel. */
  fromRedis(group: Group, shared: SharedBatch): void {
    this.#arrived(group, this.#held(shared));
  }

  /** A batch this node published, back from the channel (see OwnEcho). */
  echoed(group: Group, echo: OwnEcho): void {
    this.#arrived(group, { ...echo, batch: null, toSockets: false, fromOther: false });
  }

  #arrived(group: Group, h: Held): void {
    const t = this.#track(group);
    if (t.reading !== 0) this.#hold(t, h);
    else this.#accept(group, t, h);
  }

  #hold(t: Track, h: Held): void {
    const bytes = h.batch?.wire.byteLength ?? 0;
    if (t.heldBytes + bytes > this.#deps.maxHeldBytes) {
      // Dropped for now: the next batch after the hole finds it missing and reads it back.
      this.#deps.stats.count('held_dropped', h.count);
      return;
    }
    t.held.push(h);
    t.heldBytes += bytes;
  }

  #accept(group: Group, t: Track, h: Held): void {
    if (h.count === 0) {
      if (h.toSockets && h.batch) group.accept(h.batch, null, 'remote');
      return;
    }
    if (t.mode !== 'cluster') {
      const wasLocal = t.mode === 'local';
      const left = wasLocal ? t.left : null;
      t.left = null;
      t.mode = 'cluster';
      if (left && h.epoch >= left.epoch) {
        // Back from numbering its own: what the cluster numbered meanwhile (other nodes' batches,
        // and its own that Redis took late) is read back, from where it left the sequence.
        const same = h.epoch === left.epoch;
        this.#restartAt(group, t, h, same ? Math.min(left.seq, h.firstSeq - 1) : 0, same);
        return;
      }
      group.restart(h.epoch, h.firstSeq - 1, wasLocal ? 'reset' : null);
    } else if (h.epoch !== group.epoch) {
      if (h.epoch < group.epoch) {
        // From a sequence this node already left behind (its snapshot saw the newer one first).
        this.#deps.stats.count('stale', h.count);
        return;
      }
      // A new sequence (Redis restarted empty, or the group was re-created): it starts at 1,
      // whatever batch of it this node happens to receive first.
      this.#restartAt(group, t, h, 0, false);
      return;
    } else if (lastOf(h) <= group.seq) {
      return;
    } else if (h.firstSeq > group.seq + 1) {
      this.#deps.stats.count('holes', 1);
      this.#readBack(
        group,
        t,
        h.firstSeq - 1,
        this.#fromHistory(group, h.firstSeq - 1),
        [h],
        'hole',
      );
      return;
    }
    if (h.batch) {
      this.#deliver(group, h);
      return;
    }
    const last = lastOf(h);
    const own = this.#deps.published(group, h.epoch, h.firstSeq, last);
    if (Array.isArray(own)) {
      this.#deliverOwn(group, own);
      return;
    }
    // Redis's answer for it is still on its way, or the outbox no longer has it.
    const fromOutbox = own ?? Promise.resolve(null);
    const entries = fromOutbox.then((batches) =>
      batches ? batches.map(ownHeld) : this.#fromHistory(group, last),
    );
    this.#readBack(group, t, last, entries, [], 'own');
  }

  /**
   * Switches to h's sequence after `from` and reads what lies between back before h. Back in
   * the sequence it left (`rejoin`), its SSE subscribers are told `reset` at the switch, so
   * what the history no longer holds of that stretch is passed over, not reported again: some
   * of it may be this node's own batches, which they already have (see numberedHere).
   */
  #restartAt(group: Group, t: Track, h: Held, from: number, rejoin: boolean): void {
    const upto = h.firstSeq - 1;
    if (upto <= from) {
      group.restart(h.epoch, upto, 'reset');
      this.#accept(group, t, h);
      return;
    }
    this.#deps.stats.count('holes', 1);
    const entries = this.#deps
      .readRange(group.name, h.epoch, from, upto)
      .then((list) => list.map((e) => this.#held(e)));
    this.#readBack(group, t, upto, entries, [h], 'sequence', { epoch: h.epoch, from, rejoin });
  }

  #deliver(group: Group, h: Held): void {
    group.accept(h.batch as Batch, null, h.toSockets ? 'remote' : 'numbered');
    if (h.fromOther) this.#deps.stats.received += h.count;
  }

  #deliverOwn(group: Group, batches: Batch[]): void {
    for (const b of batches) if (b.count > 0) group.accept(b, null, 'numbered');
  }

  /** Batches after the group's seq up to `upto` (of its epoch now), from the shared history. */
  #fromHistory(group: Group, upto: number): Promise<Held[]> {
    return this.#deps
      .readRange(group.name, group.epoch, group.seq, upto)
      .then((list) => list.map((e) => this.#held(e)));
  }

  /**
   * Delivers batches (group.seq, upto] once `entries` has them, while what arrives meanwhile
   * waits (with `held`, already in line); what `entries` lacks is skipped as lost.
   */
  #readBack(
    group: Group,
    t: Track,
    upto: number,
    entries: Promise<Held[]>,
    held: Held[],
    why: ReadWhy,
    restart?: { epoch: number; from: number; rejoin: boolean },
  ): void {
    const read = ++this.#reads;
    t.reading = read;
    t.held = held;
    t.heldBytes = 0;
    for (const h of held) t.heldBytes += h.batch?.wire.byteLength ?? 0;
    const epoch = restart?.epoch ?? group.epoch;
    const after = restart?.from ?? group.seq;
    t.restarting = restart ? { epoch, seq: after } : null;
    const started = Date.now();
    const done = (list: Held[] | null, err?: Error) => {
      if (t.reading !== read) return;
      t.reading = 0;
      t.restarting = null;
      let recovered = 0;
      let had = 0;
      let lost = 0;
      if (restart && t.mode === 'cluster') {
        let at = restart.from;
        if (restart.rejoin) {
          const first = list?.find((e) => e.batch && lastOf(e) > at);
          at = first ? Math.max(at, first.firstSeq - 1) : upto;
        }
        group.restart(restart.epoch, at, 'reset');
      }
      if (t.mode === 'cluster' && group.epoch === epoch) {
        // Where the missing stretch being passed over ends: adjacent stretches (holes side by
        // side, a hole and what the history no longer holds) reach SSE subscribers as one gap.
        let skipTo = 0;
        const at = () => Math.max(group.seq, skipTo);
        const skipped = () => {
          if (skipTo > group.seq) lost += this.#skip(group, skipTo);
          skipTo = 0;
        };
        for (const e of list ?? []) {
          if (lastOf(e) <= at()) continue;
          if (e.firstSeq > at() + 1) skipTo = e.firstSeq - 1;
          const hereToo = !!e.field && this.#deps.numberedHere(e.field, e.count);
          if (!e.batch && !hereToo) {
            // A hole: messages the cluster never got.
            skipTo = lastOf(e);
            continue;
          }
          skipped();
          if (!e.batch) {
            // A hole whose messages this node numbered: its members have them.
            had += e.count;
            group.restart(group.epoch, lastOf(e), null);
          } else if (hereToo) {
            this.#pass(group, e);
            had += e.count;
          } else {
            this.#deliver(group, e);
            recovered += e.count;
          }
        }
        if (at() < upto) {
          if (why === 'own' && this.#deps.unconfirmedEcho(upto - at())) {
            // Evicted from the history already (a burst Redis took late): its members have it.
            skipped();
            had += upto - group.seq;
            group.restart(group.epoch, upto, null);
          } else skipTo = upto;
        }
        skipped();
      }
      // Own batches are mostly answered by the outbox (their echo overtook Redis's answer): only
      // a read of the shared history is a read-back.
      const fromHistory = why !== 'own' || lost > 0 || had > 0 || (list ?? []).some((e) => e.field);
      if (fromHistory) this.#deps.stats.readBack(recovered);
      if (fromHistory) {
        const fields = {
          group: group.name,
          from: formatId(epoch, after + 1),
          to: formatId(epoch, upto),
          recovered,
          alreadyHere: had,
          lost,
          ms: Date.now() - started,
          ...(err ? { err: err.message } : {}),
        };
        if (lost > 0) this.#deps.log.warn(fields, `read back (${why}): messages lost`);
        // One of this node's own batches at a time: not worth a line each.
        else if (why === 'own')
          this.#deps.log.debug(fields, 'read back (own) from the shared history');
        else this.#deps.log.info(fields, `read back (${why}) from the shared history`);
      }
      this.#drain(group, t);
    };
    entries.then(done, (err: Error) => done(null, err));
  }

  /**
   * Messages this node cannot deliver (the shared history does not hold them, or Redis did not
   * answer within the read-back wait): counted, and SSE subscribers are told. Returns how many.
   */
  #skip(group: Group, toSeq: number): number {
    const n = toSeq - group.seq;
    this.#deps.stats.count('lost', n);
    group.restart(group.epoch, toSeq, 'evicted');
    return n;
  }

  /**
   * A batch this node's members already have (see SequencerDeps.numberedHere): it takes its
   * place in the sequence and the history, and is sent to nobody here again.
   */
  #pass(group: Group, h: Held): void {
    group.sseFanout.flush();
    const last = lastOf(h);
    for (const s of group.sse) if (s.lastSeq !== PARKED && s.lastSeq < last) s.lastSeq = last;
    group.accept(h.batch as Batch, null, 'numbered');
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
    t.restarting = null;
    let n = 0;
    for (const h of t.held) n += h.count;
    if (count && n > 0) this.#deps.stats.count('lost', n);
    t.held = [];
    t.heldBytes = 0;
  }

  /** A batch published here that Redis cannot take: numbered here (see the class comment). */
  local(group: Group, batch: Batch): void {
    if (batch.count === 0) return;
    const t = this.#track(group);
    if (t.mode !== 'local') {
      // From the cluster's sequence, what a read was fetching is read again on the way back
      // (from where a switch to another sequence would have started, if one was under way).
      if (t.mode === 'cluster') t.left = t.restarting ?? { epoch: group.epoch, seq: group.seq };
      this.#forgetRead(t, t.mode !== 'cluster');
      const epoch = Math.max(Date.now(), Math.floor(group.epoch / 100) + 1) * 100 + this.#salt;
      group.restart(epoch, 0, 'reset');
      t.mode = 'local';
    }
    batch.epoch = group.epoch;
    batch.firstSeq = group.seq + 1;
    group.accept(batch, null, 'numbered');
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
      t.restarting = null;
      this.#drain(group, t);
    }
    const { afterSeq, gap } = resolveSnapshotStart(start, snap);
    const parts: Uint8Array[] = [];
    if (gap) parts.push(encodeGap(gap));
    let sent = afterSeq;
    for (const e of snap.entries) {
      if (e.batch.lastSeq <= afterSeq) continue;
      if (e.batch.firstSeq > sent + 1 && sent > 0) {
        // A hole in the history (ids given to messages the cluster never got).
        parts.push(
          encodeGap({
            requested: formatId(snap.epoch, sent),
            resumedFrom: formatId(snap.epoch, e.batch.firstSeq),
            reason: 'evicted',
          }),
        );
      }
      parts.push(encodeBatchAfter(e.batch, afterSeq));
      sent = e.batch.lastSeq;
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
