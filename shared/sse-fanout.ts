import { concatBytes } from './bytes.ts';
import type { Subscriber } from './hub.ts';
import type { Batch } from './message.ts';
import { encodeBatchAfter, encodeBatches } from './sse.ts';
import { SseRun } from './sse-run.ts';
import { afterTurn } from './turn.ts';

/** A subscriber in a fan-out: where it is in the group's sequence. */
export interface SseTarget {
  readonly subscriber: Subscriber;
  /** Newest seq this subscriber has been sent. */
  lastSeq: number;
  /** Position in the fan-out's list, kept for O(1) removal. */
  slot: number;
  /** Deliver mode: index in this turn's batches of the first one delivered to it, or -1. */
  turnFrom?: number;
  /** Deliver mode: something delivered this turn came from a source flow control cannot slow down. */
  turnStrict?: boolean;
  /** Told after each write (deliver mode), e.g. to check the high-water mark. */
  written?(): void;
}

/** One subscriber's part of a turn: the shared chunk when it wants the whole turn. */
interface Part {
  bytes: Uint8Array;
  messages: number;
}

/** Numbered messages to fan out: a batch to encode, or a run of events already encoded upstream. */
export type Numbered = Batch | SseRun;

function eventsAfter(b: Numbered, afterSeq: number): Uint8Array {
  return b instanceof SseRun ? b.after(afterSeq) : encodeBatchAfter(b, afterSeq);
}

/**
 * SSE fan-out for one group: batches published within one event-loop turn are encoded once and
 * written to every subscriber as one chunk, so the cost per subscriber is one write per turn
 * whatever the message rate. Two ways in: `push` hands numbered messages to every target (the
 * edge worker's upstreams, which pass on runs of the sidecar's own events as they came);
 * `deliver` hands a batch to one target (the sidecar's SSE members, which the group hands each
 * batch), and targets that start at the same batch share one chunk.
 */
export class SseFanout<T extends SseTarget = SseTarget> {
  readonly targets: T[] = [];
  #turn: Numbered[] = [];
  /** Deliver mode: targets with something to write this turn. */
  #due: T[] = [];
  readonly #onWrite: ((messages: number, bytes: number) => void) | undefined;

  /** `onWrite` is told what each subscriber was sent, for metrics. */
  constructor(onWrite?: (messages: number, bytes: number) => void) {
    this.#onWrite = onWrite;
  }

  get size(): number {
    return this.targets.length;
  }

  add(target: T): void {
    target.slot = this.targets.length;
    target.turnFrom = -1;
    this.targets.push(target);
  }

  remove(target: T): boolean {
    const at = target.slot;
    if (at < 0 || this.targets[at] !== target) return false;
    const last = this.targets.pop() as T;
    if (last !== target) {
      this.targets[at] = last;
      last.slot = at;
    }
    target.slot = -1;
    return true;
  }

  /** Queues a numbered batch or run for every subscriber; written once the turn ends. */
  push(batch: Numbered): void {
    if (batch.count === 0 || this.targets.length === 0) return;
    if (this.#turn.push(batch) === 1) afterTurn(this.#flush);
  }

  /** Queues a numbered batch for one subscriber; written, with the rest of its turn, once the turn ends. */
  deliver(target: T, batch: Batch, pausable: boolean): void {
    if (batch.count === 0 || batch.lastSeq <= target.lastSeq) return;
    const turn = this.#turn;
    if (turn.length === 0 || turn[turn.length - 1] !== batch) {
      if (turn.push(batch) === 1) afterTurn(this.#flush);
    }
    if (target.turnFrom === undefined || target.turnFrom < 0) {
      target.turnFrom = turn.length - 1;
      target.turnStrict = false;
      this.#due.push(target);
    }
    if (!pausable) target.turnStrict = true;
  }

  /**
   * Writes what this turn holds now instead of after the turn, for a caller whose sequence
   * restarts (a sidecar restart behind the edge, a Redis backplane switching sequences): no
   * subscriber then sees old and new ids in one chunk, and a gap event can follow it.
   */
  flush(): void {
    this.#flush();
  }

  #flush = (): void => {
    const batches = this.#turn;
    this.#turn = [];
    if (batches.length === 0) return;
    if (this.#due.length > 0) {
      this.#flushDue(batches);
      return;
    }
    if (this.targets.length === 0) return;
    const whole = this.#part(batches, 0, 0);
    // A copy: a write may end a subscriber, which removes it from the live list.
    for (const t of this.targets.slice()) this.#write(t, batches, 0, whole, false);
  };

  #flushDue(batches: Numbered[]): void {
    const due = this.#due;
    this.#due = [];
    // Most targets start at the turn's first batch: they share one chunk.
    const shared = new Map<number, Part>();
    for (const t of due) {
      const from = t.turnFrom as number;
      t.turnFrom = -1;
      if (t.slot < 0) continue;
      let whole = shared.get(from);
      if (!whole) {
        whole = this.#part(batches, from, 0);
        shared.set(from, whole);
      }
      this.#write(t, batches, from, whole, !t.turnStrict);
      t.written?.();
    }
  }

  #write(t: T, batches: Numbered[], from: number, whole: Part, flowControlled: boolean): void {
    const last = batches[batches.length - 1].lastSeq;
    if (t.lastSeq >= last) return;
    // A subscriber that joined mid-turn was sent part of this turn by its replay.
    const part = t.lastSeq < batches[from].firstSeq ? whole : this.#part(batches, from, t.lastSeq);
    this.#onWrite?.(part.messages, part.bytes.byteLength);
    t.lastSeq = last;
    t.subscriber.write(part.bytes, flowControlled);
  }

  /** The encoding of `batches[from..]` past `afterSeq`. */
  #part(batches: Numbered[], from: number, afterSeq: number): Part {
    if (afterSeq === 0 && batches.length - from > 1 && !batches.some((b) => b instanceof SseRun)) {
      const list = (from === 0 ? batches : batches.slice(from)) as Batch[];
      let messages = 0;
      for (const b of list) messages += b.count;
      return { bytes: encodeBatches(list), messages };
    }
    const chunks: Uint8Array[] = [];
    let messages = 0;
    for (let i = from; i < batches.length; i++) {
      const b = batches[i];
      if (b.lastSeq <= afterSeq) continue;
      chunks.push(eventsAfter(b, afterSeq));
      messages += b.lastSeq - Math.max(afterSeq, b.firstSeq - 1);
    }
    return { bytes: chunks.length === 1 ? chunks[0] : concatBytes(chunks), messages };
  }
}
