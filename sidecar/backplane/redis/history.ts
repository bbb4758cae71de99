import type { Redis } from 'ioredis';
import type { HistoryPage, StartPoint } from '../../../shared/hub.ts';
import { formatId, type Message, parseId } from '../../../shared/message.ts';
import { resolveStart } from '../../replay.ts';
import { decodeShared, type SharedBatch } from './codec.ts';
import type { RedisKeys } from './keys.ts';
import type { Scripted } from './scripts.ts';
import type { Snapshot } from './sequencer.ts';

/** Where a start point leaves off in a shared history snapshot (the in-memory rule, resolveStart). */
export function resolveSnapshotStart(start: StartPoint, snap: Snapshot) {
  return resolveStart(start, {
    epoch: snap.epoch,
    seq: snap.seq,
    evictedSeq: snap.evicted,
    firstSeq: snap.seq > snap.evicted ? snap.evicted + 1 : 0,
  });
}

/**
 * The field of an index entry that holds no batch: `-<count>`, then `:<owner field>` when the
 * node that numbered it has the messages itself (see Outbox). Ids the cluster gave to messages
 * it never got; readers find a hole there and say so.
 */
export function isHoleField(field: string): boolean {
  return field.startsWith('-');
}

/** The owner part of a hole's field, '' when it has none. */
export function holeOwner(field: string): string {
  const at = field.indexOf(':');
  return at < 0 ? '' : field.slice(at + 1);
}

/** Ids of a group's sequence the shared history holds no batch for (see holeField). */
export interface Hole {
  hole: true;
  epoch: number;
  firstSeq: number;
  count: number;
  field: string;
}

/**
 * Reads the shared history of groups, for replays, history pages and filling holes: the index
 * (a script, so the window and the entries agree), then the batches themselves (plain HMGET: a
 * batch never passes through Lua).
 */
export class SharedHistory {
  readonly #redis: Redis & Scripted;
  readonly #keys: RedisKeys;

  constructor(redis: Redis & Scripted, keys: RedisKeys) {
    this.#redis = redis;
    this.#keys = keys;
  }

  /** The group's shared history from a start point (maxEntries batches, 0 = all); null if it has none. */
  async snapshot(group: string, start: StartPoint, maxEntries: number): Promise<Snapshot | null> {
    let epoch = '';
    let after = 0;
    if (start.kind === 'after') {
      const id = parseId(start.id);
      if (id) {
        epoch = String(id.epoch);
        after = id.seq;
      }
    }
    return this.#read(group, epoch, after, 0, maxEntries);
  }

  /** Up to `limit` messages from a start point, as GET /groups/:group/messages pages them; null if the group has no shared history. */
  async page(group: string, start: StartPoint, limit: number): Promise<HistoryPage | null> {
    // Each batch holds at least one message: limit + 1 batches tell whether more follow.
    const snap = await this.snapshot(group, start, limit + 1);
    if (!snap) return null;
    const { afterSeq, gap } = resolveSnapshotStart(start, snap);
    const messages: Message[] = [];
    let more = false;
    outer: for (const { batch: b } of snap.entries) {
      for (let i = Math.max(0, afterSeq - b.firstSeq + 1); i < b.count; i++) {
        if (messages.length === limit) {
          more = true;
          break outer;
        }
        messages.push({ group, id: b.id(i), data: b.payload(i), origin: '', time: b.time });
      }
    }
    if (!more && snap.entries.length > 0) {
      more = snap.entries[snap.entries.length - 1].batch.lastSeq < snap.seq;
    }
    const lastId = snap.seq > 0 ? formatId(snap.epoch, snap.seq) : null;
    return { group, messages, gap, lastId, more };
  }

  /** Batches and holes (after, upto] of one epoch, in order; [] when the group moved to another epoch. */
  async range(
    group: string,
    epoch: number,
    after: number,
    upto: number,
  ): Promise<(SharedBatch | Hole)[]> {
    const snap = await this.#read(group, String(epoch), after, upto, 0);
    if (!snap) return [];
    const all: (SharedBatch | Hole)[] = [...snap.entries, ...(snap.holes ?? [])];
    const first = (x: SharedBatch | Hole) => ('hole' in x ? x.firstSeq : x.batch.firstSeq);
    return all.sort((a, b) => first(a) - first(b));
  }

  async #read(
    group: string,
    epoch: string,
    after: number,
    upto: number,
    maxEntries: number,
  ): Promise<Snapshot | null> {
    const k = this.#keys;
    const reply = await this.#redis.gcRange(
      k.meta(group),
      k.index(group),
      epoch,
      after,
      upto,
      maxEntries,
    );
    if (reply.length === 0) return null;
    const [e, seq, evicted, bytes, index] = reply;
    const snap: Snapshot = {
      epoch: Number(e),
      seq: Number(seq),
      evicted: Number(evicted),
      bytes: Number(bytes),
      entries: [],
    };
    if (index.length === 0) return snap;
    const all = index.map((text) => {
      const [last, , field] = text.split(' ');
      return { last: Number(last), field };
    });
    // A hole holds nothing to read: the next batch's ids jump past it.
    const entries = all.filter((x) => !isHoleField(x.field));
    snap.holes = all
      .filter((x) => isHoleField(x.field))
      .map(({ last, field }) => {
        const count = Number.parseInt(field.slice(1), 10) || 0;
        return { hole: true, epoch: snap.epoch, firstSeq: last - count + 1, count, field };
      });
    if (entries.length === 0) return snap;
    const blobs = await this.#redis.hmgetBuffer(k.blobs(group), ...entries.map((x) => x.field));
    for (let i = 0; i < entries.length; i++) {
      const blob = blobs[i];
      if (blob === null) {
        // Evicted since the index was read (eviction goes oldest first): a longer gap.
        snap.evicted = Math.max(snap.evicted, entries[i].last);
        snap.entries = [];
        continue;
      }
      const shared = decodeShared(blob, snap.epoch, entries[i].last);
      shared.field = entries[i].field;
      snap.entries.push(shared);
    }
    return snap;
  }
}
