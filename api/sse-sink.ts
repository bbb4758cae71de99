import type { GroupcastError } from '../shared/errors.ts';
import type { Subscriber } from '../shared/hub.ts';

/**
 * One SSE response as the app drives it: the hub writes to it as a Subscriber, the heartbeat
 * writes comments to it. Web runtimes get a ReadableStream (SseStream); Node writes to its own
 * response object (NodeSseStream), which holds about half the memory per idle subscriber.
 */
export interface SseSink extends Subscriber {
  readonly closed: boolean;
  /** Ends the prelude (retry hint and replay): the queue limit applies from here on. */
  live(): void;
  /** Called once when the stream ends, for whatever reason. */
  onEnd(fn: (reason?: GroupcastError) => void): void;
  /** The response the route returns for this stream. */
  response(headers: Record<string, string>): Response;
}

/** Opens the sink for one SSE request; the default is a Web ReadableStream. */
export type OpenSseSink = (c: unknown, remote: string, limitBytes: number) => SseSink;
