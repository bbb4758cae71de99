import { textDecoder, textEncoder } from '../../../shared/bytes.ts';
import { FRAMINGS, type FramingName } from '../../../shared/framing/index.ts';
import { Batch, parseId } from '../../../shared/message.ts';

/**
 * A batch as nodes share it, built once per group per turn from the batches published here:
 *
 *   u8 version, u8 framing, u8 node id length, node id, u32 count, u32 payload bytes,
 *   u32 wire length, f64 publish time (ms since the epoch), count x (u32 start, u32 end),
 *   wire bytes                                                        (numbers little-endian)
 *
 * The wire bytes are exactly what TCP members of the publishing node received, so a node with
 * the same framing writes them on as they are: one write per member per shared batch. The
 * history holds this blob; on the channel, a message `<epoch>-<last seq>` (ASCII digits) comes
 * right before it. One time for the blob: the batches of one turn were received within it, and
 * the node that published them gives them the first one's time too (see the outbox), so every
 * node shows the same time for a message. Version 1 (no time) is still read, for a rolling
 * upgrade: its messages get the time they arrived here.
 */
const VERSION = 2;
const VERSION_WITHOUT_TIME = 1;

export interface SharedBatch {
  /** Node that published it. */
  origin: string;
  framing: FramingName;
  batch: Batch;
  /** Set when this node's TCP framing cannot carry it (nodes with different framings). */
  notForSockets?: boolean;
  /** Its field in the group's blobs, when read from the shared history. */
  field?: string;
}

export class MalformedBatchError extends Error {}

/**
 * Joins a turn's batches of one group into one shared blob, as parts: a header (with every
 * message's bounds) followed by the batches' own wire bytes, which are not copied.
 */
export function encodeSharedParts(
  node: string,
  framing: FramingName,
  batches: readonly Batch[],
): Uint8Array[] {
  const nodeBytes = textEncoder.encode(node);
  let count = 0;
  let payloadBytes = 0;
  let wireBytes = 0;
  for (const b of batches) {
    count += b.count;
    payloadBytes += b.payloadBytes;
    wireBytes += b.wire.byteLength;
  }
  const fixed = 3 + nodeBytes.byteLength + 20;
  const head = new Uint8Array(fixed + count * 8);
  const view = new DataView(head.buffer);
  head[0] = VERSION;
  head[1] = FRAMINGS.indexOf(framing);
  head[2] = nodeBytes.byteLength;
  head.set(nodeBytes, 3);
  let at = 3 + nodeBytes.byteLength;
  view.setUint32(at, count, true);
  view.setUint32(at + 4, payloadBytes, true);
  view.setUint32(at + 8, wireBytes, true);
  view.setFloat64(at + 12, batches[0]?.time ?? Date.now(), true);
  at = fixed;
  let base = 0;
  const parts: Uint8Array[] = [head];
  for (const b of batches) {
    for (let i = 0; i < 2 * b.count; i++) {
      view.setUint32(at, base + b.bounds[i], true);
      at += 4;
    }
    parts.push(b.wire);
    base += b.wire.byteLength;
  }
  return parts;
}

/**
 * What every blob this node publishes starts with, and how much of one to read to know its
 * message count: its own batches come back on the channel, and it needs no more of them.
 */
export function ownBlobStart(
  node: string,
  framing: FramingName,
): { prefix: Uint8Array; keep: number } {
  const nodeBytes = textEncoder.encode(node);
  const prefix = new Uint8Array(3 + nodeBytes.byteLength);
  prefix[0] = VERSION;
  prefix[1] = FRAMINGS.indexOf(framing);
  prefix[2] = nodeBytes.byteLength;
  prefix.set(nodeBytes, 3);
  return { prefix, keep: prefix.byteLength + 12 };
}

/** The message count of a shared blob, from its first bytes (at least ownBlobStart's `keep`). */
export function sharedCount(start: Uint8Array): number {
  if (start.byteLength < 3 || !knownVersion(start[0])) throw new MalformedBatchError('bad header');
  const at = 3 + start[2];
  if (start.byteLength < at + 4) throw new MalformedBatchError('bad header');
  return new DataView(start.buffer, start.byteOffset, start.byteLength).getUint32(at, true);
}

/** Reads a shared blob numbered `<epoch>-<lastSeq>`; the batch's bytes stay views of `blob`. */
export function decodeShared(blob: Uint8Array, epoch: number, lastSeq: number): SharedBatch {
  if (blob.byteLength < 15 || !knownVersion(blob[0])) throw new MalformedBatchError('bad header');
  const framing = FRAMINGS[blob[1]];
  const nodeLen = blob[2];
  const view = new DataView(blob.buffer, blob.byteOffset, blob.byteLength);
  let at = 3 + nodeLen;
  const fixed = blob[0] === VERSION_WITHOUT_TIME ? 12 : 20;
  if (!framing || blob.byteLength < at + fixed) throw new MalformedBatchError('bad header');
  const origin = textDecoder.decode(blob.subarray(3, at));
  const count = view.getUint32(at, true);
  const payloadBytes = view.getUint32(at + 4, true);
  const wireBytes = view.getUint32(at + 8, true);
  const time = fixed === 20 ? view.getFloat64(at + 12, true) : Date.now();
  if (!Number.isSafeInteger(time) || time < 0) throw new MalformedBatchError('bad time');
  at += fixed;
  if (blob.byteLength !== at + count * 8 + wireBytes) throw new MalformedBatchError('bad length');
  const bounds = new Uint32Array(count * 2);
  for (let i = 0; i < bounds.length; i++) {
    bounds[i] = view.getUint32(at, true);
    at += 4;
    if (bounds[i] > wireBytes) throw new MalformedBatchError('bad bounds');
  }
  const batch = new Batch(blob.subarray(at, at + wireBytes), bounds, count, payloadBytes);
  batch.epoch = epoch;
  batch.firstSeq = lastSeq - count + 1;
  batch.time = time;
  return { origin, framing, batch };
}

function knownVersion(v: number): boolean {
  return v === VERSION || v === VERSION_WITHOUT_TIME;
}

const DIGIT_0 = 48;
const DIGIT_9 = 57;

/** A channel message holds either the id of the batch that follows (ASCII digits) or that batch. */
export function isIdMessage(message: Uint8Array): boolean {
  return message.byteLength > 0 && message[0] >= DIGIT_0 && message[0] <= DIGIT_9;
}

/** `<epoch>-<last seq>` of the batch that follows on the channel, or null if malformed. */
export function readIdMessage(message: Uint8Array): { epoch: number; seq: number } | null {
  if (message.byteLength > 40) return null;
  return parseId(String.fromCharCode(...message));
}
