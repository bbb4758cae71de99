import { EmptyMessageError, MessageTooLargeError, UnframeableError } from '../errors.ts';
import { Batch } from '../message.ts';
import { type Alloc, BoundsScratch, HeldBytes } from './scratch.ts';
import type { FrameDecoder, Framing } from './types.ts';

const LF = 10;
const CR = 13;

/**
 * `line`: a message is one LF-terminated line; its payload excludes the LF and a CR before it.
 * Blank lines reach TCP members (bytes are forwarded exactly) but are not messages.
 */
class LineDecoder implements FrameDecoder {
  readonly #max: number;
  readonly #alloc: Alloc;
  readonly #held: HeldBytes;
  #scratch = new BoundsScratch();

  constructor(max: number, alloc: Alloc) {
    this.#max = max;
    this.#alloc = alloc;
    this.#held = new HeldBytes(alloc);
  }

  get buffered(): number {
    return this.#held.length;
  }

  get memory(): number {
    return this.#held.capacity;
  }

  push(chunk: Uint8Array): Batch | null {
    const firstLf = chunk.indexOf(LF);
    if (firstLf < 0) {
      this.#hold(chunk);
      return null;
    }
    let buf = chunk;
    let from = 0;
    let tail: Uint8Array | null = null;
    if (this.#held.length > 0) {
      from = this.#held.length;
      // Only the bytes up to the last LF join the held ones: the tail after it is held again
      // anyway, and copying it here too copied a large frame three times instead of twice (and
      // the batch kept the tail's bytes alive with it).
      const lastLf = chunk.lastIndexOf(LF);
      const whole = lastLf + 1 === chunk.byteLength ? chunk : chunk.subarray(0, lastLf + 1);
      if (whole !== chunk) tail = chunk.subarray(lastLf + 1);
      buf = this.#held.take(whole, this.#alloc);
    }
    const max = this.#max;
    const scratch = this.#scratch;
    let start = 0;
    let count = 0;
    let payloadBytes = 0;
    let lf = from + firstLf;
    while (lf >= 0) {
      const end = lf > start && buf[lf - 1] === CR ? lf - 1 : lf;
      const len = end - start;
      if (len > max) throw new MessageTooLargeError(max);
      if (len > 0) {
        scratch.push(start, end);
        count++;
        payloadBytes += len;
      }
      start = lf + 1;
      lf = buf.indexOf(LF, start);
    }
    if (start < buf.byteLength) this.#hold(buf.subarray(start));
    if (tail) this.#hold(tail);
    return new Batch(buf.subarray(0, start), scratch.take(), count, payloadBytes);
  }

  #hold(part: Uint8Array): void {
    // +1: the CR of a CRLF may still arrive inside the limit.
    if (this.#held.length + part.byteLength > this.#max + 1) {
      throw new MessageTooLargeError(this.#max);
    }
    this.#held.append(part);
  }
}

export const lineFraming = (alloc: Alloc): Framing => ({
  name: 'line',
  alloc,
  decoder: (max) => new LineDecoder(max, alloc),
  encode(payloads) {
    let total = 0;
    for (const p of payloads) total += p.byteLength + 1;
    const wire = alloc(total);
    const bounds = new Uint32Array(payloads.length * 2);
    let at = 0;
    let payloadBytes = 0;
    for (let i = 0; i < payloads.length; i++) {
      const p = payloads[i];
      let end = p.byteLength;
      // A payload may carry its own terminator; it is kept as sent.
      if (end > 0 && p[end - 1] === LF) end--;
      const body = end > 0 && p[end - 1] === CR ? end - 1 : end;
      if (body === 0) throw new EmptyMessageError();
      const lf = p.indexOf(LF);
      if (lf >= 0 && lf < end) {
        throw new UnframeableError('a newline inside a message cannot be framed as one line');
      }
      wire.set(p, at);
      bounds[2 * i] = at;
      bounds[2 * i + 1] = at + body;
      payloadBytes += body;
      at += p.byteLength;
      if (end === p.byteLength) wire[at++] = LF;
    }
    return new Batch(wire.subarray(0, at), bounds, payloads.length, payloadBytes);
  },
});
