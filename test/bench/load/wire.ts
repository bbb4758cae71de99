/** Per-protocol bytes around a payload: how a receiver joins and what a message looks like on its socket. */
import type { StreamProtocol } from '../targets/types.ts';

export interface Wire {
  /** Sent by a receiver right after connecting. */
  join(group: string): Buffer;
  /** Offset where messages start once the join is confirmed; -1 while more bytes are needed. */
  confirmed(pre: Buffer, group: string): number;
  /** Bytes before/after each payload as receivers read it. */
  recordPrefix(group: string, size: number): Buffer;
  readonly recordSuffix: Buffer;
  /** Sent once by a publisher that is not also a receiver. */
  pubHello(group: string): Buffer;
  /** Bytes before/after each payload as publishers write it. */
  pubPrefix(group: string, size: number): Buffer;
  readonly pubSuffix: Buffer;
  /** Whether one connection can publish and receive (others' messages only). */
  readonly combined: boolean;
  /**
   * Length of a protocol line at `at` that is not a message (a server PING), 0 if there is none,
   * -1 if it is incomplete; `reply` is what to answer.
   */
  control?(buf: Buffer, at: number): { length: number; reply?: Buffer };
}

const b = (s: string) => Buffer.from(s, 'latin1');
const resp = (args: string[]) =>
  b(`*${args.length}\r\n${args.map((a) => `$${Buffer.byteLength(a)}\r\n${a}\r\n`).join('')}`);

export const WIRES: Record<StreamProtocol, Wire> = {
  line: {
    join: (g) => b(`SOCKETFORWARDER-NEW:${g}\n`),
    confirmed: () => 0,
    recordPrefix: () => b(''),
    recordSuffix: b('\n'),
    pubHello: (g) => b(`SOCKETFORWARDER-NEW:${g}\n`),
    pubPrefix: () => b(''),
    pubSuffix: b('\n'),
    combined: true,
  },
  redis: {
    join: (g) => resp(['SUBSCRIBE', g]),
    confirmed(pre, g) {
      const full = b(`*3\r\n$9\r\nsubscribe\r\n$${g.length}\r\n${g}\r\n:1\r\n`);
      if (pre.length < full.length) return -1;
      if (!pre.subarray(0, full.length).equals(full))
        throw new Error(`redis: bad SUBSCRIBE reply ${pre.toString('latin1', 0, 80)}`);
      return full.length;
    },
    recordPrefix: (g, size) => b(`*3\r\n$7\r\nmessage\r\n$${g.length}\r\n${g}\r\n$${size}\r\n`),
    recordSuffix: b('\r\n'),
    pubHello: () => b(''),
    pubPrefix: (g, size) => b(`*3\r\n$7\r\nPUBLISH\r\n$${g.length}\r\n${g}\r\n$${size}\r\n`),
    pubSuffix: b('\r\n'),
    combined: false,
  },
  nats: {
    join: (g) =>
      b(`CONNECT {"verbose":false,"pedantic":false,"echo":false}\r\nSUB ${g} 1\r\nPING\r\n`),
    confirmed(pre) {
      if (pre.indexOf('-ERR') >= 0) throw new Error(`nats: ${pre.toString('latin1', 0, 200)}`);
      const at = pre.indexOf('PONG\r\n');
      return at < 0 ? -1 : at + 6;
    },
    recordPrefix: (g, size) => b(`MSG ${g} 1 ${size}\r\n`),
    recordSuffix: b('\r\n'),
    pubHello: () => b('CONNECT {"verbose":false,"pedantic":false,"echo":false}\r\n'),
    pubPrefix: (g, size) => b(`PUB ${g} ${size}\r\n`),
    pubSuffix: b('\r\n'),
    combined: true,
    control(buf, at) {
      if (buf[at] === 0x4d) return { length: 0 }; // MSG
      const end = buf.indexOf('\r\n', at);
      if (end < 0) return { length: -1 };
      const ping = buf[at] === 0x50 && buf[at + 1] === 0x49; // PING
      return { length: end + 2 - at, reply: ping ? b('PONG\r\n') : undefined };
    },
  },
};
