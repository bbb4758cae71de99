import { concatBytes } from '../shared/bytes.ts';
import {
  EmptyMessageError,
  GroupcastError,
  InvalidNdjsonError,
  MessageTooLargeError,
  TooManyMessagesError,
} from '../shared/errors.ts';
import { nextTurn } from '../shared/turn.ts';

const LF = 10;
const CR = 13;
const strictUtf8 = new TextDecoder('utf-8', { fatal: true });

/**
 * Reads a request body, refusing it as soon as it passes `limit` bytes (checked against
 * Content-Length first, then while streaming), never after buffering all of it.
 */
export async function readBody(
  req: Request,
  limit: number,
  what: 'message' | 'body',
): Promise<Uint8Array> {
  const declared = req.headers.get('content-length');
  if (declared !== null) {
    const size = Number(declared);
    if (size > limit) throw new MessageTooLargeError(limit, what);
    // Bounded by the header (the server enforces it): one read. Runtimes read such a body
    // without building a stream (touching req.body first would build one). A large one is
    // read into one buffer of its declared size instead: arrayBuffer() would hold its chunks
    // and their joined copy at once, twice the body.
    if (size <= DIRECT_READ_BYTES || !req.body) return new Uint8Array(await req.arrayBuffer());
    return readInto(req.body, new Uint8Array(size), limit, what);
  }
  if (!req.body) return new Uint8Array(0);
  const reader = req.body.getReader();
  const parts: Uint8Array[] = [];
  let total = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    total += value.byteLength;
    if (total > limit) {
      reader.cancel().catch(() => {});
      throw new MessageTooLargeError(limit, what);
    }
    parts.push(value);
  }
  return parts.length === 0 ? new Uint8Array(0) : concatBytes(parts);
}

/** Bodies up to this size are read in one call; larger ones chunk by chunk into one buffer. */
export const DIRECT_READ_BYTES = 1024 * 1024;

async function readInto(
  body: ReadableStream<Uint8Array>,
  out: Uint8Array,
  limit: number,
  what: 'message' | 'body',
): Promise<Uint8Array> {
  const reader = body.getReader();
  let at = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    if (at + value.byteLength > out.byteLength) {
      // More than Content-Length said: the server should have stopped it; refuse, never grow.
      reader.cancel().catch(() => {});
      throw new MessageTooLargeError(Math.min(limit, out.byteLength), what);
    }
    out.set(value, at);
    at += value.byteLength;
  }
  return at === out.byteLength ? out : out.subarray(0, at);
}

/** Work on one request runs at most about this long before other requests get a turn. */
export const WORK_SLICE_MS = 4;

/**
 * An NDJSON batch: every non-empty line is one message and must be one JSON value. Any bad line
 * refuses the whole batch, so nothing from it is published. More than `maxMessages` lines is
 * TOO_MANY_MESSAGES, found on the first line past the cap, not after splitting everything. The
 * work yields to other requests every few milliseconds: a 16 MiB body of tiny lines never holds
 * the event loop.
 */
export async function splitNdjson(
  body: Uint8Array,
  maxMessageBytes: number,
  maxMessages: number,
): Promise<Uint8Array[]> {
  const out: Uint8Array[] = [];
  const bounds: number[] = [];
  let start = 0;
  let line = 1;
  let sliceStart = performance.now();
  while (start < body.byteLength) {
    // A run of lines is checked with one decode: a TextDecoder call per line cost more than the
    // JSON.parse of a 100-byte line. Anything wrong in the run, and the run is read again line by
    // line, which finds the first fault and words it exactly as ever.
    const runStart = start;
    const runLine = line;
    const held = out.length;
    bounds.length = 0;
    let fault = false;
    let lines = 0;
    let taken = 0;
    while (
      start < body.byteLength &&
      lines < NDJSON_RUN_LINES &&
      start - runStart < NDJSON_RUN_BYTES
    ) {
      let lf = body.indexOf(LF, start);
      if (lf < 0) lf = body.byteLength;
      let end = lf;
      if (end > start && body[end - 1] === CR) end--;
      if (end > start) {
        if (held + taken === maxMessages || end - start > maxMessageBytes) {
          fault = true;
          break;
        }
        bounds.push(start, end);
        taken++;
      } else bounds.push(-1, -1);
      start = lf + 1;
      lines++;
    }
    if (!fault) fault = !allJson(body, runStart, Math.min(start, body.byteLength), bounds);
    if (fault) {
      start = lineByLine(body, runStart, out, runLine, maxMessageBytes, maxMessages, lines + 1);
      line = runLine + lines + 1;
    } else {
      for (let i = 0; i < bounds.length; i += 2) {
        if (bounds[i] >= 0) out.push(body.subarray(bounds[i], bounds[i + 1]));
      }
      line = runLine + lines;
    }
    if (performance.now() - sliceStart > WORK_SLICE_MS) {
      await nextTurn();
      sliceStart = performance.now();
    }
  }
  if (out.length === 0) throw new EmptyMessageError();
  return out;
}

/** Lines a run of splitNdjson checks together, at most... */
const NDJSON_RUN_LINES = 64;
/** ...and about this many bytes (a run of long lines is not one huge string). */
const NDJSON_RUN_BYTES = 256 * 1024;

/** Is every non-empty line of body[from, to) (bounds: start, end or -1, -1 per line) JSON? */
function allJson(body: Uint8Array, from: number, to: number, bounds: number[]): boolean {
  let text: string;
  try {
    text = strictUtf8.decode(body.subarray(from, to));
  } catch {
    return false;
  }
  // A LF byte is a LF character and never part of another character: line i is piece i.
  const pieces = text.split('\n');
  for (let i = 0; i < bounds.length; i += 2) {
    if (bounds[i] < 0) continue;
    try {
      // A CR left at a piece's end is JSON whitespace. A BOM inside the run is not, and fails
      // here: the line-by-line reading, which decodes each line alone, takes it as before.
      JSON.parse(pieces[i / 2]);
    } catch {
      return false;
    }
  }
  return true;
}

/**
 * Reads up to `count` lines from `start` one at a time, throwing at the first that is refused
 * (too many, too large, not JSON); returns where it stopped.
 */
function lineByLine(
  body: Uint8Array,
  start: number,
  out: Uint8Array[],
  line: number,
  maxMessageBytes: number,
  maxMessages: number,
  count: number,
): number {
  for (let n = 0; n < count && start < body.byteLength; n++, line++) {
    let lf = body.indexOf(LF, start);
    if (lf < 0) lf = body.byteLength;
    let end = lf;
    if (end > start && body[end - 1] === CR) end--;
    if (end > start) {
      if (out.length === maxMessages) throw new TooManyMessagesError(maxMessages);
      const bytes = body.subarray(start, end);
      if (bytes.byteLength > maxMessageBytes) throw new MessageTooLargeError(maxMessageBytes);
      try {
        JSON.parse(strictUtf8.decode(bytes));
      } catch (err) {
        throw new InvalidNdjsonError(`line ${line} is not JSON: ${(err as Error).message}`);
      }
      out.push(bytes);
    }
    start = lf + 1;
  }
  return start;
}

/**
 * Counts the messages of an NDJSON batch and checks their size, without parsing them: for a hub
 * that passes the body on to one that checks the JSON itself (the edge worker's sidecar).
 */
export function countNdjson(body: Uint8Array, maxMessageBytes: number): number {
  let count = 0;
  let start = 0;
  while (start < body.byteLength) {
    let lf = body.indexOf(LF, start);
    if (lf < 0) lf = body.byteLength;
    let end = lf;
    if (end > start && body[end - 1] === CR) end--;
    if (end > start) {
      if (end - start > maxMessageBytes) throw new MessageTooLargeError(maxMessageBytes);
      count++;
    }
    start = lf + 1;
  }
  if (count === 0) throw new EmptyMessageError();
  return count;
}

/**
 * A batch of messages of any bytes (`application/x-groupcast-frames`): each is a 4-byte
 * big-endian length, then that many bytes. The edge worker sends the POSTs it gathers to its
 * sidecar this way. A bad frame refuses the whole batch.
 */
export const FRAMES_TYPE = 'application/x-groupcast-frames';

export function splitFrames(body: Uint8Array, maxMessageBytes: number): Uint8Array[] {
  const out: Uint8Array[] = [];
  let at = 0;
  while (at < body.byteLength) {
    if (at + 4 > body.byteLength) {
      throw new GroupcastError('BAD_REQUEST', `frame ${out.length + 1} has a cut length header`);
    }
    const n =
      ((body[at] << 24) >>> 0) + ((body[at + 1] << 16) | (body[at + 2] << 8) | body[at + 3]);
    if (n === 0) throw new EmptyMessageError();
    if (n > maxMessageBytes) throw new MessageTooLargeError(maxMessageBytes);
    if (at + 4 + n > body.byteLength) {
      throw new GroupcastError('BAD_REQUEST', `frame ${out.length + 1} is cut short`);
    }
    out.push(body.subarray(at + 4, at + 4 + n));
    at += 4 + n;
  }
  if (out.length === 0) throw new EmptyMessageError();
  return out;
}

/** Payloads as one frames body (see splitFrames). */
export function joinFrames(payloads: readonly Uint8Array[]): Uint8Array {
  let total = 0;
  for (const p of payloads) total += 4 + p.byteLength;
  const out = new Uint8Array(total);
  const view = new DataView(out.buffer);
  let at = 0;
  for (const p of payloads) {
    view.setUint32(at, p.byteLength);
    out.set(p, at + 4);
    at += 4 + p.byteLength;
  }
  return out;
}
