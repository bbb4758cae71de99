import type { Redis } from 'ioredis';
import { nanoid } from 'nanoid';
import { BackplaneBusyError } from '../../../shared/errors.ts';
import type { FramingName } from '../../../shared/framing/index.ts';
import type { Batch } from '../../../shared/message.ts';
import { afterTurn } from '../../../shared/turn.ts';
import type { Group } from '../../group.ts';
import type { Logger } from '../../logger.ts';
import { encodeSharedParts } from './codec.ts';
import { holeOwner, isHoleField } from './history.ts';
import type { RedisKeys } from './keys.ts';
import { PartsCommand } from './parts-command.ts';
import type { Scripted } from './scripts.ts';
import type { Sequencer } from './sequencer.ts';
import type { BackplaneStats } from './stats.ts';

export interface OutboxOptions {
  node: string;
  framing: FramingName;
  historyMessages: number;
  historyBytes: number;
  /** How long a group's shared history outlives its last activity. */
  keyTtlMs: number;
  /** Bound of the queue toward Redis (this turn's batches plus those sent and unanswered). */
  maxQueueBytes: number;
}

/**
 * queued: waits for the end of this turn; sending: in a pipeline, unanswered; done: Redis took it;
 * failed: Redis did not confirm it; local: published while Redis was away, behind chunks that
 * were still sending (it is numbered here after them, keeping the publisher's order).
 */
type State = 'queued' | 'sending' | 'done' | 'failed' | 'local';

interface Chunk {
  group: Group;
  batches: Batch[];
  bytes: number;
  state: State;
  /** Once Redis numbered it: its ids are `<epoch>-<first>` and the `count - 1` after it. */
  epoch: number;
  first: number;
  count: number;
  /** Its echo came back on the channel before Redis's answer: what waits for the answer. */
  onSettled: (() => void)[] | null;
  /** Holes numbered ahead of it (see Hole). */
  holes: Hole[];
  /** Where Redis is asked to keep it in the group's blobs. */
  field: string;
}

/**
 * Messages published here that the cluster never got, given ids in its sequence with no batch
 * so that every node finds them missing and tells its SSE subscribers: `full` ones did not fit
 * in the queue (this node's subscribers miss them too); the others were numbered here while
 * Redis was out of reach (this node's subscribers have them, see numberedHere).
 */
interface Hole {
  count: number;
  full: boolean;
  /** Batches sent but unconfirmed: missing unless Redis holds them (checked in the transaction). */
  fields: Map<string, number> | null;
  /** The sequence they were meant for, '' for any. */
  epoch: string;
}

/** What a hole costs in the queue: it holds no batch, only its transaction. */
const HOLE_BYTES = 256;
/**
 * Fields of batches Redis did not confirm, which were numbered here (see numberedHere). Past
 * this many the oldest are forgotten: such a batch, if Redis took it after all, reaches this
 * node's SSE subscribers a second time under its cluster id.
 */
const MAX_NUMBERED_HERE = 65_536;
/** Bound of the count of messages numbered here that Redis may still take (see unconfirmedEcho). */
const MAX_UNCONFIRMED = 1_000_000;

/**
 * The queue toward Redis. Everything a group publishes on this node within one event-loop turn
 * becomes one shared batch and one MULTI/EXEC (store it, number it, publish it: see
 * scripts.ts); the transactions of a turn go out in one write, so there is no round
 * trip per message and none of it delays local delivery. Bounded by
 * maxQueueBytes: past it, a batch is not shared (counted as queue_full) and HTTP answers 503
 * before publishing. Batches Redis did not take are numbered here, in order, for this node's
 * own SSE subscribers.
 */
export class Outbox {
  /** Whether the command connection is ready; set by the backplane. */
  up = false;
  /** Whether batches published in a group now come back on its channel; set by the backplane. */
  listening: (group: Group) => boolean = () => false;
  readonly #redis: Redis & Scripted;
  readonly #keys: RedisKeys;
  readonly #opts: OutboxOptions;
  readonly #sequencer: Sequencer;
  readonly #stats: BackplaneStats;
  readonly #log: Logger;
  /** This turn's chunks, in order; `#open` is the one a group's next batch joins. */
  #turn: Chunk[] = [];
  readonly #open = new Map<Group, Chunk>();
  /** Per group, chunks not settled yet, oldest first. */
  readonly #lines = new Map<Group, Chunk[]>();
  readonly #waiters = new Map<Batch, () => void>();
  /** Per group, chunks sent that may still come back on its channel, oldest first (see published). */
  readonly #echoes = new Map<Group, Chunk[]>();
  #echoBytes = 0;
  #bytes = 0;
  #scheduled = false;
  /** Fields of shared batches in a group's blobs: unique per node and process. */
  readonly #fieldPrefix: string;
  #fields = 0;
  #failing = false;
  /** Per group, holes still to be numbered, in order. */
  readonly #holes = new Map<Group, Hole[]>();
  /**
   * Per group, what was numbered here since Redis was last reachable: messages never sent, and
   * the fields of batches sent but unconfirmed (Redis may have taken them). Checked once the
   * connection is back: what Redis does not hold becomes a hole.
   */
  readonly #unshared = new Map<Group, { count: number; fields: Map<string, number> }>();
  #unsharedFields = 0;
  /** Per group, the epoch of the last batch Redis numbered for this node. */
  readonly #epochs = new WeakMap<Group, number>();
  /** Fields of batches sent to Redis, unconfirmed and numbered here, oldest first. */
  readonly #numberedHere = new Set<string>();
  /** Messages of those batches not yet seen again in the cluster's sequence. */
  #unconfirmed = 0;

  constructor(
    redis: Redis & Scripted,
    keys: RedisKeys,
    opts: OutboxOptions,
    sequencer: Sequencer,
    stats: BackplaneStats,
    log: Logger,
  ) {
    this.#redis = redis;
    this.#keys = keys;
    this.#opts = opts;
    this.#sequencer = sequencer;
    this.#stats = stats;
    this.#log = log;
    this.#fieldPrefix = `${opts.node}:${nanoid(8)}:`;
  }

  get queuedBytes(): number {
    return this.#bytes;
  }

  /** An empty queue takes any one batch, so a batch larger than the bound is still shared. */
  #fits(bytes: number): boolean {
    return this.#bytes === 0 || this.#bytes + bytes <= this.#opts.maxQueueBytes;
  }

  admit(bytes: number): void {
    if (this.up && !this.#fits(bytes)) throw new BackplaneBusyError(this.#opts.maxQueueBytes);
  }

  publish(group: Group, batch: Batch): void {
    const line = this.#lines.get(group);
    if (!this.up) {
      this.#stats.notShared('down', batch.count);
      if (line) {
        line.push(newChunk(group, 'local', batch));
        // A batch after this one must not join a chunk ahead of it.
        this.#open.delete(group);
      } else {
        this.#numberHere(group, batch);
        this.#unsharedHere(group, batch.count, '');
      }
      return;
    }
    const bytes = batch.wire.byteLength;
    if (!this.#fits(bytes)) {
      this.#stats.notShared('queue_full', batch.count);
      this.#warn('redis queue full: a batch was not shared');
      if (batch.count === 0) return;
      // The cluster numbers it as a hole, in its place, so every SSE subscriber is told.
      const epoch = String(this.#epochs.get(group) ?? '');
      this.#addHole(group, { count: batch.count, full: true, fields: null, epoch });
      this.#open.delete(group);
      this.#schedule();
      return;
    }
    let chunk = this.#open.get(group);
    if (!chunk) chunk = this.#newQueued(group);
    chunk.batches.push(batch);
    chunk.bytes += bytes;
    this.#bytes += bytes;
    this.#schedule();
  }

  #newQueued(group: Group): Chunk {
    const chunk = newChunk(group, 'queued');
    const holes = this.#holes.get(group);
    if (holes) {
      chunk.holes = holes;
      chunk.bytes = HOLE_BYTES * holes.length;
      this.#bytes += chunk.bytes;
      this.#holes.delete(group);
    }
    this.#open.set(group, chunk);
    this.#turn.push(chunk);
    const line = this.#lines.get(group);
    if (line) line.push(chunk);
    else this.#lines.set(group, [chunk]);
    return chunk;
  }

  #addHole(group: Group, hole: Hole): void {
    const list = this.#holes.get(group);
    const last = list?.[list.length - 1];
    if (last?.full && hole.full && last.epoch === hole.epoch) last.count += hole.count;
    else if (list) list.push(hole);
    else this.#holes.set(group, [hole]);
  }

  /** Counts a batch numbered here (`field`: where it was sent, '' if it never was). */
  #unsharedHere(group: Group, count: number, field: string): void {
    let u = this.#unshared.get(group);
    if (!u) {
      u = { count: 0, fields: new Map() };
      this.#unshared.set(group, u);
    }
    if (!field) u.count += count;
    else if (u.fields.has(field)) u.fields.set(field, (u.fields.get(field) ?? 0) + count);
    else if (this.#unsharedFields < MAX_NUMBERED_HERE) {
      // Past the bound it counts as taken: at worst a silent gap on other nodes, never a false one.
      u.fields.set(field, count);
      this.#unsharedFields++;
    }
  }

  /**
   * The command connection is back: what was numbered here meanwhile and Redis does not hold
   * becomes a hole in each group's sequence (see Hole), ahead of its next batch. Only in the
   * sequence this node last shared in: in another one, the switch is told already.
   */
  reconnected(): void {
    for (const [group, u] of this.#unshared) {
      const epoch = this.#epochs.get(group);
      if (epoch === undefined) continue;
      this.#addHole(group, { count: u.count, full: false, fields: u.fields, epoch: String(epoch) });
    }
    this.#unshared.clear();
    this.#unsharedFields = 0;
    if (this.#holes.size > 0) this.#schedule();
  }

  #schedule(): void {
    if (this.#scheduled) return;
    this.#scheduled = true;
    afterTurn(this.#flush);
  }

  /**
   * Whether the batch kept under `field` in a group's shared history is one this node sent,
   * saw unconfirmed and numbered itself (Redis took it late: its command connection had been
   * given up while the transaction was still on its way).
   */
  numberedHere(field: string, count: number): boolean {
    if (isHoleField(field)) return this.#numberedHere.delete(holeOwner(field));
    if (!this.#numberedHere.delete(field)) return false;
    this.#unconfirmed = Math.max(0, this.#unconfirmed - count);
    return true;
  }

  /** See SequencerDeps.unconfirmedEcho. */
  unconfirmedEcho(count: number): boolean {
    if (this.#unconfirmed < count) return false;
    this.#unconfirmed -= count;
    return true;
  }

  /** Resolves once a published batch has ids (from Redis, or from this node when Redis did not take it). */
  numbered(batch: Batch): Promise<void> | undefined {
    if (batch.epoch !== 0) return undefined;
    return new Promise((resolve) => this.#waiters.set(batch, resolve));
  }

  #flush = (): void => {
    this.#scheduled = false;
    if (this.up) {
      // Holes no later batch of their group carries go alone, once the queue has room.
      for (const group of this.#holes.keys()) {
        if (!this.#open.has(group) && this.#fits(HOLE_BYTES)) this.#newQueued(group);
      }
    }
    const chunks = this.#turn;
    this.#turn = [];
    this.#open.clear();
    if (chunks.length === 0) return;
    if (!this.up) {
      for (const c of chunks) this.#settle(c, 'down');
      return;
    }
    // Every transaction of the turn leaves in one write instead of five small ones each.
    const socket = this.#redis.stream;
    socket.cork();
    try {
      for (const c of chunks) this.#send(c);
    } finally {
      socket.uncork();
    }
  };

  /**
   * One transaction per chunk: store the batch, number it (the script publishes its id), publish
   * it. The five commands are issued in one go, so nothing else on this connection can come
   * between them. The shared batch goes out as a small header followed by the batches' own bytes,
   * for HSET and again for PUBLISH, without being joined or copied (see PartsCommand).
   */
  #send(c: Chunk): void {
    const { node, framing, historyMessages, historyBytes, keyTtlMs } = this.#opts;
    const keys = this.#keys;
    const r = this.#redis;
    c.state = 'sending';
    const name = c.group.name;
    const channel = keys.channel(name);
    // Their outcome is EXEC's; a failure shows there too.
    r.multi({ pipeline: false }).catch(ignore);
    for (const hole of c.holes) {
      // Ids for what was not shared, in the index with no batch: readers see the hole.
      const owner = hole.full ? '' : `${this.#fieldPrefix}h${++this.#fields}`;
      if (owner) this.#rememberNumberedHere(owner);
      const unconfirmed: (string | number)[] = [];
      for (const [field, n] of hole.fields ?? []) unconfirmed.push(field, n);
      r.gcHole(
        keys.meta(name),
        keys.index(name),
        keys.blobs(name),
        keys.groups,
        hole.count,
        owner ? `:${owner}` : '',
        0,
        historyMessages,
        historyBytes,
        keyTtlMs,
        channel,
        name,
        hole.epoch,
        ...unconfirmed,
      ).catch(ignore);
    }
    if (c.batches.length === 0) {
      r.exec().then(
        (replies) => {
          const [err] = replies?.[0] ?? [new Error('no reply')];
          if (err) this.#settle(c, 'error', err);
          else this.#settle(c, [0, 0]);
        },
        (err: Error) => this.#settle(c, 'error', err),
      );
      return;
    }
    if (this.listening(c.group)) this.#keepForEcho(c);
    let count = 0;
    let wireBytes = 0;
    for (const b of c.batches) {
      count += b.count;
      wireBytes += b.wire.byteLength;
    }
    // One publish time for the shared blob; the batches this node delivers after the echo carry
    // the same, so a message shows one time on every node.
    for (const b of c.batches) b.time = c.batches[0].time;
    const parts = encodeSharedParts(node, framing, c.batches);
    const field = `${this.#fieldPrefix}${++this.#fields}`;
    c.field = field;
    this.#sendParts('hset', [keys.blobs(name), field], parts);
    r.gcNumber(
      keys.meta(name),
      keys.index(name),
      keys.blobs(name),
      keys.groups,
      count,
      field,
      wireBytes,
      historyMessages,
      historyBytes,
      keyTtlMs,
      channel,
      name,
    ).catch(ignore);
    this.#sendParts('publish', [channel], parts);
    r.exec().then(
      (replies) => {
        // [[err, hole script] per hole, [err, HSET], [err, script], [err, PUBLISH]]
        const at = c.holes.length + 1;
        const [err, numbered] = replies?.[at] ?? [new Error('no reply'), null];
        if (err || !Array.isArray(numbered)) this.#settle(c, 'error', err ?? toError(numbered));
        else this.#settle(c, numbered as [number, number]);
      },
      (err: Error) => this.#settle(c, 'error', err),
    );
  }

  #sendParts(name: string, args: string[], parts: Uint8Array[]): void {
    const cmd = new PartsCommand(name, args, parts);
    // Its outcome is EXEC's, like the rest of the transaction.
    cmd.promise.catch(ignore);
    this.#redis.sendCommand(cmd);
  }

  #settle(chunk: Chunk, outcome: [number, number] | 'down' | 'error', err?: Error): void {
    this.#bytes -= chunk.bytes;
    let count = 0;
    for (const b of chunk.batches) count += b.count;
    if (Array.isArray(outcome)) {
      chunk.state = 'done';
      chunk.epoch = outcome[0];
      chunk.first = outcome[1];
      chunk.count = count;
      let seq = outcome[1];
      for (const b of chunk.batches) {
        b.epoch = outcome[0];
        b.firstSeq = seq;
        seq += b.count;
      }
      this.#stats.shared += count;
      this.#failing = false;
      if (outcome[0] > 0) this.#epochs.set(chunk.group, outcome[0]);
    } else {
      chunk.state = 'failed';
      this.#stats.notShared(outcome, count);
      if (outcome === 'error' && chunk.field) {
        this.#rememberNumberedHere(chunk.field);
        this.#unconfirmed = Math.min(this.#unconfirmed + count, MAX_UNCONFIRMED);
      }
      if (err && !this.#failing) {
        this.#failing = true;
        this.#log.warn({ err: err.message }, 'redis did not take a batch: numbering it here');
      }
    }
    this.#advance(chunk.group);
    const waiting = chunk.onSettled;
    chunk.onSettled = null;
    if (waiting) for (const fn of waiting) fn();
    // A hole that waited for room in the queue.
    if (this.#holes.size > 0) this.#schedule();
  }

  #rememberNumberedHere(field: string): void {
    this.#numberedHere.add(field);
    if (this.#numberedHere.size > MAX_NUMBERED_HERE) {
      const oldest = this.#numberedHere.values().next().value as string;
      this.#numberedHere.delete(oldest);
    }
  }

  #keepForEcho(c: Chunk): void {
    // Echoes normally come back within a millisecond; when they do not (a subscription not yet
    // confirmed), what is forgotten is read back from the shared history instead.
    if (this.#echoBytes + c.bytes > this.#opts.maxQueueBytes) this.forgetEchoes();
    const list = this.#echoes.get(c.group);
    if (list) list.push(c);
    else this.#echoes.set(c.group, [c]);
    this.#echoBytes += c.bytes;
  }

  /** Echoes that will not come: the pub/sub connection dropped, or the group stopped listening. */
  forgetEchoes(group?: Group): void {
    if (!group) {
      this.#echoes.clear();
      this.#echoBytes = 0;
      return;
    }
    for (const c of this.#echoes.get(group) ?? []) this.#echoBytes -= c.bytes;
    this.#echoes.delete(group);
  }

  /**
   * The batches published here that Redis numbered `<epoch>-<first..last>`, when they come back
   * on the group's channel: this node does not read its own batches there (see PubSubReader).
   * A promise when Redis's answer is still on its way (the echo overtook it); null when this
   * outbox no longer has them (Redis did not confirm them, or they were forgotten).
   */
  published(
    group: Group,
    epoch: number,
    first: number,
    last: number,
  ): Batch[] | null | Promise<Batch[] | null> {
    const list = this.#echoes.get(group);
    while (list && list.length > 0) {
      const c = list[0];
      if (c.state === 'sending') {
        return new Promise((resolve) => {
          c.onSettled ??= [];
          c.onSettled.push(() => resolve(this.published(group, epoch, first, last)));
        });
      }
      const done = c.state === 'done';
      if (done && c.epoch === epoch && c.first === first && c.first + c.count - 1 === last) {
        this.#dropEcho(list);
        return c.batches;
      }
      // Newer than the echo: the batches of the echo are not here.
      if (done && (c.epoch > epoch || (c.epoch === epoch && c.first > last))) return null;
      // Older: its own echo never came (or Redis never numbered it).
      this.#dropEcho(list);
    }
    return null;
  }

  #dropEcho(list: Chunk[]): void {
    const c = list.shift() as Chunk;
    this.#echoBytes -= c.bytes;
    if (list.length === 0) this.#echoes.delete(c.group);
  }

  /** Settles a group's chunks in publishing order, as far as they are answered. */
  #advance(group: Group): void {
    const line = this.#lines.get(group);
    if (!line) return;
    while (line.length > 0 && line[0].state !== 'sending' && line[0].state !== 'queued') {
      const c = line.shift() as Chunk;
      for (const b of c.batches) {
        if (c.state !== 'done') {
          this.#numberHere(group, b);
          this.#unsharedHere(group, b.count, c.field);
        } else this.#wake(b);
      }
    }
    if (line.length === 0) this.#lines.delete(group);
  }

  #numberHere(group: Group, batch: Batch): void {
    this.#sequencer.local(group, batch);
    this.#wake(batch);
  }

  #wake(batch: Batch): void {
    const resolve = this.#waiters.get(batch);
    if (!resolve) return;
    this.#waiters.delete(batch);
    resolve();
  }

  #warnedAt = 0;

  /** One line per 10 s at most: an overloaded queue must not flood the log too. */
  #warn(msg: string): void {
    const now = Date.now();
    if (now - this.#warnedAt < 10_000) return;
    this.#warnedAt = now;
    this.#log.warn({ limit: this.#opts.maxQueueBytes }, msg);
  }
}

function newChunk(group: Group, state: State, batch?: Batch): Chunk {
  return {
    group,
    batches: batch ? [batch] : [],
    bytes: 0,
    state,
    epoch: 0,
    first: 0,
    count: 0,
    onSettled: null,
    holes: [],
    field: '',
  };
}

function ignore(): void {}

function toError(x: unknown): Error {
  return x instanceof Error ? x : new Error(`unexpected reply ${String(x)}`);
}
