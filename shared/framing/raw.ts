import { EmptyMessageError } from '../errors.ts';
import { Batch, packPayloads } from '../message.ts';
import type { Alloc } from './scratch.ts';
import type { FrameDecoder, Framing } from './types.ts';

/**
 * `raw`: each read is one message (SocketForwarder's behaviour), binary-safe. A read larger than
 * the message limit becomes several messages of at most the limit, as SocketForwarder's
 * `max_read_in_size` reads did; nothing is refused.
 */
class RawDecoder implements FrameDecoder {
  readonly #max: number;
  readonly buffered = 0;
  readonly memory = 0;

  constructor(max: number) {
    this.#max = max;
  }

  push(chunk: Uint8Array): Batch | null {
    const len = chunk.byteLength;
    if (len === 0) return null;
    if (len <= this.#max) return new Batch(chunk, Uint32Array.of(0, len), 1, len);
    const count = Math.ceil(len / this.#max);
    const bounds = new Uint32Array(count * 2);
    for (let i = 0; i < count; i++) {
      bounds[2 * i] = i * this.#max;
      bounds[2 * i + 1] = Math.min(len, (i + 1) * this.#max);
    }
    return new Batch(chunk, bounds, count, len);
  }
}

export const rawFraming = (alloc: Alloc): Framing => ({
  name: 'raw',
  alloc,
  decoder: (max) => new RawDecoder(max),
  encode(payloads) {
    for (const p of payloads) if (p.byteLength === 0) throw new EmptyMessageError();
    return packPayloads(payloads, alloc);
  },
});
