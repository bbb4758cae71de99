import { ByteWriter, isSseSafeText, textEncoder } from './bytes.ts';
import type { Batch } from './message.ts';

/**
 * Server-Sent Events encoding. A batch is encoded once and the bytes are shared by every
 * subscriber. Text payloads go as `event: message` with one `data:` line per line; payloads that
 * are not UTF-8, or hold a CR (which SSE parsers rewrite), go base64 under `event: binary`.
 */

const LF = 10;
/**
 * Bytes an event adds to its payload, at most, for a text message: `id: <13-digit epoch>-<seq>`,
 * `event: message`, `data: ` and the line ends (48 to 56); with this much room a batch's
 * encoding is written into one buffer, not grown and copied on its way.
 */
const MESSAGE_OVERHEAD = 64;

export const HEARTBEAT = textEncoder.encode(': heartbeat\n\n');

/**
 * `id: <id>` with no data: not an event, but it sets the client's last event id (EventSource
 * does this, per the standard), so a subscriber that reconnects before its first message still
 * resumes exactly where it started instead of missing what came in between.
 */
export function encodePosition(id: string): Uint8Array {
  return textEncoder.encode(`id: ${id}\n\n`);
}

export function encodeRetry(ms: number): Uint8Array {
  return textEncoder.encode(`retry: ${ms}\n\n`);
}

export function encodeBatch(batch: Batch): Uint8Array {
  if (batch.sse) return batch.sse;
  const w = new ByteWriter(batch.payloadBytes + batch.count * MESSAGE_OVERHEAD + 64);
  writeTime(w, batch);
  writeMessages(w, batch, 0);
  const bytes = w.take();
  batch.sse = bytes;
  batch.holder?.encoded(batch);
  return bytes;
}

/**
 * The events of several batches as one chunk (a turn of a fan-out). A batch not encoded yet is
 * encoded into the chunk and keeps a view of its part as its encoding, so a turn costs one
 * buffer, not one per batch and another to join them.
 */
export function encodeBatches(batches: readonly Batch[]): Uint8Array {
  let size = 0;
  for (const b of batches)
    size += b.sse ? b.sse.byteLength : b.payloadBytes + b.count * MESSAGE_OVERHEAD + 64;
  const w = new ByteWriter(size);
  // Where each batch's part ends; a batch encoded before is copied, not given a view.
  const ends: number[] = [];
  for (const b of batches) {
    if (b.sse) w.bytes(b.sse);
    else {
      writeTime(w, b);
      writeMessages(w, b, 0);
    }
    ends.push(w.length);
  }
  const all = w.take();
  for (let i = 0; i < batches.length; i++) {
    const b = batches[i];
    if (b.sse) continue;
    b.sse = all.subarray(i === 0 ? 0 : ends[i - 1], ends[i]);
    b.holder?.encoded(b);
  }
  return all;
}

/** Encodes only the messages of `batch` whose seq is above `afterSeq` (for a replay's edge). */
export function encodeBatchAfter(batch: Batch, afterSeq: number): Uint8Array {
  const from = Math.max(0, afterSeq - batch.firstSeq + 1);
  if (from === 0) return encodeBatch(batch);
  const w = new ByteWriter(256);
  writeTime(w, batch);
  writeMessages(w, batch, from);
  return w.take();
}

/**
 * The publish time goes once per batch, before its messages, as a named event with no id:
 * EventSource's `onmessage` never sees it (only `addEventListener('time')` does), the last event
 * id is left as it is, and parsers that skip unknown events skip it. A client keeps the newest
 * time and gives it to every message that follows, up to the next `time` event.
 */
function writeTime(w: ByteWriter, batch: Batch): void {
  w.bytes(TIME_HEAD);
  const time = batch.time;
  // Always a whole number of ms here; anything else is written as JavaScript prints it.
  if (Number.isSafeInteger(time) && time >= 0) w.decimal(time);
  else w.ascii(String(time));
  w.bytes(EVENT_END);
}

/** The `data:` of a `time` event as a number, or null when it is not one (ms since the epoch). */
export function parseTime(data: string): number | null {
  return /^\d{1,15}$/.test(data) ? Number(data) : null;
}

const EVENT_MESSAGE = textEncoder.encode('\nevent: message\ndata: ');
const EVENT_BINARY = textEncoder.encode('\nevent: binary\ndata: ');
const NEXT_DATA = textEncoder.encode('\ndata: ');
const EVENT_END = textEncoder.encode('\n\n');
const TIME_HEAD = textEncoder.encode('event: time\ndata: ');

/**
 * `id: <epoch>-<seq>` of every message written from bytes, not made as a string each; an event's
 * closing blank line goes out with the next one's `id: <epoch>-`, one copy instead of two.
 */
function writeMessages(w: ByteWriter, batch: Batch, from: number): void {
  const { wire, bounds, count } = batch;
  if (from >= count) return;
  const idHead = textEncoder.encode(`id: ${batch.epoch}-`);
  const nextHead = count - from > 1 ? textEncoder.encode(`\n\nid: ${batch.epoch}-`) : idHead;
  for (let i = from; i < count; i++) {
    const start = bounds[2 * i];
    const end = bounds[2 * i + 1];
    w.bytes(i === from ? idHead : nextHead);
    w.decimal(batch.firstSeq + i);
    if (isSseSafeText(wire, start, end)) {
      w.bytes(EVENT_MESSAGE);
      let at = start;
      let lf = wire.indexOf(LF, at);
      while (lf >= 0 && lf < end) {
        w.bytes(wire, at, lf);
        w.bytes(NEXT_DATA);
        at = lf + 1;
        lf = wire.indexOf(LF, at);
      }
      w.bytes(wire, at, end);
    } else {
      w.bytes(EVENT_BINARY);
      w.base64(wire, start, end);
    }
  }
  w.bytes(EVENT_END);
}

export interface GapInfo {
  /** The id the client asked to resume after. */
  requested: string;
  /** The first id it will now receive, or null when nothing is held yet. */
  resumedFrom: string | null;
  /** evicted: older than the history window; unknown: never issued here; reset: the group's sequence restarted (restart or expiry). */
  reason: 'evicted' | 'unknown' | 'reset';
}

export function encodeGap(gap: GapInfo): Uint8Array {
  return textEncoder.encode(`event: gap\ndata: ${JSON.stringify(gap)}\n\n`);
}

/** A presence event (`join` or `leave`) with its JSON, for streams opened with `?presence=true`. */
export function encodePresence(type: 'join' | 'leave', json: string): Uint8Array {
  return textEncoder.encode(`event: ${type}\ndata: ${json}\n\n`);
}

/** An event telling the subscriber why its stream ends (best effort: it may not be read). */
export function encodeClose(code: string, message: string): Uint8Array {
  return textEncoder.encode(`event: close\ndata: ${JSON.stringify({ code, message })}\n\n`);
}
