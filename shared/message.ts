/**
 * The message model. A message is `{ group, id, data, origin }`; on the hot path messages travel
 * as a Batch: the bytes TCP members receive (`wire`, in the hub's framing) plus the payload
 * offsets inside them, so a read chunk fans out with one write per member and no per-message
 * allocation. Ids are `<epoch>-<seq>`: epoch is when the group's sequence began (ms), seq counts
 * from 1 within it, so ids grow across restarts and group re-creation.
 */

export type Transport = 'tcp' | 'udp' | 'sse' | 'http' | 'resp';

export interface Message {
  group: string;
  id: string;
  data: Uint8Array;
  origin: string;
  /** When the sidecar received it (ms since the epoch), where known. */
  time?: number;
}

export interface MessageId {
  epoch: number;
  seq: number;
}

const ID_RE = /^(\d{1,15})-(\d{1,15})$/;

export function formatId(epoch: number, seq: number): string {
  return `${epoch}-${seq}`;
}

export function parseId(text: string): MessageId | null {
  const m = ID_RE.exec(text);
  if (!m) return null;
  return { epoch: Number(m[1]), seq: Number(m[2]) };
}

/** Keeps batches (a replay history) and counts the memory their cached encodings take. */
export interface BatchHolder {
  encoded(batch: Batch): void;
}

export class Batch {
  /** Bytes exactly as TCP members receive them. May hold framing-only bytes (blank lines). */
  readonly wire: Uint8Array;
  /** Payload offsets into `wire`: [start0, end0, start1, end1, ...]. */
  readonly bounds: Uint32Array;
  readonly count: number;
  readonly payloadBytes: number;
  /** Set when a group accepts the batch. */
  epoch = 0;
  firstSeq = 0;
  /**
   * When this process received the bytes (ms since the epoch): the publish time every message of
   * the batch carries on the wire (`event: time` in SSE, the shared blob over Redis). Whoever
   * rebuilds a batch received elsewhere (from Redis, from a sidecar's stream) sets it to the
   * time that came with it, before the batch is encoded.
   */
  time: number;
  /** Lazily built event-stream encoding, shared by every SSE subscriber. */
  sse: Uint8Array | undefined;
  /** What holds this batch for replay, told when its encoding is cached (memory accounting). */
  holder: BatchHolder | undefined;

  constructor(wire: Uint8Array, bounds: Uint32Array, count: number, payloadBytes: number) {
    this.wire = wire;
    this.bounds = bounds;
    this.count = count;
    this.payloadBytes = payloadBytes;
    this.time = Date.now();
  }

  payload(i: number): Uint8Array {
    return this.wire.subarray(this.bounds[2 * i], this.bounds[2 * i + 1]);
  }

  id(i: number): string {
    return formatId(this.epoch, this.firstSeq + i);
  }

  get lastSeq(): number {
    return this.firstSeq + this.count - 1;
  }
}

/** Payloads packed back to back into one batch (raw framing's wire format), not yet numbered. */
export function packPayloads(
  payloads: readonly Uint8Array[],
  alloc: (size: number) => Uint8Array = (n) => new Uint8Array(n),
): Batch {
  let total = 0;
  for (const p of payloads) total += p.byteLength;
  const wire = alloc(total);
  const bounds = new Uint32Array(payloads.length * 2);
  let at = 0;
  for (let i = 0; i < payloads.length; i++) {
    wire.set(payloads[i], at);
    bounds[2 * i] = at;
    at += payloads[i].byteLength;
    bounds[2 * i + 1] = at;
  }
  return new Batch(wire, bounds, payloads.length, total);
}

/** A numbered batch of payloads with consecutive ids (the edge rebuilds them from a sidecar's stream). */
export function batchOf(
  payloads: readonly Uint8Array[],
  epoch: number,
  firstSeq: number,
  time?: number,
): Batch {
  const batch = packPayloads(payloads);
  batch.epoch = epoch;
  batch.firstSeq = firstSeq;
  if (time !== undefined) batch.time = time;
  return batch;
}
