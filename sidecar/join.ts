import { textDecoder, textEncoder } from '../shared/bytes.ts';
import { BadJoinError } from '../shared/errors.ts';
import { groupIdFromBytes, MAX_GROUP_ID_BYTES } from '../shared/group-id.ts';

const LF = 10;
const CR = 13;
const SPACE = 32;

/** Longest join secret accepted on a join line. */
export const MAX_JOIN_SECRET_BYTES = 256;

export interface Joined {
  group: string;
  /** What followed the group id after one space: `<prefix><group> <secret>`. */
  secret?: string;
  /** Bytes that followed the join line in the same reads: the member's first data. */
  rest: Uint8Array;
}

/** The rest of a read that ended with its join line: most do, so no empty view is made for each. */
const NOTHING = new Uint8Array(0);

/** What follows the LF at `lf` in `chunk`. */
function after(chunk: Uint8Array, lf: number): Uint8Array {
  return lf + 1 < chunk.byteLength ? chunk.subarray(lf + 1) : NOTHING;
}

/** Encoded prefixes, shared by every parser: one per connection was garbage of every join. */
const prefixes = new Map<string, Uint8Array>();

/**
 * Reads a TCP connection's first line, `<prefix><group>\n`, across any chunking. Bytes after the
 * LF are data, not part of the id. Throws BadJoinError or InvalidGroupIdError.
 */
export class JoinParser {
  readonly #prefix: Uint8Array;
  readonly #max: number;
  /** Made only when a join line spans reads: most arrive whole in the first. */
  #buf: Uint8Array | null = null;
  #len = 0;

  constructor(prefix: string) {
    let encoded = prefixes.get(prefix);
    if (!encoded) {
      encoded = textEncoder.encode(prefix);
      prefixes.set(prefix, encoded);
    }
    this.#prefix = encoded;
    // prefix + id + space + secret + CR LF
    this.#max = this.#prefix.byteLength + MAX_GROUP_ID_BYTES + 1 + MAX_JOIN_SECRET_BYTES + 2;
  }

  /** Bytes held so far. */
  get buffered(): number {
    return this.#len;
  }

  /** True once the whole prefix and at least one more byte have arrived (no LF yet). */
  get hasCandidate(): boolean {
    return this.#len > this.#prefix.byteLength;
  }

  push(chunk: Uint8Array): Joined | null {
    const lf = chunk.indexOf(LF);
    const take = lf < 0 ? chunk.byteLength : lf;
    if (this.#len + take > this.#max - 1) {
      this.#checkPrefix(Math.min(this.#prefix.byteLength, this.#len + take), chunk);
      throw new BadJoinError(`join line longer than ${this.#max - 1} bytes`);
    }
    if (this.#len === 0 && lf >= 0) {
      // The whole line in one read: parsed where it lies, nothing copied.
      this.#checkPrefix(Math.min(this.#prefix.byteLength, lf), chunk);
      return this.#line(chunk, lf, after(chunk, lf));
    }
    this.#buf ??= new Uint8Array(this.#max);
    this.#buf.set(chunk.subarray(0, take), this.#len);
    this.#len += take;
    this.#checkPrefix(Math.min(this.#prefix.byteLength, this.#len));
    if (lf < 0) return null;
    return this.#line(this.#buf, this.#len, after(chunk, lf));
  }

  /**
   * Completes a join line that never got its LF: SocketForwarder clients send the join alone in
   * one write. Only valid when `hasCandidate`.
   */
  completeWithoutNewline(): Joined {
    if (!this.hasCandidate) throw new BadJoinError('incomplete join line');
    return this.#line(this.#buf as Uint8Array, this.#len, NOTHING);
  }

  /** The join line is `line[0, len)`, without its LF. */
  #line(line: Uint8Array, len: number, rest: Uint8Array): Joined {
    let end = len;
    if (end > 0 && line[end - 1] === CR) end--;
    const start = this.#prefix.byteLength;
    if (end < start) this.#prefixError();
    const space = line.subarray(start, end).indexOf(SPACE);
    if (space < 0) return { group: groupIdFromBytes(line.subarray(start, end)), rest };
    const group = groupIdFromBytes(line.subarray(start, start + space));
    const secret = textDecoder.decode(line.subarray(start + space + 1, end));
    return { group, secret, rest };
  }

  /** Compares the first n received bytes with the prefix. */
  #checkPrefix(n: number, pendingChunk?: Uint8Array): void {
    const p = this.#prefix;
    for (let i = 0; i < n; i++) {
      const b = i < this.#len ? this.#buf?.[i] : pendingChunk?.[i - this.#len];
      if (b !== p[i]) this.#prefixError();
    }
  }

  #prefixError(): never {
    throw new BadJoinError('first line must be <prefix><group>');
  }
}
