import { concatBytes } from './bytes.ts';
import type { Subscriber } from './hub.ts';
import type { Batch } from './message.ts';
import { encodeBatch, encodeBatchAfter } from './sse.ts';
import { SseRun } from './sse-run.ts';
import { afterTurn } from './turn.ts';

/** A subscriber in a fan-out: where it is in the group's sequence. */
export interface SseTarget {
  readonly subscriber: Subscriber;
  /** Newest seq this subscriber has been sent. */
  lastSeq: number;
  /** Position in the fan-out's list, kept for O(1) removal. */
  slot: number;
}

/** Numbered messages to fan out: a batch to encode, or a run of events already encoded upstream. */
export type Numbered = Batch | SseRun;

function eventsOf(b: Numbered): Uint8Array {
  return b instanceof SseRun ? b.bytes : encodeBatch(b);
}

function eventsAfter(b: Numbered, afterSeq: number): Uint8Array {
  return b instanceof SseRun ? b.after(afterSeq) : encodeBatchAfter(b, afterSeq);
}

/**
 * SSE fan-out for one group: batches published within one event-loop turn are encoded once and
 * written to every subscriber as one chunk, so the cost per subscriber is one write per turn
 * whatever the message rate. Used by the sidecar's groups (batches it encodes) and by the edge
 * worker's upstreams (runs of the sidecar's own events, passed on as they came).
 */
export class SseFanout<T extends SseTarget = SseTarget> {
  readonly targets: T[] = [];
  #turn: Numbered[] = [];
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
    if (this.targets.length === 0 || batches.length === 0) return;
    const first = batches[0].firstSeq;
    const last = batches[batches.length - 1].lastSeq;
    const chunk = concatBytes(batches.map(eventsOf));
    // A copy: a write may end a subscriber, which removes it from the live list.
    for (const t of this.targets.slice()) {
      if (t.lastSeq >= last) continue;
      // A subscriber that joined mid-turn was sent part of this turn by its replay.
      const part =
        t.lastSeq < first
          ? chunk
          : concatBytes(
              batches.filter((b) => b.lastSeq > t.lastSeq).map((b) => eventsAfter(b, t.lastSeq)),
            );
      this.#onWrite?.(last - Math.max(t.lastSeq, first - 1), part.byteLength);
      t.lastSeq = last;
      t.subscriber.write(part);
    }
  };
}
