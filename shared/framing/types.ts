import type { Batch } from '../message.ts';
import type { Alloc } from './scratch.ts';

export type FramingName = 'line' | 'raw' | 'length';
export const FRAMINGS: readonly FramingName[] = ['line', 'raw', 'length'];

/**
 * Splits a TCP byte stream into messages. `push` takes one read and returns the complete
 * messages it finished (null if none); it throws MessageTooLargeError past the limit, after
 * which the decoder must not be used again.
 */
export interface FrameDecoder {
  push(chunk: Uint8Array): Batch | null;
  /** Bytes held for an unfinished message. */
  readonly buffered: number;
  /** Memory those bytes take (the buffer holding them), for the memory budget. */
  readonly memory: number;
}

export interface Framing {
  readonly name: FramingName;
  /** Where new byte arrays come from (see Alloc). */
  readonly alloc: Alloc;
  decoder(maxMessageBytes: number): FrameDecoder;
  /**
   * Frames payloads that did not come from a TCP stream (HTTP, UDP, other nodes) for TCP
   * members. Throws UnframeableError or EmptyMessageError for a payload it cannot carry.
   */
  encode(payloads: readonly Uint8Array[]): Batch;
}
