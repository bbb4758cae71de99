import type { Batch } from '../shared/message.ts';

/**
 * A group's replay window: the last `maxMessages` messages within `maxBytes`. Batches are kept
 * whole (they are views of the read buffers, so nothing is copied); the oldest batch may be
 * partly evicted. `bytes` counts the batches' wire bytes, which is what the memory holds.
 */
export class History {
  readonly maxMessages: number;
  readonly maxBytes: number;
  #batches: Batch[] = [];
  #head = 0;
  /** Messages of the oldest batch already evicted. */
  #skip = 0;
  messages = 0;
  bytes = 0;
  /** Seq of the newest evicted message, 0 if none was evicted. */
  evictedSeq = 0;

  constructor(maxMessages: number, maxBytes: number) {
    this.maxMessages = maxMessages;
    this.maxBytes = maxBytes;
  }

  append(batch: Batch): void {
    if (batch.count === 0) return;
    this.#batches.push(batch);
    this.messages += batch.count;
    this.bytes += batch.wire.byteLength;
    while (this.messages > this.maxMessages || this.bytes > this.maxBytes) {
      const oldest = this.#batches[this.#head];
      const left = oldest.count - this.#skip;
      const over = this.messages - this.maxMessages;
      if (this.bytes <= this.maxBytes && over < left) {
        this.#skip += over;
        this.messages -= over;
        this.evictedSeq = oldest.firstSeq + this.#skip - 1;
        break;
      }
      this.#dropOldest(oldest, left);
    }
  }

  #dropOldest(oldest: Batch, left: number): void {
    this.messages -= left;
    this.bytes -= oldest.wire.byteLength;
    this.evictedSeq = oldest.lastSeq;
    this.#skip = 0;
    this.#batches[this.#head++] = undefined as unknown as Batch;
    if (this.#head > 64 && this.#head * 2 > this.#batches.length) {
      this.#batches = this.#batches.slice(this.#head);
      this.#head = 0;
    }
  }

  /** Seq of the oldest held message, or 0 when empty. */
  get firstSeq(): number {
    return this.messages === 0 ? 0 : this.#batches[this.#head].firstSeq + this.#skip;
  }

  /** Seq of the newest held message, or 0 when empty. */
  get lastSeq(): number {
    return this.messages === 0 ? 0 : this.#batches[this.#batches.length - 1].lastSeq;
  }

  /** The newest held batch, if any. */
  get newest(): Batch | undefined {
    return this.messages === 0 ? undefined : this.#batches[this.#batches.length - 1];
  }

  /** Held batches holding any message with seq > afterSeq, oldest first. */
  *after(afterSeq: number): Generator<Batch> {
    for (let i = this.#batches.length - 1; i >= this.#head; i--) {
      if (this.#batches[i].lastSeq <= afterSeq) {
        yield* this.#from(i + 1);
        return;
      }
    }
    yield* this.#from(this.#head);
  }

  *#from(i: number): Generator<Batch> {
    for (; i < this.#batches.length; i++) yield this.#batches[i];
  }

  clear(): void {
    this.#batches = [];
    this.#head = 0;
    this.#skip = 0;
    this.messages = 0;
    this.bytes = 0;
  }

  /** Forgets everything held: the sequence continues after `evictedSeq` (a restart or a skipped stretch). */
  restart(evictedSeq: number): void {
    this.clear();
    this.evictedSeq = evictedSeq;
  }
}
