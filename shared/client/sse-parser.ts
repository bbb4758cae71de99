/**
 * An incremental Server-Sent Events parser (the WHATWG event-stream rules) for clients that read
 * a stream with fetch: bytes in any chunking, lines ending in LF, CRLF or CR, comments, `retry:`,
 * and the last-event-id buffer that survives events without an `id:`.
 */

export interface ParsedEvent {
  /** `event:` field, `message` when absent. */
  event: string;
  data: string;
  /** The last event id in force when this event was dispatched ('' when none was ever set). */
  lastEventId: string;
}

export interface SseParserHandlers {
  onEvent(event: ParsedEvent): void;
  onRetry?(ms: number): void;
  onComment?(text: string): void;
}

export class SseParser {
  readonly #handlers: SseParserHandlers;
  readonly #decoder = new TextDecoder();
  #pending = '';
  /** A CR ended the last chunk: an LF starting the next one belongs to it. */
  #afterCr = false;
  #event = '';
  #data: string[] = [];
  #lastEventId = '';

  constructor(handlers: SseParserHandlers) {
    this.#handlers = handlers;
  }

  get lastEventId(): string {
    return this.#lastEventId;
  }

  /** Feeds raw bytes; complete events are dispatched before it returns. */
  push(chunk: Uint8Array): void {
    this.#text(this.#decoder.decode(chunk, { stream: true }));
  }

  /** Forgets a half-received event (the stream broke); keeps the last event id. */
  reset(): void {
    this.#pending = '';
    this.#afterCr = false;
    this.#event = '';
    this.#data = [];
    // A fresh decoder state: a new connection starts a new byte stream.
    this.#decoder.decode();
  }

  #text(text: string): void {
    let s = this.#pending + text;
    if (this.#afterCr && s.startsWith('\n')) s = s.slice(1);
    this.#afterCr = false;
    let start = 0;
    for (;;) {
      let end = start;
      while (end < s.length && s[end] !== '\n' && s[end] !== '\r') end++;
      if (end >= s.length) break;
      this.#line(s.slice(start, end));
      if (s[end] === '\r') {
        if (end + 1 >= s.length) {
          this.#afterCr = true;
          start = end + 1;
          break;
        }
        if (s[end + 1] === '\n') end++;
      }
      start = end + 1;
    }
    this.#pending = s.slice(start);
  }

  #line(line: string): void {
    if (line === '') {
      this.#dispatch();
      return;
    }
    if (line[0] === ':') {
      this.#handlers.onComment?.(line.slice(1).trimStart());
      return;
    }
    const colon = line.indexOf(':');
    const field = colon < 0 ? line : line.slice(0, colon);
    let value = colon < 0 ? '' : line.slice(colon + 1);
    if (value[0] === ' ') value = value.slice(1);
    switch (field) {
      case 'event':
        this.#event = value;
        break;
      case 'data':
        this.#data.push(value);
        break;
      case 'id':
        if (!value.includes('\0')) this.#lastEventId = value;
        break;
      case 'retry':
        if (/^\d+$/.test(value)) this.#handlers.onRetry?.(Number(value));
        break;
      default:
      // Unknown fields are ignored, as the standard says.
    }
  }

  #dispatch(): void {
    const data = this.#data;
    const event = this.#event;
    this.#data = [];
    this.#event = '';
    if (data.length === 0) return;
    this.#handlers.onEvent({
      event: event || 'message',
      data: data.join('\n'),
      lastEventId: this.#lastEventId,
    });
  }
}
