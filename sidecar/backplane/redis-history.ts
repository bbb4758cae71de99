import type { Redis } from 'ioredis';
import type { StartPoint } from '../../shared/hub.ts';
import { parseId } from '../../shared/message.ts';
import { decodeShared, type SharedBatch } from './redis-codec.ts';
import type { RedisKeys } from './redis-keys.ts';
import type { RangeReply, Scripted } from './redis-scripts.ts';
import type { Snapshot } from './redis-sequencer.ts';

/** Reads the shared history (the log) of groups: for replays, history pages and filling holes. */
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

  /** Batches (after, upto] of one epoch; [] when the group moved to another epoch. */
  async range(group: string, epoch: number, after: number, upto: number): Promise<SharedBatch[]> {
    return (await this.#read(group, String(epoch), after, upto, 0))?.entries ?? [];
  }

  async #read(
    group: string,
    epoch: string,
    after: number,
    upto: number,
    maxEntries: number,
  ): Promise<Snapshot | null> {
    const k = this.#keys;
    const reply: RangeReply = await this.#redis.gcRangeBuffer(
      k.meta(group),
      k.log(group),
      epoch,
      after,
      upto,
      maxEntries,
    );
    if (reply.length === 0) return null;
    const [e, seq, evicted, bytes, raw] = reply;
    const snap: Snapshot = {
      epoch: Number(e.toString()),
      seq: Number(seq.toString()),
      evicted: Number(evicted.toString()),
      bytes: Number(bytes.toString()),
      entries: [],
    };
    for (const [id, fields] of raw) {
      const parsed = parseId(id.toString());
      if (!parsed) continue;
      snap.entries.push(decodeShared(fields[1], parsed.epoch, parsed.seq));
    }
    return snap;
  }
}
