/**
 * Reads Redis protocol requests from a byte stream: multibulk (`*<n>\r\n$<len>\r\n<bytes>\r\n...`,
 * what every client library sends) and inline commands (`PING\r\n`, what a person types into a
 * raw connection; split on spaces and tabs, with "double" and 'single' quotes). Bounded: a
 * command has at most `maxArgs` arguments of at most `maxBulk` bytes each, and all but one of them
 * short (RESP_MAX_SHORT_ARG_BYTES each: channel names, options), so a command holds at most one
 * message's worth of bytes plus its names; an inline line at most RESP_MAX_INLINE_BYTES.
 * Anything else is a protocol error, worded as Redis words it.
 */

/** Redis's own limit on an inline request and on a count line (PROTO_INLINE_MAX_SIZE). */
export const RESP_MAX_INLINE_BYTES = 64 * 1024;

/** What a command's arguments besides one payload may take each, on average (a group id is at most 200 bytes). */
export const RESP_MAX_SHORT_ARG_BYTES = 256;

export class RespProtocolError extends Error {}

const CR = 0x0d;
const LF = 0x0a;

export class RespParser {
  readonly #maxArgs: number;
  readonly #maxBulk: number;
  /** Read bytes; those before `#at` are parsed (kept as an offset, not sliced off each time). */
  #buf: Buffer = Buffer.alloc(0);
  #at = 0;
  /** Chunks waiting to be joined once a bulk is complete (not copied on every read). */
  #pending: Buffer[] = [];
  #pendingBytes = 0;
  /** Arguments of the multibulk command being read, and how many are still to come. */
  #args: Buffer[] = [];
  #left = 0;
  /** Length of the bulk being read, or -1 before its `$` line. */
  #bulk = -1;
  /** Bytes the command being read may still take. */
  #room = 0;

  constructor(maxArgs: number, maxBulk: number) {
    this.#maxArgs = maxArgs;
    this.#maxBulk = maxBulk;
  }

  /** Bytes held for a partial command (charged to the memory budget). */
  get memory(): number {
    let n = this.#buf.byteLength - this.#at + this.#pendingBytes;
    for (const a of this.#args) n += a.byteLength;
    return n;
  }

  push(chunk: Buffer): void {
    if (this.#at >= this.#buf.byteLength && this.#pendingBytes === 0) {
      this.#buf = chunk;
      this.#at = 0;
    } else {
      this.#pending.push(chunk);
      this.#pendingBytes += chunk.byteLength;
    }
  }

  /**
   * The next complete command, or null when more bytes are needed. An empty array is a request
   * to skip (an empty inline line or `*0`). Throws RespProtocolError.
   */
  next(): Buffer[] | null {
    const held = this.#buf.byteLength - this.#at;
    // A bulk still short of its bytes: wait without joining chunks again.
    if (this.#bulk >= 0 && held + this.#pendingBytes < this.#bulk + 2) return null;
    if (this.#pendingBytes > 0) {
      this.#buf = Buffer.concat([this.#buf.subarray(this.#at), ...this.#pending]);
      this.#at = 0;
      this.#pending = [];
      this.#pendingBytes = 0;
    }
    const buf = this.#buf;
    if (this.#left === 0) {
      if (this.#at >= buf.byteLength) return this.#empty();
      if (buf[this.#at] !== 0x2a) return this.#inline();
      const n = this.#countLine('multibulk');
      if (n === null) return null;
      if (n > this.#maxArgs)
        throw new RespProtocolError('Protocol error: invalid multibulk length');
      if (n <= 0) return [];
      this.#left = n;
      this.#args = [];
      this.#room = this.#maxBulk + n * RESP_MAX_SHORT_ARG_BYTES;
    }
    while (this.#left > 0) {
      if (this.#bulk < 0) {
        if (this.#at >= buf.byteLength) return null;
        if (buf[this.#at] !== 0x24) {
          throw new RespProtocolError(
            `Protocol error: expected '$', got '${String.fromCharCode(buf[this.#at])}'`,
          );
        }
        const len = this.#countLine('bulk');
        if (len === null) return null;
        if (len < 0 || len > this.#maxBulk || len > this.#room)
          throw new RespProtocolError('Protocol error: invalid bulk length');
        this.#room -= len;
        this.#bulk = len;
      }
      if (buf.byteLength - this.#at < this.#bulk + 2) return null;
      // A view into the read buffer: whoever keeps an argument (a pattern) copies it.
      this.#args.push(buf.subarray(this.#at, this.#at + this.#bulk));
      this.#at += this.#bulk + 2;
      this.#bulk = -1;
      this.#left--;
    }
    const args = this.#args;
    this.#args = [];
    if (this.#at >= buf.byteLength) this.#empty();
    return args;
  }

  /**
   * The fast path of a publisher's pipeline: when the next command is a whole
   * `PUBLISH <channel> <payload>` (multibulk, the name in any case) to exactly `channel`, with a
   * payload of 1 to maxBulk bytes, takes it and returns its payload (a view into the read
   * buffer); otherwise takes nothing and returns null, and next() reads the command as usual.
   * No arguments array, no views of the name and channel, no second look at either.
   */
  nextPublishTo(channel: Buffer): Buffer | null {
    if (this.#left !== 0 || this.#pendingBytes !== 0) return null;
    const buf = this.#buf;
    let i = this.#at;
    const end = buf.byteLength;
    const clen = channel.byteLength;
    // `*3\r\n$7\r\npublish\r\n$` is 18 bytes; then the channel's length line.
    if (end - i < 18 + clen + 8) return null;
    if (
      buf[i] !== 0x2a ||
      buf[i + 1] !== 0x33 ||
      buf[i + 2] !== CR ||
      buf[i + 3] !== LF ||
      buf[i + 4] !== 0x24 ||
      buf[i + 5] !== 0x37 ||
      buf[i + 6] !== CR ||
      buf[i + 7] !== LF ||
      (buf[i + 8] | 0x20) !== 0x70 || // p
      (buf[i + 9] | 0x20) !== 0x75 || // u
      (buf[i + 10] | 0x20) !== 0x62 || // b
      (buf[i + 11] | 0x20) !== 0x6c || // l
      (buf[i + 12] | 0x20) !== 0x69 || // i
      (buf[i + 13] | 0x20) !== 0x73 || // s
      (buf[i + 14] | 0x20) !== 0x68 || // h
      buf[i + 15] !== CR ||
      buf[i + 16] !== LF ||
      buf[i + 17] !== 0x24
    ) {
      return null;
    }
    i += 18;
    let n = 0;
    while (i < end && buf[i] >= 0x30 && buf[i] <= 0x39 && n <= clen) n = n * 10 + buf[i++] - 0x30;
    if (n !== clen || i + 2 + clen + 3 > end || buf[i] !== CR || buf[i + 1] !== LF) return null;
    i += 2;
    for (let k = 0; k < clen; k++) if (buf[i + k] !== channel[k]) return null;
    i += clen;
    if (buf[i] !== CR || buf[i + 1] !== LF || buf[i + 2] !== 0x24) return null;
    i += 3;
    const max = this.#maxBulk;
    n = 0;
    while (i < end && buf[i] >= 0x30 && buf[i] <= 0x39 && n <= max) n = n * 10 + buf[i++] - 0x30;
    if (n === 0 || n > max || i + 2 + n + 2 > end || buf[i] !== CR || buf[i + 1] !== LF) {
      return null;
    }
    i += 2;
    if (buf[i + n] !== CR || buf[i + n + 1] !== LF) return null;
    const payload = buf.subarray(i, i + n);
    this.#at = i + n + 2;
    if (this.#at >= end) this.#empty();
    return payload;
  }

  /** Everything read is parsed: the read buffer is let go. */
  #empty(): null {
    this.#buf = EMPTY;
    this.#at = 0;
    return null;
  }

  /** Reads `<prefix><integer>\r\n`; null while the line is incomplete. */
  #countLine(what: 'multibulk' | 'bulk'): number | null {
    const buf = this.#buf;
    // Count lines are a few bytes: a loop here costs less than a native indexOf call.
    let end = -1;
    for (let i = this.#at, stop = Math.min(buf.byteLength, this.#at + 24); i < stop; i++) {
      if (buf[i] === LF) {
        end = i;
        break;
      }
    }
    if (end < 0 && buf.byteLength - this.#at > 24) end = buf.indexOf(LF, this.#at);
    if (end < 0) {
      if (buf.byteLength - this.#at > RESP_MAX_INLINE_BYTES)
        throw new RespProtocolError(
          `Protocol error: too big ${what === 'bulk' ? 'bulk' : 'mbulk'} count string`,
        );
      return null;
    }
    const n = parseCount(buf, this.#at + 1, end > this.#at && buf[end - 1] === CR ? end - 1 : end);
    this.#at = end + 1;
    if (n === null) throw new RespProtocolError(`Protocol error: invalid ${what} length`);
    return n;
  }

  #inline(): Buffer[] | null {
    const buf = this.#buf;
    const end = buf.indexOf(LF, this.#at);
    if (end < 0) {
      if (buf.byteLength - this.#at > RESP_MAX_INLINE_BYTES)
        throw new RespProtocolError('Protocol error: too big inline request');
      return null;
    }
    const line = buf.subarray(this.#at, end > this.#at && buf[end - 1] === CR ? end - 1 : end);
    this.#at = end + 1;
    const args = splitInline(line);
    if (args === null) throw new RespProtocolError('Protocol error: unbalanced quotes in request');
    if (args.length > this.#maxArgs)
      throw new RespProtocolError('Protocol error: invalid multibulk length');
    return args;
  }
}

const EMPTY = Buffer.alloc(0);

/** The integer in buf[from, to) (an optional `-`, 1-18 digits), or null. */
function parseCount(buf: Buffer, from: number, to: number): number | null {
  let i = from;
  const negative = buf[i] === 0x2d;
  if (negative) i++;
  if (i >= to || to - i > 18) return null;
  let n = 0;
  for (; i < to; i++) {
    const d = buf[i] - 0x30;
    if (d < 0 || d > 9) return null;
    n = n * 10 + d;
  }
  return negative ? -n : n;
}

/** Splits an inline line on blanks; quoted arguments keep their blanks. Null: unbalanced quotes. */
function splitInline(line: Buffer): Buffer[] | null {
  const out: Buffer[] = [];
  let i = 0;
  while (i < line.length) {
    while (i < line.length && (line[i] === 0x20 || line[i] === 0x09)) i++;
    if (i >= line.length) break;
    const q = line[i];
    if (q === 0x22 || q === 0x27) {
      const close = line.indexOf(q, i + 1);
      if (close < 0) return null;
      out.push(Buffer.from(line.subarray(i + 1, close)));
      i = close + 1;
      // A closing quote must end the argument, as in Redis.
      if (i < line.length && line[i] !== 0x20 && line[i] !== 0x09) return null;
    } else {
      let j = i;
      while (j < line.length && line[j] !== 0x20 && line[j] !== 0x09) j++;
      out.push(Buffer.from(line.subarray(i, j)));
      i = j;
    }
  }
  return out;
}
