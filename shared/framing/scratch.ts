const NO_BOUNDS = new Uint32Array(0);
/** First capacity of a decoder's bounds scratch, in pairs; it doubles from there. */
const FIRST_BOUNDS_PAIRS = 32;

/**
 * A growable Uint32Array reused across reads, so decoding allocates once per batch, not per
 * message. Allocated on the first frame: most members of a fan-out never publish, and a 1 KiB
 * array up front was a fifth of an idle TCP member's memory.
 */
export class BoundsScratch {
  #a = NO_BOUNDS;
  n = 0;

  push(start: number, end: number): void {
    if (this.n + 2 > this.#a.length) {
      const next = new Uint32Array(Math.max(FIRST_BOUNDS_PAIRS * 2, this.#a.length * 2));
      next.set(this.#a);
      this.#a = next;
    }
    this.#a[this.n++] = start;
    this.#a[this.n++] = end;
  }

  /** Copies out the pairs pushed since the last take. */
  take(): Uint32Array {
    const out = this.#a.slice(0, this.n);
    this.n = 0;
    return out;
  }
}

/** Allocates the byte arrays a framing builds; the sidecar passes Node's Buffer.allocUnsafe, so sockets take them as they are. */
export type Alloc = (size: number) => Uint8Array;

export const plainAlloc: Alloc = (size) => new Uint8Array(size);

const EMPTY = new Uint8Array(0);
/**
 * Held buffers from this size on come from the framing's allocator (not zeroed: zeroing a
 * 64 KiB frame costs as much as copying it). Smaller ones are zeroed arrays of their own, since
 * Node's allocator carves small buffers from a shared 8 KiB slab that one idle partial frame
 * would keep alive.
 */
const UNZEROED_FROM = 4096;
/** First capacity of a held partial frame; it doubles from there. */
const FIRST_HELD_BYTES = 64;

/**
 * The bytes of a frame that is not complete yet, copied into one buffer that doubles as it
 * grows: a peer that trickles a frame a byte per read costs about two bytes of memory per byte
 * held, not a kept read (and its object) per byte.
 */
export class HeldBytes {
  readonly #alloc: Alloc;
  #buf: Uint8Array = EMPTY;
  /** `#buf` is a caller's part, kept instead of copied (never written to). */
  #kept = false;
  length = 0;

  /** `alloc` need not zero: only bytes written are ever read (used for large buffers only). */
  constructor(alloc: Alloc = plainAlloc) {
    this.#alloc = alloc;
  }

  /** Memory held (the buffer's capacity). */
  get capacity(): number {
    return this.#kept ? this.#buf.buffer.byteLength : this.#buf.byteLength;
  }

  append(part: Uint8Array): void {
    // A large part that starts a frame is kept as it is, not copied: decoders already keep
    // reads (a batch is a view of one), and a 64 KiB line always spans two reads, so this
    // saves a copy and an allocation of most of the line. Only a part that fills at least
    // half of its read is kept, so a small tail never holds a large read alive.
    if (
      this.length === 0 &&
      part.byteLength >= UNZEROED_FROM &&
      part.byteLength * 2 >= part.buffer.byteLength
    ) {
      this.#buf = part;
      this.#kept = true;
      this.length = part.byteLength;
      return;
    }
    const need = this.length + part.byteLength;
    if (this.#kept || need > this.#buf.byteLength) {
      const size = Math.max(need, FIRST_HELD_BYTES, this.#buf.byteLength * 2);
      const next = size >= UNZEROED_FROM ? this.#alloc(size) : new Uint8Array(size);
      next.set(this.#buf.subarray(0, this.length));
      this.#buf = next;
      this.#kept = false;
    }
    this.#buf.set(part, this.length);
    this.length = need;
  }

  /** A view of the held bytes (valid until the next append or take). */
  view(): Uint8Array {
    return this.#buf.subarray(0, this.length);
  }

  /** The held bytes followed by `chunk`, in one new array; the held buffer is let go. */
  take(chunk: Uint8Array, alloc: Alloc): Uint8Array {
    const out = alloc(this.length + chunk.byteLength);
    out.set(this.#buf.subarray(0, this.length), 0);
    out.set(chunk, this.length);
    this.#buf = EMPTY;
    this.#kept = false;
    this.length = 0;
    return out;
  }
}
