/**
 * Messages with consecutive ids as an event stream already carries them: the bytes as they came
 * (a forwarder passes them on untouched) and where each message's event starts, so the part
 * after any id can be cut out without encoding anything again.
 */
export class SseRun {
  readonly bytes: Uint8Array;
  /** Offset in `bytes` of each message's event, in seq order. */
  readonly starts: Uint32Array;
  readonly epoch: number;
  readonly firstSeq: number;

  constructor(bytes: Uint8Array, starts: Uint32Array, epoch: number, firstSeq: number) {
    this.bytes = bytes;
    this.starts = starts;
    this.epoch = epoch;
    this.firstSeq = firstSeq;
  }

  get count(): number {
    return this.starts.length;
  }

  get lastSeq(): number {
    return this.firstSeq + this.starts.length - 1;
  }

  /** The events of the messages whose seq is above `afterSeq`. */
  after(afterSeq: number): Uint8Array {
    const from = afterSeq - this.firstSeq + 1;
    if (from <= 0) return this.bytes;
    if (from >= this.starts.length) return this.bytes.subarray(this.bytes.byteLength);
    return this.bytes.subarray(this.starts[from]);
  }
}

const ZERO = 48;
const DASH = 45;

/**
 * An id `<epoch>-<seq>` read straight from bytes (what parseId does on text), or null: the edge
 * reads one per forwarded message and need not decode it to a string for that.
 */
export function parseIdBytes(
  buf: Uint8Array,
  start: number,
  end: number,
): { epoch: number; seq: number } | null {
  let epoch = 0;
  let seq = 0;
  let at = start;
  while (at < end && buf[at] !== DASH) {
    const d = buf[at] - ZERO;
    if (d < 0 || d > 9) return null;
    epoch = epoch * 10 + d;
    at++;
  }
  const epochDigits = at - start;
  if (epochDigits < 1 || epochDigits > 15 || at === end) return null;
  const seqStart = ++at;
  while (at < end) {
    const d = buf[at] - ZERO;
    if (d < 0 || d > 9) return null;
    seq = seq * 10 + d;
    at++;
  }
  const seqDigits = end - seqStart;
  if (seqDigits < 1 || seqDigits > 15) return null;
  return { epoch, seq };
}
