import { textEncoder } from './bytes.ts';
import { BadJoinError } from './errors.ts';
import { groupIdFromBytes, MAX_GROUP_ID_BYTES } from './group-id.ts';

const LF = 10;
const CR = 13;

export interface Joined {
  group: string;
  /** Bytes that followed the join line in the same reads: the member's first data. */
  rest: Uint8Array;
}

/**
 * Reads a TCP connection's first line, `<prefix><group>\n`, across any chunking. Bytes after the
 * LF are data, not part of the id. Throws BadJoinError or InvalidGroupIdError.
 */
export class JoinParser {
  readonly #prefix: Uint8Array;
  readonly #max: number;
  #buf: Uint8Array;
  #len = 0;

  constructor(prefix: string) {
    this.#prefix = textEncoder.encode(prefix);
    // prefix + id + CR LF
    this.#max = this.#prefix.byteLength + MAX_GROUP_ID_BYTES + 2;
    this.#buf = new Uint8Array(this.#max);
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
    this.#buf.set(chunk.subarray(0, take), this.#len);
    this.#len += take;
    this.#checkPrefix(Math.min(this.#prefix.byteLength, this.#len));
    if (lf < 0) return null;
    return { group: this.#group(), rest: chunk.subarray(lf + 1) };
  }

  /**
   * Completes a join line that never got its LF: SocketForwarder clients send the join alone in
   * one write. Only valid when `hasCandidate`.
   */
  completeWithoutNewline(): Joined {
    if (!this.hasCandidate) throw new BadJoinError('incomplete join line');
    return { group: this.#group(), rest: new Uint8Array(0) };
  }

  #group(): string {
    let end = this.#len;
    if (end > 0 && this.#buf[end - 1] === CR) end--;
    if (end < this.#prefix.byteLength) this.#prefixError();
    return groupIdFromBytes(this.#buf.slice(this.#prefix.byteLength, end));
  }

  /** Compares the first n received bytes with the prefix. */
  #checkPrefix(n: number, pendingChunk?: Uint8Array): void {
    const p = this.#prefix;
    for (let i = 0; i < n; i++) {
      const b = i < this.#len ? this.#buf[i] : pendingChunk?.[i - this.#len];
      if (b !== p[i]) this.#prefixError();
    }
  }

  #prefixError(): never {
    throw new BadJoinError('first line must be <prefix><group>');
  }
}
