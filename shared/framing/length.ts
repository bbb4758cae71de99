import { EmptyMessageError, MessageTooLargeError } from '../errors.ts';
import { Batch } from '../message.ts';
import { type Alloc, BoundsScratch, HeldBytes } from './scratch.ts';
import type { FrameDecoder, Framing } from './types.ts';

const HEADER = 4;

function readLength(buf: Uint8Array, at: number): number {
  return ((buf[at] << 24) >>> 0) + ((buf[at + 1] << 16) | (buf[at + 2] << 8) | buf[at + 3]);
}

/**
 * `length`: a 4-byte big-endian payload length, then the payload. Zero-length frames reach TCP
 * members but are not messages.
 */
class LengthDecoder implements FrameDecoder {
  readonly #max: number;
  readonly #alloc: Alloc;
  readonly #held: HeldBytes;
  /** Total bytes the held frame needs (header + payload), or 0 while its header is incomplete. */
  #need = 0;
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
    let buf = chunk;
    const held = this.#held;
    if (held.length > 0) {
      if (this.#need === 0 && held.length + chunk.byteLength >= HEADER) {
        const head = new Uint8Array(HEADER);
        head.set(held.view().subarray(0, HEADER));
        if (held.length < HEADER) head.set(chunk.subarray(0, HEADER - held.length), held.length);
        this.#need = HEADER + this.#checked(readLength(head, 0));
      }
      if (this.#need === 0 || held.length + chunk.byteLength < this.#need) {
        held.append(chunk);
        return null;
      }
      buf = held.take(chunk, this.#alloc);
      this.#need = 0;
    }
    const scratch = this.#scratch;
    const total = buf.byteLength;
    let at = 0;
    let count = 0;
    let payloadBytes = 0;
    while (at + HEADER <= total) {
      const len = this.#checked(readLength(buf, at));
      if (at + HEADER + len > total) break;
      if (len > 0) {
        scratch.push(at + HEADER, at + HEADER + len);
        count++;
        payloadBytes += len;
      }
      at += HEADER + len;
    }
    if (at < total) {
      const rest = buf.subarray(at);
      held.append(rest);
      if (rest.byteLength >= HEADER) this.#need = HEADER + readLength(rest, 0);
    }
    if (at === 0) {
      scratch.take();
      return null;
    }
    return new Batch(buf.subarray(0, at), scratch.take(), count, payloadBytes);
  }

  #checked(len: number): number {
    if (len > this.#max) throw new MessageTooLargeError(this.#max);
    return len;
  }
}

export const lengthFraming = (alloc: Alloc): Framing => ({
  name: 'length',
  alloc,
  decoder: (max) => new LengthDecoder(max, alloc),
  encode(payloads) {
    let total = 0;
    for (const p of payloads) {
      if (p.byteLength === 0) throw new EmptyMessageError();
      total += HEADER + p.byteLength;
    }
    const wire = alloc(total);
    const view = new DataView(wire.buffer, wire.byteOffset, wire.byteLength);
    const bounds = new Uint32Array(payloads.length * 2);
    let at = 0;
    let payloadBytes = 0;
    for (let i = 0; i < payloads.length; i++) {
      const p = payloads[i];
      view.setUint32(at, p.byteLength);
      wire.set(p, at + HEADER);
      bounds[2 * i] = at + HEADER;
      bounds[2 * i + 1] = at + HEADER + p.byteLength;
      payloadBytes += p.byteLength;
      at += HEADER + p.byteLength;
    }
    return new Batch(wire, bounds, payloads.length, payloadBytes);
  },
});
