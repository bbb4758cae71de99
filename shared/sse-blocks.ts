import { concatBytes } from './bytes.ts';
import { MessageTooLargeError } from './errors.ts';

/** What an event block is, as far as a forwarder needs to know. */
export const BlockKind = {
  /** `event: message` or no `event:` line. */
  Message: 0,
  Binary: 1,
  Gap: 2,
  Close: 3,
  /** Any other named event (e.g. a sidecar's per-batch metadata): forwarded as it came. */
  Other: 4,
} as const;
export type BlockKind = (typeof BlockKind)[keyof typeof BlockKind];

/**
 * One event block of a stream: the bytes from its first line to its blank line included, where
 * its `id:` value lies, and what kind of event it is. Reused from block to block: read it
 * inside the callback, copy what must outlive it.
 */
export interface SseBlock {
  buf: Uint8Array;
  start: number;
  end: number;
  kind: BlockKind;
  /** At least one `data:` line: without one, the block dispatches nothing (a comment, a bare `id:`). */
  hasData: boolean;
  /** The `id:` value's range in `buf`; idStart < 0 when the block has none. */
  idStart: number;
  idEnd: number;
}

const LF = 10;
const CR = 13;
const COLON = 58;
const SPACE = 32;
const ascii = (s: string) => Uint8Array.from(s, (c) => c.charCodeAt(0));
const ID = ascii('id:');
const EVENT = ascii('event:');
const DATA = ascii('data');
const NAMES: [Uint8Array, BlockKind][] = [
  [ascii('message'), BlockKind.Message],
  [ascii('binary'), BlockKind.Binary],
  [ascii('gap'), BlockKind.Gap],
  [ascii('close'), BlockKind.Close],
];

/**
 * Cuts an event stream into its event blocks without decoding them, so a forwarder can pass
 * each event's bytes on as they came and read only its id and event name. Reads the streams
 * this project writes: lines end in LF (a CR before it is dropped from field values); a lone CR
 * is not a line end here, unlike in SseParser, which reads any stream. A block cut by a chunk
 * boundary is held until it ends, up to `maxBlockBytes`, past which feed throws
 * MESSAGE_TOO_LARGE and the holder should drop the stream.
 */
export class SseBlockSplitter {
  readonly #onBlock: (block: SseBlock) => void;
  readonly #maxBlockBytes: number;
  readonly #block: SseBlock = {
    buf: new Uint8Array(0),
    start: 0,
    end: 0,
    kind: BlockKind.Message,
    hasData: false,
    idStart: -1,
    idEnd: -1,
  };
  /** The start of an unfinished block, in pieces, and their total size. */
  #rest: Uint8Array[] = [];
  #restBytes = 0;

  constructor(onBlock: (block: SseBlock) => void, maxBlockBytes: number) {
    this.#onBlock = onBlock;
    this.#maxBlockBytes = maxBlockBytes;
  }

  /** Forgets an unfinished block (the stream broke). */
  reset(): void {
    this.#rest = [];
    this.#restBytes = 0;
  }

  feed(chunk: Uint8Array): void {
    let from = 0;
    if (this.#restBytes > 0) {
      // Only the end of the held block is looked for in the new chunk: a block spread over many
      // chunks is joined once, not once per chunk.
      const end = this.#heldBlockEnd(chunk);
      if (end < 0) {
        this.#hold(chunk);
        return;
      }
      this.#rest.push(chunk.subarray(0, end));
      const whole = concatBytes(this.#rest);
      this.reset();
      this.#scan(whole, 0);
      from = end;
    }
    const left = this.#scan(chunk, from);
    if (left < chunk.byteLength) this.#hold(chunk.subarray(left));
  }

  #hold(part: Uint8Array): void {
    this.#restBytes += part.byteLength;
    if (this.#restBytes > this.#maxBlockBytes) {
      this.reset();
      throw new MessageTooLargeError(this.#maxBlockBytes, 'message');
    }
    this.#rest.push(part);
  }

  /** Where the held block ends in `chunk` (just past its blank line), or -1. */
  #heldBlockEnd(chunk: Uint8Array): number {
    const last = this.#rest[this.#rest.length - 1];
    let at = 0;
    // The held bytes end in LF: a line ended; an LF first in the chunk is the blank line.
    if (last[last.byteLength - 1] === LF) {
      if (chunk[0] === LF) return 1;
      // A held block always starts a line, so the chunk starts one too.
    } else {
      at = chunk.indexOf(LF);
      if (at < 0) return -1;
      at++;
    }
    for (;;) {
      if (chunk[at] === LF) return at + 1;
      const lf = chunk.indexOf(LF, at);
      if (lf < 0) return -1;
      at = lf + 1;
    }
  }

  /** Hands over every whole block of buf from `at`; returns where the unfinished one starts. */
  #scan(buf: Uint8Array, at: number): number {
    const b = this.#block;
    const n = buf.byteLength;
    let start = at;
    b.kind = BlockKind.Message;
    b.hasData = false;
    b.idStart = -1;
    while (at < n) {
      const lf = buf.indexOf(LF, at);
      if (lf < 0) return start;
      if (lf === at) {
        if (at > start) {
          b.buf = buf;
          b.start = start;
          b.end = lf + 1;
          this.#onBlock(b);
        }
        // A blank line with no fields before it dispatches nothing and is skipped with them.
        start = lf + 1;
        b.kind = BlockKind.Message;
        b.hasData = false;
        b.idStart = -1;
      } else {
        const end = buf[lf - 1] === CR ? lf - 1 : lf;
        if (startsWith(buf, at, end, DATA) && (at + 4 === end || buf[at + 4] === COLON)) {
          b.hasData = true;
        } else if (startsWith(buf, at, end, ID)) {
          const v = at + 3 + (buf[at + 3] === SPACE ? 1 : 0);
          b.idStart = v;
          b.idEnd = end;
        } else if (startsWith(buf, at, end, EVENT)) {
          const v = at + 6 + (buf[at + 6] === SPACE ? 1 : 0);
          b.kind = kindOf(buf, v, end);
        }
      }
      at = lf + 1;
    }
    return start;
  }
}

function startsWith(buf: Uint8Array, at: number, end: number, prefix: Uint8Array): boolean {
  if (end - at < prefix.byteLength) return false;
  for (let i = 0; i < prefix.byteLength; i++) if (buf[at + i] !== prefix[i]) return false;
  return true;
}

function kindOf(buf: Uint8Array, at: number, end: number): BlockKind {
  for (const [name, kind] of NAMES) {
    if (end - at === name.byteLength && startsWith(buf, at, end, name)) return kind;
  }
  return BlockKind.Other;
}
