import type { Writable } from 'node:stream';
import { Command } from 'ioredis';

const CRLF = Buffer.from('\r\n');

/**
 * A command whose last argument is written as the byte parts it is given, none of them copied.
 * ioredis joins a command's arguments into one new buffer before writing it: for a shared batch
 * that is a copy of every message, twice per transaction (HSET and PUBLISH), and garbage the size
 * of the batch each time. Written into a corked socket (see Outbox), the parts leave with the
 * rest of the transaction in one writev.
 *
 * Only for `redis.sendCommand()` on a connection, never in a pipeline: ioredis calls toWritable
 * with its socket right before writing what it returns, which is what lets the parts go first.
 */
export class PartsCommand extends Command {
  readonly #head: Buffer;
  #parts: readonly Uint8Array[];

  constructor(name: string, args: readonly string[], parts: readonly Uint8Array[]) {
    super(name);
    let bytes = 0;
    for (const p of parts) bytes += p.byteLength;
    let head = `*${args.length + 2}\r\n$${name.length}\r\n${name}\r\n`;
    for (const a of args) head += `$${Buffer.byteLength(a)}\r\n${a}\r\n`;
    this.#head = Buffer.from(`${head}$${bytes}\r\n`);
    this.#parts = parts;
  }

  override toWritable(socket: object): Buffer {
    const out = socket as Writable;
    out.write(this.#head);
    for (const p of this.#parts) out.write(p);
    this.#parts = [];
    return CRLF;
  }
}
