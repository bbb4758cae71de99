/** Group members that count what they receive and check it: TCP streams, SSE streams, UDP. */
import { createSocket, type Socket as UdpSocket } from 'node:dgram';
import { connect, type Socket } from 'node:net';
import type { Endpoint, HttpFlavor } from '../targets/types.ts';
import type { Latencies } from './latency.ts';
import { HEADER_BYTES, MARK, readPub, readSeq, readTime } from './payload.ts';
import { SseReader } from './sse-reader.ts';
import type { Wire } from './wire.ts';

export interface Hooks {
  /** Something arrived: publishers may have room in their window. */
  kick(): void;
  clockUs(): number;
  /** Latencies of messages whose intended send time is in [from, to). */
  latency: { from: number; to: number; samples: Latencies } | null;
  fail(err: Error): void;
}

export abstract class Receiver {
  /** Global indexes of the publishers this receiver hears. */
  feeders: number[] = [];
  /** Data messages it should have received so far. */
  expected = 0;
  ready = false;
  closed = false;
  seen = 0;
  orderErrors = 0;
  protected readonly hooks: Hooks;
  protected readonly last: Float64Array;
  #probes: Uint8Array;
  #probeCount = 0;
  /** UDP may lose and reorder: only going backwards counts as an error there. */
  protected strict = true;

  constructor(publishers: number, hooks: Hooks) {
    this.hooks = hooks;
    this.last = new Float64Array(publishers);
    this.#probes = new Uint8Array(publishers);
  }

  /** Data messages received. */
  count(): number {
    return this.seen;
  }

  hasProbe(pub: number): boolean {
    return this.#probes[pub] === 1;
  }

  hasAllProbes(): boolean {
    return this.#probeCount >= this.feeders.length;
  }

  abstract pause(): void;
  abstract resume(): void;
  abstract close(): void;
  /** Resolves true if the server closes this connection within ms. */
  abstract closedWithin(ms: number): Promise<boolean>;

  protected record(buf: Buffer, at: number, now: number): void {
    if (buf[at] !== MARK) {
      this.orderErrors++;
      return;
    }
    const pub = readPub(buf, at);
    const seq = readSeq(buf, at);
    if (seq === 0) {
      if (this.#probes[pub] === 0) {
        this.#probes[pub] = 1;
        this.#probeCount++;
      }
      return;
    }
    const prev = this.last[pub];
    if (this.strict ? seq !== prev + 1 : seq <= prev) this.orderErrors++;
    if (seq > prev) this.last[pub] = seq;
    this.seen++;
    const lat = this.hooks.latency;
    if (lat) {
      const t = readTime(buf, at);
      if (t >= lat.from && t < lat.to) lat.samples.add(now - t);
    }
  }
}

/** A receiver on one TCP connection: pausing, closing and the server's close are its socket's. */
abstract class SocketReceiver extends Receiver {
  readonly socket: Socket;
  readonly #closed: Promise<void>;

  constructor(addr: Endpoint, publishers: number, hooks: Hooks) {
    super(publishers, hooks);
    this.socket = connect({ host: addr.host, port: addr.port, noDelay: true });
    this.socket.on('error', () => {});
    this.#closed = new Promise((resolve) =>
      this.socket.on('close', () => {
        this.closed = true;
        resolve();
      }),
    );
  }

  pause(): void {
    this.socket.pause();
  }

  resume(): void {
    this.socket.resume();
  }

  close(): void {
    this.socket.destroy();
  }

  async closedWithin(ms: number): Promise<boolean> {
    let timer: ReturnType<typeof setTimeout> | undefined;
    const t = new Promise<false>((r) => {
      timer = setTimeout(() => r(false), ms);
    });
    const ok = await Promise.race([this.#closed.then(() => true as const), t]);
    clearTimeout(timer);
    return ok;
  }
}

/** A TCP connection reading fixed-size records (line, RESP or NATS framing around each payload). */
export class StreamReceiver extends SocketReceiver {
  readonly #wire: Wire;
  readonly #group: string;
  readonly #size: number;
  readonly #prefix: number;
  #mode: 'join' | 'full' | 'count' = 'join';
  #pre = Buffer.alloc(0);
  #carry: Buffer | null = null;
  #bytes = 0;
  #base = 0;
  #seenAtSwitch = 0;

  constructor(
    addr: Endpoint,
    wire: Wire,
    group: string,
    payload: number,
    publishers: number,
    hooks: Hooks,
  ) {
    super(addr, publishers, hooks);
    this.#wire = wire;
    this.#group = group;
    this.#prefix = wire.recordPrefix(group, payload).length;
    this.#size = this.#prefix + payload + wire.recordSuffix.length;
    this.socket.on('connect', () => {
      this.socket.write(wire.join(group));
      // Line joins have no acknowledgement: the readiness probe proves them.
      this.#join(Buffer.alloc(0));
    });
    this.socket.on('data', this.#onData);
  }

  override count(): number {
    if (this.#mode !== 'count') return this.seen;
    return this.#seenAtSwitch + Math.floor((this.#bytes - this.#base) / this.#size);
  }

  /** From now on count bytes and sample headers instead of parsing every record. */
  countOnly(): void {
    if (this.#mode !== 'full') return;
    this.#base = this.#bytes - (this.#carry?.length ?? 0);
    this.#carry = null;
    this.#seenAtSwitch = this.seen;
    this.#mode = 'count';
  }

  #onData = (chunk: Buffer): void => {
    try {
      if (this.#mode === 'count') this.#sample(chunk);
      else if (this.#mode === 'full') this.#parse(chunk);
      else this.#join(chunk);
    } catch (err) {
      this.hooks.fail(err as Error);
    }
    this.hooks.kick();
  };

  #join(chunk: Buffer): void {
    this.#pre = Buffer.concat([this.#pre, chunk]);
    const at = this.#wire.confirmed(this.#pre, this.#group);
    if (at < 0) return;
    this.ready = true;
    this.#mode = 'full';
    const rest = this.#pre.subarray(at);
    this.#pre = Buffer.alloc(0);
    if (rest.length) this.#parse(rest);
  }

  #parse(chunk: Buffer): void {
    this.#bytes += chunk.length;
    const buf = this.#carry ? Buffer.concat([this.#carry, chunk]) : chunk;
    this.#carry = null;
    const size = this.#size;
    const now = this.hooks.clockUs();
    const control = this.#wire.control;
    let at = 0;
    while (at < buf.length) {
      if (control) {
        // A server PING between messages: answer it and step over it.
        const c = control(buf, at);
        if (c.length < 0) break;
        if (c.length > 0) {
          if (c.reply) this.socket.write(c.reply);
          at += c.length;
          continue;
        }
      }
      if (at + size > buf.length) break;
      this.record(buf, at + this.#prefix, now);
      at += size;
    }
    if (at < buf.length) this.#carry = Buffer.from(buf.subarray(at));
  }

  /** One header per read: the record starting first in the chunk must be where counting says. */
  #sample(chunk: Buffer): void {
    const before = this.#bytes - this.#base;
    this.#bytes += chunk.length;
    const size = this.#size;
    const k = (size - (before % size)) % size;
    const at = k + this.#prefix;
    if (at + HEADER_BYTES > chunk.length) return;
    if (chunk[at] !== MARK) {
      this.orderErrors++;
      return;
    }
    const pub = readPub(chunk, at);
    const seq = readSeq(chunk, at);
    const index = this.#seenAtSwitch + (before + k) / size + 1;
    if (this.feeders.length === 1 ? seq !== index : seq <= this.last[pub]) this.orderErrors++;
    this.last[pub] = seq;
  }
}

export function ssePath(flavor: HttpFlavor, group: string): string {
  if (flavor === 'groupcast') return `/groups/${group}/events`;
  if (flavor === 'nchan') return `/sub?id=${group}`;
  return `/sub/${group}`;
}

/** An SSE subscriber on a raw socket. */
export class SseReceiver extends SocketReceiver {
  #status = 0;

  constructor(addr: Endpoint, flavor: HttpFlavor, group: string, publishers: number, hooks: Hooks) {
    super(addr, publishers, hooks);
    const reader = new SseReader();
    reader.onHead = (status) => {
      this.#status = status;
      if (status === 200) this.ready = true;
      else hooks.fail(new Error(`SSE subscribe answered ${status}`));
    };
    let now = 0;
    // NDJSON batches carry payloads as JSON strings: skip the opening quote.
    reader.onData = (buf, at) => this.record(buf, buf[at] === 0x22 ? at + 1 : at, now);
    this.socket.on('connect', () =>
      this.socket.write(
        `GET ${ssePath(flavor, group)} HTTP/1.1\r\nHost: ${addr.host}\r\nAccept: text/event-stream\r\nCache-Control: no-cache\r\n\r\n`,
      ),
    );
    this.socket.on('data', (chunk: Buffer) => {
      now = hooks.clockUs();
      try {
        reader.push(chunk);
      } catch (err) {
        hooks.fail(err as Error);
      }
      hooks.kick();
    });
  }

  get status(): number {
    return this.#status;
  }
}

/** A registered UDP address. */
export class UdpReceiver extends Receiver {
  readonly socket: UdpSocket;
  readonly #server: Endpoint;
  #port = 0;

  constructor(server: Endpoint, publishers: number, hooks: Hooks) {
    super(publishers, hooks);
    this.strict = false;
    this.#server = server;
    this.socket = createSocket({ type: 'udp4', recvBufferSize: 4 << 20 });
    this.socket.on('message', (msg: Buffer) => {
      this.record(msg, 0, hooks.clockUs());
    });
    this.socket.on('error', () => {});
    this.socket.bind(0, '127.0.0.1', () => {
      this.#port = this.socket.address().port;
      this.ready = true;
      this.register();
    });
  }

  /** (Re)sends the registration datagram; registering twice changes nothing. */
  register(): void {
    if (this.#port)
      this.socket.send(`SOCKETFORWARDER-NEW:${this.#port}`, this.#server.port, this.#server.host);
  }

  pause(): void {}
  resume(): void {}

  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.socket.close();
  }

  async closedWithin(): Promise<boolean> {
    return false;
  }
}
