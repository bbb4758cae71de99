import { connect, type Socket } from 'node:net';
import { hostPort } from './common.ts';

/** Length of the first complete RESP reply in `buf`, or -1 when it is not complete yet. */
export function replyLength(buf: Buffer, at = 0): number {
  if (at >= buf.length) return -1;
  const eol = buf.indexOf('\r\n', at);
  if (eol < 0) return -1;
  const type = String.fromCharCode(buf[at]);
  const head = buf.toString('latin1', at + 1, eol);
  let end = eol + 2;
  switch (type) {
    case '+':
    case '-':
    case ':':
    case '_':
    case ',':
    case '#':
    case '(':
      return end - at;
    case '$':
    case '=':
    case '!': {
      const n = Number(head);
      if (n < 0) return end - at;
      return buf.length >= end + n + 2 ? end + n + 2 - at : -1;
    }
    case '*':
    case '>':
    case '~':
    case '%': {
      let n = Number(head);
      if (n < 0) return end - at;
      if (type === '%') n *= 2;
      for (let i = 0; i < n; i++) {
        const len = replyLength(buf, end);
        if (len < 0) return -1;
        end += len;
      }
      return end - at;
    }
    default:
      throw new Error(`not a RESP reply: ${JSON.stringify(buf.toString('latin1', at, eol))}`);
  }
}

/** A raw Redis protocol connection for tests: writes commands, reads whole replies as bytes. */
export class RespWire {
  readonly socket: Socket;
  #buf = Buffer.alloc(0);
  #waiter: (() => void) | null = null;
  closed = false;

  private constructor(socket: Socket) {
    this.socket = socket;
    socket.on('data', (d: Buffer) => {
      this.#buf = Buffer.concat([this.#buf, d]);
      this.#waiter?.();
    });
    socket.on('close', () => {
      this.closed = true;
      this.#waiter?.();
    });
    socket.on('error', () => {});
  }

  static open(address: string | number): Promise<RespWire> {
    const { host, port } =
      typeof address === 'number' ? { host: '127.0.0.1', port: address } : hostPort(address);
    return new Promise((resolve, reject) => {
      const s = connect({ host, port }, () => resolve(new RespWire(s)));
      s.once('error', reject);
    });
  }

  /** Sends one command as a multibulk (strings or bytes), or raw bytes as they are. */
  send(cmd: (string | Buffer)[] | Buffer | string): void {
    this.socket.write(typeof cmd === 'string' || Buffer.isBuffer(cmd) ? cmd : encodeCommand(cmd));
  }

  /** The next `n` whole replies, each as its bytes. */
  async read(n = 1, ms = 3000): Promise<Buffer[]> {
    const out: Buffer[] = [];
    const deadline = Date.now() + ms;
    while (out.length < n) {
      const len = replyLength(this.#buf);
      if (len > 0) {
        out.push(this.#buf.subarray(0, len));
        this.#buf = this.#buf.subarray(len);
        continue;
      }
      if (this.closed) throw new Error(`connection closed after ${out.length} of ${n} replies`);
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`timed out after ${out.length} of ${n} replies`);
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, left);
        this.#waiter = () => {
          clearTimeout(t);
          resolve();
        };
      });
      this.#waiter = null;
    }
    return out;
  }

  /** Every whole reply that arrives until nothing more comes for `quietMs`. */
  async readUntilQuiet(quietMs = 60): Promise<Buffer[]> {
    const out: Buffer[] = [];
    for (;;) {
      try {
        out.push(...(await this.read(1, quietMs)));
      } catch {
        return out;
      }
    }
  }

  /** Bytes received and not yet read as replies. */
  get unread(): Buffer {
    return this.#buf;
  }

  /** Resolves once the server has closed the connection. */
  async ended(ms = 3000): Promise<void> {
    const deadline = Date.now() + ms;
    while (!this.closed) {
      if (Date.now() > deadline) throw new Error('connection still open');
      await new Promise((r) => setTimeout(r, 10));
    }
  }

  close(): void {
    this.socket.destroy();
  }
}

export function encodeCommand(args: (string | Buffer)[]): Buffer {
  const parts: Buffer[] = [Buffer.from(`*${args.length}\r\n`)];
  for (const a of args) {
    const b = typeof a === 'string' ? Buffer.from(a) : a;
    parts.push(Buffer.from(`$${b.length}\r\n`), b, Buffer.from('\r\n'));
  }
  return Buffer.concat(parts);
}
