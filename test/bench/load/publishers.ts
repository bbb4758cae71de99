/** Publishers: a TCP member, an HTTP keep-alive poster (raw socket) or a UDP sender. */
import { createSocket, type Socket as UdpSocket } from 'node:dgram';
import { connect, type Socket } from 'node:net';
import type { Endpoint, HttpFlavor } from '../targets/types.ts';
import { stamp, stampSeq, template } from './payload.ts';
import type { Hooks, Receiver } from './receivers.ts';
import type { Wire } from './wire.ts';

/** Unsent bytes a publisher may leave in its socket before waiting for 'drain'. */
const SOCKET_HIGH_WATER = 1 << 20;

export abstract class Publisher {
  /** Index written into its payloads. */
  readonly id: number;
  /** Messages per send are a multiple of this (an NDJSON POST carries several). */
  batch = 1;
  /** Most messages one send may carry (one request for HTTP). */
  maxSend = Number.POSITIVE_INFINITY;
  /** Data messages sent (seq of the last one). */
  sent = 0;
  /** Messages the server accepted (HTTP: answered 2xx; others: written). */
  accepted = 0;
  posts = 0;
  errors = 0;
  /** Who should receive what it sends. */
  receivers: Receiver[] = [];
  /** The receiver sharing its connection, in the member model. */
  self: Receiver | null = null;
  protected readonly hooks: Hooks;
  protected readonly size: number;

  constructor(id: number, size: number, hooks: Hooks) {
    this.id = id;
    this.size = size;
    this.hooks = hooks;
  }

  abstract get ready(): boolean;
  abstract canSend(): boolean;
  /** Sends n messages; timeOf(k) is the intended send time of its k-th message (0-based). */
  abstract write(n: number, timeOf?: (k: number) => number): void;
  abstract probe(): void;
  abstract close(): void;

  send(n: number, timeOf?: (k: number) => number): void {
    for (const r of this.receivers) r.expected += n;
    this.write(n, timeOf);
  }

  /** Catches `sent`, `accepted` and the receivers' `expected` up with sends made elsewhere. */
  sync(): void {}
}

/** A TCP connection publishing fixed-size records; in the member model it is also a receiver. */
export class StreamPublisher extends Publisher {
  readonly socket: Socket;
  readonly #record: Buffer;
  readonly #at: number;
  #connected = false;

  /** `socket` is given when the publisher shares a receiver's connection (it joined already). */
  constructor(
    id: number,
    size: number,
    hooks: Hooks,
    wire: Wire,
    group: string,
    addr: Endpoint,
    socket?: Socket,
  ) {
    super(id, size, hooks);
    const prefix = wire.pubPrefix(group, size);
    this.#at = prefix.length;
    this.#record = Buffer.concat([prefix, template(size), wire.pubSuffix]);
    stamp(this.#record, this.#at, id, 0, 0);
    if (socket) {
      this.socket = socket;
      this.#connected = true;
    } else {
      this.socket = connect({ host: addr.host, port: addr.port, noDelay: true });
      this.socket.on('connect', () => {
        this.#connected = true;
        const hello = wire.pubHello(group);
        if (hello.length) this.socket.write(hello);
      });
      this.socket.on('data', () => {}); // RESP replies to PUBLISH: read and dropped
      this.socket.on('error', () => {});
    }
    this.socket.on('drain', () => hooks.kick());
  }

  get ready(): boolean {
    return this.#connected;
  }

  canSend(): boolean {
    return (
      this.#connected && !this.socket.destroyed && this.socket.writableLength < SOCKET_HIGH_WATER
    );
  }

  write(n: number, timeOf?: (k: number) => number): void {
    const rec = this.#record;
    const len = rec.length;
    const buf = Buffer.allocUnsafe(n * len);
    for (let i = 0, off = 0; i < n; i++, off += len) {
      rec.copy(buf, off);
      const seq = ++this.sent;
      if (timeOf) stamp(buf, off + this.#at, this.id, seq, timeOf(i));
      else stampSeq(buf, off + this.#at, seq);
    }
    this.accepted += n;
    this.socket.write(buf);
  }

  probe(): void {
    if (this.#connected) this.socket.write(this.#record);
  }

  close(): void {
    this.socket.destroy();
  }
}

export function postPath(flavor: HttpFlavor, group: string): string {
  if (flavor === 'groupcast') return `/groups/${group}/messages`;
  if (flavor === 'nchan') return `/pub?id=${group}`;
  return `/pub/${group}`;
}

/**
 * A keep-alive HTTP client on a raw socket with one request in flight: node:http's client costs
 * more CPU per request than most servers here, so it would measure itself.
 */
export class HttpPublisher extends Publisher {
  readonly socket: Socket;
  readonly #head: string;
  readonly #ndjsonHead: string;
  readonly #tpl: Buffer;
  #connected = false;
  #inflight = 0;
  #resp: Buffer | null = null;

  constructor(
    id: number,
    size: number,
    hooks: Hooks,
    flavor: HttpFlavor,
    group: string,
    addr: Endpoint,
    batch: number,
  ) {
    super(id, size, hooks);
    this.batch = batch;
    this.maxSend = batch;
    const path = postPath(flavor, group);
    this.#head = `POST ${path} HTTP/1.1\r\nHost: ${addr.host}\r\nContent-Type: text/plain\r\n`;
    this.#ndjsonHead = `POST ${path} HTTP/1.1\r\nHost: ${addr.host}\r\nContent-Type: application/x-ndjson\r\n`;
    this.#tpl = template(size);
    stamp(this.#tpl, 0, id, 0, 0);
    this.socket = connect({ host: addr.host, port: addr.port, noDelay: true });
    this.socket.on('connect', () => {
      this.#connected = true;
    });
    this.socket.on('data', this.#onData);
    this.socket.on('error', () => {});
  }

  get ready(): boolean {
    return this.#connected;
  }

  canSend(): boolean {
    return this.#connected && this.#inflight === 0 && !this.socket.destroyed;
  }

  write(n: number, timeOf?: (k: number) => number): void {
    if (n === 1) {
      const body = Buffer.from(this.#tpl);
      if (timeOf) stamp(body, 0, this.id, ++this.sent, timeOf(0));
      else stampSeq(body, 0, ++this.sent);
      this.#post(body, 1);
      return;
    }
    // NDJSON: each line must be JSON, so each payload goes as a JSON string.
    const line = this.size + 3;
    const body = Buffer.allocUnsafe(n * line);
    for (let i = 0, at = 0; i < n; i++, at += line) {
      body[at] = 0x22;
      this.#tpl.copy(body, at + 1);
      if (timeOf) stamp(body, at + 1, this.id, ++this.sent, timeOf(i));
      else stampSeq(body, at + 1, ++this.sent);
      body[at + 1 + this.size] = 0x22;
      body[at + 2 + this.size] = 10;
    }
    this.#post(body, n);
  }

  probe(): void {
    if (this.canSend()) this.#post(this.#tpl, 0);
  }

  #post(body: Buffer, n: number): void {
    this.#inflight = n || -1;
    const head = n > 1 ? this.#ndjsonHead : this.#head;
    this.socket.write(`${head}Content-Length: ${body.length}\r\n\r\n`);
    this.socket.write(body);
  }

  /** Minimal response reader: status line, Content-Length or chunked body. */
  #onData = (chunk: Buffer): void => {
    let buf = this.#resp ? Buffer.concat([this.#resp, chunk]) : chunk;
    this.#resp = null;
    for (;;) {
      const end = buf.indexOf('\r\n\r\n');
      if (end < 0) break;
      const head = buf.toString('latin1', 0, end);
      let total = end + 4;
      const cl = /\r\ncontent-length:\s*(\d+)/i.exec(head);
      if (cl) total += Number(cl[1]);
      else if (/\r\ntransfer-encoding:\s*chunked/i.test(head)) {
        const last = buf.indexOf('0\r\n\r\n', end + 4);
        if (last < 0) break;
        total = last + 5;
      }
      if (buf.length < total) break;
      const status = Number(head.slice(9, 12));
      buf = buf.subarray(total);
      const n = this.#inflight;
      this.#inflight = 0;
      if (n > 0) {
        this.posts++;
        if (status >= 200 && status < 300) this.accepted += n;
        else this.errors++;
      }
    }
    if (buf.length) this.#resp = Buffer.from(buf);
    this.hooks.kick();
  };

  close(): void {
    this.socket.destroy();
  }
}

/** Sends each message as one datagram from an unregistered socket. */
export class UdpPublisher extends Publisher {
  readonly socket: UdpSocket;
  readonly #to: Endpoint;
  readonly #tpl: Buffer;
  #bound = false;

  constructor(id: number, size: number, hooks: Hooks, to: Endpoint) {
    super(id, size, hooks);
    this.#to = to;
    this.#tpl = template(size);
    stamp(this.#tpl, 0, id, 0, 0);
    this.socket = createSocket({ type: 'udp4', sendBufferSize: 4 << 20 });
    this.socket.on('error', () => {});
    this.socket.bind(0, '127.0.0.1', () => {
      this.#bound = true;
    });
  }

  get ready(): boolean {
    return this.#bound;
  }

  canSend(): boolean {
    return this.#bound;
  }

  write(n: number, timeOf?: (k: number) => number): void {
    for (let i = 0; i < n; i++) {
      const d = Buffer.from(this.#tpl);
      stamp(d, 0, this.id, ++this.sent, timeOf ? timeOf(i) : 0);
      this.socket.send(d, this.#to.port, this.#to.host);
    }
    this.accepted += n;
  }

  probe(): void {
    if (this.#bound) this.socket.send(this.#tpl, this.#to.port, this.#to.host);
  }

  close(): void {
    try {
      this.socket.close();
    } catch {}
  }
}
