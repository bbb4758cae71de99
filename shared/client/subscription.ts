import { Backoff, type BackoffOptions, wait } from '../backoff.ts';
import { fromBase64 } from '../bytes.ts';
import { type GroupcastError, RemoteError, toGroupcastError, UnreachableError } from '../errors.ts';
import { type GapInfo, parseTime } from '../sse.ts';
import { type ParsedEvent, SseParser } from '../sse-parser.ts';
import { type ClientContext, describe, remoteError } from './request.ts';

/**
 * No bytes (not even a heartbeat) for this long means the connection is dead: three of the
 * server's default 15 s heartbeats. @default 45_000
 */
export const DEFAULT_SUBSCRIBE_IDLE_TIMEOUT_MS = 45_000;

/** A message of the group. */
export interface MessageEvent {
  readonly type: 'message';
  readonly id: string;
  /** The payload, byte for byte. */
  readonly data: Uint8Array;
  /** The payload as text (lossy for a binary payload). */
  readonly text: string;
  /** True when the server sent it base64 (`event: binary`): not UTF-8, or it holds a CR. */
  readonly binary: boolean;
  /** When the sidecar received it (ms since the epoch), from the stream's `time` events; undefined from a server that sends none. */
  readonly time: number | undefined;
}

/** Messages were lost: the server no longer held what followed `requested`. */
export interface GapEvent extends GapInfo {
  readonly type: 'gap';
}

export type SubscriptionEvent = MessageEvent | GapEvent;

export type SubscriptionStatus =
  | { readonly type: 'connecting'; readonly attempt: number }
  | { readonly type: 'live' }
  | {
      readonly type: 'reconnecting';
      readonly attempt: number;
      readonly delayMs: number;
      readonly error: GroupcastError;
    }
  /** The server said why it ended the stream (`event: close`), e.g. SHUTTING_DOWN or SLOW_CONSUMER. */
  | { readonly type: 'closed-by-server'; readonly code: string; readonly message: string };

export interface SubscribeOptions {
  /** Resume after this message id (as EventSource's Last-Event-ID). */
  lastEventId?: string;
  /** Without lastEventId: `live` (only new messages) or `earliest` (all the server holds first). @default 'live' */
  from?: 'live' | 'earliest';
  /** Aborting ends the iteration (as `close()` does). */
  signal?: AbortSignal;
  backoff?: BackoffOptions;
  /** Consecutive failed attempts before the iterator throws UNREACHABLE. @default Infinity */
  maxAttempts?: number;
  /** Reconnect when no bytes arrive for this long; 0 turns it off. @default 45_000 */
  idleTimeoutMs?: number;
  /** Told about connection changes (for a status line; the iterator yields only messages and gaps). */
  onStatus?: (status: SubscriptionStatus) => void;
}

/** Answers that no retry can fix: bad group id, auth, unknown route. Others are retried. */
function isPermanent(status: number): boolean {
  return status >= 400 && status < 500 && status !== 408 && status !== 429;
}

/**
 * One subscription. Iterate it once (`for await`); `close()` (or breaking out of the loop)
 * ends it. Between reconnects it resumes with `Last-Event-ID` after the last message yielded.
 */
export class Subscription implements AsyncIterable<SubscriptionEvent> {
  readonly group: string;
  readonly #ctx: ClientContext;
  readonly #options: SubscribeOptions;
  readonly #abort = new AbortController();
  #lastEventId: string | undefined;
  #time: number | undefined;
  #started = false;

  constructor(ctx: ClientContext, group: string, options: SubscribeOptions) {
    this.#ctx = ctx;
    this.group = group;
    this.#options = options;
    this.#lastEventId = options.lastEventId || undefined;
    if (options.signal?.aborted) this.close();
    else options.signal?.addEventListener('abort', () => this.close(), { once: true });
  }

  /** The id of the last message yielded: where a later subscription can resume. */
  get lastEventId(): string | undefined {
    return this.#lastEventId;
  }

  get closed(): boolean {
    return this.#abort.signal.aborted;
  }

  close(): void {
    this.#abort.abort();
  }

  [Symbol.asyncIterator](): AsyncIterator<SubscriptionEvent> {
    if (this.#started) throw new TypeError('a Subscription can be iterated only once');
    this.#started = true;
    return this.#run();
  }

  async *#run(): AsyncGenerator<SubscriptionEvent, void, undefined> {
    const o = this.#options;
    const backoff = new Backoff(o.backoff);
    const maxAttempts = o.maxAttempts ?? Number.POSITIVE_INFINITY;
    const idleMs = o.idleTimeoutMs ?? DEFAULT_SUBSCRIBE_IDLE_TIMEOUT_MS;
    try {
      while (!this.closed) {
        o.onStatus?.({ type: 'connecting', attempt: backoff.attempt + 1 });
        let failure: GroupcastError;
        try {
          yield* this.#connection(idleMs, () => {
            backoff.reset();
            o.onStatus?.({ type: 'live' });
          });
          failure = new UnreachableError('the stream ended');
        } catch (err) {
          if (this.closed) return;
          if (err instanceof RemoteError && isPermanent(err.status)) throw err;
          failure = toGroupcastError(err);
        }
        if (this.closed) return;
        if (backoff.attempt + 1 >= maxAttempts) {
          throw new UnreachableError(
            `gave up after ${backoff.attempt + 1} attempts: ${failure.message}`,
          );
        }
        const delayMs = backoff.next();
        o.onStatus?.({ type: 'reconnecting', attempt: backoff.attempt, delayMs, error: failure });
        if (!(await wait(delayMs, this.#abort.signal))) return;
      }
    } finally {
      this.#abort.abort();
    }
  }

  /** One connection: yields its events until it ends or fails (then throws). */
  async *#connection(
    idleMs: number,
    onOpen: () => void,
  ): AsyncGenerator<SubscriptionEvent, void, undefined> {
    const attempt = new AbortController();
    const stop = () => attempt.abort();
    this.#abort.signal.addEventListener('abort', stop, { once: true });
    let idle: ReturnType<typeof setTimeout> | undefined;
    let idleFired = false;
    const armIdle = () => {
      clearTimeout(idle);
      if (idleMs > 0) {
        idle = setTimeout(() => {
          idleFired = true;
          attempt.abort();
        }, idleMs);
      }
    };
    try {
      const url = new URL(`groups/${encodeURIComponent(this.group)}/events`, this.#ctx.base);
      const extra: Record<string, string> = { Accept: 'text/event-stream' };
      if (this.#lastEventId) extra['Last-Event-ID'] = this.#lastEventId;
      else if (this.#options.from === 'earliest') url.searchParams.set('from', 'earliest');
      armIdle();
      let res: Response;
      try {
        res = await this.#ctx.fetch(url, {
          headers: await this.#ctx.headers(extra),
          signal: attempt.signal,
          cache: 'no-store',
        });
      } catch (err) {
        throw idleFired
          ? new UnreachableError(`no answer within ${idleMs} ms`)
          : new UnreachableError(`cannot reach ${url.origin}: ${describe(err)}`);
      }
      if (!res.ok) throw await remoteError(res);
      if (!res.body) throw new UnreachableError('the answer has no body');
      onOpen();
      const queue: SubscriptionEvent[] = [];
      const parser = new SseParser({
        onEvent: (e) => {
          const event = this.#toEvent(e);
          if (event) queue.push(event);
        },
      });
      const reader = res.body.getReader();
      try {
        for (;;) {
          armIdle();
          let chunk: ReadableStreamReadResult<Uint8Array>;
          try {
            chunk = await reader.read();
          } catch (err) {
            throw idleFired
              ? new UnreachableError(`nothing received for ${idleMs} ms`)
              : new UnreachableError(`the stream broke: ${describe(err)}`);
          }
          if (chunk.done) return;
          parser.feed(chunk.value);
          // A slow consumer must not look like a dead connection.
          clearTimeout(idle);
          while (queue.length > 0) {
            const event = queue.shift() as SubscriptionEvent;
            if (event.type === 'message') this.#lastEventId = event.id;
            yield event;
          }
          // An `id:` with no data (the hub's position marker) moves the resume point too.
          if (parser.lastEventId) this.#lastEventId = parser.lastEventId;
        }
      } finally {
        reader.cancel().catch(() => {});
      }
    } finally {
      clearTimeout(idle);
      this.#abort.signal.removeEventListener('abort', stop);
      attempt.abort();
    }
  }

  #toEvent(e: ParsedEvent): SubscriptionEvent | null {
    const text = lossy.decode(e.data);
    const time = this.#time;
    switch (e.event) {
      case 'message':
        return { type: 'message', id: e.lastEventId, data: e.data, text, binary: false, time };
      case 'binary': {
        const data = fromBase64(text);
        return {
          type: 'message',
          id: e.lastEventId,
          data,
          text: lossy.decode(data),
          binary: true,
          time,
        };
      }
      case 'time':
        // Holds for the messages that follow, up to the next one.
        this.#time = parseTime(text) ?? undefined;
        return null;
      case 'gap': {
        const gap = JSON.parse(text) as GapInfo;
        return { type: 'gap', ...gap };
      }
      case 'close': {
        const { code, message } = JSON.parse(text) as { code: string; message: string };
        this.#options.onStatus?.({ type: 'closed-by-server', code, message });
        return null;
      }
      default:
        return null;
    }
  }
}

const lossy = new TextDecoder();
