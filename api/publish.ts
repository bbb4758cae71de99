import { GroupcastError, TooManyMessagesError } from '../shared/errors.ts';
import { validateGroupId } from '../shared/group-id.ts';
import type { Hub } from '../shared/hub.ts';
import { ipOf, type RateLimiter } from './address-limits.ts';
import { type Grants, requireGrant } from './auth.ts';
import { countNdjson, FRAMES_TYPE, splitFrames, splitNdjson } from './body.ts';
import type { ApiOptions } from './options.ts';
import { publishBatch } from './publish-batch.ts';

/**
 * What `POST /groups/:group/messages` needs of a request, whichever server parsed it: the Hono
 * route (every runtime) and the Node server's own fast path share one handler, so both give the
 * same answers, limits and errors.
 */
export interface PublishRequest {
  /** The `:group` path segment, decoded. */
  group: string;
  contentType: string | undefined;
  contentLength: string | undefined;
  /** The client's `ip:port`. */
  remote: string;
  /** The caller's grants (auth on), or undefined (auth off); asked once the group id is valid. */
  grants: () => Promise<Grants> | undefined;
  /** Reads the body, refusing it past `limit` bytes. */
  body: (limit: number, what: 'message' | 'body') => Promise<Uint8Array>;
}

/** Publishes a request's message(s); resolves to the 202 answer's JSON value. */
export type PublishHandler = (req: PublishRequest) => Promise<unknown>;

export function publishHandler(
  hub: Hub,
  options: ApiOptions,
  rate: RateLimiter | null,
): PublishHandler {
  const limitRate = (remote: string, count: number) => {
    if (rate && !rate.take(ipOf(remote), count)) {
      throw new GroupcastError(
        'RATE_LIMITED',
        `more than ${options.rateLimit} messages a second from this address`,
      );
    }
  };
  return async (req) => {
    const group = validateGroupId(req.group);
    const grants = req.grants();
    if (grants) requireGrant(await grants, 'publish', group);
    const type = (req.contentType ?? '').toLowerCase();
    const ndjson = type.startsWith('application/x-ndjson');
    const batch = ndjson || type.startsWith(FRAMES_TYPE);
    const origin = { transport: 'http', remote: req.remote } as const;
    const limit = batch ? options.maxBodyBytes : options.maxMessageBytes;
    // The body is charged to the hub's memory budget before it is read, until it is published.
    const declared = Number(req.contentLength ?? Number.NaN);
    const release = hub.reserve?.(declared >= 0 && declared <= limit ? declared : limit);
    try {
      if (ndjson && hub.publishNdjson) {
        // The hub's store checks the JSON: the body goes on as it came.
        const body = await req.body(options.maxBodyBytes, 'body');
        const count = countNdjson(body, options.maxMessageBytes);
        if (count > options.maxBatchMessages) {
          throw new TooManyMessagesError(options.maxBatchMessages);
        }
        limitRate(req.remote, count);
        return await hub.publishNdjson(group, body, count, origin);
      }
      let payloads: Uint8Array[];
      if (ndjson) {
        payloads = await splitNdjson(
          await req.body(options.maxBodyBytes, 'body'),
          options.maxMessageBytes,
          options.maxBatchMessages,
        );
      } else if (batch) {
        payloads = splitFrames(
          await req.body(options.maxBodyBytes, 'body'),
          options.maxMessageBytes,
        );
        if (payloads.length > options.maxBatchMessages) {
          throw new TooManyMessagesError(options.maxBatchMessages);
        }
      } else {
        const body = await req.body(options.maxMessageBytes, 'message');
        if (body.byteLength === 0) {
          throw new GroupcastError('EMPTY_MESSAGE', 'message body is empty');
        }
        payloads = [body];
      }
      limitRate(req.remote, payloads.length);
      return await publishBatch(hub, group, payloads, origin);
    } finally {
      release?.();
    }
  };
}
