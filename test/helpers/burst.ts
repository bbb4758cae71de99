import { connect, type Socket } from 'node:net';
import { createParser } from 'eventsource-parser';
import { hostPort, sleep, waitFor } from './common.ts';

/** Every burst line is this long, newline included: `<seq, 10 digits> xxx…\n`. */
export const LINE_BYTES = 1024;

/** `lines` lines of LINE_BYTES, numbered from 0, in one buffer. */
export function burstOf(lines: number): Buffer {
  const buf = Buffer.alloc(lines * LINE_BYTES, 'x');
  for (let i = 0; i < lines; i++) {
    const at = i * LINE_BYTES;
    buf.write(String(i).padStart(10, '0'), at, 'latin1');
    buf[at + LINE_BYTES - 1] = 10;
  }
  return buf;
}

/** Checks that burst lines arrive whole and in order, keeping only the unfinished line. */
class LineChecker {
  lines = 0;
  error: string | null = null;
  #carry = Buffer.alloc(0);

  push(chunk: Buffer): void {
    let buf = this.#carry.byteLength > 0 ? Buffer.concat([this.#carry, chunk]) : chunk;
    let at = 0;
    while (buf.byteLength - at >= LINE_BYTES) {
      this.check(buf.toString('latin1', at, at + 10), buf[at + LINE_BYTES - 1] === 10);
      at += LINE_BYTES;
    }
    buf = buf.subarray(at);
    this.#carry = Buffer.from(buf);
  }

  check(seqText: string, whole: boolean): void {
    if (this.error) return;
    const seq = Number(seqText);
    if (!whole || seq !== this.lines) {
      this.error = `line ${this.lines}: got ${JSON.stringify(seqText)}${whole ? '' : ' (torn)'}`;
      return;
    }
    this.lines++;
  }
}

/** A TCP member of a group that reads in Node's flowing mode and checks every line. */
export class TcpBurstReader {
  readonly socket: Socket;
  readonly checker = new LineChecker();
  closed = false;

  private constructor(socket: Socket) {
    this.socket = socket;
    socket.on('data', (d: Buffer) => this.checker.push(d));
    socket.on('error', () => {});
    socket.on('close', () => {
      this.closed = true;
    });
  }

  static async join(address: string, group: string): Promise<TcpBurstReader> {
    const socket = await openSocket(address);
    socket.write(`SOCKETFORWARDER-NEW:${group}\n`);
    return new TcpBurstReader(socket);
  }

  get lines(): number {
    return this.checker.lines;
  }
}

/** An SSE subscriber that reads with fetch and a parser others wrote, and checks every event. */
export class SseBurstReader {
  readonly checker = new LineChecker();
  ended = false;
  readonly #abort = new AbortController();

  static async open(httpAddress: string, group: string): Promise<SseBurstReader> {
    const r = new SseBurstReader();
    const res = await fetch(`http://${httpAddress}/groups/${group}/events`, {
      signal: r.#abort.signal,
    });
    if (!res.ok || !res.body) throw new Error(`subscribe: HTTP ${res.status}`);
    r.#pump(res.body);
    return r;
  }

  async #pump(body: ReadableStream<Uint8Array>): Promise<void> {
    const parser = createParser({
      onEvent: (e) => {
        if ((e.event ?? 'message') !== 'message') return;
        // The payload is the line without its newline.
        this.checker.check(e.data.slice(0, 10), e.data.length === LINE_BYTES - 1);
      },
    });
    const decoder = new TextDecoder();
    try {
      for await (const chunk of body) parser.feed(decoder.decode(chunk, { stream: true }));
    } catch {
      // aborted by close(), or cut: `ended` tells
    }
    this.ended = true;
  }

  get lines(): number {
    return this.checker.lines;
  }

  close(): void {
    this.#abort.abort();
  }
}

/** A member that joins and then never reads. */
export async function stoppedMember(address: string, group: string): Promise<Socket> {
  const socket = await openSocket(address);
  socket.write(`SOCKETFORWARDER-NEW:${group}\n`);
  socket.pause();
  socket.on('error', () => {});
  return socket;
}

/** A member that reads slowly but steadily: `bytes` every `everyMs`. Returns its stop. */
export async function slowReader(
  address: string,
  group: string,
  bytes: number,
  everyMs: number,
): Promise<() => void> {
  const socket = await openSocket(address);
  socket.write(`SOCKETFORWARDER-NEW:${group}\n`);
  socket.pause();
  socket.on('error', () => {});
  const timer = setInterval(() => {
    let left = bytes;
    while (left > 0) {
      const got = socket.read() as Buffer | null;
      if (!got) break;
      left -= got.byteLength;
    }
  }, everyMs);
  return () => {
    clearInterval(timer);
    socket.destroy();
  };
}

export function openSocket(address: string): Promise<Socket> {
  const { host, port } = hostPort(address);
  return new Promise((resolve, reject) => {
    const s = connect({ host, port, noDelay: true }, () => resolve(s));
    s.once('error', reject);
  });
}

export interface BurstResult {
  /** Milliseconds from the write to the last reader's last line. */
  ms: number;
  /** Payload bytes every reader received per second during the burst. */
  bytesPerSecond: number;
}

/**
 * Writes `lines` burst lines at once from a TCP publisher of `group` and waits (at most
 * `timeoutMs`) until every reader has all of them. Throws on loss, disorder or timeout.
 */
export async function runBurst(
  tcpAddress: string,
  group: string,
  lines: number,
  readers: { lines: number; checker: { error: string | null } }[],
  timeoutMs: number,
): Promise<BurstResult> {
  const publisher = await openSocket(tcpAddress);
  publisher.write(`SOCKETFORWARDER-NEW:${group}\n`);
  publisher.on('error', () => {});
  await sleep(50);
  const data = burstOf(lines);
  const start = performance.now();
  publisher.write(data);
  try {
    await waitFor(
      () => {
        for (const r of readers) if (r.checker.error) throw new Error(r.checker.error);
        return readers.every((r) => r.lines === lines);
      },
      timeoutMs,
      `every reader to get ${lines} lines`,
    );
  } finally {
    publisher.destroy();
  }
  const ms = performance.now() - start;
  return { ms, bytesPerSecond: (lines * LINE_BYTES) / (ms / 1000) };
}
