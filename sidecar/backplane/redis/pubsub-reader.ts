/**
 * Reads what Redis sends a subscribed connection (RESP2): replies to its commands, and messages
 * published on its channels. Bytes may arrive in any split, and in a buffer the caller reuses for
 * the next read: everything kept is copied out, and a message's payload exactly once, into a
 * buffer of its own size (a generic reader would keep each read and join them: twice the memory
 * and a second copy of every batch).
 *
 * A payload that starts with `skip.prefix` (a batch this node published itself, which it
 * already has) is read past: the message arrives as its first `skip.keep` bytes only.
 */

/** A reply to a command: simple string, error, integer, bulk string (as text), or an array of those. */
export type Reply = string | number | Error | null | Reply[];

export interface PubSubHandler {
  /** A `message`, or a `pmessage` (`pattern` set) for a pattern subscription. */
  message(channel: string, payload: Uint8Array, skipped: boolean, pattern: boolean): void;
  reply(value: Reply): void;
}

export interface SkipRule {
  prefix: Uint8Array;
  /** Bytes of a skipped payload handed on (at least the prefix). */
  keep: number;
}

const CR = 13;
const LF = 10;

enum State {
  /** Waiting for a type byte. */
  Type,
  /** Reading the rest of a line (after the type byte) up to CRLF. */
  Line,
  /** Reading a bulk string's bytes. */
  Bulk,
  /** Reading the CRLF after a bulk string. */
  BulkEnd,
}

export class PubSubReader {
  readonly #handler: PubSubHandler;
  readonly #skip: SkipRule | null;
  /** The start of a message's payload while deciding whether to skip it. */
  readonly #peek: Buffer;
  #state = State.Type;
  #type = 0;
  #line = '';
  /** Elements still to read in the array being read, or -1 outside an array. */
  #arrayLeft = -1;
  #items: (Reply | Uint8Array)[] = [];
  #skipped = false;
  // The bulk string being read.
  #bulkLen = 0;
  #bulkAt = 0;
  #bulk: Buffer | null = null;
  #peeking = false;
  #peekAt = 0;
  #discard = false;
  #payload = false;
  #endLeft = 0;

  constructor(handler: PubSubHandler, skip: SkipRule | null = null) {
    this.#handler = handler;
    this.#skip = skip && skip.keep >= skip.prefix.byteLength ? skip : null;
    this.#peek = Buffer.allocUnsafe(this.#skip?.keep ?? 0);
  }

  /** Back to the start of a reply, for a new connection. */
  reset(): void {
    this.#state = State.Type;
    this.#line = '';
    this.#arrayLeft = -1;
    this.#items = [];
    this.#bulk = null;
  }

  /** Reads `buf[start, end)`; nothing of `buf` is kept once this returns. */
  feed(buf: Buffer, start: number, end: number): void {
    let at = start;
    while (at < end) {
      switch (this.#state) {
        case State.Type:
          this.#type = buf[at++];
          this.#line = '';
          this.#state = State.Line;
          break;
        case State.Line: {
          const lf = buf.indexOf(LF, at);
          if (lf < 0 || lf >= end) {
            this.#line += buf.toString('latin1', at, end);
            at = end;
            break;
          }
          this.#line += buf.toString('latin1', at, lf);
          at = lf + 1;
          const line =
            this.#line.charCodeAt(this.#line.length - 1) === CR
              ? this.#line.slice(0, -1)
              : this.#line;
          this.#onLine(line);
          break;
        }
        case State.Bulk:
          at = this.#readBulk(buf, at, end);
          break;
        case State.BulkEnd: {
          const n = Math.min(this.#endLeft, end - at);
          this.#endLeft -= n;
          at += n;
          if (this.#endLeft === 0) this.#endBulk();
          break;
        }
      }
    }
  }

  #onLine(line: string): void {
    this.#state = State.Type;
    switch (this.#type) {
      case 0x2b: // +
        this.#value(line);
        return;
      case 0x2d: // -
        this.#value(new Error(line));
        return;
      case 0x3a: // :
        this.#value(Number(line));
        return;
      case 0x24: {
        // $
        const n = Number(line);
        if (n < 0) {
          this.#value(null);
          return;
        }
        this.#startBulk(n);
        return;
      }
      case 0x2a: {
        // *
        const n = Number(line);
        if (this.#arrayLeft >= 0 || n <= 0) {
          // Nested arrays never come on a subscribed connection; an empty or null one is a reply.
          this.#value(n < 0 ? null : []);
          return;
        }
        this.#arrayLeft = n;
        this.#items = [];
        this.#skipped = false;
        return;
      }
      default:
        throw new Error(`unexpected RESP type byte ${this.#type}`);
    }
  }

  #startBulk(n: number): void {
    this.#bulkLen = n;
    this.#bulkAt = 0;
    this.#discard = false;
    this.#peeking = false;
    // The payload is the third element of a `message` array, the fourth of a `pmessage` one.
    this.#payload =
      this.#arrayLeft === 1 &&
      ((this.#items.length === 2 && this.#items[0] === 'message') ||
        (this.#items.length === 3 && this.#items[0] === 'pmessage'));
    if (this.#payload && this.#skip && n >= this.#skip.keep) {
      this.#peeking = true;
      this.#peekAt = 0;
      this.#bulk = null;
    } else {
      this.#bulk = Buffer.allocUnsafe(n);
    }
    this.#state = State.Bulk;
    if (n === 0) this.#finishBulkBytes();
  }

  #readBulk(buf: Buffer, at: number, end: number): number {
    if (this.#peeking) {
      const want = (this.#skip as SkipRule).keep - this.#peekAt;
      const n = Math.min(want, end - at);
      buf.copy(this.#peek, this.#peekAt, at, at + n);
      this.#peekAt += n;
      this.#bulkAt += n;
      at += n;
      if (this.#peekAt < this.#peek.byteLength) return at;
      this.#peeking = false;
      if (startsWith(this.#peek, (this.#skip as SkipRule).prefix)) {
        this.#discard = true;
        this.#skipped = true;
        this.#bulk = Buffer.from(this.#peek);
      } else {
        this.#bulk = Buffer.allocUnsafe(this.#bulkLen);
        this.#peek.copy(this.#bulk, 0, 0, this.#peekAt);
      }
    }
    const n = Math.min(this.#bulkLen - this.#bulkAt, end - at);
    if (!this.#discard) buf.copy(this.#bulk as Buffer, this.#bulkAt, at, at + n);
    this.#bulkAt += n;
    at += n;
    if (this.#bulkAt === this.#bulkLen) this.#finishBulkBytes();
    return at;
  }

  #finishBulkBytes(): void {
    this.#state = State.BulkEnd;
    this.#endLeft = 2;
  }

  #endBulk(): void {
    this.#state = State.Type;
    const bytes = this.#bulk as Buffer;
    this.#bulk = null;
    if (this.#payload) this.#value(bytes);
    else this.#value(bytes.toString('utf8'));
  }

  #value(v: Reply | Uint8Array): void {
    if (this.#arrayLeft < 0) {
      this.#handler.reply(v as Reply);
      return;
    }
    this.#items.push(v);
    if (--this.#arrayLeft > 0) return;
    const items = this.#items;
    this.#items = [];
    this.#arrayLeft = -1;
    if (items.length === 3 && items[0] === 'message' && items[2] instanceof Uint8Array) {
      this.#handler.message(items[1] as string, items[2], this.#skipped, false);
    } else if (items.length === 4 && items[0] === 'pmessage' && items[3] instanceof Uint8Array) {
      this.#handler.message(items[2] as string, items[3], this.#skipped, true);
    } else {
      this.#handler.reply(items as Reply[]);
    }
  }
}

function startsWith(bytes: Uint8Array, prefix: Uint8Array): boolean {
  for (let i = 0; i < prefix.byteLength; i++) if (bytes[i] !== prefix[i]) return false;
  return true;
}
