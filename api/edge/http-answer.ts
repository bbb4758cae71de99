import { concatBytes } from '../../shared/bytes.ts';
/** One HTTP/1.1 answer read from the front of a buffer. */
export interface Answer {
  status: number;
  body: Uint8Array;
  /** Bytes of the buffer it took. */
  length: number;
  /** The server closes the connection after it (`Connection: close`). */
  close: boolean;
}

/** An answer's head larger than this is not the sidecar's. */
const MAX_HEAD_BYTES = 16 * 1024;
/** A publish answer lists at most 1,000 ids: far below this. */
const MAX_BODY_BYTES = 1024 * 1024;

const decoder = new TextDecoder();

/**
 * Reads the answer at the front of `buf`: null while it is incomplete, an Error when it is not
 * an HTTP/1.1 answer the edge can read (the connection is then closed). Bodies come with
 * Content-Length or chunked, as Node's server sends them.
 */
export function parseAnswer(buf: Uint8Array): Answer | Error | null {
  const end = headEnd(buf);
  if (end < 0) return buf.byteLength > MAX_HEAD_BYTES ? new Error('answer head too large') : null;
  const lines = decoder.decode(buf.subarray(0, end)).split('\r\n');
  const m = /^HTTP\/1\.[01] (\d{3})/.exec(lines[0]);
  if (!m) return new Error(`not an HTTP answer: ${JSON.stringify(lines[0].slice(0, 80))}`);
  const status = Number(m[1]);
  let length = -1;
  let chunked = false;
  let close = lines[0].startsWith('HTTP/1.0');
  for (let i = 1; i < lines.length; i++) {
    const colon = lines[i].indexOf(':');
    if (colon < 0) continue;
    const name = lines[i].slice(0, colon).trim().toLowerCase();
    const value = lines[i]
      .slice(colon + 1)
      .trim()
      .toLowerCase();
    if (name === 'content-length') length = Number(value);
    else if (name === 'transfer-encoding') chunked = value.includes('chunked');
    else if (name === 'connection') close = value.includes('close');
  }
  const start = end + 4;
  if (chunked) return chunkedBody(buf, start, status, close);
  if (status === 204 || status === 304) {
    return { status, body: new Uint8Array(0), length: start, close };
  }
  if (!Number.isSafeInteger(length) || length < 0 || length > MAX_BODY_BYTES) {
    return new Error('answer without a usable Content-Length');
  }
  if (buf.byteLength < start + length) return null;
  return { status, body: buf.subarray(start, start + length), length: start + length, close };
}

function headEnd(buf: Uint8Array): number {
  const n = Math.min(buf.byteLength, MAX_HEAD_BYTES + 4);
  for (let i = 3; i < n; i++) {
    if (buf[i] === 10 && buf[i - 1] === 13 && buf[i - 2] === 10 && buf[i - 3] === 13) return i - 3;
  }
  return -1;
}

function chunkedBody(
  buf: Uint8Array,
  start: number,
  status: number,
  close: boolean,
): Answer | Error | null {
  const parts: Uint8Array[] = [];
  let total = 0;
  let at = start;
  for (;;) {
    const eol = lineEnd(buf, at);
    if (eol < 0) return buf.byteLength - at > 64 ? new Error('bad chunk size line') : null;
    const size = Number.parseInt(decoder.decode(buf.subarray(at, eol)), 16);
    if (!Number.isSafeInteger(size) || size < 0) return new Error('bad chunk size');
    total += size;
    if (total > MAX_BODY_BYTES) return new Error('answer body too large');
    at = eol + 2;
    if (size === 0) {
      // No trailers from Node's server: the last chunk ends with an empty line.
      if (buf.byteLength < at + 2) return null;
      return { status, body: concatBytes(parts), length: at + 2, close };
    }
    if (buf.byteLength < at + size + 2) return null;
    parts.push(buf.subarray(at, at + size));
    at += size + 2;
  }
}

function lineEnd(buf: Uint8Array, from: number): number {
  for (let i = from + 1; i < buf.byteLength; i++)
    if (buf[i] === 10 && buf[i - 1] === 13) return i - 1;
  return -1;
}
