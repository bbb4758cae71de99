import type { Batch, BatchHolder } from '../shared/message.ts';

/** Where a history reports the memory it holds (the sidecar's memory budget). */
export interface MemoryLedger {
  charge(kind: 'history', bytes: number): void;
}

const NO_LEDGER: MemoryLedger = { charge() {} };

/**
 * What a held batch costs beyond its bytes: the Batch, its views and offsets, its slot and time
 * here. Measured 522 bytes of JS heap per held one-message batch (200,000 of them, after a full
 * collection); charged to the budget with the bytes, so that small messages, one batch each (a
 * POST, a datagram), are bounded by it too: 40-byte POSTs cost 13 times their bytes.
 */
export const BATCH_OVERHEAD_BYTES = 512;

/**
 * A group's replay window: the last `maxMessages` messages within `maxBytes`. Batches are kept
 * whole (they are views of the read buffers, so nothing is copied); the oldest batch may be
 * partly evicted. `bytes` counts the batches' wire bytes (what `maxBytes` limits); `heldBytes`
 * adds their cached event-stream encodings and BATCH_OVERHEAD_BYTES a batch, which is what the
 * memory budget is charged.
 */
export class History implements BatchHolder {
  readonly maxMessages: number;
  readonly maxBytes: number;
  readonly #ledger: MemoryLedger;
  #batches: Batch[] = [];
  /** When each held batch was appended (ms), for evicting the oldest across groups. */
  #times: number[] = [];
  #head = 0;
  /** Messages of the oldest batch already evicted. */
  #skip = 0;
  messages = 0;
  bytes = 0;
  /** Bytes of the held batches' cached SSE encodings. */
  encodedBytes = 0;
  /** Seq of the newest evicted message, 0 if none was evicted. */
  evictedSeq = 0;

  constructor(maxMessages: number, maxBytes: number, ledger: MemoryLedger = NO_LEDGER) {
    this.maxMessages = maxMessages;
    this.maxBytes = maxBytes;
    this.#ledger = ledger;
  }

  /** Wire bytes, cached encodings and each batch's overhead: what this history costs in memory. */
  get heldBytes(): number {
    return (
      this.bytes + this.encodedBytes + (this.#batches.length - this.#head) * BATCH_OVERHEAD_BYTES
    );
  }

  append(batch: Batch): void {
    if (batch.count === 0) return;
    if (this.maxMessages === 0 || this.maxBytes === 0) {
      this.evictedSeq = batch.lastSeq;
      return;
    }
    this.#batches.push(batch);
    this.#times.push(Date.now());
    batch.holder = this;
    this.messages += batch.count;
    this.bytes += batch.wire.byteLength;
    let charged = batch.wire.byteLength + BATCH_OVERHEAD_BYTES;
    if (batch.sse) {
      this.encodedBytes += batch.sse.byteLength;
      charged += batch.sse.byteLength;
    }
    this.#ledger.charge('history', charged);
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
      this.#dropOldest();
    }
  }

  /** A held batch's encoding was just cached: it is held as long as the batch. */
  encoded(batch: Batch): void {
    if (batch.holder !== this || !batch.sse) return;
    this.encodedBytes += batch.sse.byteLength;
    this.#ledger.charge('history', batch.sse.byteLength);
  }

  /** When the oldest held batch was appended, or +Infinity when empty. */
  get oldestAt(): number {
    return this.messages === 0 ? Number.POSITIVE_INFINITY : this.#times[this.#head];
  }

  /** Evicts the oldest held batch (the memory budget's way to make room); returns bytes freed. */
  evictOldest(): number {
    if (this.messages === 0) return 0;
    return this.#dropOldest();
  }

  #dropOldest(): number {
    const oldest = this.#batches[this.#head];
    const freed = this.#release(oldest);
    this.messages -= oldest.count - this.#skip;
    this.evictedSeq = oldest.lastSeq;
    this.#skip = 0;
    this.#batches[this.#head] = undefined as unknown as Batch;
    this.#head++;
    if (this.#head > 64 && this.#head * 2 > this.#batches.length) {
      this.#batches = this.#batches.slice(this.#head);
      this.#times = this.#times.slice(this.#head);
      this.#head = 0;
    }
    if (this.messages === 0) this.#reset();
    return freed;
  }

  #release(batch: Batch): number {
    batch.holder = undefined;
    const encoded = batch.sse?.byteLength ?? 0;
    this.bytes -= batch.wire.byteLength;
    this.encodedBytes -= encoded;
    const freed = batch.wire.byteLength + encoded + BATCH_OVERHEAD_BYTES;
    this.#ledger.charge('history', -freed);
    return freed;
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
    for (let i = this.#head; i < this.#batches.length; i++) this.#release(this.#batches[i]);
    this.messages = 0;
    this.#reset();
  }

  #reset(): void {
    this.#batches = [];
    this.#times = [];
    this.#head = 0;
    this.#skip = 0;
  }

  /** Forgets everything held: the sequence continues after `evictedSeq` (a restart or a skipped stretch). */
  restart(evictedSeq: number): void {
    this.clear();
    this.evictedSeq = evictedSeq;
  }
}
