import { connect as netConnect, type Socket } from 'node:net';
import { connect as tlsConnect } from 'node:tls';
import { PubSubReader, type Reply, type SkipRule } from './pubsub-reader.ts';

/** Bytes read from the socket at a time, into one buffer reused for every read. */
const READ_BUFFER_BYTES = 64 * 1024;

export interface SubscriberOptions {
  /** redis:// or rediss:// (TLS), with an optional user and password. */
  url: string;
  /** Given to CLIENT SETNAME, so an operator can tell the connection apart. */
  name: string;
  /** A connection not ready within this time is dropped and tried again. */
  connectTimeoutMs: number;
  /** A command unanswered this long means the connection is dead: it is dropped and tried again. */
  socketTimeoutMs: number;
  /** Wait before the nth attempt in a row to connect. */
  retryDelayMs(attempt: number): number;
  /** Messages this node need not read (see PubSubReader). */
  skip?: SkipRule;
}

export interface SubscriberHandler {
  ready(): void;
  /** The connection is gone (or an attempt failed); subscriptions are gone with it. */
  close(): void;
  error(err: Error): void;
  /** `pattern`: it came for a pattern subscription (see psubscribe). */
  message(channel: string, payload: Uint8Array, skipped: boolean, pattern: boolean): void;
}

interface Pending {
  /** Replies still to come (SUBSCRIBE gets one per channel). */
  left: number;
  resolve(value: Reply): void;
  reject(err: Error): void;
}

/**
 * The backplane's pub/sub connection: subscribes to channels and hands on what is published on
 * them, reconnecting by itself until disconnect(). Its own client rather than ioredis so that each
 * batch is read into one buffer of its size (see PubSubReader), from one reused read buffer.
 * Subscriptions do not survive a reconnect: the caller subscribes again on ready.
 */
export class RedisSubscriber {
  readonly #opts: SubscriberOptions;
  readonly #handler: SubscriberHandler;
  readonly #reader: PubSubReader;
  readonly #readBuffer = Buffer.allocUnsafe(READ_BUFFER_BYTES);
  #socket: Socket | null = null;
  #pending: Pending[] = [];
  #ready = false;
  #stopped = true;
  #attempts = 0;
  #retryTimer: ReturnType<typeof setTimeout> | undefined;
  #connectTimer: ReturnType<typeof setTimeout> | undefined;
  #idleTimer: ReturnType<typeof setTimeout> | undefined;

  constructor(opts: SubscriberOptions, handler: SubscriberHandler) {
    this.#opts = opts;
    this.#handler = handler;
    this.#reader = new PubSubReader(
      {
        message: (channel, payload, skipped, pattern) =>
          handler.message(channel, payload, skipped, pattern),
        reply: (value) => this.#onReply(value),
      },
      opts.skip ?? null,
    );
  }

  get ready(): boolean {
    return this.#ready;
  }

  /** Starts connecting; keeps reconnecting until disconnect(). */
  connect(): void {
    if (!this.#stopped) return;
    this.#stopped = false;
    this.#open();
  }

  /** Closes the connection for good; idempotent. */
  disconnect(): void {
    this.#stopped = true;
    clearTimeout(this.#retryTimer);
    this.#socket?.destroy();
  }

  /** Resolves once Redis confirmed every channel; rejects if the connection is not ready or drops. */
  subscribe(channels: string[]): Promise<void> {
    return this.#command(['SUBSCRIBE', ...channels], channels.length).then(() => undefined);
  }

  unsubscribe(channels: string[]): Promise<void> {
    return this.#command(['UNSUBSCRIBE', ...channels], channels.length).then(() => undefined);
  }

  /** Resolves once Redis confirmed every pattern (Redis glob); rejects as subscribe does. */
  psubscribe(patterns: string[]): Promise<void> {
    return this.#command(['PSUBSCRIBE', ...patterns], patterns.length).then(() => undefined);
  }

  punsubscribe(patterns: string[]): Promise<void> {
    return this.#command(['PUNSUBSCRIBE', ...patterns], patterns.length).then(() => undefined);
  }

  /** Proves the connection alive: with no answer within socketTimeoutMs it is dropped. */
  ping(): Promise<void> {
    return this.#command(['PING'], 1).then(() => undefined);
  }

  #open(): void {
    let url: URL;
    try {
      url = new URL(this.#opts.url);
    } catch (err) {
      this.#handler.error(err as Error);
      return;
    }
    const host = url.hostname.replace(/^\[(.*)\]$/, '$1') || '127.0.0.1';
    const port = Number(url.port || 6379);
    const tls = url.protocol === 'rediss:';
    let socket: Socket;
    if (tls) {
      socket = tlsConnect({ host, port, servername: host });
      socket.on('data', (chunk: Buffer) => this.#onData(chunk, chunk.byteLength));
    } else {
      const onread = {
        buffer: this.#readBuffer,
        callback: (n: number, buf: Uint8Array) => {
          this.#onData(buf as Buffer, n);
          return true;
        },
      };
      socket = netConnect({ host, port, noDelay: true, onread });
    }
    this.#socket = socket;
    this.#reader.reset();
    this.#connectTimer = setTimeout(
      () => socket.destroy(new Error('connect timeout')),
      this.#opts.connectTimeoutMs,
    );
    socket.once(tls ? 'secureConnect' : 'connect', () => {
      this.#handshake(url).catch((err: Error) => socket.destroy(err));
    });
    socket.on('error', (err) => this.#handler.error(err));
    socket.on('close', () => this.#onClose(socket));
  }

  async #handshake(url: URL): Promise<void> {
    const user = decodeURIComponent(url.username);
    const password = decodeURIComponent(url.password);
    if (password) await this.#command(user ? ['AUTH', user, password] : ['AUTH', password], 1);
    // A name Redis refuses is not worth failing for.
    await this.#command(['CLIENT', 'SETNAME', this.#opts.name], 1).catch(() => {});
    // Refused, or gone during the handshake: not ready (its close retries).
    if (this.#socket === null || this.#socket.destroyed) return;
    clearTimeout(this.#connectTimer);
    this.#ready = true;
    this.#attempts = 0;
    this.#handler.ready();
  }

  #command(args: string[], replies: number): Promise<Reply> {
    const socket = this.#socket;
    if (
      !socket ||
      socket.destroyed ||
      (!this.#ready && args[0] !== 'AUTH' && args[0] !== 'CLIENT')
    ) {
      return Promise.reject(new Error('redis subscriber not connected'));
    }
    let out = `*${args.length}\r\n`;
    for (const a of args) out += `$${Buffer.byteLength(a)}\r\n${a}\r\n`;
    return new Promise((resolve, reject) => {
      this.#pending.push({ left: replies, resolve, reject });
      socket.write(out);
      if (!this.#idleTimer) this.#armIdle();
    });
  }

  #armIdle(): void {
    const socket = this.#socket;
    this.#idleTimer = setTimeout(() => {
      this.#idleTimer = undefined;
      if (this.#pending.length > 0) {
        socket?.destroy(new Error(`no answer from Redis within ${this.#opts.socketTimeoutMs} ms`));
      }
    }, this.#opts.socketTimeoutMs);
  }

  #onData(buf: Buffer, n: number): void {
    if (this.#idleTimer) {
      clearTimeout(this.#idleTimer);
      this.#idleTimer = undefined;
    }
    try {
      this.#reader.feed(buf, 0, n);
    } catch (err) {
      this.#socket?.destroy(err as Error);
      return;
    }
    if (this.#pending.length > 0 && !this.#idleTimer) this.#armIdle();
  }

  #onReply(value: Reply): void {
    const head = this.#pending[0];
    if (!head) return;
    if (value instanceof Error) {
      this.#pending.shift();
      head.reject(value);
      return;
    }
    if (--head.left > 0) return;
    this.#pending.shift();
    head.resolve(value);
  }

  #onClose(socket: Socket): void {
    if (socket !== this.#socket) return;
    this.#socket = null;
    clearTimeout(this.#connectTimer);
    clearTimeout(this.#idleTimer);
    this.#idleTimer = undefined;
    this.#ready = false;
    const pending = this.#pending;
    this.#pending = [];
    for (const p of pending) p.reject(new Error('redis subscriber connection closed'));
    this.#handler.close();
    if (this.#stopped) return;
    this.#retryTimer = setTimeout(() => this.#open(), this.#opts.retryDelayMs(++this.#attempts));
  }
}
