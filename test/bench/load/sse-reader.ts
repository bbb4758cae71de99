/**
 * Reads a Server-Sent Events response from raw socket bytes: the HTTP head, chunked transfer
 * coding when present, then event-stream lines. Each `message` event's data (our payloads are one
 * line) goes to onData(buf, at). Hand-written because a library would be the bottleneck.
 */
const LF = 10;
const CR = 13;
const DATA = Buffer.from('data:');
const EVENT = Buffer.from('event:');

export class SseReader {
  /** Called once with the status code when the head is complete. */
  onHead: (status: number) => void = () => {};
  onData: (buf: Buffer, at: number) => void = () => {};
  #head: Buffer | null = Buffer.alloc(0);
  #chunked = false;
  /** Chunked coding: bytes left in the current chunk, or -1 while reading a size line. */
  #left = -1;
  #sizeLine = '';
  /** Skip the CRLF that ends a chunk. */
  #skipCrlf = 0;
  #carry: Buffer | null = null;
  #dataBuf: Buffer | null = null;
  #dataAt = 0;
  #isMessage = true;

  push(chunk: Buffer): void {
    if (this.#head) {
      const all = this.#head.length ? Buffer.concat([this.#head, chunk]) : chunk;
      const end = all.indexOf('\r\n\r\n');
      if (end < 0) {
        this.#head = all;
        return;
      }
      const head = all.toString('latin1', 0, end);
      this.#head = null;
      this.#chunked = /\r\ntransfer-encoding:\s*chunked/i.test(head);
      this.onHead(Number(head.slice(9, 12)));
      const rest = all.subarray(end + 4);
      if (rest.length) this.#body(rest);
      return;
    }
    this.#body(chunk);
  }

  #body(chunk: Buffer): void {
    if (!this.#chunked) {
      this.#events(chunk);
      return;
    }
    let at = 0;
    while (at < chunk.length) {
      if (this.#skipCrlf > 0) {
        const n = Math.min(this.#skipCrlf, chunk.length - at);
        this.#skipCrlf -= n;
        at += n;
        continue;
      }
      if (this.#left < 0) {
        const lf = chunk.indexOf(LF, at);
        if (lf < 0) {
          this.#sizeLine += chunk.toString('latin1', at);
          return;
        }
        this.#sizeLine += chunk.toString('latin1', at, lf);
        this.#left = Number.parseInt(this.#sizeLine, 16);
        this.#sizeLine = '';
        at = lf + 1;
        if (!(this.#left > 0)) return; // last chunk (or garbage): the stream is over
        continue;
      }
      const n = Math.min(this.#left, chunk.length - at);
      this.#events(chunk.subarray(at, at + n));
      this.#left -= n;
      at += n;
      if (this.#left === 0) {
        this.#left = -1;
        this.#skipCrlf = 2;
      }
    }
  }

  #events(part: Buffer): void {
    const buf = this.#carry ? Buffer.concat([this.#carry, part]) : part;
    this.#carry = null;
    let at = 0;
    for (;;) {
      const lf = buf.indexOf(LF, at);
      if (lf < 0) break;
      let end = lf;
      if (end > at && buf[end - 1] === CR) end--;
      this.#line(buf, at, end);
      at = lf + 1;
    }
    if (at < buf.length) this.#carry = Buffer.from(buf.subarray(at));
  }

  #line(buf: Buffer, at: number, end: number): void {
    if (end === at) {
      if (this.#dataBuf && this.#isMessage) this.onData(this.#dataBuf, this.#dataAt);
      this.#dataBuf = null;
      this.#isMessage = true;
      return;
    }
    if (startsWith(buf, at, DATA)) {
      let p = at + DATA.length;
      if (buf[p] === 32) p++;
      this.#dataBuf = buf;
      this.#dataAt = p;
    } else if (startsWith(buf, at, EVENT)) {
      const name = buf.toString('latin1', at + EVENT.length, end).trim();
      this.#isMessage = name === 'message';
    }
    // id:, retry: and comments need nothing here.
  }
}

function startsWith(buf: Buffer, at: number, word: Buffer): boolean {
  for (let i = 0; i < word.length; i++) if (buf[at + i] !== word[i]) return false;
  return true;
}
