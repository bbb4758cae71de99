import { Backoff, type BackoffOptions, wait } from '../backoff.ts';
import { concatBytes, textDecoder, textEncoder } from '../bytes.ts';
import {
  ERROR_CODES,
  GroupcastError,
  RemoteError,
  toGroupcastError,
  UnreachableError,
} from '../errors.ts';
import { type FrameDecoder, type FramingName, framing } from '../framing/index.ts';
import { validateGroupId } from '../group-id.ts';
import { formatHostPort } from '../host-port.ts';
import { DEFAULT_MAX_MESSAGE_BYTES, DEFAULT_PREFIX } from '../options/sidecar.ts';
import type { TcpConnect, TcpConnection } from './tcp-transport.ts';

/** Bytes held for sending while the hub is unreachable; past it the oldest are dropped. @default 1 MiB */
export const DEFAULT_TCP_CLIENT_BUFFER_BYTES = 1024 * 1024;
/** @default 30_000 */
export const DEFAULT_TCP_CLIENT_KEEPALIVE_MS = 30_000;
/** How long `close()` waits for queued messages to be handed to the connection. @default 1000 */
export const DEFAULT_TCP_CLIENT_CLOSE_FLUSH_MS = 1000;
/** A write the runtime has not taken within this long means the peer is gone. @default 30_000 */
export const DEFAULT_TCP_CLIENT_WRITE_TIMEOUT_MS = 30_000;
/** A connection that lasted this long was healthy: the next reconnect starts from the first delay. */
export const STABLE_CONNECTION_MS = 5_000;
/**
 * The hub answers a refused join (or a fatal error) with one `ERROR <CODE> <message>` line and
 * closes. A read that is exactly such a line is held this long to see whether the close follows.
 */
export const ERROR_LINE_WINDOW_MS = 250;

/**
 * Codes that reconnecting cannot fix: the client itself is misconfigured. Others (a full group,
 * a refused secret or address) are retried with backoff and reported each time, because in a
 * fleet the hub's configuration may be what is about to change.
 */
const FATAL_CODES = new Set(['BAD_JOIN', 'INVALID_GROUP_ID']);
const ERROR_LINE = /^ERROR ([A-Z][A-Z0-9_]*) ?([^\n]*?)\r?\n$/;
const ERROR_PREFIX = textEncoder.encode('ERROR ');
const MAX_ERROR_LINE = 1024;
const LF = 10;

export interface TcpClientOptions {
  host: string;
  port: number;
  group: string;
  /** The runtime's transport: `nodeTcp` or `denoTcp`. */
  connect: TcpConnect;
  /** The hub's join prefix. @default 'SOCKETFORWARDER-NEW:' */
  prefix?: string;
  /** The group's join secret, when the hub has one for it (`<prefix><group> <secret>`). */
  joinSecret?: string;
  /** Must match the hub's `tcpFraming`. @default 'line' */
  framing?: FramingName;
  /** Largest message received before the connection is dropped as broken. @default 1 MiB */
  maxMessageBytes?: number;
  /** Bytes held to send while disconnected; past it the oldest messages are dropped. @default 1 MiB */
  bufferBytes?: number;
  /** TCP keepalive idle time; 0 turns it off. @default 30_000 */
  keepAliveMs?: number;
  /** See DEFAULT_TCP_CLIENT_WRITE_TIMEOUT_MS; 0 turns it off. @default 30_000 */
  writeTimeoutMs?: number;
  /** Reconnect when nothing is received for this long (for groups with steady traffic); 0 = off. @default 0 */
  idleTimeoutMs?: number;
  backoff?: BackoffOptions;
  /** Each message from the group (never one of this client's own). */
  onMessage?: (data: Uint8Array) => void;
  onStatus?: (status: TcpClientStatus) => void;
}

type ResolvedTcpClientOptions = TcpClientOptions &
  Required<
    Pick<
      TcpClientOptions,
      | 'prefix'
      | 'framing'
      | 'maxMessageBytes'
      | 'bufferBytes'
      | 'keepAliveMs'
      | 'writeTimeoutMs'
      | 'idleTimeoutMs'
    >
  >;

export type TcpClientStatus =
  | { readonly type: 'connecting'; readonly attempt: number }
  /** Connected and the join line sent (the hub acknowledges nothing; a refusal arrives as `rejected`). */
  | { readonly type: 'connected' }
  | { readonly type: 'disconnected'; readonly error: GroupcastError }
  | { readonly type: 'reconnecting'; readonly attempt: number; readonly delayMs: number }
  /** The hub refused the join or cut the connection, with its code. `fatal`: the client stopped. */
  | { readonly type: 'rejected'; readonly error: RemoteError; readonly fatal: boolean }
  /** The send buffer was full: this many of the oldest queued messages were dropped. */
  | { readonly type: 'dropped'; readonly messages: number; readonly bytes: number }
  | { readonly type: 'closed' };

/**
 * A member of one TCP group that survives the hub going away: it connects, joins, frames what
 * it sends, reconnects with bounded backoff and joins again. While disconnected, sends wait in a
 * buffer bounded by `bufferBytes`; when it is full the oldest waiting messages are dropped and
 * reported (newest data wins: for state updates the latest matters most). Bytes already handed to
 * a connection that then dies may be lost: delivery is at most once.
 */
export class TcpClient {
  readonly group: string;
  readonly #o: ResolvedTcpClientOptions;
  readonly #encode: (payload: Uint8Array) => Uint8Array;
  readonly #backoff: Backoff;
  #queue: Uint8Array[] = [];
  #queuedBytes = 0;
  #conn: TcpConnection | null = null;
  #writing = false;
  /** Why the current connection's writer gave up; it outranks what the reader then sees. */
  #writeFailure: GroupcastError | null = null;
  #closed = false;
  readonly #stop = new AbortController();
  /** Messages in the write under way. */
  #inFlight = 0;
  /** Messages still queued when the client stopped by itself (a fatal refusal). */
  #abandoned = 0;
  /** Told when nothing is queued or being written any more (for a graceful close). */
  #drainWaiters: (() => void)[] = [];
  readonly #stopped: Promise<void>;
  /** Messages dropped from the send buffer since the client started. */
  dropped = 0;

  constructor(options: TcpClientOptions) {
    this.group = validateGroupId(options.group);
    this.#o = {
      ...options,
      prefix: options.prefix ?? DEFAULT_PREFIX,
      framing: options.framing ?? 'line',
      maxMessageBytes: options.maxMessageBytes ?? DEFAULT_MAX_MESSAGE_BYTES,
      bufferBytes: options.bufferBytes ?? DEFAULT_TCP_CLIENT_BUFFER_BYTES,
      keepAliveMs: options.keepAliveMs ?? DEFAULT_TCP_CLIENT_KEEPALIVE_MS,
      writeTimeoutMs: options.writeTimeoutMs ?? DEFAULT_TCP_CLIENT_WRITE_TIMEOUT_MS,
      idleTimeoutMs: options.idleTimeoutMs ?? 0,
    };
    const codec = framing(this.#o.framing);
    this.#encode = (payload) => codec.encode([payload]).wire;
    this.#backoff = new Backoff(options.backoff);
    this.#stopped = this.#run();
  }

  get connected(): boolean {
    return this.#conn !== null;
  }

  /** Bytes waiting to be sent. */
  get bufferedBytes(): number {
    return this.#queuedBytes;
  }

  /**
   * Queues one message (framed for the hub: in `line` framing a newline is added; one inside
   * throws UNFRAMEABLE). Returns false when the client is closed or the message alone is larger
   * than the buffer; never blocks.
   */
  send(data: string | Uint8Array): boolean {
    if (this.#closed) return false;
    const wire = this.#encode(typeof data === 'string' ? textEncoder.encode(data) : data);
    if (wire.byteLength > this.#o.bufferBytes) {
      this.#report({ type: 'dropped', messages: 1, bytes: wire.byteLength });
      this.dropped++;
      return false;
    }
    let droppedMessages = 0;
    let droppedBytes = 0;
    while (this.#queuedBytes + wire.byteLength > this.#o.bufferBytes) {
      const old = this.#queue.shift() as Uint8Array;
      this.#queuedBytes -= old.byteLength;
      droppedMessages++;
      droppedBytes += old.byteLength;
    }
    if (droppedMessages > 0) {
      this.dropped += droppedMessages;
      this.#report({ type: 'dropped', messages: droppedMessages, bytes: droppedBytes });
    }
    this.#queue.push(wire);
    this.#queuedBytes += wire.byteLength;
    this.#flush();
    return true;
  }

  /**
   * Stops for good, after what was sent before it: waits up to `flushMs` until every queued
   * message has been handed to a connection, also while the client is still connecting or
   * reconnecting (a `send()` right after `new TcpClient()` is delivered). Rejects with
   * UNREACHABLE, after closing, when messages were left unsent; `close(0)` drops them on
   * purpose and resolves. Idempotent.
   */
  async close(flushMs = DEFAULT_TCP_CLIENT_CLOSE_FLUSH_MS): Promise<void> {
    let unsent = 0;
    if (!this.#closed) {
      if (flushMs > 0 && (this.#writing || this.#queue.length > 0)) {
        let done: () => void = () => {};
        const drained = new Promise<void>((resolve) => {
          done = resolve;
          this.#drainWaiters.push(resolve);
        });
        await within(drained, flushMs);
        done();
        unsent = this.#queue.length + this.#inFlight + this.#abandoned;
      }
      if (!this.#closed) {
        this.#closed = true;
        this.#queue = [];
        this.#queuedBytes = 0;
        this.#conn?.close();
        this.#stop.abort();
      }
    }
    await this.#stopped;
    if (unsent > 0) {
      throw new UnreachableError(
        `closed with ${unsent} message(s) not handed to the hub within ${flushMs} ms`,
      );
    }
  }

  #report(status: TcpClientStatus): void {
    try {
      this.#o.onStatus?.(status);
    } catch {}
  }

  async #run(): Promise<void> {
    while (!this.#closed) {
      this.#report({ type: 'connecting', attempt: this.#backoff.attempt + 1 });
      const started = Date.now();
      let outcome: GroupcastError;
      try {
        outcome = await this.#session();
      } catch (err) {
        outcome = toGroupcastError(err);
      }
      if (this.#closed) break;
      if (outcome instanceof RemoteError) {
        const fatal = FATAL_CODES.has(outcome.remoteCode);
        this.#report({ type: 'rejected', error: outcome, fatal });
        if (fatal) {
          this.#closed = true;
          break;
        }
      } else {
        this.#report({ type: 'disconnected', error: outcome });
        if (Date.now() - started >= STABLE_CONNECTION_MS) this.#backoff.reset();
      }
      const delayMs = this.#backoff.next();
      this.#report({ type: 'reconnecting', attempt: this.#backoff.attempt, delayMs });
      await wait(delayMs, this.#stop.signal);
    }
    this.#abandoned = this.#queue.length;
    this.#queue = [];
    this.#queuedBytes = 0;
    for (const fn of this.#drainWaiters.splice(0)) fn();
    this.#report({ type: 'closed' });
  }

  /** One connection from connect to its end; returns why it ended. */
  async #session(): Promise<GroupcastError> {
    const o = this.#o;
    let conn: TcpConnection;
    try {
      conn = await o.connect({ host: o.host, port: o.port, keepAliveMs: o.keepAliveMs });
    } catch (err) {
      return new UnreachableError(
        `cannot connect to ${formatHostPort(o.host, o.port)}: ${(err as Error).message}`,
      );
    }
    if (this.#closed) {
      conn.close();
      return new GroupcastError('SHUTTING_DOWN', 'client closed');
    }
    try {
      const secret = o.joinSecret ? ` ${o.joinSecret}` : '';
      await this.#timed(conn.write(textEncoder.encode(`${o.prefix}${this.group}${secret}\n`)));
    } catch (err) {
      conn.close();
      return new UnreachableError(`join failed: ${(err as Error).message}`);
    }
    this.#conn = conn;
    this.#writeFailure = null;
    this.#report({ type: 'connected' });
    this.#flush();
    try {
      const ended = await this.#readLoop(conn);
      return this.#writeFailure ?? ended;
    } finally {
      if (this.#conn === conn) this.#conn = null;
      conn.close();
    }
  }

  async #readLoop(conn: TcpConnection): Promise<GroupcastError> {
    const decoder: FrameDecoder = framing(this.#o.framing).decoder(this.#o.maxMessageBytes);
    const idleMs = this.#o.idleTimeoutMs;
    let held: Uint8Array | null = null;
    let pending: Promise<Uint8Array | null> | null = null;
    for (;;) {
      pending ??= conn.read();
      let chunk: Uint8Array | null | typeof TIMEOUT;
      try {
        chunk = await within(pending, held ? ERROR_LINE_WINDOW_MS : idleMs);
      } catch (err) {
        return new UnreachableError(`connection failed: ${(err as Error).message}`);
      }
      if (chunk === TIMEOUT) {
        if (!held) return new UnreachableError(`nothing received for ${idleMs} ms`);
        // No close followed: it was a group member's message after all.
        if (!this.#deliver(decoder, held)) return new GroupcastError('MESSAGE_TOO_LARGE');
        held = null;
        continue;
      }
      pending = null;
      if (chunk === null) {
        const refusal = held && errorLine(held);
        if (refusal) return refusal;
        if (held) this.#deliver(decoder, held);
        return new UnreachableError('the hub closed the connection');
      }
      if (held) {
        chunk = concatBytes([held, chunk]);
        held = null;
      }
      if (errorLine(chunk)) {
        held = chunk;
        continue;
      }
      if (!this.#deliver(decoder, chunk)) return new GroupcastError('MESSAGE_TOO_LARGE');
    }
  }

  /** Hands complete messages to onMessage; false when the stream cannot be decoded any more. */
  #deliver(decoder: FrameDecoder, chunk: Uint8Array): boolean {
    let batch: ReturnType<FrameDecoder['push']>;
    try {
      batch = decoder.push(chunk);
    } catch {
      return false;
    }
    if (!batch || !this.#o.onMessage) return true;
    for (let i = 0; i < batch.count; i++) {
      try {
        // A copy: a runtime may reuse its read buffer.
        this.#o.onMessage(batch.payload(i).slice());
      } catch {}
    }
    return true;
  }

  /** Writes queued messages, coalesced, one write at a time while connected. */
  #flush(): void {
    const conn = this.#conn;
    if (!this.#writing && this.#queue.length === 0) {
      for (const fn of this.#drainWaiters.splice(0)) fn();
      return;
    }
    if (!conn || this.#writing || this.#writeFailure || this.#queue.length === 0) return;
    this.#writing = true;
    const parts = this.#queue;
    this.#queue = [];
    this.#queuedBytes = 0;
    this.#inFlight = parts.length;
    this.#timed(conn.write(concatBytes(parts))).then(
      () => {
        this.#writing = false;
        this.#inFlight = 0;
        this.#flush();
      },
      (err) => {
        // The connection is broken: its read ends too, and the session reconnects.
        this.#writing = false;
        this.#inFlight = 0;
        if (this.#conn === conn && !this.#writeFailure) {
          this.#writeFailure =
            err instanceof GroupcastError
              ? err
              : new UnreachableError(`write failed: ${(err as Error).message}`);
        }
        conn.close();
      },
    );
  }

  /** A write that the runtime does not take in time means the peer stopped reading: a dead link. */
  async #timed(p: Promise<void>): Promise<void> {
    const ms = this.#o.writeTimeoutMs;
    if ((await within(p, ms)) === TIMEOUT) {
      throw new UnreachableError(`a write was not taken within ${ms} ms`);
    }
  }
}

const TIMEOUT = Symbol('timeout');

/** The promise's value, or TIMEOUT after `ms` (0 = wait forever); the promise stays usable. */
function within<T>(p: Promise<T>, ms: number): Promise<T | typeof TIMEOUT> {
  if (ms <= 0) return p;
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timeout = new Promise<typeof TIMEOUT>((resolve) => {
    timer = setTimeout(() => resolve(TIMEOUT), ms);
  });
  return Promise.race([p, timeout]).finally(() => clearTimeout(timer));
}

function startsWith(bytes: Uint8Array, prefix: Uint8Array): boolean {
  if (bytes.byteLength < prefix.byteLength) return false;
  for (let i = 0; i < prefix.byteLength; i++) if (bytes[i] !== prefix[i]) return false;
  return true;
}

/**
 * The hub's `ERROR <CODE> <message>` line, when that is all `bytes` holds and CODE is one this
 * client knows: a group member's own line that merely starts with ERROR is not held back.
 */
function errorLine(bytes: Uint8Array): RemoteError | null {
  if (bytes.byteLength > MAX_ERROR_LINE || !startsWith(bytes, ERROR_PREFIX)) return null;
  if (bytes[bytes.byteLength - 1] !== LF) return null;
  const m = ERROR_LINE.exec(textDecoder.decode(bytes));
  return m && m[1] in ERROR_CODES ? new RemoteError(0, m[1], m[2] || m[1]) : null;
}
