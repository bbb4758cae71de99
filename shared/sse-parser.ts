import { ByteWriter, concatBytes, textDecoder } from './bytes.ts';

/** One event of an event stream, as its bytes arrived. */
export interface ParsedEvent {
  /** The `id:` field of this event, if it had one. */
  id: string | undefined;
  /** The last event id in force when it was dispatched, as EventSource keeps it ('' if none). */
  lastEventId: string;
  /** The `event:` field; `message` when absent. */
  event: string;
  /** The `data:` lines joined by LF, as bytes: a text payload needs no decode and re-encode. */
  data: Uint8Array;
}

export interface SseParserHandlers {
  onEvent(event: ParsedEvent): void;
  onRetry?(ms: number): void;
  onComment?(text: string): void;
}

const LF = 10;
const CR = 13;
const COLON = 58;
const SPACE = 32;

/**
 * An incremental event-stream parser over bytes (the WHATWG rules: LF, CRLF or CR end a line in
 * any chunking; a blank line dispatches; comments; `retry:`; a last-event-id buffer that outlives
 * events without an `id:`, and that an `id:` with no data moves without dispatching). The edge
 * worker and the client library read streams with it; it keeps payload bytes as they came rather
 * than decoding them to strings and back.
 */
export class SseParser {
  readonly #on: SseParserHandlers;
  /** A line cut by a chunk boundary, in pieces, joined once the line ends. */
  #partial: Uint8Array[] = [];
  /** The previous chunk ended in CR: an LF starting this one belongs to it. */
  #afterCr = false;
  #data: ByteWriter | null = null;
  #event = '';
  #id: string | undefined;
  #lastEventId = '';

  constructor(handlers: SseParserHandlers) {
    this.#on = handlers;
  }

  /** The last event id buffer, moved by every `id:` line, dispatched or not. */
  get lastEventId(): string {
    return this.#lastEventId;
  }

  /** Forgets a half-received line and event (the stream broke); keeps the last event id. */
  reset(): void {
    this.#partial = [];
    this.#afterCr = false;
    this.#data = null;
    this.#event = '';
    this.#id = undefined;
  }

  feed(chunk: Uint8Array): void {
    let at = 0;
    if (this.#afterCr && chunk[0] === LF) at = 1;
    this.#afterCr = false;
    const n = chunk.byteLength;
    while (at < n) {
      let end = at;
      while (end < n && chunk[end] !== LF && chunk[end] !== CR) end++;
      if (end === n) {
        this.#partial.push(chunk.subarray(at));
        return;
      }
      let line = chunk.subarray(at, end);
      if (this.#partial.length > 0) {
        this.#partial.push(line);
        line = concatBytes(this.#partial);
        this.#partial = [];
      }
      this.#line(line);
      at = end + 1;
      if (chunk[end] === CR) {
        if (at < n && chunk[at] === LF) at++;
        else if (at === n) this.#afterCr = true;
      }
    }
  }

  #line(line: Uint8Array): void {
    if (line.byteLength === 0) {
      this.#dispatch();
      return;
    }
    if (line[0] === COLON) {
      this.#on.onComment?.(textDecoder.decode(line.subarray(line[1] === SPACE ? 2 : 1)));
      return;
    }
    let colon = line.indexOf(COLON);
    if (colon < 0) colon = line.byteLength;
    const name = textDecoder.decode(line.subarray(0, colon));
    let from = colon + 1;
    if (from < line.byteLength && line[from] === SPACE) from++;
    const value = line.subarray(Math.min(from, line.byteLength));
    switch (name) {
      case 'data':
        if (this.#data === null) this.#data = new ByteWriter(value.byteLength + 16);
        else this.#data.byte(LF);
        this.#data.bytes(value);
        break;
      case 'event':
        this.#event = textDecoder.decode(value);
        break;
      case 'id': {
        const id = textDecoder.decode(value);
        if (!id.includes('\0')) {
          this.#id = id;
          this.#lastEventId = id;
        }
        break;
      }
      case 'retry': {
        const text = textDecoder.decode(value);
        if (/^\d+$/.test(text)) this.#on.onRetry?.(Number(text));
        break;
      }
      // Unknown fields are ignored, as the standard says.
    }
  }

  #dispatch(): void {
    const data = this.#data;
    const event = this.#event || 'message';
    const id = this.#id;
    this.#data = null;
    this.#event = '';
    this.#id = undefined;
    if (data === null) return;
    this.#on.onEvent({ id, lastEventId: this.#lastEventId, event, data: data.take() });
  }
}
