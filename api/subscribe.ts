import { type GroupcastError, GroupcastError as Refusal } from '../shared/errors.ts';
import { validateGroupId } from '../shared/group-id.ts';
import type { Hub, StartPoint, Subscription } from '../shared/hub.ts';
import { encodeRetry } from '../shared/sse.ts';
import { ipOf, type StreamCounter } from './address-limits.ts';
import { type Grants, requireGrant } from './auth.ts';
import type { Heartbeat } from './heartbeat.ts';
import { type ApiOptions, DEFAULT_SSE_RETRY_MS } from './options.ts';
import type { SseSink } from './sse-sink.ts';

/**
 * What `GET /groups/:group/events` needs of a request, whichever server parsed it: the Hono
 * route (every runtime) and the sidecar's raw HTTP front (node-http-front.ts) share one handler,
 * so both give the same streams, limits and errors.
 */
export interface SubscribeRequest {
  /** The `:group` path segment, decoded. */
  group: string;
  /** A query parameter's first value, decoded (undefined: absent). */
  query: (name: string) => string | undefined;
  /** The Last-Event-ID header (undefined: absent). */
  lastEventId: string | undefined;
  /** A HEAD request: checked as a GET, nothing subscribed. */
  head: boolean;
  /** The client's `ip:port`. */
  remote: string;
  /** The caller's grants (auth on), or undefined (auth off); asked once the group id is valid. */
  grants: () => Promise<Grants> | undefined;
  /** Opens the stream's sink once the request has passed every check made before it. */
  open: (remote: string, limitBytes: number) => SseSink;
}

/** Subscribes a request; resolves to its open sink (null for HEAD), or rejects with the refusal. */
export type SubscribeHandler = (req: SubscribeRequest) => Promise<SseSink | null>;

/** Values of `?from=`; anything else is refused rather than silently taken as live. */
const FROM_VALUES = ['live', 'earliest'] as const;

/** The query parameters the route reads (the raw front takes no request with another). */
export const SUBSCRIBE_QUERY = ['from', 'lastEventId', 'presence', 'access_token'] as const;

function startPoint(req: SubscribeRequest): StartPoint {
  const from = req.query('from');
  if (from !== undefined && !(FROM_VALUES as readonly string[]).includes(from)) {
    throw new Refusal(
      'BAD_REQUEST',
      `from must be ${FROM_VALUES.join(' or ')}, got ${JSON.stringify(from.slice(0, 40))}`,
    );
  }
  const id = req.lastEventId ?? req.query('lastEventId');
  if (id !== undefined && id !== '') return { kind: 'after', id };
  if (from === 'earliest') return { kind: 'earliest' };
  return { kind: 'live' };
}

/** `?presence=true`: join and leave events on the stream too. */
function presenceParam(req: SubscribeRequest): boolean {
  const raw = req.query('presence');
  if (raw === undefined || raw === 'false' || raw === '0') return false;
  if (raw === 'true' || raw === '1' || raw === '') return true;
  throw new Refusal(
    'BAD_REQUEST',
    `presence must be true or false, got ${JSON.stringify(raw.slice(0, 40))}`,
  );
}

export function subscribeHandler(
  hub: Hub,
  options: ApiOptions,
  streams: StreamCounter,
  heartbeat: Heartbeat,
): SubscribeHandler {
  const retry = encodeRetry(DEFAULT_SSE_RETRY_MS);
  // Outside the handler: the end listener's closure holds two references, not the handler's scope.
  const streamEnded =
    (stream: SseSink, subscription: Subscription) =>
    (reason?: GroupcastError): void => {
      streams.release(ipOf(stream.remote));
      heartbeat.delete(stream);
      subscription.unsubscribe(reason);
    };
  return async (req) => {
    const group = validateGroupId(req.group);
    const grants = req.grants();
    if (grants) requireGrant(await grants, 'subscribe', group);
    const start = startPoint(req);
    const presence = presenceParam(req);
    // HEAD gets the headers a GET would, and nothing is subscribed: the runtime drops a HEAD
    // response's body without reading it, so a stream opened for it would never end.
    if (req.head) return null;
    const remote = req.remote;
    streams.acquire(ipOf(remote));
    const stream = req.open(remote, options.sseQueueBytes);
    stream.write(retry);
    let subscription: Subscription;
    try {
      subscription = await hub.subscribe(group, start, stream, presence ? { presence } : undefined);
    } catch (err) {
      streams.release(ipOf(remote));
      throw err;
    }
    stream.live();
    heartbeat.add(stream);
    stream.onEnd(streamEnded(stream, subscription));
    return stream;
  };
}
